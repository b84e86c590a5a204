"""``sage validate SPEC``: everything a run checks before it works, and nothing more.

It resolves the spec (every default filled in), loads the data, checks the teacher (or the
backbone a teacher would be fine-tuned from, and whether that teacher is cached), and says
what the run would do with its output folder, without fine-tuning or training anything. It
raises exactly the errors ``sage run`` would raise before its first step, so "ok" means the run
starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import yaml

from sage.models.backbone import default_backbone
from sage.models.finetune import RECORD_FILE, teacher_cache_dir
from sage.run import checkpoint
from sage.run.folder import RunFolder
from sage.run.setup import check_inputs
from sage.spec.file import load_spec


def validate(source: Any, overrides: Sequence[str] = (), resume: bool = False, overwrite: bool = False) -> list[str]:
    """Lines describing the resolved spec and its inputs; raises the error a run would raise first."""
    spec = load_spec(source, overrides)
    lines = ["# the resolved spec", yaml.safe_dump(spec.resolved(), sort_keys=False).rstrip(), ""]
    folder = RunFolder(spec.run_dir(), spec.fingerprint())
    plan = folder.describe(resume, overwrite)  # a run checks its folder first
    if resume and folder.can_resume():
        checkpoint.verify(folder.checkpoint)
    inputs = check_inputs(spec)
    task = inputs.task
    scored = f"{spec.task.holdout} held-out train rows" if spec.task.holdout else f"{len(inputs.dev_rows)} dev rows"
    source_name = spec.task.data_dir or os.environ.get("SAGE_DATA_DIR") or "the Hugging Face hub"
    lines.append(f"data: {len(inputs.train_rows)} training rows, scored on {scored}, from {source_name}")
    if spec.teacher.path is not None:
        lines.append(f"teacher: {spec.teacher.path}: a trained {task.name} classifier")
    else:
        settings = spec.teacher.finetune
        rows = task.load("train", spec.task.data_dir) if settings.full_train else inputs.train_rows
        cached = teacher_cache_dir(task, rows, settings, spec.task.max_length)
        state = "cached" if (cached / RECORD_FILE).exists() else f"not cached: {settings.epochs} epochs of fine-tuning on {len(rows)} rows first"
        lines.append(f"teacher: fine-tuned from {settings.backbone or default_backbone()}, {state} ({cached})")
    lines.append(f"output_dir: {folder.path}: {plan}")
    lines.append("ok: nothing was trained")
    return lines
