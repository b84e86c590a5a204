"""Named random streams, each spawned from the spec's seed.

Every random choice of a run draws from the stream of its purpose, never from a shared one.
Two runs with the same seed therefore see the same student initialisation, the same real
batches in the same order and the same dropout masks on those batches, whatever their
synthesis does: a SAGE run and a plain-KD run of one seed are a paired comparison.

A stream's seed depends on the spec's seed and the stream's name only (``SeedSequence``
with the name's CRC32 as spawn key), so adding a stream never moves the others.
"""

from __future__ import annotations

import zlib
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")

# The purposes a run draws randomness for.
STUDENT_INIT = "student_init"  # weights of a freshly initialised student
REAL_BATCHES = "real_batches"  # order of the real training batches
SYNTHETIC_BATCHES = "synthetic_batches"  # order of the synthetic batches
REAL_DROPOUT = "real_dropout"  # dropout masks while training on real batches
SYNTHETIC_DROPOUT = "synthetic_dropout"  # dropout masks while training on synthetic batches
FIT_SAMPLE = "fit_sample"  # which examples a projector is fitted on
TRANSFER_ROWS = "transfer_rows"  # which transfer rows an epoch trains on
TRANSFER_BATCHES = "transfer_batches"  # order of the transfer batches
TRANSFER_DROPOUT = "transfer_dropout"  # dropout masks while training on transfer batches
SYNTHESIS = "synthesis"  # every choice a synthesis strategy makes (random parents included)
POOL_SELECTION = "pool_selection"  # which candidates of a pool an epoch scores and trains on


class RandomStreams:
    """The run's streams: ``numpy(name)``, ``torch(name)`` and ``global_torch(name)``, all from ``seed``.

    Every stream handed out is kept by name, so that ``state_dict()`` holds the position of each
    and ``load_state_dict()`` puts them back: a checkpoint saves the streams as one part, and a
    new stream needs no checkpoint code. A name is handed out once: two parts of a run drawing
    from one stream would make each depend on the other's draws.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, np.random.Generator | torch.Generator | GlobalTorchStream] = {}

    def seed_of(self, name: str) -> int:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))
        return int(sequence.generate_state(1, dtype=np.uint64)[0] >> 1)  # torch seeds are signed 64-bit

    def numpy(self, name: str) -> np.random.Generator:
        return self._keep(name, np.random.default_rng(self.seed_of(name)))

    def torch(self, name: str) -> torch.Generator:
        """A CPU generator, for choices made on the host (batch order)."""
        return self._keep(name, torch.Generator().manual_seed(self.seed_of(name)))

    def global_torch(self, name: str, device: torch.device) -> GlobalTorchStream:
        """For draws that only torch's global generator can make (module initialisation, dropout)."""
        return self._keep(name, GlobalTorchStream(self.seed_of(name), device))

    def _keep(self, name: str, stream: T) -> T:
        if name in self._streams:
            raise ValueError(f"random stream {name!r} was already handed out; each purpose draws from its own stream")
        self._streams[name] = stream
        return stream

    def state_dict(self) -> dict[str, Any]:
        """Each stream's position, by name."""
        return {name: _get_state(stream) for name, stream in self._streams.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put every stream back where ``state`` says; the same streams must have been handed out."""
        if set(state) != set(self._streams):
            raise ValueError(
                f"the checkpoint holds random streams {sorted(state)}, but this run draws from {sorted(self._streams)}"
            )
        for name, stream in self._streams.items():
            _set_state(stream, state[name])


def _get_state(stream: np.random.Generator | torch.Generator | GlobalTorchStream) -> Any:
    if isinstance(stream, np.random.Generator):
        return stream.bit_generator.state
    return stream.get_state()


def _set_state(stream: np.random.Generator | torch.Generator | GlobalTorchStream, state: Any) -> None:
    if isinstance(stream, np.random.Generator):
        stream.bit_generator.state = state
    else:
        stream.set_state(state)


class GlobalTorchStream:
    """Torch's global generator state of one purpose, swapped in for the ``with`` block and out after.

    ``nn.Dropout`` and ``nn.Linear`` initialisation draw from the global generator (the CUDA one
    on a GPU). Keeping one saved state per purpose lets real and synthetic batches draw their
    dropout masks from separate streams, though they train in one interleaved loop.
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        with torch.random.fork_rng(devices=[device] if self._cuda else [], device_type=device.type):
            torch.manual_seed(seed)
            self._state = self._get()
        self._outer: tuple[torch.Tensor, ...] | None = None

    def _get(self) -> tuple[torch.Tensor, ...]:
        return (torch.get_rng_state(), *((torch.cuda.get_rng_state(),) if self._cuda else ()))

    def _set(self, state: tuple[torch.Tensor, ...]) -> None:
        torch.set_rng_state(state[0])
        if self._cuda:
            torch.cuda.set_rng_state(state[1])

    def get_state(self) -> tuple[torch.Tensor, ...]:
        """The stream's saved generator state, for a checkpoint."""
        return self._state

    def set_state(self, state: tuple[torch.Tensor, ...]) -> None:
        self._state = tuple(state)

    def __enter__(self) -> GlobalTorchStream:
        self._outer = self._get()
        self._set(self._state)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._state = self._get()
        self._set(self._outer)
