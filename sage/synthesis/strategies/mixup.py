"""``mixup``: MixKD-style interpolation at the interface between a parent and a partner."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.neighbours import cycled_neighbours
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents
from sage.tasks.task import Task


@register("mixup")
class Mixup(Strategy):
    """x' = λ · x_parent + (1 − λ) · x_partner, token by token, padded to the longer sequence,
    with λ ~ Beta(α, α), labelled by the teacher.

    From MixKD (Liang et al., "MixKD: Towards Efficient Distillation of Large-scale Language
    Models", ICLR 2021), which mixes the embedded inputs of two training examples and distils the
    teacher's outputs on the mixture. The partner is, by ``partner``:

    - ``random``: an example drawn uniformly (MixKD's own choice);
    - ``nearest``: the parent's nearest neighbour in the search space (its j-th nearest for its
      j-th child, cycling through its neighbours when it has more children than neighbours);
    - ``other_class``: its nearest neighbour that the teacher puts in another class, as above
      (classification only).
    """

    def __init__(self, alpha: float = 0.4, partner: Literal["random", "nearest", "other_class"] = "random") -> None:
        if isinstance(alpha, bool) or not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite float > 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.partner = partner

    def check_task(self, task: Task) -> None:
        if task.is_regression and self.partner == "other_class":
            raise ValueError(
                f"mixup with partner 'other_class' needs teacher classes, but task {task.name!r} is a "
                "regression task; use partner: random or nearest"
            )

    def partners(self, parents: np.ndarray, repeat: np.ndarray) -> np.ndarray:
        context = self.context
        n = len(context.pooled)
        if self.partner == "random":
            # Uniform over the other examples: shift a draw from N − 1 past the parent itself.
            draw = context.rng.integers(n - 1, size=len(parents))
            return draw + (draw >= parents)
        classes = context.teacher_outputs.argmax(1).cpu().numpy() if self.partner == "other_class" else None
        found = cycled_neighbours(context.space, parents, repeat, classes)
        # A parent with no candidate at all (no example of another class) mixes with a random one.
        missing = found < 0
        found[missing] = context.rng.integers(n, size=int(missing.sum()))
        return found

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        parents, repeat = cyclic_parents(anchors, count)
        partners = self.partners(parents, repeat)
        weight = self.context.rng.beta(self.alpha, self.alpha, size=len(parents))
        device = self.context.real.device
        vectors = self.context.real.mix(
            torch.as_tensor(parents, device=device),
            torch.as_tensor(partners, device=device),
            torch.as_tensor(weight, dtype=torch.float32, device=device),
        )
        return Proposal(vectors, parents, stats={"mixup_weight": float(weight.mean()) if len(weight) else 0.0})
