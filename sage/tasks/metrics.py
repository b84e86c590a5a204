"""Task metrics (GLUE's, and macro-F1 for a user's classes): each scores 1-D predictions against gold labels and returns a plain float.

Every function takes ``(predictions, labels)`` in that order, as ``Task.evaluate`` does.
The maths is scikit-learn's and SciPy's; this module only checks shapes and settles the
degenerate cases that would otherwise give NaN or warnings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from sklearn import metrics as sk_metrics


def _as_pair(predictions: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.ndim != 1:
        raise ValueError(
            f"predictions must be 1-D, one value per example; got shape {predictions.shape} "
            "(for logits or probabilities, take argmax over the last axis first)"
        )
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, one value per example; got shape {labels.shape}")
    if len(predictions) != len(labels):
        raise ValueError(f"got {len(predictions)} predictions for {len(labels)} labels; they must match")
    if len(labels) == 0:
        raise ValueError("cannot score zero examples")
    return predictions, labels


def accuracy(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of predictions equal to their label."""
    predictions, labels = _as_pair(predictions, labels)
    return float(sk_metrics.accuracy_score(labels, predictions))


def f1(predictions: ArrayLike, labels: ArrayLike) -> float:
    """F1 of the positive class (label 1), as GLUE scores MRPC.

    0.0 when neither predictions nor labels contain a 1 (scikit-learn's ``zero_division``).
    """
    predictions, labels = _as_pair(predictions, labels)
    return float(sk_metrics.f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0.0))


def macro_f1(predictions: ArrayLike, labels: ArrayLike) -> float:
    """F1 averaged over the classes that occur in labels or predictions, each counted alike: a
    rare class weighs as much as a common one, which accuracy hides."""
    predictions, labels = _as_pair(predictions, labels)
    return float(sk_metrics.f1_score(labels, predictions, average="macro", zero_division=0.0))


def matthews(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Matthews correlation coefficient, GLUE's CoLA metric.

    0.0 when predictions or labels are constant (scikit-learn's convention).
    """
    predictions, labels = _as_pair(predictions, labels)
    return float(sk_metrics.matthews_corrcoef(labels, predictions))


def _correlation(method: Callable[[np.ndarray, np.ndarray], float], predictions: ArrayLike, labels: ArrayLike) -> float:
    predictions, labels = _as_pair(predictions, labels)
    # float64 so that float32 model outputs don't round the coefficient.
    predictions, labels = predictions.astype(np.float64), labels.astype(np.float64)
    # Undefined for a constant side; SciPy would warn and return NaN, which would then poison
    # any average (the GLUE score) taken over it.
    if np.all(predictions == predictions[0]) or np.all(labels == labels[0]):
        return 0.0
    return float(method(predictions, labels))


def pearson(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Pearson correlation, one of GLUE's STS-B metrics.

    Returns 0.0, silently, when either side is constant (the coefficient is undefined there):
    a model that predicts one value has no linear relation to the labels to reward.
    """
    return _correlation(lambda x, y: stats.pearsonr(x, y).statistic, predictions, labels)


def spearman(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Spearman rank correlation, one of GLUE's STS-B metrics; 0.0 when either side is constant."""
    return _correlation(lambda x, y: stats.spearmanr(x, y).statistic, predictions, labels)


# Keyed by the names a task's ``evaluate`` reports.
METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "mcc": matthews,
    "pearson": pearson,
    "spearman": spearman,
}
