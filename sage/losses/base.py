"""What every loss shares: shape checks and float32 computation, one value per example."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor


class Loss(ABC):
    """A per-example loss: ``loss(student [B, C], teacher [B, C], labels [B] | None) -> [B]``.

    The result is never reduced, so examples can be ranked by it; it is float32 whatever
    the input dtype and differentiable w.r.t. ``student``. ``teacher`` is a fixed target
    and is detached. Regression tasks have C = 1 and float labels.
    """

    needs_labels: bool = False
    supports_regression: bool = True

    def __call__(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        if student.ndim != 2:
            raise ValueError(f"student outputs must be [B, C], got shape {tuple(student.shape)}")
        if teacher.shape != student.shape:
            raise ValueError(
                f"teacher outputs must have the student's shape {tuple(student.shape)}, got {tuple(teacher.shape)}"
            )
        if labels is not None and labels.shape != student.shape[:1]:
            raise ValueError(f"labels must be [B] = [{student.shape[0]}], got shape {tuple(labels.shape)}")
        # bf16 logits lose too much precision in softmax and squared differences.
        return self.per_example(student.float(), teacher.detach().float(), labels)

    @abstractmethod
    def per_example(self, student: Tensor, teacher: Tensor, labels: Tensor | None) -> Tensor:
        """The [B] loss from checked float32 ``student`` and ``teacher`` [B, C]."""
