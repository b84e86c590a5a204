"""``adversarial``: gradient ascent on student-vs-teacher divergence at the interface."""

from __future__ import annotations

import math

import numpy as np
import torch

from sage.models.body import Body
from sage.synthesis.ranking import divergence
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents
from sage.training import evaluating, sorted_batches
from sage.vectors import VectorSet


@register("adversarial")
class Adversarial(Strategy):
    """A few steps of projected gradient ascent on the divergence between teacher and student,
    with respect to the parent's interface vectors, then labelled by the teacher.

    Each real token i moves by at most ``epsilon`` × its own norm (a ball scaled to the token
    norms, so that the perturbation means the same at every layer of the interface); each step
    moves every token by ``step_size`` × ``epsilon`` × its norm along its normalised gradient
    (projected gradient ascent, Madry et al., 2018). The objective is the ranking's divergence,
    KL(teacher(x') ‖ student(x')) at the loss's temperature (squared error for regression), so the
    points are those where the student is furthest from the teacher near its hard examples, as in
    adversarial knowledge distillation of text models (e.g. Rashid et al., "Towards Zero-Shot
    Knowledge Distillation for NLP", 2021). A parent's j-th child starts from a small random offset
    of the synthesis stream, so that its children differ.
    """

    def __init__(self, steps: int = 2, epsilon: float = 0.1, step_size: float = 0.6) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        for name, value in (("epsilon", epsilon), ("step_size", step_size)):
            if isinstance(value, bool) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite float > 0, got {value!r}")
        self.steps = steps
        self.epsilon = float(epsilon)
        self.step_size = float(step_size)

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        context = self.context
        parents, repeat = cyclic_parents(anchors, count)
        device = context.real.device
        parent_set = context.real.select(torch.as_tensor(parents, device=device))
        # Each batch's attacked tokens go straight to their place in the ragged layout: memory grows
        # with the parents' real tokens, not with their number × the longest of them.
        tokens = torch.empty(len(parent_set.tokens), parent_set.dim, dtype=torch.float32, device=device)
        seed = int(context.rng.integers(2**62))
        # Gradients are wanted for the inputs only: frozen weights skip their half of the backward pass.
        trainable = [p for p in student.parameters() if p.requires_grad]
        student.requires_grad_(False)
        try:
            # Both models without dropout: the objective is the divergence the student is ranked by.
            with evaluating(student), evaluating(context.teacher):
                for index in sorted_batches(parent_set.host_lengths, context.batch_size):
                    x, mask = parent_set.batch(index)
                    start = torch.as_tensor(repeat[index.numpy()] > 0, device=device)
                    attacked = self._attack(x.float(), mask, start, student, seed + int(index[0]))
                    real = mask.bool()
                    places = parent_set.starts[index.to(device), None] + torch.arange(x.shape[1], device=device)
                    tokens[places[real]] = attacked[real]
        finally:  # the student trains on after this, also after an error here is caught above
            for parameter in trainable:
                parameter.requires_grad_(True)
        return Proposal(VectorSet(tokens, parent_set.lengths), parents)

    def _attack(
        self, x: torch.Tensor, mask: torch.Tensor, random_start: torch.Tensor, student: Body, seed: int
    ) -> torch.Tensor:
        real = mask.unsqueeze(-1).float()
        radius = self.epsilon * x.norm(dim=-1, keepdim=True) * real  # per token
        generator = torch.Generator(device=x.device).manual_seed(seed)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        delta = noise / noise.norm(dim=-1, keepdim=True).clamp_min(1e-12) * radius * 0.5 * random_start[:, None, None]
        for _ in range(self.steps):
            delta.requires_grad_(True)
            with torch.enable_grad():
                point = x + delta
                loss = divergence(student(point, mask), self.context.teacher(point, mask), self.context.temperature).sum()
                (gradient,) = torch.autograd.grad(loss, delta)
            direction = gradient / gradient.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = delta.detach() + self.step_size * radius * direction
            # Project back into each token's ball.
            length = delta.norm(dim=-1, keepdim=True)
            delta = delta * torch.clamp(radius / length.clamp_min(1e-12), max=1.0) * real
        return (x + delta).detach()
