"""One synthetic epoch: rank the examples, choose the anchors, ask the strategy for points near
them, label the points with the teacher in batches, and describe what was made. With a
candidate pool (``sage.synthesis.pool``), the points are instead chosen from the pool, made and
labelled once per run (or every ``refresh`` synthetic epochs)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.diagnostics import hard_clustering, synthetic_diagnostics
from sage.synthesis.pool import CandidatePool, Select, choose
from sage.synthesis.ranking import RankBy, hard_set, random_set, rank_scores
from sage.synthesis.strategies.base import Strategy, SynthesisContext
from sage.training import predict
from sage.vectors import VectorSet


@dataclass
class SyntheticSet:
    """One epoch's synthetic examples, with what produced them."""

    vectors: VectorSet  # float32
    teacher: torch.Tensor  # the teacher's outputs on them
    parents: np.ndarray
    hard: np.ndarray  # the hard set of this epoch, hardest first
    scores: np.ndarray  # the ranking scores the hard set was chosen by
    points: np.ndarray | None  # the new points in the strategy's map, if it has one
    stats: dict[str, Any]

    def to(self, device: torch.device | str) -> SyntheticSet:
        """The set with its tensors on ``device`` (a broadcast carries them on the CPU)."""
        return dataclasses.replace(self, vectors=self.vectors.to(device), teacher=self.teacher.to(device))


@dataclass
class Points:
    """An epoch's points before they are described: from the strategy, or chosen from the pool."""

    vectors: VectorSet
    teacher: torch.Tensor  # the teacher's outputs on them
    parents: np.ndarray
    stats: dict[str, Any]
    coordinates: np.ndarray | None = None  # in the strategy's map, if it has one
    student: torch.Tensor | None = None  # the student's outputs on them, where the choice computed them


@dataclass
class PoolSettings:
    """How a run's candidate pool is made and chosen from (the spec's ``synthesis`` section)."""

    size: int  # candidates per real example
    strategies: dict[str, tuple[Strategy, float]]  # what makes them, by name, with weights
    select: Select
    refresh: int | None  # remake every this many synthetic epochs; None: once per run
    score_fraction: float
    temperature: float  # of select: sample
    rng: np.random.Generator  # the selection's own stream, so that choosing never moves the making


