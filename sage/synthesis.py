"""Loss-guided synthetic data: hard examples → projected space → new points → vectors → teacher labels."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sage.body import Body
from sage.training import predict
from sage.vectors import VectorSet


@dataclass
class SyntheticSet:
    """One epoch's synthetic examples, with what produced them."""

    vectors: VectorSet
    teacher: torch.Tensor
    parents: np.ndarray
    hard: np.ndarray
    points: np.ndarray
    stats: dict[str, Any]


class Synthesiser:
    """Fits the projector once on the pooled real vectors, then each epoch turns the hardest
    examples into new teacher-labelled sequences.

    The vectors at the interface never change during a run (the teacher is frozen), so one
    projection serves every epoch; only the hard set moves.
    """

    def __init__(self, projector: Any, sampler: Any, hard_fraction: float, per_hard: int, rng: np.random.Generator):
        self.projector = projector
        self.sampler = sampler
        self.hard_fraction = hard_fraction
        self.per_hard = per_hard
        self.rng = rng
        self.embedding: np.ndarray | None = None

    def fit(self, real: VectorSet) -> float:
        """Project the pooled real vectors; returns the seconds it took."""
        started = time.perf_counter()
        pooled = real.pooled().cpu().numpy()
        fit_transform = getattr(self.projector, "fit_transform", None)
        embedding = fit_transform(pooled) if fit_transform else self.projector.fit(pooled).transform(pooled)
        self.embedding = np.asarray(embedding, dtype=np.float32)
        return time.perf_counter() - started

    def generate(self, losses: np.ndarray, real: VectorSet, teacher: Body, batch_size: int) -> SyntheticSet:
        if self.embedding is None:
            raise RuntimeError("call fit() before generate()")
        count = max(1, math.ceil(self.hard_fraction * len(losses)))
        hard = np.argsort(-losses, kind="stable")[:count].astype(np.int64)

        started = time.perf_counter()
        points, parents = self.sampler.sample(self.embedding, hard, count * self.per_hard, self.rng)
        sample_seconds = time.perf_counter() - started

        started = time.perf_counter()
        pooled = np.asarray(self.projector.inverse_transform(points), dtype=np.float32)
        inverse_seconds = time.perf_counter() - started
        # Projectors return NaN rows for points they refuse to invert; those points are dropped.
        kept = np.isfinite(pooled).all(axis=1)
        points, parents, pooled = points[kept], parents[kept], pooled[kept]

        started = time.perf_counter()
        device = real.vectors.device
        vectors = real.lift(torch.as_tensor(parents, device=device), torch.as_tensor(pooled, device=device))
        teacher_outputs = predict(teacher, vectors, batch_size)
        label_seconds = time.perf_counter() - started

        stats = {
            "n_hard": len(hard),
            "n_synthetic": len(parents),
            "n_clipped": int(getattr(self.projector, "n_clipped_", 0)),
            "n_rejected": int(getattr(self.projector, "n_rejected_", 0)),
            "sample_s": sample_seconds,
            "inverse_s": inverse_seconds,
            "teacher_label_s": label_seconds,
        }
        return SyntheticSet(vectors, teacher_outputs, parents, hard, points, stats)
