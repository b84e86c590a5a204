"""``jitter``: Gaussian noise around a hard example, scaled to its local density."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from sage.samplers import register
from sage.samplers.base import Sampler, check_k, nearest_neighbours


@register("jitter")
class JitterSampler(Sampler):
    """Each new point is its parent plus isotropic Gaussian noise whose root-mean-square
    length is ``scale`` times the parent's mean distance to its ``k`` nearest neighbours
    in ``Z`` (excluding itself; ``k`` is clamped to N - 1), so points spread further
    where the data are sparse. The per-coordinate std is that length / sqrt(dim), which
    keeps ``scale`` meaning the same in 2-D and 384-D. A parent whose neighbours all
    coincide with it gets zero spread.
    """

    def __init__(self, scale: float = 0.5, k: int = 10) -> None:
        if isinstance(scale, bool) or not isinstance(scale, Real) or not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite float > 0, got {scale!r}")
        self.scale = float(scale)
        self.k = check_k(k)

    def _children(self, Z: np.ndarray, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows, which = np.unique(parents, return_inverse=True)
        distances, _ = nearest_neighbours(Z, rows, self.k)
        # Noise of per-coordinate std s has RMS length s * sqrt(dim); divide it out.
        std = self.scale * distances.mean(axis=1)[which] / math.sqrt(Z.shape[1])
        noise = rng.standard_normal((len(parents), Z.shape[1]))
        return Z[parents].astype(np.float64) + std[:, None] * noise
