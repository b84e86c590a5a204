"""``boundary``: points on the teacher's decision boundary, between a parent and another class."""

from __future__ import annotations

import math

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.diagnostics import margin
from sage.synthesis.neighbours import nearest
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents
from sage.training import predict


@register("boundary")
class Boundary(Strategy):
    """From a parent towards its nearest neighbour (in the search space) of another teacher class,
    bisect along the segment, token by token as ``mixup`` mixes, until the teacher's margin (top
    probability minus the runner-up's) is at most ``margin``.

    The idea is Heo et al.'s ("Knowledge Distillation with Adversarial Samples Supporting Decision
    Boundary", AAAI 2019): points near the teacher's boundary carry the most information about it.
    Each bisection step is one batched teacher pass over every point still searching. A parent's
    j-th child starts towards its j-th nearest other-class neighbour. A segment whose two ends
    the teacher puts in one class, or a point that has not reached the margin after ``max_steps``,
    yields nothing (counted in ``n_rejected``). Classification only.
    """

    supports_regression = False

    def __init__(self, margin: float = 0.2, max_steps: int = 8) -> None:
        if isinstance(margin, bool) or not (math.isfinite(margin) and 0 < margin <= 1):
            raise ValueError(f"margin must be a probability gap in (0, 1], got {margin!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self.margin = float(margin)
        self.max_steps = max_steps

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        context = self.context
        parents, repeat = cyclic_parents(anchors, count)
        classes = context.teacher_outputs.argmax(1).cpu().numpy()
        rows, which = np.unique(parents, return_inverse=True)
        partners = nearest(context.space, rows, int(repeat.max(initial=0)) + 1, classes)[which, repeat]
        usable = partners >= 0
        parents, partners = parents[usable], partners[usable]
        device = context.real.vectors.device
        first = torch.as_tensor(parents, device=device)
        second = torch.as_tensor(partners, device=device)

        def teacher_at(t: np.ndarray, index: np.ndarray) -> torch.Tensor:
            # The mixture's weight is on the parent, so t (the way to the partner) is 1 − weight.
            points = context.real.mix(first[index], second[index], torch.as_tensor(1 - t, device=device))
            return predict(context.teacher, points, context.batch_size)

        everyone = np.arange(len(parents))
        start_class = teacher_at(np.zeros(len(parents)), everyone).argmax(1)
        end_class = teacher_at(np.ones(len(parents)), everyone).argmax(1)
        low, high = np.zeros(len(parents)), np.ones(len(parents))
        found = np.full(len(parents), np.nan)
        found_outputs = torch.empty(len(parents), context.teacher_outputs.shape[1], device=context.teacher_outputs.device)
        searching = (start_class != end_class).cpu().numpy()
        steps = 0
        while searching.any() and steps < self.max_steps:
            index = np.flatnonzero(searching)
            middle = (low[index] + high[index]) / 2
            outputs = teacher_at(middle, index)
            on_start_side = (outputs.argmax(1) == start_class[torch.as_tensor(index, device=start_class.device)]).cpu().numpy()
            close = (margin(outputs) <= self.margin).cpu().numpy()
            found[index[close]] = middle[close]
            found_outputs[torch.as_tensor(index[close], device=found_outputs.device)] = outputs[torch.as_tensor(close, device=outputs.device)]
            searching[index[close]] = False
            low[index] = np.where(on_start_side, middle, low[index])
            high[index] = np.where(on_start_side, high[index], middle)
            steps += 1
        kept = np.flatnonzero(np.isfinite(found))
        t = found[kept]
        vectors = context.real.mix(first[kept], second[kept], torch.as_tensor(1 - t, device=device))
        return Proposal(
            vectors,
            parents[kept],
            teacher=found_outputs[torch.as_tensor(kept, device=found_outputs.device)],
            stats={"n_rejected": count - len(kept), "boundary_steps": steps, "boundary_t": float(t.mean()) if len(t) else 0.0},
        )
