"""The student's learning-rate schedule, as a ``torch.optim.lr_scheduler`` counted in epochs."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.optim.lr_scheduler import LRScheduler

Shape = Literal["constant", "linear", "cosine"]


def schedule_factor(progress_epochs: float, shape: Shape, warmup: float, max_epochs: int) -> float:
    """The share of the peak rate after ``progress_epochs`` of ``max_epochs``: a linear rise over
    ``warmup`` × ``max_epochs``, then ``constant``, ``linear`` decay to zero, or ``cosine`` decay to
    zero at ``max_epochs``."""
    progress = min(progress_epochs / max_epochs, 1.0)
    if progress < warmup:
        return progress / warmup
    if shape == "constant":
        return 1.0
    rest = (progress - warmup) / (1 - warmup)
    return 1 - rest if shape == "linear" else 0.5 * (1 + math.cos(math.pi * rest))


class EpochLR(LRScheduler):
    """AdamW's rate as a function of the progress through ``max_epochs``, in epochs.

    Progress is counted in epochs, not steps, so that runs whose epochs differ in size (plain KD
    and SAGE) follow the same schedule epoch by epoch: ``start_epoch(epoch, steps)`` says how many
    steps the coming epoch has, and each ``step()`` (after the optimiser's) advances one of them.
    The state (``state_dict``) is the scheduler's own, as for any torch scheduler.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, shape: Shape, warmup: float, max_epochs: int) -> None:
        self.shape = shape
        self.warmup = warmup
        self.max_epochs = max_epochs
        self.epoch_start = 0  # epochs finished before the current one
        self.epoch_first_step = 0  # the scheduler's step count when the current epoch began
        self.epoch_steps = 1
        super().__init__(optimizer)

    @property
    def progress(self) -> float:
        """Epochs of training done, a fraction within the current epoch."""
        return self.epoch_start + (self.last_epoch - self.epoch_first_step) / self.epoch_steps

    def start_epoch(self, epoch: int, steps: int) -> None:
        """Epoch ``epoch`` (from 1) begins and will take ``steps`` steps; sets the rate of its first step."""
        self.epoch_start, self.epoch_first_step, self.epoch_steps = epoch - 1, self.last_epoch, max(steps, 1)
        rates = self.get_lr()
        for group, rate in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        self._last_lr = rates

    def get_lr(self) -> list[float]:
        factor = schedule_factor(self.progress, self.shape, self.warmup, self.max_epochs)
        return [base * factor for base in self.base_lrs]
