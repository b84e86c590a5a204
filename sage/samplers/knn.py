"""``knn``: interpolate between a hard example and one of its nearest neighbours."""

from __future__ import annotations

import numpy as np

from sage.samplers import register
from sage.samplers.base import Sampler, check_k, nearest_neighbours


@register("knn")
class KNNSampler(Sampler):
    """Each new point lies on the segment from its parent to one of the parent's ``k``
    nearest neighbours in ``Z`` (chosen uniformly), at a fraction ``u ~ U[0, 1)`` of the
    way, SMOTE-style. Neighbours are searched among all N points, excluding the parent;
    ``k`` is clamped to N - 1.
    """

    def __init__(self, k: int = 10) -> None:
        self.k = check_k(k)

    def _children(self, Z: np.ndarray, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows, which = np.unique(parents, return_inverse=True)
        _, neighbours = nearest_neighbours(Z, rows, self.k)
        picked = neighbours[which, rng.integers(neighbours.shape[1], size=len(parents))]
        fraction = rng.random((len(parents), 1))
        start = Z[parents].astype(np.float64)
        return start + fraction * (Z[picked] - start)
