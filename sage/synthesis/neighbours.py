"""Exact nearest neighbours in a search space, batched in torch, optionally among other classes only."""

from __future__ import annotations

import numpy as np
import torch

# Query rows per distance matrix: bounds memory at chunk × N floats.
_CHUNK = 1024


@torch.no_grad()
def nearest(
    space: np.ndarray, rows: np.ndarray, k: int, classes: np.ndarray | None = None
) -> np.ndarray:
    """Indices [len(rows), k'] of each row's k' nearest other points of ``space``, nearest first.

    With ``classes`` [N], only points of another class than the row's count (the row's own
    class is ``classes[row]``). ``k' = min(k, candidates)``; a row with fewer candidates than
    k' gets ``-1`` in the missing places.
    """
    points = torch.as_tensor(np.asarray(space, dtype=np.float32))
    rows = torch.as_tensor(np.asarray(rows, dtype=np.int64))
    labels = None if classes is None else torch.as_tensor(np.asarray(classes))
    k = min(k, len(points) - 1)
    found = []
    for chunk in rows.split(_CHUNK):
        distances = torch.cdist(points[chunk], points)
        distances[torch.arange(len(chunk)), chunk] = torch.inf
        if labels is not None:
            distances[labels[None, :] == labels[chunk, None]] = torch.inf
        values, indices = distances.topk(k, dim=1, largest=False)
        found.append(torch.where(torch.isinf(values), -1, indices))
    if not found:
        return np.empty((0, k), dtype=np.int64)
    return torch.cat(found).numpy()
