"""Training and inference of a body on cached vectors, in length-bucketed batches."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from sage.distributed import SINGLE_PROCESS, Cluster
from sage.lr_schedule import EpochLR
from sage.progress import Progress
from sage.streams import GlobalTorchStream
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
    """The student's precision: bf16 autocast on CUDA, float32 on the CPU, so that what it learns
    and what its export computes match. (The frozen teacher has its own: sage.models.precision.)"""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@contextlib.contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module`` in eval mode for the block, and afterwards every submodule back in its own mode.

    ``module.train(was_training)`` would set every submodule alike: after one prediction, a frozen
    teacher whose wrapper was built in training mode would run with its dropout on, drawing from
    the global generator, and so differ from run to run.
    """
    modes = [(part, part.training) for part in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for part, mode in modes:
            part.training = mode


@torch.no_grad()
def predict(body: torch.nn.Module, data: VectorSet, batch_size: int, progress: str | None = None) -> torch.Tensor:
    """Outputs of ``body`` on every sequence, float32 ``[N, num_labels]``, in the input order."""
    device = data.device
    outputs = None
    with evaluating(body):
        for index in Progress(sorted_batches(data.host_lengths, batch_size), desc=progress, unit="batches", leave=False):
            with autocast(device):
                logits = body(*data.batch(index, width_multiple(device))).float()
            if outputs is None:
                outputs = torch.empty(len(data), logits.shape[1], device=device)
            outputs[index.to(device)] = logits
    return outputs


@dataclass
class TrainingSource:
    """Examples to train on, with their own batch order and dropout stream.

    Each source draws its batches from ``order`` and its dropout masks from ``dropout``, so that
    the real batches of a run are the same, in the same order and with the same masks, whatever
    synthetic batches are interleaved with them.
    """

    data: VectorSet
    targets: torch.Tensor
    labels: torch.Tensor
    order: torch.Generator
    dropout: GlobalTorchStream


def epoch_plan(sources: Sequence[TrainingSource], batch_size: int) -> list[tuple[int, torch.Tensor]]:
    """Every source's length-bucketed batches, spread evenly through the epoch: (source, indices).

    Batch j of a source with B batches sits at (j + ½) / B of the epoch; ties go to the earlier
    source. The first source's batches therefore keep their order, and synthetic ones fall evenly
    between them.
    """
    placed = []
    for number, source in enumerate(sources):
        batches = bucketed_batches(source.data.host_lengths, batch_size, source.order) if len(source.data) else []
        placed += [((j + 0.5) / len(batches), number, batch) for j, batch in enumerate(batches)]
    placed.sort(key=lambda item: item[:2])
    return [(number, batch) for _, number, batch in placed]


def build_optimizer(body: torch.nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on weight matrices only; biases and LayerNorm parameters are
    exempt, as in BERT's own recipe and Hugging Face's Trainer."""
    exempt = {id(p) for module in body.modules() if isinstance(module, torch.nn.LayerNorm) for p in module.parameters()}
    decayed, plain = [], []
    for name, parameter in body.named_parameters():
        if parameter.requires_grad:
            (plain if name.endswith("bias") or id(parameter) in exempt else decayed).append(parameter)
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, fused=device.type == "cuda")


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite: the student's weights are lost, and the run stops."""


def train_epoch(
    body: torch.nn.Module,
    sources: Sequence[TrainingSource],
    loss_fn: LossFunction,
    optimizer: torch.optim.Optimizer,
    lr_schedule: EpochLR,
    epoch: int,
    batch_size: int,
    max_grad_norm: float | None = None,
    progress: str | None = None,
    cluster: Cluster = SINGLE_PROCESS,
) -> dict[str, float]:
    """One pass over every source (epoch counted from 1); returns the mean training loss and the step count.

    Under several processes each rank takes its ``cluster.shard`` of the epoch's plan, which every
    rank draws alike, and the loss is averaged over all of them. The rate follows the rank's own
    steps, so that every rank's optimiser takes the same steps and the weights stay identical.

    A non-finite loss raises ``NonFiniteLoss`` naming the epoch and the first such step. The
    check is made once, at the end of the epoch: a per-step check would wait on the GPU at every
    step, and the steps after a NaN cannot undo it.
    """
    body.train()
    device = sources[0].data.device
    total, count = torch.zeros((), device=device), torch.zeros((), device=device)
    first_non_finite = torch.full((), -1, device=device)
    plan = cluster.shard(epoch_plan(sources, batch_size))
    lr_schedule.start_epoch(epoch, len(plan))
    for step, (number, index) in enumerate(Progress(plan, desc=progress, leave=False)):
        source = sources[number]
        with source.dropout, autocast(device):
            outputs = body(*source.data.batch(index, width_multiple(device)))
        index = index.to(device, non_blocking=True)
        losses = loss_fn(outputs.float(), source.targets[index], source.labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss = losses.mean()
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(body.parameters(), max_grad_norm)
        optimizer.step()
        lr_schedule.step()
        total += losses.detach().sum()
        count += len(index)
        first_non_finite = torch.where((first_non_finite < 0) & ~torch.isfinite(loss.detach()), step, first_non_finite)
    total, count = cluster.sum(total), cluster.sum(count)
    if int(first_non_finite) >= 0:
        raise NonFiniteLoss(
            f"the training loss became non-finite at epoch {epoch}, step {int(first_non_finite) + 1} of {len(plan)}; "
            "the student is not exported. Lower schedule.lr, or set schedule.max_grad_norm to clip the gradient"
        )
    return {"train_loss": float(total) / max(float(count), 1.0), "steps": len(plan)}
