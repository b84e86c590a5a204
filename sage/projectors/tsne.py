"""t-SNE projector: openTSNE's embedding, inverted by a weighted mean of neighbours' vectors."""

import numpy as np
import openTSNE

from sage.projectors import register
from sage.projectors.base import Projector
from sage.projectors.neighbour_mean import NeighbourMean


@register("tsne")
class TSNEProjector(Projector):
    """openTSNE, which can place new points but has no inverse.

    A point is decoded as the inverse-distance-weighted mean of the original vectors of its
    ``inverse_neighbors`` nearest training points in the embedding, optionally refined by
    ``refine_steps`` mean-shift steps (``NeighbourMean``); nothing is clipped or rejected.
    ``n_jobs`` is openTSNE's thread count.
    """

    def __init__(
        self,
        n_components: int = 2,
        perplexity: float = 30.0,
        inverse_neighbors: int = 10,
        refine_steps: int = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.n_components = n_components
        self.perplexity = perplexity
        self.inverse_neighbors = inverse_neighbors
        self.refine_steps = refine_steps
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit(self, X: np.ndarray) -> np.ndarray:
        tsne = openTSNE.TSNE(
            n_components=self.n_components,
            perplexity=self.perplexity,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        self.embedding_ = tsne.fit(X)
        # openTSNE's transform re-centres the training embedding in place on first use, which would
        # move it away from the embedding returned here; centred once now, that is a no-op.
        self.embedding_ -= (self.embedding_.max(axis=0) + self.embedding_.min(axis=0)) / 2
        # The decoder keeps its own copy, so nothing openTSNE does to its embedding can reach it.
        self.decoder_ = NeighbourMean(self.inverse_neighbors, self.refine_steps).fit(np.array(self.embedding_), X)
        return self.embedding_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.embedding_.transform(X)

    def _inverse(self, Z: np.ndarray) -> tuple[np.ndarray, int]:
        return self.decoder_.predict(Z), 0

    def inverse_transform_held_out(self, Z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.decoder_.predict(self._check_embedding(Z), exclude=rows)
