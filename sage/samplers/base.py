"""What every sampler shares: input checks, parent assignment and neighbour look-up."""

from __future__ import annotations

from abc import ABC, abstractmethod
from numbers import Integral

import numpy as np

from sage.neighbours import search


def check_k(k: int) -> int:
    """Validate a neighbour count hyper-parameter."""
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)


class Sampler(ABC):
    """Base class: ``sample`` checks inputs and picks parents; subclasses place the children.

    Parents are the hard indices repeated cyclically (``np.resize(hard, count)``), so each
    hard example gets ``count // len(hard)`` children and the first ``count % len(hard)``
    of them one more.
    """

    def sample(
        self, Z: np.ndarray, hard: np.ndarray, count: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """New points near the hard examples of ``Z``.

        Args:
            Z: float [N, k], the projection of all training points.
            hard: int [H], indices into ``Z`` of the hard examples (repeats allowed).
            count: how many points to make (>= 0).
            rng: the only source of randomness.

        Returns:
            ``points`` float32 [count, k] and ``parents`` int64 [count], the index into
            ``Z`` of each point's parent hard example.
        """
        Z, hard = _check_inputs(Z, hard, count)
        parents = np.resize(hard, count)
        if count == 0:
            return np.empty((0, Z.shape[1]), dtype=np.float32), parents
        return self._children(Z, parents, rng).astype(np.float32, copy=False), parents

    @abstractmethod
    def _children(self, Z: np.ndarray, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new point per entry of ``parents`` (non-empty), as a [len(parents), k] array."""


def _check_inputs(Z: np.ndarray, hard: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    Z = np.asarray(Z)
    if Z.ndim != 2 or not np.issubdtype(Z.dtype, np.floating):
        raise ValueError(f"Z must be a 2-D float array [N, k], got {Z.ndim}-D {Z.dtype}")
    hard = np.asarray(hard)
    if hard.ndim != 1 or not (np.issubdtype(hard.dtype, np.integer) or hard.size == 0):
        raise ValueError(f"hard must be a 1-D integer index array, got {hard.ndim}-D {hard.dtype}")
    hard = hard.astype(np.int64)
    if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
        raise ValueError(f"count must be an int >= 0, got {count!r}")
    if count > 0 and hard.size == 0:
        raise ValueError(f"cannot sample {count} points around an empty hard set; pass hard indices or count=0")
    n = len(Z)
    out_of_range = hard[(hard < 0) | (hard >= n)]
    if out_of_range.size:
        raise IndexError(f"hard indices must be in [0, {n}) for Z with {n} rows, got {out_of_range[:5].tolist()}")
    return Z, hard


def nearest_neighbours(Z: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices [len(rows), k'] of each row's k' nearest other points of ``Z``.

    ``k' = min(k, N - 1)``: a small ``Z`` clamps ``k`` rather than failing, since every
    point but the row itself is then a neighbour. Exact duplicates of a row are neighbours
    at distance 0; only the row itself is left out.
    """
    n = len(Z)
    if n < 2:
        raise ValueError(f"Z needs at least 2 points to have neighbours, got {n}")
    # scikit-learn's search (a KD-tree for low-dim Z, brute force for high-dim Z): the samplers'
    # pinned points were made with its tie order and its distances.
    return search(Z, k, rows=rows, leave_out=rows, backend="sklearn")
