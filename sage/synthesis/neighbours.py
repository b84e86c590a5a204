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


def cycled_neighbours(
    space: np.ndarray, parents: np.ndarray, repeat: np.ndarray, classes: np.ndarray | None = None
) -> np.ndarray:
    """For each child, the ``repeat``-th nearest other point of its parent, cycling: [len(parents)].

    A parent's j-th child (``repeat`` j, as ``cyclic_parents`` numbers them) takes its parent's
    (j mod n)-th nearest neighbour, where n is how many candidates the parent has (at most N − 1,
    fewer with ``classes``), so a parent may have more children than neighbours. A child whose
    parent has no candidate at all (no point of another class) gets ``-1``.
    """
    rows, which = np.unique(parents, return_inverse=True)
    found = nearest(space, rows, int(repeat.max(initial=0)) + 1, classes)
    # ``nearest`` lists a row's candidates first and pads the rest with -1.
    available = (found >= 0).sum(1)[which]
    return np.where(available > 0, found[which, repeat % np.maximum(available, 1)], -1)
