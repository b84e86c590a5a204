"""One synthetic epoch: rank the examples, choose the anchors, ask the strategy for points near
them, label the points with the teacher in batches, and describe what was made."""

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


class Synthesiser:
    """Turns the student's outputs on the real examples into one epoch's synthetic set.

    ``share`` × N points are made per epoch, split evenly over the anchors: the ``hard_fraction``
    of examples the student disagrees with most (``rank_by``), or, with ``parents="random"``, as
    many examples drawn uniformly, which leaves the losses out of the choice.
    """

    def __init__(
        self,
        strategy: Strategy,
        parents: Literal["hard", "random"],
        hard_fraction: float,
        share: float,
        rank_by: RankBy,
        loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
    ) -> None:
        self.strategy = strategy
        self.parents = parents
        self.hard_fraction = hard_fraction
        self.share = share
        self.rank_by = rank_by
        self.loss_fn = loss_fn

    def prepare(self, context: SynthesisContext, labels: torch.Tensor) -> None:
        self.context = context
        self.labels = labels
        self.strategy.prepare(context)

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

        started = time.perf_counter()
        proposal = self.strategy.propose(anchors, count, student)
        strategy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        teacher = proposal.teacher
        if teacher is None and len(proposal.parents) == 0:
            teacher = context.teacher_outputs[:0]
        elif teacher is None:
            teacher = predict(context.teacher, proposal.vectors, context.batch_size)
        label_seconds = time.perf_counter() - started
        stats = {
            "n_hard": len(hard),
            "n_synthetic": len(proposal.parents),
            **proposal.stats,
            "strategy_s": strategy_seconds,
            "teacher_label_s": label_seconds,
        }

        # Diagnostics describe the float32 vectors the student will train on.
        started = time.perf_counter()
        if len(proposal.parents):
            stats |= synthetic_diagnostics(
                context.pooled,
                proposal.parents,
                proposal.vectors.pooled().cpu().numpy(),
                context.teacher_outputs,
                teacher,
                student_outputs,
                predict(student, proposal.vectors, context.batch_size),
                context.temperature,
            )
        stats |= hard_clustering(context.space, hard)
        stats["diagnostics_s"] = time.perf_counter() - started
        return SyntheticSet(proposal.vectors, teacher, proposal.parents, hard, scores, proposal.points, stats)

    def state_dict(self) -> dict[str, Any]:
        """The strategy's state; the anchors' draws come from the run's streams, kept with them."""
        return {"strategy": self.strategy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.strategy.load_state_dict(state["strategy"])

    def close(self) -> None:
        self.strategy.close()
