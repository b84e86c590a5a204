"""``labels``: plain supervised loss against the gold labels."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sage.losses import register
from sage.losses.base import Loss


@register("labels")
class LabelsLoss(Loss):
    """Cross-entropy with integer gold labels when C > 1; squared error with float gold
    labels when C == 1 (regression). ``teacher`` is ignored.
    """

    needs_labels = True

    def per_example(self, student: Tensor, teacher: Tensor, labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("the labels loss needs gold labels [B], got labels=None")
        if student.shape[1] == 1:
            return (student[:, 0] - labels.float()).square()
        if labels.is_floating_point() or labels.is_complex():
            raise ValueError(
                f"classification (C = {student.shape[1]}) needs integer class ids as labels, got {labels.dtype}"
            )
        return F.cross_entropy(student, labels.long(), reduction="none")
