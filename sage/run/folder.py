"""A run's output folder: one run per folder, its status on disk, every file written atomically.

A folder never mixes two runs. A run starts in an empty or new folder; a folder that holds
another run is refused unless the user asks to ``overwrite`` it (its old contents are removed
first) or to ``resume`` it (an unfinished run of the same spec continues from its checkpoint).
``status.json`` says where the run stands (running, interrupted, failed or finished), so a
folder left by a killed process still says it is incomplete: its status stays "running".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sage.errors import InputError

STATUS_FILE = "status.json"
CHECKPOINT_DIR = "checkpoint"

Status = Literal["running", "interrupted", "failed", "finished"]


class RunFolderError(InputError):
    """The output folder cannot take this run (raised before any work starts)."""


@contextlib.contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A staging path beside ``path``; when the block succeeds it replaces ``path`` in one rename,
    so a reader (or a run killed mid-write) never sees a half-written file or folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-")) / path.name
    try:
        yield staging
        if path.is_dir() and staging.is_dir():
            shutil.rmtree(path)  # os.replace cannot put a folder over a non-empty folder
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)


def write_text_atomically(path: Path, text: str) -> None:
    with atomic(path) as staging:
        staging.write_text(text, encoding="utf-8")


class RunFolder:
    """The folder of one run, identified by its spec's fingerprint."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_DIR

    def read_status(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def can_resume(self) -> bool:
        """An unfinished run of this spec, with a checkpoint to continue from."""
        status = self.read_status()
        return (
            status is not None
            and status.get("fingerprint") == self.fingerprint
            and status.get("status") != "finished"
            and (self.checkpoint / "state.pt").exists()
        )

    def claim(self, resume: bool = False, overwrite: bool = False) -> bool:
        """Make the folder ready for this run; True when it continues an unfinished one.

        ``resume`` continues an unfinished run of the same spec. ``overwrite`` removes what a
        folder holds. Both: resume where possible, otherwise start afresh. Called before any
        expensive work, so a refusal costs nothing.
        """
        if resume and self.can_resume():
            return True
        entries = list(self.path.iterdir()) if self.path.is_dir() else []
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"output_dir {self.path} is a file; choose a folder")
        if entries and not overwrite:
            raise RunFolderError(self._refusal(resume))
        if entries:
            if self.read_status() is None and not (self.path / "spec.yaml").exists():
                raise RunFolderError(
                    f"output_dir {self.path} holds files that are not a sage run; --overwrite removes only "
                    "sage runs: choose an empty or new folder"
                )
            for entry in entries:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        return False

    def describe(self) -> str:
        """What ``sage run`` would do with this folder, in words."""
        if not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir())):
            return "new; the run writes there"
        if self.can_resume():
            return "holds an unfinished run of this spec: --resume continues it"
        return self._refusal(resume=False)

    def _refusal(self, resume: bool) -> str:
        status = self.read_status()
        if status is None:
            held = "files from something else" if not (self.path / "spec.yaml").exists() else "an older run"
        else:
            held = f"a {status.get('status', 'unknown')} run"
            if status.get("fingerprint") != self.fingerprint:
                held += f" of another spec (fingerprint {status.get('fingerprint')}, this spec's is {self.fingerprint})"
        if resume:
            reason = "it has no checkpoint to resume" if status and status.get("status") != "finished" else "there is nothing to resume"
            return f"output_dir {self.path} holds {held}; {reason}. Use --overwrite to start again there, or another output_dir"
        return (
            f"output_dir {self.path} holds {held}. Use --resume to continue an unfinished run of the same spec, "
            "--overwrite to replace it, or another output_dir"
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Status "running" for the block; "finished" when it completes, "interrupted" after
        Ctrl-C, "failed" (with the error) after any other exception, which goes on up."""
        self.set_status("running")
        try:
            yield
        except KeyboardInterrupt:
            self.set_status("interrupted", resume="sage run SPEC --resume continues from the last finished epoch")
            raise
        except Exception as error:
            self.set_status("failed", error=f"{type(error).__name__}: {error}")
            raise
        self.set_status("finished")

    def set_status(self, status: Status, **details: Any) -> None:
        document = {"status": status, "fingerprint": self.fingerprint, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **details}
        write_text_atomically(self.path / STATUS_FILE, json.dumps(document, indent=2) + "\n")
