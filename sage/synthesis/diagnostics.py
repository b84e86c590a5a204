"""What the synthetic data looks like, epoch by epoch: where it lies, how the teacher and the
student see it, and whether the hard examples it starts from form regions at all."""

from __future__ import annotations

import numpy as np
import torch

from sage.synthesis.fidelity import reconstruction_fidelity
from sage.synthesis.neighbours import nearest
from sage.synthesis.ranking import divergence

# Hard examples whose neighbourhoods are inspected per epoch: enough for a stable share, cheap at any N.
CLUSTER_PROBES = 256
CLUSTER_NEIGHBOURS = 10


def margin(outputs: torch.Tensor) -> torch.Tensor:
    """Top-class probability minus the runner-up's, per example [B]."""
    top = outputs.float().softmax(1).topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def synthetic_diagnostics(
    pooled: np.ndarray,
    parents: np.ndarray,
    synthetic_pooled: np.ndarray,
    teacher_real: torch.Tensor,
    teacher_synthetic: torch.Tensor,
    student_real: torch.Tensor,
    student_synthetic: torch.Tensor,
    temperature: float,
) -> dict[str, float]:
    """How far synthetic points lie from their parents, how the teacher labels them, and how hard
    they are for the student before it trains on them.

    - ``synthetic_shift``: mean distance from a synthetic pooled vector (as trained on) to its
      parent's, relative to the mean distance of real pooled vectors from their centre.
    - ``divergence_synthetic`` / ``divergence_parent``: student-vs-teacher divergence (the ranking's
      measure) on the synthetic points before training on them, and on their parents.
    - Classification only: ``teacher_margin_*`` (top-class probability minus the runner-up's: near 0
      on the teacher's decision boundary), ``teacher_confidence_*`` (top-class probability) and
      ``teacher_flip``, the share of synthetic points the teacher puts in another class than their parent.
    """
    if len(parents) == 0:
        return {}
    index = torch.as_tensor(parents, device=teacher_real.device)
    spread = np.linalg.norm(pooled - pooled.mean(0), axis=1).mean()
    shift = np.linalg.norm(synthetic_pooled - pooled[parents], axis=1).mean()
    result = {
        "synthetic_shift": float(shift / spread),
        "divergence_synthetic": float(divergence(student_synthetic, teacher_synthetic, temperature).mean()),
        "divergence_parent": float(divergence(student_real[index], teacher_real[index], temperature).mean()),
    }
    if teacher_real.shape[1] > 1:
        teacher_parent = teacher_real[index]
        result |= {
            "teacher_margin_synthetic": float(margin(teacher_synthetic).mean()),
            "teacher_margin_parent": float(margin(teacher_parent).mean()),
            "teacher_confidence_synthetic": float(teacher_synthetic.softmax(1).max(1).values.mean()),
            "teacher_confidence_parent": float(teacher_parent.softmax(1).max(1).values.mean()),
            "teacher_flip": float((teacher_synthetic.argmax(1) != teacher_parent.argmax(1)).float().mean()),
        }
    return result


def hard_clustering(space: np.ndarray, hard: np.ndarray) -> dict[str, float]:
    """Whether hard examples form regions: the share of a hard example's nearest neighbours (in the
    search space) that are hard too, and that share over the hard fraction (1.0: no more than chance)."""
    if len(hard) == 0 or len(space) < 2:
        return {}
    probes = hard[:CLUSTER_PROBES]
    neighbours = nearest(space, probes, CLUSTER_NEIGHBOURS)
    is_hard = np.zeros(len(space), dtype=bool)
    is_hard[hard] = True
    share = float(is_hard[neighbours[neighbours >= 0]].mean())
    fraction = len(hard) / len(space)
    return {"hard_neighbours_hard": share, "hard_clustering": share / fraction}


def inverse_diagnostics(decoded: np.ndarray, original: np.ndarray, mean: np.ndarray) -> dict[str, float]:
    """How well the inverse reconstructs the hard examples from their own projected points."""
    fidelity = reconstruction_fidelity(decoded, original, mean)
    return {"inverse_cosine": fidelity["cosine"], "inverse_fvu": fidelity["fvu"]}
