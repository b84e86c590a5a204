"""Approximate inverse for projections that have none: a weighted mean of neighbours' vectors."""

from typing import Self

import numpy as np
from sklearn.neighbors import NearestNeighbors


class NeighbourInverse:
    """Decode a low-dim point as the mean of the original vectors of its nearest training points.

    Weights are inverse distances in the low-dim space, so a point that lands exactly on
    a training point decodes to that point's vector.
    """

    def __init__(self, n_neighbors: int = 10) -> None:
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors}")
        self.n_neighbors = n_neighbors

    def fit(self, Z_train: np.ndarray, X_train: np.ndarray) -> Self:
        """Remember the training embedding ``Z_train`` [N, k] and its vectors ``X_train`` [N, d]."""
        if len(Z_train) != len(X_train):
            raise ValueError(
                f"Z_train has {len(Z_train)} rows but X_train has {len(X_train)}; "
                "they must describe the same training points"
            )
        self._vectors = np.asarray(X_train, dtype=np.float32)
        k = min(self.n_neighbors, len(Z_train))
        self._index = NearestNeighbors(n_neighbors=k, algorithm="kd_tree").fit(Z_train)
        return self

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Vectors [M, d] for the low-dim points ``Z`` [M, k]."""
        distances, indices = self._index.kneighbors(Z)
        exact = distances == 0
        with np.errstate(divide="ignore"):
            weights = 1.0 / distances
        # 1/0 is inf; a row with an exact hit takes the hit's vector (or the mean of duplicates).
        weights = np.where(exact.any(axis=1, keepdims=True), exact, weights)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkd->md", weights, self._vectors[indices]).astype(np.float32)
