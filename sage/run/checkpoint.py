"""What a run keeps after each epoch so that, resumed, it ends exactly as if never stopped.

A checkpoint is ``{name: part.state_dict()}`` over the parts the run names (the student, the
optimiser, the learning-rate schedule, the random streams, the synthesiser, the callbacks, and
the run's record of what it has done), as torch and transformers keep theirs; ``load`` gives
each part its state back through ``load_state_dict``. Nothing here knows what a part holds, so a
new stateful part needs no change here. Everything is tensors and plain data, so the file loads
with ``torch.load(weights_only=True)``.

The teacher, the cached interface vectors and the strategy's fixed inputs are not kept: they
depend on the spec alone and are rebuilt on resume.

Beside the state goes its SHA-256, written in the same atomic step, so that a damaged file
(a disk error, a copy cut short) is refused before a resumed run does any work, rather than
resuming from weights that are not the ones saved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from sage.errors import InputError
from sage.run.files import atomic

STATE_FILE = "state.pt"
DIGEST_FILE = "state.sha256"


class Stateful(Protocol):
    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> Any: ...


class CheckpointError(InputError):
    """A checkpoint that cannot be resumed from: missing, damaged, or of other parts."""


def exists(folder: Path) -> bool:
    return (Path(folder) / STATE_FILE).is_file()


def save(folder: Path, parts: Mapping[str, Stateful]) -> None:
    """Every part's state, and its digest, replacing the folder's previous checkpoint in one rename."""
    with atomic(Path(folder)) as staging:
        staging.mkdir()
        torch.save({name: part.state_dict() for name, part in parts.items()}, staging / STATE_FILE)
        (staging / DIGEST_FILE).write_text(f"{_digest(staging / STATE_FILE)}  {STATE_FILE}\n", encoding="utf-8")


def verify(folder: Path) -> None:
    """Refuse a checkpoint whose file does not match the digest written with it. Reads the file
    once (a second or so for a large student with its optimiser state), before any other work."""
    state, digest_file = Path(folder) / STATE_FILE, Path(folder) / DIGEST_FILE
    remedy = "the run cannot resume from it: use --overwrite to start the run again"
    if not state.is_file():
        raise CheckpointError(f"{state} does not exist; {remedy}")
    if not digest_file.is_file():
        raise CheckpointError(f"{state} has no {DIGEST_FILE} beside it to check it against; {remedy}")
    recorded = digest_file.read_text(encoding="utf-8").split(" ", 1)[0]
    if _digest(state) != recorded:
        raise CheckpointError(
            f"{state} is damaged: its SHA-256 differs from the one written with it ({digest_file}); {remedy}"
        )


def load(folder: Path, parts: Mapping[str, Stateful]) -> None:
    """Give each part its state from the checkpoint in ``folder`` (checked with ``verify`` first)."""
    state = torch.load(Path(folder) / STATE_FILE, weights_only=True)
    missing = [name for name in parts if name not in state]
    if missing:
        raise CheckpointError(
            f"{Path(folder) / STATE_FILE} holds no state for {', '.join(missing)} (it holds {', '.join(state)}); "
            "use --overwrite to start the run again"
        )
    for name, part in parts.items():
        part.load_state_dict(state[name])


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
