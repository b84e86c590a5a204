"""Training and inference of a body on cached vectors, in length-bucketed batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from sage.vectors import VectorSet

LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]

# Batches are drawn from pools of this many batches sorted by length: shuffled enough to
# train well, sorted enough that each batch pads to nearly its own length.
BUCKET_BATCHES = 50


def bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of indices (on the CPU) in which members have similar lengths."""
    lengths = lengths.cpu()
    order = torch.randperm(len(lengths), generator=generator)
    pool = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(chunk.split(batch_size))
    shuffled = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffled]


def sorted_batches(lengths: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Batches of indices (on the CPU) in order of length, longest first, for inference."""
    return list(torch.argsort(lengths.cpu(), descending=True, stable=True).split(batch_size))


def width_multiple(device: torch.device) -> int:
    """Batch widths are rounded up to this. On CUDA, SDPA's cuDNN kernels are planned per
    sequence length, so a few widths (8, 16, ..., 64) beat padding each batch to its own
    longest member; on the CPU there is no such cost, and padding only adds work."""
    return 8 if device.type == "cuda" else 1


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; full precision on the CPU, where bf16 matmuls are slow."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def predict(body: torch.nn.Module, data: VectorSet, batch_size: int, progress: str | None = None) -> torch.Tensor:
    """Outputs of ``body`` on every sequence, float32 ``[N, num_labels]``, in the input order."""
    was_training = body.training
    body.eval()
    device = data.vectors.device
    outputs = None
    for index in tqdm(
        sorted_batches(data.host_lengths, batch_size), desc=progress, disable=None if progress else True, leave=False
    ):
        with autocast(device):
            logits = body(*data.batch(index, width_multiple(device))).float()
        if outputs is None:
            outputs = torch.empty(len(data), logits.shape[1], device=device)
        outputs[index.to(device)] = logits
    body.train(was_training)
    return outputs


def train_epoch(
    body: torch.nn.Module,
    data: VectorSet,
    targets: torch.Tensor,
    labels: torch.Tensor | None,
    loss_fn: LossFunction,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    progress: str | None = None,
) -> float:
    """One pass over ``data``; returns the mean training loss."""
    body.train()
    device = data.vectors.device
    total, count = torch.zeros((), device=device), 0
    for index in tqdm(
        bucketed_batches(data.host_lengths, batch_size, generator), desc=progress, disable=None if progress else True, leave=False
    ):
        with autocast(device):
            outputs = body(*data.batch(index, width_multiple(device)))
        index = index.to(device, non_blocking=True)
        losses = loss_fn(outputs.float(), targets[index], None if labels is None else labels[index])
        loss = losses.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += losses.detach().sum()
        count += len(index)
    return float(total) / max(count, 1)
