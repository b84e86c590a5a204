"""Writing a run's files atomically, with the permissions any file the user makes would get."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_permissions(path: Path) -> None:
    """Give ``path`` (and all under it) the modes a plain ``open``/``mkdir`` would: staging lives in
    a ``mkdtemp`` folder (mode 0700) and some writers create private files (0600), which would
    otherwise reach the user's folder as files only their owner can read."""
    mask = _umask()
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not item.is_symlink():
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A staging path beside ``path``; when the block succeeds it replaces ``path`` in one rename,
    so a reader (or a run killed mid-write) never sees a half-written file or folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-")) / path.name
    try:
        yield staging
        _open_permissions(staging)
        if path.is_dir() and staging.is_dir():
            shutil.rmtree(path)  # os.replace cannot put a folder over a non-empty folder
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)


def write_text_atomically(path: Path, text: str) -> None:
    with atomic(path) as staging:
        staging.write_text(text, encoding="utf-8")
