"""Identity projector: no projection (the paper's "No UMAP" ablation)."""

import numpy as np

from sage.projectors import register
from sage.projectors.base import Projector


@register("identity")
class IdentityProjector(Projector):
    """Leaves vectors as they are: transform and inverse return float32 copies of their input."""

    def _fit(self, X: np.ndarray) -> np.ndarray:
        return X.copy()

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return X.copy()

    def _inverse(self, Z: np.ndarray) -> tuple[np.ndarray, int]:
        return Z.copy(), 0
