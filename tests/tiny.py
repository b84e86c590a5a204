"""The tiny end-to-end run the engine tests share: the real MiniLM teacher on 200 SST-2 rows, and
the same run on a tiny random teacher, for tests of what the engine does rather than of how well
a student learns (about a tenth of the time)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

TINY = {
    "task": {"name": "sst2", "max_train": 200, "max_length": 32},
    # float32: the pinned run below must not depend on whether the CPU has native bf16. A teacher
    # that has learnt something (about 0.75 on SST-2 dev), so that a student's learning shows.
    "teacher": {"precision": "float32", "finetune": {"epochs": 4, "lr": 5e-4}},
    "projector": {"name": "umap", "n_neighbors": 15},
    "synthesis": {"name": "paper", "fit_in_background": True},
    "schedule": {"max_epochs": 3, "hard_fraction": 0.1, "synthetic_share": 0.2, "batch_size": 32},
    "device": "cpu",
}


def tiny_spec(tmp_path, **sections) -> dict:
    """TINY with ``sections`` merged into its settings sections; a component section is replaced whole."""
    spec = {key: dict(value) for key, value in TINY.items() if isinstance(value, dict)} | {"device": TINY["device"]}
    for key, value in sections.items():
        merge = key in ("task", "teacher", "schedule") or (key == "synthesis" and "name" not in value)
        spec[key] = {**spec[key], **value} if merge else value
    spec["output_dir"] = str(tmp_path)
    return spec


@functools.cache
def random_teacher() -> Path:
    """A tiny random BERT classifier (tests/families.py), saved once per test process."""
    from families import save_tiny_teacher

    return save_tiny_teacher("bert", Path(tempfile.mkdtemp(prefix="sage-random-teacher-")))


def fast_spec(tmp_path, **sections) -> dict:
    """TINY on the random teacher (a student of its blocks 0 and 2), scored on 50 held-out train
    rows instead of the 872 dev rows: the same 200 training rows, a fraction of the time."""
    sections.setdefault("student", {"name": "truncated", "layers": [0, 2]})
    task = {"holdout": 50, **sections.pop("task", {})}
    teacher = {"path": str(random_teacher()), **sections.pop("teacher", {})}
    return tiny_spec(tmp_path, task=task, teacher=teacher, **sections)
