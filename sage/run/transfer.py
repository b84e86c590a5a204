"""Transfer rows: unlabelled text (``task.unlabelled``, ``task.transfer``) that the teacher labels
once and the student trains on as plain KD data, a share of them each epoch.

They are one data path whatever their source, held as a ``CachedSplit`` like the training rows,
so that synthesis can later search them too.
"""

from __future__ import annotations

import torch

from sage.run.run import CachedSplit
from sage.streams import GlobalTorchStream
from sage.training import TrainingSource


class TransferRows:
    """Each epoch, ``per_epoch`` of the transfer rows, drawn from ``rows``: every row before any
    repeats, in a fresh order each epoch. All of them, every epoch, when ``per_epoch`` is their
    number. ``order`` and ``dropout`` are the rows' own batch-order and dropout streams, so that
    the training rows' batches are those of a run without transfer rows."""

    def __init__(
        self, split: CachedSplit, per_epoch: int, rows: torch.Generator, order: torch.Generator, dropout: GlobalTorchStream
    ) -> None:
        if per_epoch < 1:
            raise ValueError(f"per_epoch must be at least 1, got {per_epoch}")
        self.split, self.per_epoch = split, per_epoch
        self.rows, self.order, self.dropout = rows, order, dropout

    def __len__(self) -> int:
        return len(self.split.vectors)

    def epoch_source(self) -> TrainingSource:
        """This epoch's transfer rows, ready to train on."""
        split = self.split
        if self.per_epoch == len(self):
            return TrainingSource(split.vectors, split.teacher, split.labels, self.order, self.dropout)
        rounds = -(-self.per_epoch // len(self))
        index = torch.cat([torch.randperm(len(self), generator=self.rows) for _ in range(rounds)])[: self.per_epoch]
        index = index.to(split.teacher.device)
        return TrainingSource(split.vectors.select(index), split.teacher[index], split.labels[index], self.order, self.dropout)
