"""UMAP projector: umap-learn's embedding and inverse, minding the training hull."""

import warnings
from typing import Literal

import numpy as np
import umap  # absolute import: the umap-learn package, not this module
import umap.layouts
import umap.umap_
import umap.utils
from numba.core.registry import CPUDispatcher
from pynndescent.distances import named_distances as pynndescent_distances
from umap.distances import named_distances, named_distances_with_gradients
from scipy.spatial import Delaunay, cKDTree
from sklearn.utils.validation import check_is_fitted

from sage.neighbours import search
from sage.projectors.neighbour_mean import NeighbourMean
from sage.projectors import register
from sage.projectors.base import Projector



def cache_compilation() -> None:
    """Keep umap-learn's numba-compiled functions on disk across processes.

    umap-learn does not ask numba to cache its ~20 jitted functions, so every fresh process
    compiles them again on its first fit (about 10 s on 2 cores, a fixed cost of every SAGE
    run). ``enable_caching`` is numba's public switch for a compiled function's on-disk cache;
    the cache is keyed by the function's source and types, so a changed umap-learn recompiles.
    """
    for module in (umap.umap_, umap.layouts, umap.utils):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                value.enable_caching()


cache_compilation()

# The metric names umap-learn accepts for vectors: its own, then pynndescent's (without a
# gradient, so no exact inverse). "precomputed" is left out: sage passes vectors, not distances.
METRICS = frozenset(named_distances) | frozenset(pynndescent_distances)

# Below this many points umap-learn computes every pairwise distance exactly (and above it
# searches approximately, with NN-descent).
_UMAP_EXACT_BELOW = 4096
# Rows of differences computed at once: 128 × 100 neighbours × 384 dims in float64 is 39 MB.
_DISTANCE_CHUNK = 128