class Synthesiser:
    """Turns the student's outputs on the real examples into one epoch's synthetic set.

    ``share`` × N points are made per epoch, split evenly over the anchors: the ``hard_fraction``
    of examples the student disagrees with most (``rank_by``), or, with ``parents="random"``, as
    many examples drawn uniformly, which leaves the losses out of the choice. With ``pool``, the
    ``share`` × N points are chosen from the pool instead (the hard set is still ranked, to
    describe the epoch).
    """

    def __init__(
        self,
        strategy: Strategy,
        parents: Literal["hard", "random"],
        hard_fraction: float,
        share: float,
        rank_by: RankBy,
        loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
        pool: PoolSettings | None = None,
    ) -> None:
        self.strategy = strategy
        self.parents = parents
        self.hard_fraction = hard_fraction
        self.share = share
        self.rank_by = rank_by
        self.loss_fn = loss_fn
        self.pool_settings = pool
        self.pool = None if pool is None else CandidatePool(pool.size, pool.strategies)
        self.epochs = 0  # synthetic epochs made so far

    @property
    def strategies(self) -> list[Strategy]:
        """Every strategy the synthesiser uses, each once."""
        found = [self.strategy] + ([] if self.pool is None else [strategy for strategy, _ in self.pool.strategies.values()])
        return list({id(strategy): strategy for strategy in found}.values())

    @property
    def map_embedding(self) -> np.ndarray | None:
        """The strategy's own map of the examples, when the epoch's points have coordinates in it
        (never for a pool's points: they are chosen, not drawn in the map)."""
        return self.strategy.map_embedding if self.pool is None else None

    def prepare(self, context: SynthesisContext, labels: torch.Tensor) -> None:
        self.context = context
        self.labels = labels
        for strategy in self.strategies:
            strategy.prepare(context)

    def anchors(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The hard set by ``scores``, and the examples new points are made around."""
        hard = hard_set(scores, self.hard_fraction)
        if self.parents == "random":
            return hard, random_set(len(scores), len(hard), self.context.rng)
        return hard, hard

    def generate(self, student_outputs: torch.Tensor, student: Body) -> SyntheticSet:
        context = self.context
        scores = rank_scores(
            self.rank_by, student_outputs, context.teacher_outputs, self.labels, self.loss_fn, context.temperature
        )
        hard, anchors = self.anchors(scores)
        count = math.ceil(self.share * len(scores))
        made = self._from_pool(count, student) if self.pool is not None else self._around(anchors, count, student)
        vectors, teacher, parents = made.vectors, made.teacher, made.parents
        self.epochs += 1
        stats = {"n_hard": len(hard), "n_synthetic": len(parents), **made.stats}

        # Diagnostics describe the float32 vectors the student will train on.
        started = time.perf_counter()
        if len(parents):
            stats |= synthetic_diagnostics(
                context.pooled,
                parents,
                vectors.pooled().cpu().numpy(),
                context.teacher_outputs,
                teacher,
                student_outputs,
                predict(student, vectors, context.batch_size) if made.student is None else made.student,
                context.temperature,
            )
        stats |= hard_clustering(context.space, hard)
        stats["diagnostics_s"] = time.perf_counter() - started
        return SyntheticSet(vectors, teacher, parents, hard, scores, made.coordinates, stats)

    def _around(self, anchors: np.ndarray, count: int, student: Body) -> Points:
        """``count`` new points around ``anchors`` from the strategy, labelled by the teacher."""
        context = self.context
        started = time.perf_counter()
        proposal = self.strategy.propose(anchors, count, student)
        strategy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        teacher = proposal.labelled(context)
        stats = {**proposal.stats, "strategy_s": strategy_seconds, "teacher_label_s": time.perf_counter() - started}
        return Points(proposal.vectors, teacher, proposal.parents, stats, proposal.points)

    def _from_pool(self, count: int, student: Body) -> Points:
        """``count`` candidates of the pool, made first when the epoch calls for it, chosen by the settings."""
        settings, pool = self.pool_settings, self.pool
        stats: dict[str, Any] = {"pool_built": 0}
        if pool.vectors is None or (settings.refresh is not None and self.epochs % settings.refresh == 0):
            stats |= pool.build(self.context, student)
        started = time.perf_counter()
        chosen, student_outputs, choice = choose(
            pool, count, settings.select, student, self.context, self.rank_by, self.loss_fn,
            settings.score_fraction, settings.temperature, settings.rng,
        )
        index = torch.as_tensor(chosen, device=pool.vectors.device)
        stats |= choice | {"n_pool": len(pool), "select_s": time.perf_counter() - started}
        teacher = pool.teacher[index.to(pool.teacher.device)]
        # The choice's own predictions describe the chosen points: no second pass of the student.
        return Points(pool.vectors.select(index), teacher, pool.parents[chosen], stats, student=student_outputs)

    def state_dict(self) -> dict[str, Any]:
        """The strategies' state and the pool; the anchors' draws come from the run's streams, kept with them."""
        state: dict[str, Any] = {"strategy": self.strategy.state_dict()}
        if self.pool is not None:
            others = {name: strategy for name, (strategy, _) in self.pool.strategies.items() if strategy is not self.strategy}
            state |= {
                "others": {name: strategy.state_dict() for name, strategy in others.items()},
                "pool": self.pool.state_dict(),
                "epochs": self.epochs,
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.strategy.load_state_dict(state["strategy"])
        if self.pool is not None:
            for name, strategy_state in state["others"].items():
                self.pool.strategies[name][0].load_state_dict(strategy_state)
            self.pool.load_state_dict(state["pool"], self.context.real.device)
            self.epochs = state["epochs"]

    def close(self) -> None:
        for strategy in self.strategies:
            strategy.close()
