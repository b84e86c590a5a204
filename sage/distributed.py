"""One run over several processes: ``torchrun --nproc-per-node N -m sage run SPEC``.

Under a launcher (torchrun, ``accelerate launch``) every process runs the same ``fit()`` and
``Cluster`` says which part is its own. Without one, ``Cluster()`` is a single process and every
method below is the identity, so a plain run takes no other path.

The division of the work (docs/scaling.md): the interface and the teacher's outputs are
computed a shard per rank and gathered once; every rank trains on its share of each epoch's
batches under DistributedDataParallel; rank 0 alone ranks, synthesises (then broadcasts the
set), evaluates, checkpoints, exports and runs the callbacks, so the output folder is a single
process's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from sage.errors import InputError

T = TypeVar("T")

# How long a rank waits for the others at a collective. Rank 0 alone fine-tunes a teacher that is
# not cached, fits the projection and synthesises, while the others wait in a broadcast; torch's
# defaults (10 minutes for NCCL, 30 for gloo) would end a run whose teacher takes longer. A rank
# that dies is noticed by the launcher (torchrun ends the others), not by this timeout.
TIMEOUT_ENV = "SAGE_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT = timedelta(hours=6)


def collective_timeout() -> timedelta:
    """``$SAGE_DISTRIBUTED_TIMEOUT`` seconds, else 6 hours."""
    value = os.environ.get(TIMEOUT_ENV)
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InputError(f"{TIMEOUT_ENV} must be a number of seconds > 0, got {value!r}")
    return timedelta(seconds=seconds)


class Cluster:
    """This process's place in the run: ``rank`` of ``world`` processes."""

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank = rank
        self.world = world

    @classmethod
    def from_environment(cls, device: torch.device) -> Cluster:
        """The launcher's processes (``WORLD_SIZE`` > 1), joined in a process group: NCCL on
        CUDA, each process on its local GPU, gloo on the CPU, with ``collective_timeout()``.
        A single process otherwise."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=collective_timeout())
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def stream_name(self, name: str) -> str:
        """A random stream's name for this rank: each rank draws its own dropout masks."""
        return f"{name}@rank{self.rank}" if self.distributed else name

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (tensors travel on the CPU; move them after)."""
        if not self.distributed:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, work: Callable[[], T]) -> T:
        """``work()`` run on rank 0, its result given to every rank; its error raised on every rank."""
        if not self.distributed:
            return work()
        outcome: tuple[str, Any] | None = None
        error: BaseException | None = None
        if self.is_main:
            try:
                outcome = ("done", work())
            except BaseException as raised:  # the other ranks must hear of it, or they wait forever
                error, outcome = raised, ("failed", f"{type(raised).__name__}: {raised}")
        outcome = self.broadcast(outcome)
        if error is not None:
            raise error
        if outcome[0] == "failed":
            raise RuntimeError(f"rank 0 failed: {outcome[1]}")
        return outcome[1]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks."""
        if not self.distributed:
            return value
        total = value.clone()
        dist.all_reduce(total)
        return total

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: every ``world``-th from ``rank``, over a length that
        divides evenly, so that every rank takes as many steps (DDP's all-reduce needs it). At
        most ``world − 1`` items of an epoch are left out."""
        usable = len(items) - len(items) % self.world
        return list(items[self.rank : usable : self.world])

    def part(self, count: int) -> range:
        """The indices of ``count`` items this rank computes before the results are gathered."""
        return range(self.rank, count, self.world)

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``module`` under DistributedDataParallel (gradients averaged over the ranks), or itself."""
        if not self.distributed:
            return module
        ids = [torch.cuda.current_device()] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


SINGLE_PROCESS = Cluster()
