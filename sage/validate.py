"""``sage validate SPEC``: everything a run checks before it works, and nothing more.

It resolves the spec (every default filled in), loads the data, checks the teacher (or the
backbone a teacher would be fine-tuned from, and whether that teacher is cached), and says
what the output folder holds, without fine-tuning or training anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

import sage.tasks
from sage.engine import split_rows
from sage.models.backbone import default_backbone
from sage.models.finetune import RECORD_FILE, teacher_cache_dir
from sage.models.teacher import check_teacher
from sage.run.folder import RunFolder
from sage.spec.file import load_spec


def validate(source: Any, overrides: Sequence[str] = ()) -> list[str]:
    """Lines describing the resolved spec and its inputs; raises the error a run would raise first."""
    spec = load_spec(source, overrides)
    lines = ["# the resolved spec", yaml.safe_dump(spec.resolved(), sort_keys=False).rstrip(), ""]
    task = sage.tasks.get(spec.task.name)
    train, evaluation = split_rows(task, spec.task)
    scored = f"{spec.task.holdout} held-out train rows" if spec.task.holdout else f"{len(evaluation)} dev rows"
    source_name = spec.task.data_dir or os.environ.get("SAGE_DATA_DIR") or "the Hugging Face hub"
    lines.append(f"data: {len(train)} training rows, scored on {scored}, from {source_name}")
    if spec.teacher.path is not None:
        check_teacher(Path(spec.teacher.path), task)
        lines.append(f"teacher: {spec.teacher.path}: a trained {task.name} classifier")
    else:
        settings = spec.teacher.finetune
        rows = task.load("train", spec.task.data_dir) if settings.full_train else train
        cached = teacher_cache_dir(task, rows, settings, spec.task.max_length)
        state = "cached" if (cached / RECORD_FILE).exists() else f"not cached: {settings.epochs} epochs of fine-tuning on {len(rows)} rows first"
        lines.append(f"teacher: fine-tuned from {settings.backbone or default_backbone()}, {state} ({cached})")
    folder = RunFolder(spec.run_dir(), spec.fingerprint())
    lines.append(f"output_dir: {folder.path}: {folder.describe()}")
    lines.append("ok: nothing was trained")
    return lines
