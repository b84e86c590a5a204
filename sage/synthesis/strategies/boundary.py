"""``boundary``: points on the teacher's decision boundary, between a parent and another class."""

from __future__ import annotations

import math

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.diagnostics import margin
from sage.synthesis.neighbours import cycled_neighbours
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents
from sage.training import predict


@register("boundary")
class Boundary(Strategy):
    """From a parent towards its nearest neighbour (in the search space) of another teacher class,
    bisect along the segment, token by token as ``mixup`` mixes, until the teacher's margin (top
    probability minus the runner-up's) is at most ``margin``. Each split falls where the teacher's
    logit gap between the two end classes, interpolated along the bracket, is zero (false position,
    Illinois variant), kept within the bracket's middle 90%.

    The idea is Heo et al.'s ("Knowledge Distillation with Adversarial Samples Supporting Decision
    Boundary", AAAI 2019): points near the teacher's boundary carry the most information about it.
    Each step is one batched teacher pass over every point still searching. A parent's
    j-th child starts towards its j-th nearest other-class neighbour (cycling through those it
    has, when it has more children than neighbours). A segment whose two ends
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
        partners = cycled_neighbours(context.space, parents, repeat, classes)
        usable = partners >= 0
        parents, partners = parents[usable], partners[usable]
        device = context.real.device
        first = torch.as_tensor(parents, device=device)
        second = torch.as_tensor(partners, device=device)

        def teacher_at(t: np.ndarray, index: np.ndarray) -> torch.Tensor:
            # The mixture's weight is on the parent, so t (the way to the partner) is 1 − weight.
            points = context.real.mix(first[index], second[index], torch.as_tensor(1 - t, device=device))
            return predict(context.teacher, points, context.batch_size)

        everyone = np.arange(len(parents))
        start_outputs, end_outputs = teacher_at(np.zeros(len(parents)), everyone), teacher_at(np.ones(len(parents)), everyone)
        start_class, end_class = start_outputs.argmax(1), end_outputs.argmax(1)

        def gap(outputs: torch.Tensor, index: np.ndarray) -> np.ndarray:
            # The start class's logit over the end class's: positive on the start side.
            index = torch.as_tensor(index, device=outputs.device)
            rows = torch.arange(len(index), device=outputs.device)
            return (outputs[rows, start_class[index]] - outputs[rows, end_class[index]]).cpu().numpy()

        low, high = np.zeros(len(parents)), np.ones(len(parents))
        gap_low, gap_high = gap(start_outputs, everyone), gap(end_outputs, everyone)
        found = np.full(len(parents), np.nan)
        found_outputs = torch.empty(len(parents), context.teacher_outputs.shape[1], device=context.teacher_outputs.device)
        searching = (start_class != end_class).cpu().numpy()
        last_side = np.zeros(len(parents), dtype=np.int8)  # +1: the last step moved low, -1: high
        steps = 0
        while searching.any() and steps < self.max_steps:
            index = np.flatnonzero(searching)
            # False position: split where the logit gap, interpolated along the bracket, is zero.
            # The margin is about 0 there, so most points land within it in one or two steps,
            # where halving the bracket took up to eight.
            weight = gap_low[index] / (gap_low[index] - gap_high[index])
            middle = low[index] + np.clip(weight, 0.05, 0.95) * (high[index] - low[index])
            outputs = teacher_at(middle, index)
            value = gap(outputs, index)
            close = (margin(outputs) <= self.margin).cpu().numpy()
            found[index[close]] = middle[close]
            found_outputs[torch.as_tensor(index[close], device=found_outputs.device)] = outputs[torch.as_tensor(close, device=outputs.device)]
            searching[index[close]] = False
            on_start_side = value > 0
            # Illinois: an end kept twice in a row has its gap halved, so the bracket shrinks from both sides.
            gap_high[index] = np.where(on_start_side & (last_side[index] == 1), gap_high[index] / 2, gap_high[index])
            gap_low[index] = np.where(~on_start_side & (last_side[index] == -1), gap_low[index] / 2, gap_low[index])
            low[index] = np.where(on_start_side, middle, low[index])
            gap_low[index] = np.where(on_start_side, value, gap_low[index])
            high[index] = np.where(on_start_side, high[index], middle)
            gap_high[index] = np.where(on_start_side, gap_high[index], value)
            last_side[index] = np.where(on_start_side, 1, -1)
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
