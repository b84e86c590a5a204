"""``mse``: logit matching."""

from __future__ import annotations

from torch import Tensor

from sage.losses import register
from sage.losses.base import Loss


@register("mse")
class MSELoss(Loss):
    """Mean over the C outputs of (student - teacher)², per example."""

    def per_example(self, student: Tensor, teacher: Tensor, labels: Tensor | None) -> Tensor:
        return (student - teacher).square().mean(dim=1)
