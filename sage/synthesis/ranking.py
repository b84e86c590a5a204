"""Ranking the training examples by how much the student disagrees with the teacher, and the hard set."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

RankBy = Literal["divergence", "loss"]


def divergence(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-example disagreement [B]: KL(teacher ‖ student) of the softmax at ``temperature`` for
    C > 1 classes; the squared difference for one regression output.

    Zero exactly where the student matches the teacher, however unsure the teacher is: unlike the
    soft-CE value, it does not add the teacher's own entropy.
    """
    student, teacher = student.float(), teacher.float()
    if student.shape[1] == 1:
        return (student[:, 0] - teacher[:, 0]).square()
    log_teacher = (teacher / temperature).log_softmax(1)
    log_student = (student / temperature).log_softmax(1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(1)


def rank_scores(
    rank_by: RankBy,
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor],
    temperature: float,
) -> np.ndarray:
    """Each example's score, float32 [N]: larger is harder."""
    with torch.no_grad():
        if rank_by == "divergence":
            scores = divergence(student, teacher, temperature)
        else:
            scores = loss_fn(student, teacher, labels)
    return scores.float().cpu().numpy()


def hard_set(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the ``ceil(fraction · N)`` highest scores, hardest first (ties by index)."""
    count = max(1, math.ceil(fraction * len(scores)))
    return np.argsort(-scores, kind="stable")[:count].astype(np.int64)


def random_set(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct indices of ``n`` drawn uniformly: the random-parent control's anchors."""
    return np.sort(rng.choice(n, size, replace=False)).astype(np.int64)
