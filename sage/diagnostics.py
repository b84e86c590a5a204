"""What the synthetic data looks like, epoch by epoch: how faithful, how far, how confidently labelled."""

from __future__ import annotations

import numpy as np
import torch

from sage.fidelity import reconstruction_fidelity


def synthetic_diagnostics(
    pooled: np.ndarray,
    parents: np.ndarray,
    synthetic_pooled: np.ndarray,
    teacher_real: torch.Tensor,
    teacher_synthetic: torch.Tensor,
) -> dict[str, float]:
    """Distance of synthetic points from their parents, and the teacher's view of them.

    ``synthetic_shift`` is the mean distance from a synthetic pooled vector to its parent's,
    relative to the mean distance of real pooled vectors from their centre. For
    classification, ``teacher_confidence_*`` is the teacher's mean top-class probability on
    synthetic points and on their parents, and ``teacher_flip`` the share of synthetic
    points the teacher puts in another class than their parent.
    """
    if len(parents) == 0:
        return {}
    spread = np.linalg.norm(pooled - pooled.mean(0), axis=1).mean()
    shift = np.linalg.norm(synthetic_pooled - pooled[parents], axis=1).mean()
    result = {"synthetic_shift": float(shift / spread)}
    if teacher_real.shape[1] > 1:
        parent_outputs = teacher_real[torch.as_tensor(parents, device=teacher_real.device)]
        result["teacher_confidence_synthetic"] = float(teacher_synthetic.softmax(1).max(1).values.mean())
        result["teacher_confidence_parent"] = float(parent_outputs.softmax(1).max(1).values.mean())
        result["teacher_flip"] = float((teacher_synthetic.argmax(1) != parent_outputs.argmax(1)).float().mean())
    return result


def inverse_diagnostics(decoded: np.ndarray, original: np.ndarray, mean: np.ndarray) -> dict[str, float]:
    """How well the inverse reconstructs the hard examples from their own projected points."""
    fidelity = reconstruction_fidelity(decoded, original, mean)
    return {"inverse_cosine": fidelity["cosine"], "inverse_fvu": fidelity["fvu"]}
