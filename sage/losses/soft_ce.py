"""``soft_ce``: Hinton et al.'s temperature-softened cross-entropy."""

from __future__ import annotations

import math
from numbers import Real

from torch import Tensor

from sage.losses import register
from sage.losses.base import Loss


@register("soft_ce")
class SoftCELoss(Loss):
    """``-T² Σ_c softmax(teacher/T)_c · log_softmax(student/T)_c`` per example.

    The T² factor keeps the gradient's size independent of ``temperature`` (softening by
    T shrinks it by about 1/T²), as in Hinton et al. (2015). The value is >= 0 and, for
    fixed teacher, smallest (the teacher's own scaled entropy) when student == teacher.
    Classification only: C = 1 outputs have nothing to soften.
    """

    supports_regression = False

    def __init__(self, temperature: float = 2.0) -> None:
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, Real)
            or not (math.isfinite(temperature) and temperature > 0)
        ):
            raise ValueError(f"temperature must be a finite float > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def per_example(self, student: Tensor, teacher: Tensor, labels: Tensor | None) -> Tensor:
        if student.shape[1] < 2:
            raise ValueError(
                f"soft_ce needs C >= 2 class logits, got C = {student.shape[1]}; use mse for regression"
            )
        t = self.temperature
        target = (teacher / t).softmax(dim=1)
        return -(target * (student / t).log_softmax(dim=1)).sum(dim=1) * t**2
