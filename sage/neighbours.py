"""Exact k-nearest-neighbour search by euclidean distance: sage's one neighbour search.

``search(points, k, queries=... | rows=...)`` returns, for each query, the distances and
indices of its ``k`` nearest points, nearest first. A query may leave one row of ``points``
out (its own, or a held-out one) and, for rows, count only points of another class.

Two backends find the same neighbours but break ties and round distances differently, so each
caller keeps the one its pinned results were made with:

- ``"torch"``: chunked ``torch.cdist`` and ``topk`` (float32), on the device ``points`` are on;
- ``"sklearn"``: scikit-learn's ``NearestNeighbors``, which picks a KD-tree for low-dimensional
  points and brute force otherwise; ``"sklearn-brute"`` always uses brute force.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

Backend = Literal["torch", "sklearn", "sklearn-brute"]
Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Query rows per distance matrix: bounds memory at chunk × N floats (256 MB at N = 64k).
_CHUNK = 1024


def search(
    points: Array,
    k: int,
    *,
    queries: Array | None = None,
    rows: Array | None = None,
    leave_out: Array | None = None,
    classes: np.ndarray | None = None,
    backend: Backend = "torch",
) -> tuple[Array, Array]:
    """Distances and indices [M, k'] of each query's k' nearest ``points`` [N, d], nearest first.

    Args:
        points: what is searched. The torch backend takes a tensor (and returns tensors on its
            device) or an array (searched on the CPU); the sklearn backends take arrays.
        k: neighbours per query; ``k' = min(k, N)``, or ``min(k, N - 1)`` with ``leave_out``.
        queries: [M, d] query points; or
        rows: [M] indices of ``points`` to use as the queries.
        leave_out: [M], optional: for each query, one row of ``points`` that is not its
            neighbour (the query's own row, to find its *other* nearest points).
        classes: [N], optional, with ``rows`` and the torch backend only: only points of
            another class than the query row's (``classes[row]``) are neighbours.

    A query with fewer than k' candidates (the class filter leaves too few) gets index ``-1``
    and distance ``inf`` in the missing places.
    """
    if (queries is None) == (rows is None):
        raise ValueError("pass either queries (points) or rows (indices into points), not both or neither")
    if classes is not None and (rows is None or backend != "torch"):
        raise ValueError("classes need rows as the queries and the torch backend")
    k = min(k, len(points) - (leave_out is not None))
    if backend == "torch":
        return _search_torch(points, k, queries, rows, leave_out, classes)
    if backend in ("sklearn", "sklearn-brute"):
        algorithm = "brute" if backend == "sklearn-brute" else "auto"
        return _search_sklearn(points, k, points[rows] if queries is None else queries, leave_out, algorithm)
    raise ValueError(f"unknown backend {backend!r}; use 'torch', 'sklearn' or 'sklearn-brute'")


@torch.no_grad()
def _search_torch(
    points: Array,
    k: int,
    queries: Array | None,
    rows: Array | None,
    leave_out: Array | None,
    classes: np.ndarray | None,
) -> tuple[Array, Array]:
    as_numpy = not isinstance(points, torch.Tensor)
    points = torch.as_tensor(np.asarray(points, dtype=np.float32)) if as_numpy else points
    device = points.device

    def tensor(values: Array | None, dtype: np.dtype) -> torch.Tensor | None:
        if values is None or isinstance(values, torch.Tensor):
            return values
        return torch.as_tensor(np.asarray(values, dtype=dtype), device=device)

    queries, rows, leave_out = tensor(queries, np.float32), tensor(rows, np.int64), tensor(leave_out, np.int64)
    labels = None if classes is None else torch.as_tensor(np.asarray(classes), device=device)
    distances, indices = [], []
    for start in range(0, len(rows if queries is None else queries), _CHUNK):
        span = slice(start, start + _CHUNK)
        # Rows are gathered a chunk at a time, so only one chunk of query points is ever copied.
        chunk = points[rows[span]] if queries is None else queries[span]
        found = torch.cdist(chunk, points)
        if leave_out is not None:
            found[torch.arange(len(chunk), device=device), leave_out[span]] = torch.inf
        if labels is not None:
            found[labels[None, :] == labels[rows[span], None]] = torch.inf
        values, nearest = found.topk(k, dim=1, largest=False)
        distances.append(values)
        indices.append(torch.where(torch.isinf(values), -1, nearest))
    if not distances:
        distances.append(torch.empty((0, k), device=device))
        indices.append(torch.empty((0, k), dtype=torch.int64, device=device))
    distances, indices = torch.cat(distances), torch.cat(indices)
    return (distances.cpu().numpy(), indices.cpu().numpy()) if as_numpy else (distances, indices)


def _search_sklearn(
    points: np.ndarray, k: int, queries: np.ndarray, leave_out: np.ndarray | None, algorithm: str
) -> tuple[np.ndarray, np.ndarray]:
    if leave_out is None:
        return NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(points).kneighbors(queries)
    distances, indices = NearestNeighbors(n_neighbors=k + 1, algorithm=algorithm).fit(points).kneighbors(queries)
    is_left_out = indices == np.asarray(leave_out)[:, None]
    # Exact duplicates tie with the left-out row, which may then be listed beyond the k + 1
    # returned; drop the farthest instead so every query keeps k neighbours.
    is_left_out[~is_left_out.any(axis=1), -1] = True
    keep = ~is_left_out
    return distances[keep].reshape(len(queries), k), indices[keep].reshape(len(queries), k)
