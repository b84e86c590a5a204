"""Loss-guided synthetic data: hard examples → projected space → new points → vectors → teacher labels."""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sage.background import BackgroundFit, fit_projection
from sage.body import Body
from sage.diagnostics import inverse_diagnostics, synthetic_diagnostics
from sage.neighbour_mean import NeighbourMean
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
    """Projects the pooled real vectors, then each epoch turns the hardest examples into new
    teacher-labelled sequences.

    The vectors at the interface never change during a run (the teacher is frozen), so the
    engine fits the projection once and every epoch reuses it; only the hard set moves. With
    more than ``fit_max`` examples the projector is fitted on a seeded sample of that size and
    the rest are placed by ``place_rest``: ``"neighbours"`` puts each at the weighted mean of
    its nearest fitted examples' coordinates (``NeighbourMean``, where UMAP's own transform
    starts before it refines), ``"transform"`` calls the projector's ``transform`` (exact, but
    minutes for UMAP or t-SNE at tens of thousands of points). A projector with no
    ``inverse_transform`` (scikit-learn reducers such as Isomap) is inverted by ``NeighbourMean``.
    """

    def __init__(
        self,
        projector: Any,
        sampler: Any,
        hard_fraction: float,
        per_hard: int,
        rng: np.random.Generator,
        fit_max: int | None = None,
        place_rest: str = "neighbours",
        diagnostic_points: int = 64,
    ):
        self.projector = projector
        self.sampler = sampler
        self.hard_fraction = hard_fraction
        self.per_hard = per_hard
        self.rng = rng
        self.fit_max = fit_max
        self.place_rest = place_rest
        self.diagnostic_points = diagnostic_points
        self.embedding: np.ndarray | None = None

    def start_fit(self, real: VectorSet, background: bool = False) -> None:
        """Begin projecting the pooled real vectors: in a child process with ``background``
        (when the projector can be pickled), so that training goes on meanwhile; else now."""
        self._pooled = real.pooled().cpu().numpy()
        self._fitted = np.arange(len(self._pooled))
        if self.fit_max is not None and len(self._pooled) > self.fit_max:
            self._fitted = np.sort(self.rng.choice(len(self._pooled), self.fit_max, replace=False))
        sample = self._pooled[self._fitted]
        self._background = None
        if background:
            try:
                self._background = BackgroundFit(self.projector, sample)
            except (pickle.PicklingError, AttributeError, TypeError):
                pass  # a projector that cannot travel is fitted here, in finish_fit
        self._started = time.perf_counter()

    def finish_fit(self) -> dict[str, Any]:
        """Wait for the projection, place examples beyond ``fit_max``, prepare the inverse.

        Returns the seconds the run waited here and, for a background fit, how long the
        fit itself took while training went on.
        """
        started = time.perf_counter()
        sample = self._pooled[self._fitted]
        report: dict[str, Any] = {"projection": "fitted"}
        if self._background is not None:
            self.projector, fitted_embedding, fit_seconds = self._background.result()
            self._background = None
            report = {"projection": "fitted in background", "projector_background_s": fit_seconds}
        else:
            self.projector, fitted_embedding, _ = fit_projection(self.projector, sample)
        embedding = np.empty((len(self._pooled), fitted_embedding.shape[1]), dtype=np.float32)
        embedding[self._fitted] = fitted_embedding
        rest = np.setdiff1d(np.arange(len(self._pooled)), self._fitted)
        if len(rest) and self.place_rest == "transform":
            embedding[rest] = self.projector.transform(self._pooled[rest])
        elif len(rest):
            embedding[rest] = NeighbourMean().fit(sample, fitted_embedding).predict(self._pooled[rest])
        self.embedding = embedding
        if hasattr(self.projector, "inverse_transform"):
            self._inverse = self.projector.inverse_transform
            self._held_out_inverse = getattr(self.projector, "inverse_transform_held_out", lambda Z, rows: self._inverse(Z))
        else:
            decoder = NeighbourMean().fit(fitted_embedding, sample)
            self._inverse = decoder.predict
            self._held_out_inverse = lambda Z, rows: decoder.predict(Z, exclude=rows)
        return {**report, "projector_fit_s": time.perf_counter() - started}

    def fit(self, real: VectorSet) -> dict[str, Any]:
        """Project the pooled real vectors now; see ``finish_fit`` for what it returns."""
        self.start_fit(real)
        return self.finish_fit()

    def close(self) -> None:
        """Stop a background fit the run no longer needs."""
        if getattr(self, "_background", None) is not None:
            self._background.cancel()
            self._background = None

    def generate(
        self, losses: np.ndarray, real: VectorSet, teacher: Body, teacher_real: torch.Tensor, batch_size: int
    ) -> SyntheticSet:
        """New teacher-labelled sequences around the hardest examples by ``losses``.

        ``teacher_real`` holds the teacher's outputs on ``real``; with them the stats report
        the diagnostics of ``sage.diagnostics`` beside counts and seconds.
        """
        if self.embedding is None:
            raise RuntimeError("call fit() or finish_fit() before generate()")
        count = max(1, math.ceil(self.hard_fraction * len(losses)))
        hard = np.argsort(-losses, kind="stable")[:count].astype(np.int64)

        started = time.perf_counter()
        points, parents = self.sampler.sample(self.embedding, hard, count * self.per_hard, self.rng)
        sample_seconds = time.perf_counter() - started

        started = time.perf_counter()
        pooled = np.asarray(self._inverse(points), dtype=np.float32)
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
        started = time.perf_counter()
        stats.update(synthetic_diagnostics(self._pooled, parents, pooled, teacher_real, teacher_outputs))
        # Timed apart from inverse_s: with umap-learn's exact inverse this costs ~0.1 s a point.
        # Hard examples the projector was fitted on, each decoded without itself (see
        # Projector.inverse_transform_held_out): decoding a memorised point proves nothing.
        probe = hard[np.isin(hard, self._fitted)][: self.diagnostic_points]
        if len(probe):
            rows = np.searchsorted(self._fitted, probe)
            decoded = np.asarray(self._held_out_inverse(self.embedding[probe], rows), dtype=np.float32)
            finite = np.isfinite(decoded).all(1)
            stats.update(inverse_diagnostics(decoded[finite], self._pooled[probe][finite], self._pooled.mean(0)))
        stats["diagnostics_s"] = time.perf_counter() - started
        return SyntheticSet(vectors, teacher_outputs, parents, hard, points, stats)
