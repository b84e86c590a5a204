"""The projector protocol: a scikit-learn transformer with an approximate inverse.

A projector maps pooled vectors ``X`` [N, d] to a low-dimensional ``Z`` [N, k] with
``fit``/``transform`` and maps points back with ``inverse_transform``. All three take and
return float32 arrays, and ``fit_transform`` returns the training embedding itself (for
UMAP and t-SNE that is not the same as re-transforming the training points).

An inverse may be unable to decode some points faithfully, typically those outside the
region the training embedding covers. It then either moves them into that region before
decoding (*clips*) or refuses them, returning their rows as NaN (*rejects*). After every
``inverse_transform`` call the projector sets

- ``n_clipped_``: how many of the points were moved before decoding;
- ``n_rejected_``: how many rows came back as NaN.

Callers must drop or replace NaN rows.
"""

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted, validate_data


class Projector(TransformerMixin, BaseEstimator, ABC):
    """Base for projectors: input validation, fitted shapes and the inverse's bookkeeping.

    Subclasses take only hyper-parameters in ``__init__`` (annotated, with defaults: the
    spec system validates user arguments against that signature) and implement
    ``_fit``, ``_transform`` and ``_inverse`` on already-validated float32 arrays.
    """

    n_features_in_: int
    n_components_: int
    n_clipped_: int
    n_rejected_: int

    def fit(self, X: np.ndarray, y: None = None) -> Self:
        """Fit on ``X`` [N, d]."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: np.ndarray, y: None = None) -> np.ndarray:
        """Fit on ``X`` [N, d] and return the training embedding [N, k]."""
        # validate_data sets n_features_in_, which transform then holds new input to.
        X = validate_data(self, X, dtype=np.float32)
        Z = np.asarray(self._fit(X), dtype=np.float32)
        self.n_components_ = Z.shape[1]
        return Z

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project ``X`` [M, d] to [M, k]."""
        check_is_fitted(self)
        # reset=False: a wrong feature count gets scikit-learn's own error, as every transformer's.
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return np.asarray(self._transform(X), dtype=np.float32)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Map ``Z`` [M, k] back to [M, d]; sets ``n_clipped_`` and ``n_rejected_`` (NaN rows)."""
        check_is_fitted(self)
        Z = self._check_embedding(Z)
        X, self.n_clipped_ = self._inverse(Z)
        X = np.asarray(X, dtype=np.float32)
        self.n_rejected_ = int(np.isnan(X).any(axis=1).sum())
        return X

    def __sklearn_is_fitted__(self) -> bool:
        # n_features_in_ is set before _fit runs; only a finished fit sets n_components_.
        return hasattr(self, "n_components_")

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # Output is float32 whatever the input (the pooled vectors are float32, and so are the
        # points the inverse makes), so only float32 input keeps its dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def inverse_transform_held_out(self, Z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Decode ``Z``, the training embedding's ``rows``, each as if its own training point were unknown.

        Decoding a training point's own coordinates is no test of an inverse that memorises
        its training points: it returns the point. This measures the inverse where it has to
        interpolate. The default is ``inverse_transform``, right for an inverse that does not
        memorise single points (PCA's, the identity's); neighbour-mean inverses leave the row out.
        """
        return self.inverse_transform(Z)

    @abstractmethod
    def _fit(self, X: np.ndarray) -> np.ndarray:
        """Fit on X and return the training embedding."""

    @abstractmethod
    def _transform(self, X: np.ndarray) -> np.ndarray:
        """Embed new points."""

    @abstractmethod
    def _inverse(self, Z: np.ndarray) -> tuple[np.ndarray, int]:
        """Decode Z; return the vectors (NaN rows for rejected points) and how many were clipped."""

    def _check_embedding(self, Z: np.ndarray) -> np.ndarray:
        """``Z`` as a finite float32 matrix with ``n_components_`` columns."""
        Z = check_array(Z, dtype=np.float32, input_name="Z", estimator=self)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but this {type(self).__name__} works with "
                f"{self.n_components_} components; pass an array of shape [M, {self.n_components_}]"
            )
        return Z
