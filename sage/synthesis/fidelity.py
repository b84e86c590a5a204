"""How faithfully an inverse reconstructs vectors, beside the predict-the-mean baseline."""

from __future__ import annotations

import numpy as np


def reconstruction_fidelity(decoded: np.ndarray, original: np.ndarray, mean: np.ndarray) -> dict[str, float]:
    """Mean cosine, mean squared error, and the fraction of variance unexplained (FVU).

    FVU is the squared error over that of predicting ``mean`` (the training mean) for every
    point: 1.0 means no better than the mean, 0.0 a perfect reconstruction.
    """
    decoded, original = np.asarray(decoded, dtype=np.float64), np.asarray(original, dtype=np.float64)
    cosine = (decoded * original).sum(1) / (np.linalg.norm(decoded, axis=1) * np.linalg.norm(original, axis=1))
    squared_error = ((decoded - original) ** 2).sum(1)
    baseline = ((original - np.asarray(mean, dtype=np.float64)) ** 2).sum(1)
    return {
        "cosine": float(cosine.mean()),
        "mse": float(squared_error.mean() / original.shape[1]),
        "fvu": float(squared_error.sum() / baseline.sum()),
    }