def exact_neighbours(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point's ``k`` nearest points by euclidean distance (itself first) and their
    distances, for umap-learn's ``precomputed_knn``.

    For fewer than 4,096 points umap-learn finds the same exact neighbours through a Python call
    per pair (4 million calls, about 3 s, at 2,000 points); one BLAS search finds them in 0.1 s.
    The distances are then recomputed as norms of differences: the BLAS expansion leaves a
    point about 1e-7 from itself (or its duplicate), and umap-learn would take that for the
    distance to its nearest neighbour and build a different graph.
    """
    X64 = X.astype(np.float64)
    # Brute force whatever the dimension, in float64: the neighbours umap-learn's graphs were pinned with.
    indices = search(X64, k, queries=X64, backend="sklearn-brute")[1]
    distances = np.empty(indices.shape, dtype=np.float32)
    for start in range(0, len(X), _DISTANCE_CHUNK):
        rows = slice(start, start + _DISTANCE_CHUNK)
        distances[rows] = np.linalg.norm(X64[rows, None, :] - X64[indices[rows]], axis=-1)
    return indices.astype(np.int32), distances


# Halving [0, 1] this often leaves the clipped point within 1e-9 of the hull along its segment,
# far below the float32 resolution of the embedding.
_BISECTION_STEPS = 32


@register("umap")
class UMAPProjector(Projector):
    """UMAP (umap-learn), inverted fast or exactly.

    ``inverse="fast"`` decodes a point as the weighted mean of the original vectors of its
    ``inverse_neighbors`` nearest training points in the embedding (``NeighbourMean``,
    batched torch, optionally ``refine_steps`` mean-shift steps): about 1,800 times faster
    than umap-learn's own inverse at 16,000 points, and closer to the original vectors
    (docs/performance.md).

    ``inverse="exact"`` is umap-learn's ``inverse_transform`` (about 0.1 s per point on two
    cores). It decodes a point from the Delaunay triangle that contains it; for a point
    outside the convex hull of the training embedding it silently uses the wrong triangle
    (simplex -1 wraps around to the last one). Such points are, by ``outside``:

    - ``"clip"``: moved along the segment towards their nearest training point until they
      are just inside the hull, then decoded (counted in ``n_clipped_``);
    - ``"reject"``: returned as NaN rows (counted in ``n_rejected_``).

    The fast inverse decodes every point from its nearest training points, so nothing needs
    clipping; with ``outside="reject"`` it still refuses points outside the hull.

    A dataset with no more than ``n_neighbors`` points is fitted with ``N - 1`` neighbours
    (umap-learn warns).
    """

    def __init__(
        self,
        n_components: int = 2,
        n_neighbors: int = 100,
        min_dist: float = 0.1,
        metric: str = "euclidean",
        inverse: Literal["fast", "exact"] = "fast",
        inverse_neighbors: int = 10,
        refine_steps: int = 0,
        outside: Literal["clip", "reject"] = "clip",
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.inverse = inverse
        self.inverse_neighbors = inverse_neighbors
        self.refine_steps = refine_steps
        self.outside = outside
        self.random_state = random_state
        self._check_settings()

    def clip(self, Z: np.ndarray) -> np.ndarray:
        """``Z`` with each point outside the training hull moved just inside it, the rest kept."""
        check_is_fitted(self)
        Z = self._check_embedding(Z).copy()
        triangulation, tree = self._hull()
        out = np.flatnonzero(triangulation.find_simplex(Z) < 0)
        if out.size == 0:
            return Z
        # Every training point is a vertex of the triangulation (qhull's joggle keeps them all),
        # so t = 0 is inside; the hull is convex, so the inside part of the segment is [0, t*].
        anchor = self.umap_.embedding_[tree.query(Z[out])[1]].astype(np.float64)
        step = Z[out] - anchor

        def along(t: np.ndarray) -> np.ndarray:
            # Test the float32 point that umap-learn will see, not its float64 original.
            return (anchor + t[:, None] * step).astype(np.float32)

        inner, outer = np.zeros(out.size), np.ones(out.size)
        for _ in range(_BISECTION_STEPS):
            middle = (inner + outer) / 2
            inside = triangulation.find_simplex(along(middle)) >= 0
            inner = np.where(inside, middle, inner)
            outer = np.where(inside, outer, middle)
        Z[out] = along(inner)
        return Z

    def _fit(self, X: np.ndarray) -> np.ndarray:
        self._check_settings()  # again: set_params may have changed them since construction
        # umap-learn runs single-threaded when seeded, and warns unless told n_jobs=1.
        seeded = {} if self.random_state is None else {
            "random_state": self.random_state,
            "transform_seed": self.random_state,
            "n_jobs": 1,
        }
        precomputed = self.n_neighbors < len(X) < _UMAP_EXACT_BELOW and self.metric == "euclidean"
        if precomputed:
            seeded["precomputed_knn"] = (*exact_neighbours(X, self.n_neighbors), None)
        with warnings.catch_warnings():
            # umap-learn warns that a precomputed_knn without a search index cannot transform;
            # it can once marked as small data, below.
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            self.umap_ = umap.UMAP(
                n_components=self.n_components,
                n_neighbors=self.n_neighbors,
                min_dist=self.min_dist,
                metric=self.metric,
                **seeded,
            ).fit(X)
        if precomputed:
            # Small data transforms by exact distances to every training point, as umap-learn
            # does when it computed the neighbours itself.
            self.umap_._small_data = True
            del self.umap_._knn_search_index
        self.train_vectors_ = X
        self._triangulation = None
        self._decoder = None
        return self.umap_.embedding_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.umap_.transform(X)

    def _inverse(self, Z: np.ndarray) -> tuple[np.ndarray, int]:
        if self.inverse == "fast" and self.outside == "clip":
            return self._neighbours().predict(Z), 0
        inside = self._hull()[0].find_simplex(Z) >= 0
        if self.outside == "clip":
            return self._decode(self.clip(Z)), int((~inside).sum())
        X = np.full((len(Z), self.n_features_in_), np.nan, dtype=np.float32)
        X[inside] = self._decode(Z[inside])
        return X, 0

    def inverse_transform_held_out(self, Z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The fast inverse leaves each row out of its own neighbours. umap-learn's exact
        inverse cannot leave a point out, so it decodes in-sample and flatters itself."""
        if self.inverse == "fast" and self.outside == "clip":
            return self._neighbours().predict(self._check_embedding(Z), exclude=rows)
        return super().inverse_transform_held_out(Z, rows)

    def _decode(self, Z: np.ndarray) -> np.ndarray:
        if len(Z) == 0:  # umap-learn rejects empty input
            return np.empty((0, self.n_features_in_), dtype=np.float32)
        if self.inverse == "fast":
            return self._neighbours().predict(Z)
        return self.umap_.inverse_transform(Z)

    def _neighbours(self) -> NeighbourMean:
        """The fast inverse over the training embedding, built on first use (and again if its settings change)."""
        settings = (self.inverse_neighbors, self.refine_steps)
        if self._decoder is None or (self._decoder.n_neighbors, self._decoder.refine_steps) != settings:
            self._decoder = NeighbourMean(self.inverse_neighbors, self.refine_steps).fit(
                self.umap_.embedding_, self.train_vectors_
            )
        return self._decoder

    def _hull(self) -> tuple[Delaunay, cKDTree]:
        """The training embedding's Delaunay triangulation and KD-tree, built on first use."""
        if self._triangulation is None:
            embedding = self.umap_.embedding_
            # The same call as in umap-learn's inverse_transform (qhull's joggle is deterministic),
            # so both agree on which points are inside.
            triangulation = Delaunay(embedding, incremental=True, qhull_options="QJ")
            self._triangulation = (triangulation, cKDTree(embedding))
        return self._triangulation

    def _check_settings(self) -> None:
        """Refuse settings that umap-learn, or the chosen inverse, cannot work with, before any fit.

        The spec builds every component when it is validated, so these reach the user as spec
        errors, before the teacher is fine-tuned. Only umap-learn's exact inverse and
        ``outside="reject"`` triangulate the embedding, which needs 2-D at least and does not
        finish at 8-D or more.
        """
        if self.n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        if self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be >= 2 (a neighbourhood needs another point), got {self.n_neighbors}")
        if not 0 <= self.min_dist <= 1:
            raise ValueError(f"min_dist must be in [0, 1] (0 up to umap-learn's spread, 1), got {self.min_dist}")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; umap-learn's metrics: {', '.join(sorted(METRICS))}")
        if self.inverse_neighbors < 1:
            raise ValueError(f"inverse_neighbors must be >= 1, got {self.inverse_neighbors}")
        if self.refine_steps < 0:
            raise ValueError(f"refine_steps must be >= 0, got {self.refine_steps}")
        triangulating = ["inverse: exact"] if self.inverse == "exact" else []
        if self.outside == "reject":
            triangulating.append("outside: reject")
        if triangulating and not 2 <= self.n_components <= 7:
            raise ValueError(
                f"with {' and '.join(triangulating)}, n_components must be in 2..7, got {self.n_components}: "
                "umap-learn's inverse_transform and the hull test triangulate the embedding, which needs "
                "at least 2-D and does not finish at 8-D or more; use inverse: fast with outside: clip, "
                "or the 'pca' or 'tsne' projector"
            )
        if self.inverse == "exact" and self.metric not in named_distances_with_gradients:
            valid = ", ".join(sorted(named_distances_with_gradients))
            raise ValueError(
                f"umap-learn has no inverse_transform for metric {self.metric!r} (it needs the "
                f"metric's gradient); use one of: {valid}"
            )
