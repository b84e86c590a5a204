"""A run's output folder: one run per folder, marked as sage's, locked while it runs, its status on disk.

A run starts in a new or empty folder. A folder that holds a sage run is refused unless the user
asks to ``overwrite`` it or to ``resume`` it (an unfinished run of the same spec continues from
its checkpoint). sage knows its own runs by a marker file it writes (``.sage-run.json``), which
lists the entries the run wrote; ``overwrite`` removes those and nothing else, and a folder
without the marker (a project, a data folder, a run of an older sage) is never emptied.

Deciding (``plan``) writes nothing, so a refusal, or a wrong input found after it, costs nothing
and loses nothing; ``take`` does the removing once every input has been checked. While a run
works it holds a lock on the folder (``locked``), so a second run into the same folder is refused
rather than writing over the first's files. ``status.json`` says where the run stands (running,
interrupted, failed or finished): a folder left by a killed process still says "running".
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from sage.errors import InputError
from sage.run import checkpoint
from sage.run.files import write_text_atomically

STATUS_FILE = "status.json"
CHECKPOINT_DIR = "checkpoint"
MARKER_FILE = ".sage-run.json"
LOCK_FILE = ".sage-lock"
_OWN = (MARKER_FILE, LOCK_FILE)  # the folder's bookkeeping, never counted as its contents

Status = Literal["running", "interrupted", "failed", "finished"]
Plan = Literal["new", "resume", "overwrite"]


class RunFolderError(InputError):
    """The output folder cannot take this run (raised before any work starts)."""


class RunFolder:
    """The folder of one run, identified by its spec's fingerprint."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._foreign: set[str] = set()  # entries that were there before this run: never listed as its own
        self._holding = False  # whether this object holds the folder's lock

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_DIR

    # -- what the folder holds ------------------------------------------------------------------

    def entries(self) -> set[str]:
        """The names in the folder, less its bookkeeping."""
        return {entry.name for entry in self.path.iterdir() if entry.name not in _OWN} if self.path.is_dir() else set()

    def marked_entries(self) -> set[str] | None:
        """What sage wrote there, by its marker; None when the folder is not marked as a sage run."""
        try:
            return set(json.loads((self.path / MARKER_FILE).read_text(encoding="utf-8"))["entries"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read_status(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def can_resume(self) -> bool:
        """An unfinished run of this spec, with a checkpoint to continue from."""
        status = self.read_status()
        return (
            self.marked_entries() is not None
            and status is not None
            and status.get("fingerprint") == self.fingerprint
            and status.get("status") != "finished"
            and checkpoint.exists(self.checkpoint)
        )

    # -- deciding, before any work --------------------------------------------------------------

    def plan(self, resume: bool = False, overwrite: bool = False) -> Plan:
        """What this run does with the folder: start in a new or empty one, resume the unfinished run
        of this spec there, or overwrite the sage run it holds. Raises ``RunFolderError`` for a folder
        it cannot use; writes nothing. ``resume`` and ``overwrite`` together: resume where possible."""
        self._check_location()
        self._check_not_in_use()
        if resume and self.can_resume():
            return "resume"
        entries = self.entries()
        if not entries:
            return "new"
        marked = self.marked_entries()
        if marked is None:
            shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
            raise RunFolderError(
                f"output_dir {self.path} holds files that sage did not write ({shown}): sage writes only into a new "
                f"or empty folder, or over a sage run (marked by {MARKER_FILE}), and never removes anything else. "
                "Choose another output_dir"
            )
        if not overwrite:
            raise RunFolderError(self._refusal(resume))
        return "overwrite"

    def describe(self, resume: bool = False, overwrite: bool = False) -> str:
        """What ``sage run`` would do with this folder, in words (raises as ``plan`` does)."""
        return {
            "new": "new or empty; the run writes there",
            "resume": "holds an unfinished run of this spec: the run continues it",
            "overwrite": f"holds a sage run: the run removes what that run wrote ({len(self.marked_entries() or ())} entries) "
            "and starts again",
        }[self.plan(resume, overwrite)]

    def _check_location(self) -> None:
        existing = next(folder for folder in (self.path, *self.path.parents) if folder.exists())
        if existing == self.path and not existing.is_dir():
            raise RunFolderError(f"output_dir {self.path} is a file; choose a folder")
        if not existing.is_dir():
            raise RunFolderError(f"output_dir {self.path} cannot be made: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(f"output_dir {self.path}: cannot write in {existing} (permission denied); choose another output_dir")

    def _check_not_in_use(self) -> None:
        """Refuse a folder another run holds, before any work (``locked`` takes the lock later,
        once the inputs are checked, so that a refused input leaves no folder behind)."""
        if not self._holding and (self.path / LOCK_FILE).is_file():
            with self._lock_file():
                pass

    def _refusal(self, resume: bool) -> str:
        status = self.read_status()
        if status is None:
            held = "an unfinished sage run"
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

    # -- taking the folder ----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder for one run: a second run into it is refused in one line while this one works."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock_file() as handle:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
            handle.flush()
            self._holding = True
            try:
                yield
            finally:
                self._holding = False

    @contextlib.contextmanager
    def _lock_file(self) -> Iterator[TextIO]:
        """The folder's lock file, locked for the block; refused when another process holds it."""
        with open(self.path / LOCK_FILE, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunFolderError(
                    f"output_dir {self.path} is in use by another sage run ({holder}); wait for it to end, or choose another output_dir"
                ) from None
            try:
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def take(self, resume: bool = False, overwrite: bool = False) -> Plan:
        """Plan again (under the lock, after every input was checked: the folder may have changed
        meanwhile) and make the folder ready: ``overwrite`` removes the entries the old run's marker
        lists, and only those. Returns the plan."""
        plan = self.plan(resume, overwrite)
        marked = self.marked_entries() or set()
        if plan == "overwrite":
            for name in marked:
                entry = self.path / name
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.exists() or entry.is_symlink():
                    entry.unlink()
            marked = set()
        self._foreign = self.entries() - marked
        self._write_marker(marked)
        return plan

    def record_entries(self) -> None:
        """List in the marker what the run has written so far (called as it writes status and checkpoints)."""
        self._write_marker((self.marked_entries() or set()) | (self.entries() - self._foreign))

    def _write_marker(self, entries: set[str]) -> None:
        document = {"written_by": "sage", "fingerprint": self.fingerprint, "entries": sorted(entries)}
        write_text_atomically(self.path / MARKER_FILE, json.dumps(document, indent=2) + "\n")

    # -- while the run works --------------------------------------------------------------------

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
        self.record_entries()
