"""A candidate pool: many synthetic points per real example, labelled by the teacher once, from
which each synthetic epoch chooses the ones the student gets most wrong.

Published augmentation for distilling text classifiers works at scale and with a choice:
Glitter (Kamalloo et al., 2022) makes 8 candidates per example and trains on those with the
highest teacher-student divergence; Minimax-kNN (Kamalloo et al., 2021) keeps, of 8 retrieved
neighbours, the one the student gets most wrong. That choice is SAGE's own idea (train where the
student disagrees with the teacher) applied to a pool rather than to a handful of points.

The pool is stored ragged, as the real examples are, in float32 (small shifts survive), with
each candidate's parent, the strategy that made it and the teacher's outputs on it. It is part
of the run's checkpoint: a strategy such as ``adversarial`` makes its candidates with the
student of the epoch it ran in, so a resumed run could not make them again.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.ranking import RankBy, rank_scores
from sage.synthesis.strategies.base import Strategy, SynthesisContext
from sage.training import predict
from sage.vectors import VectorSet

Select = Literal["divergence", "random", "sample"]


def split_count(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, by largest remainder, so the parts sum to it."""
    exact = np.asarray(weights, dtype=np.float64) / sum(weights) * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts.tolist()


class CandidatePool:
    """``size`` candidates per real example, made by ``strategies`` in proportion to their weights."""

    def __init__(self, size: int, strategies: dict[str, tuple[Strategy, float]]) -> None:
        self.size = size
        self.strategies = strategies
        self.vectors: VectorSet | None = None
        self.teacher: torch.Tensor | None = None
        self.parents = np.empty(0, dtype=np.int64)
        self.made_by = np.empty(0, dtype=np.int64)  # index into ``strategies`` of each candidate's maker
        self.builds = 0

    def __len__(self) -> int:
        return len(self.parents)

    def build(self, context: SynthesisContext, student: Body) -> dict[str, Any]:
        """Make the pool anew around every real example and label it with the teacher."""
        n = len(context.pooled)
        names = list(self.strategies)
        counts = split_count(self.size * n, [weight for _, weight in self.strategies.values()])
        context.report(
            f"synthesis: making a pool of {self.size * n:,} candidates ({self.size} per example) with "
            + ", ".join(f"{name} ({count:,})" for name, count in zip(names, counts))
        )
        vectors, teacher, parents, made_by, stats = [], [], [], [], {}
        strategy_seconds = label_seconds = 0.0
        first = 0  # each strategy starts its round of the examples where the last one stopped, so
        for which, (name, count) in enumerate(zip(names, counts)):  # every example gets `size` candidates
            strategy = self.strategies[name][0]
            started = time.perf_counter()
            proposal = strategy.propose(np.roll(np.arange(n, dtype=np.int64), -first), count, student)
            first = (first + count) % n
            strategy_seconds += time.perf_counter() - started
            started = time.perf_counter()
            labels = proposal.labelled(context)
            label_seconds += time.perf_counter() - started
            vectors.append(proposal.vectors.to(context.real.device))
            teacher.append(labels.to(context.teacher_outputs.device))
            parents.append(np.asarray(proposal.parents, dtype=np.int64))
            made_by.append(np.full(len(proposal.parents), which, dtype=np.int64))
            prefix = "" if len(names) == 1 else f"{name}_"
            stats |= {f"{prefix}{key}": value for key, value in proposal.stats.items() if not isinstance(value, str)}
        self.vectors = VectorSet.concatenate(vectors)
        self.teacher = torch.cat(teacher)
        self.parents, self.made_by = np.concatenate(parents), np.concatenate(made_by)
        self.builds += 1
        return stats | {"pool_built": 1, "strategy_s": strategy_seconds, "teacher_label_s": label_seconds}

    def state_dict(self) -> dict[str, Any]:
        if self.vectors is None:
            return {"builds": self.builds}
        return {
            "builds": self.builds,
            "tokens": self.vectors.tokens,
            "lengths": self.vectors.lengths,
            "teacher": self.teacher,
            "parents": torch.from_numpy(self.parents),
            "made_by": torch.from_numpy(self.made_by),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.builds = state["builds"]
        if "tokens" in state:
            self.vectors = VectorSet(state["tokens"].to(device), state["lengths"].to(device))
            self.teacher = state["teacher"].to(device)
            self.parents, self.made_by = state["parents"].numpy(), state["made_by"].numpy()


def choose(
    pool: CandidatePool,
    count: int,
    select: Select,
    student: Body,
    context: SynthesisContext,
    rank_by: RankBy,
    loss_fn: Any,
    score_fraction: float,
    temperature: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, torch.Tensor | None, dict[str, Any]]:
    """Indices of the ``count`` candidates to train on this epoch (sorted), the student's outputs
    on them where the choice computed them (None for ``random``), and what the choice saw.

    ``divergence`` scores a ``score_fraction`` of the pool (drawn from ``rng``) by the student's
    disagreement with the teacher (``rank_by``, as the hard set is ranked) and takes the highest;
    ``sample`` draws from the scored ones in proportion to score^(1 / ``temperature``) (Gumbel
    top-k, without replacement); ``random`` draws uniformly from the whole pool, scoring nothing:
    the control that tells whether the choice matters. Fewer than ``count`` come back when fewer
    candidates are there to choose from.
    """
    if select == "random":
        chosen = rng.choice(len(pool), min(count, len(pool)), replace=False)
        return np.sort(chosen).astype(np.int64), None, {"n_scored": 0}
    scored = np.arange(len(pool), dtype=np.int64)
    if score_fraction < 1:
        scored = np.sort(rng.choice(len(pool), math.ceil(score_fraction * len(pool)), replace=False)).astype(np.int64)
    index = torch.as_tensor(scored, device=pool.vectors.device)
    candidates = pool.vectors.select(index) if len(scored) < len(pool) else pool.vectors
    teacher = pool.teacher[index.to(pool.teacher.device)]
    student_outputs = predict(student, candidates, context.batch_size)
    no_labels = torch.full((len(scored),), -1, dtype=torch.long, device=teacher.device)
    scores = rank_scores(rank_by, student_outputs, teacher, no_labels, loss_fn, context.temperature)
    keys = scores.astype(np.float64)
    if select == "sample":
        with np.errstate(divide="ignore"):
            keys = np.log(np.maximum(keys, 0)) / temperature + rng.gumbel(size=len(keys))
    order = np.argsort(-keys, kind="stable")[:count]
    stats = {
        "n_scored": len(scored),
        "pool_score": float(scores.mean()) if len(scores) else 0.0,  # the rank_by measure, over the scored
        "chosen_score": float(scores[order].mean()) if len(order) else 0.0,
    }
    order = np.sort(order)  # scored is sorted, so the chosen come back in pool order
    return scored[order], student_outputs[torch.as_tensor(order, device=student_outputs.device)], stats


__all__ = ["CandidatePool", "Select", "choose", "split_count"]
