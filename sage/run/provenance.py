"""Where a result comes from: the versions that shape it, the code's commit, fingerprints of files.

Bench rows and cached teachers are reused only while everything that could move their numbers
is unchanged. The spec says most of it; the rest is here:

- ``NUMERICS_VERSION`` stands for sage's own numerics. It is bumped by hand in the change that
  moves results on purpose. The pinned fixed-seed run in ``tests/test_engine.py`` fails on any
  change that moves them, so an unbumped change cannot pass unseen.
- The versions of the packages whose kernels and defaults shape a result.

The commit is recorded beside every result but is not part of its identity: most commits move
no number, and a bench of several hours must survive a documentation fix.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

NUMERICS_VERSION = 1

# The packages whose versions are recorded with every run and belong to a result's identity.
RESULT_PACKAGES = ("sage-distill", "torch", "transformers", "umap-learn")


def package_versions() -> dict[str, str]:
    """The installed version of each package in ``RESULT_PACKAGES`` ("not installed" when absent)."""
    versions = {}
    for package in RESULT_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def results_identity() -> dict[str, Any]:
    """What, besides a spec, decides a run's numbers; part of every spec and teacher fingerprint."""
    return {"numerics": NUMERICS_VERSION, **package_versions()}


def code_version() -> str:
    """The commit of the sage checkout that runs, with ``+changes`` when its tree differs; "unknown" outside git.

    ``SAGE_CODE_VERSION`` overrides it, for copies of a checkout without their ``.git`` (a lent GPU
    machine receives the working tree alone; benchmarks/gpu_session.sh records the commit before it goes).
    """
    if os.environ.get("SAGE_CODE_VERSION"):
        return os.environ["SAGE_CODE_VERSION"]
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=folder, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def folder_fingerprint(folder: Path, pattern: str = "*") -> str:
    """A hash of the name and contents of every file under ``folder`` that matches ``pattern``:
    a model folder's identity, whatever its path."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob(pattern) if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()
