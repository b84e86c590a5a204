"""A row's nearest other points in the search space, optionally among other classes only."""

from __future__ import annotations

import numpy as np

from sage.neighbours import search


def nearest(
    space: np.ndarray, rows: np.ndarray, k: int, classes: np.ndarray | None = None
) -> np.ndarray:
    """Indices [len(rows), k'] of each row's k' nearest other points of ``space``, nearest first.

    With ``classes`` [N], only points of another class than the row's count (the row's own
    class is ``classes[row]``). ``k' = min(k, candidates)``; a row with fewer candidates than
    k' gets ``-1`` in the missing places.
    """
    # The torch backend, on the CPU: the strategies' pinned partners were found with it.
    return search(space, k, rows=rows, leave_out=rows, classes=classes)[1]
