"""Benchmark fixtures: real MiniLM vectors of SST-2 at the sizes the suites need.

Run with ``pytest benchmarks --benchmark-enable`` (see the README).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SAGE_DATA_DIR", str((REPO / ".." / "shared" / "glue").resolve()))

import sage  # noqa: E402
from sage.models.backbone import default_backbone  # noqa: E402
from sage.models.teacher import Teacher  # noqa: E402
from sage.vectors import VectorSet  # noqa: E402

TRAIN_POINTS = 16_000
HELD_OUT_POINTS = 1_024


@pytest.fixture(scope="session")
def teacher() -> Teacher:
    """The bundled MiniLM with an untrained head: speed does not depend on the weights."""
    return Teacher.from_pretrained(default_backbone())


@pytest.fixture(scope="session")
def sst2_sequences(teacher: Teacher) -> VectorSet:
    """Embedding-layer sequences of the first 17,024 SST-2 training sentences (max_length 64)."""
    task = sage.tasks.get("sst2")
    rows = task.load("train").select(range(TRAIN_POINTS + HELD_OUT_POINTS))
    return teacher.embed(task.texts(rows), max_length=64)


@pytest.fixture(scope="session")
def pooled(sst2_sequences: VectorSet) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled vectors: (train [16000, 384], held out [1024, 384])."""
    vectors = sst2_sequences.pooled().numpy()
    return vectors[:TRAIN_POINTS], vectors[TRAIN_POINTS:]


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Speed and the numbers a benchmark recorded beside it (fidelity, throughput), in one table."""
    session = getattr(config, "_benchmarksession", None)
    rows = [bench for bench in getattr(session, "benchmarks", []) if bench.extra_info]
    if not rows:
        return
    terminalreporter.section("speed and recorded figures")
    for bench in rows:
        figures = ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in bench.extra_info.items())
        terminalreporter.write_line(f"{bench.name:<60} median {bench.stats.median:10.4f} s  {figures}")
