"""PCA projector: a linear projection with an exact inverse (up to the discarded components)."""

import numpy as np
from sklearn.decomposition import PCA

from sage.projectors import register
from sage.projectors.base import Projector


@register("pca")
class PCAProjector(Projector):
    """scikit-learn's PCA; the inverse never clips or rejects a point."""

    def __init__(self, n_components: int = 2, random_state: int | None = None) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def _fit(self, X: np.ndarray) -> np.ndarray:
        self.pca_ = PCA(n_components=self.n_components, random_state=self.random_state)
        return self.pca_.fit_transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        # In float64, then rounded to float32 by the base class: a float32 product's last bit
        # depends on the row's place in BLAS's blocks on some CPUs (AVX-512), so a point would
        # move when the batch around it is reordered.
        return self.pca_.transform(X.astype(np.float64))

    def _inverse(self, Z: np.ndarray) -> tuple[np.ndarray, int]:
        return self.pca_.inverse_transform(Z), 0
