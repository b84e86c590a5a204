"""``sage validate SPEC``: everything a run checks before it works, and nothing more.

It resolves the spec (every default filled in), loads the data, checks the teacher (or the
backbone a teacher would be fine-tuned from, and whether that teacher is cached), says whether
the teacher's outputs on the data are cached, and what the run would do with its output folder,
without fine-tuning or training anything. It raises exactly the errors ``sage run`` would raise
before its first step, so "ok" means the run starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sage.models.backbone import default_backbone
from sage.models.finetune import RECORD_FILE, teacher_cache_dir
from sage.models.precision import resolve_precision
from sage.run import checkpoint
from sage.run.folder import RunFolder
from sage.run.provenance import folder_fingerprint
from sage.run.setup import Inputs, check_inputs, inference_batch, resolve_device
from sage.run.teacher_cache import TeacherPass, outputs_root
from sage.spec import SageSpec
from sage.spec.file import load_spec
from sage.tasks.files import FileTask
from sage.tasks.glue import GlueTask
from sage.tasks.hub import HubTask


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
    scored = f"{len(inputs.dev_rows)} dev rows" if inputs.evaluated_on == "dev" else inputs.evaluated_on
    lines.append(f"data: {len(inputs.train_rows)} training rows, scored on {scored}, from {_source(spec)}")
    if inputs.transfer_rows is not None:
        use = "searched by synthesis only" if spec.schedule.transfer_share == 0 else "trained on as KD transfer data"
        lines.append(f"transfer: {len(inputs.transfer_rows)} unlabelled rows for the teacher to label, {use}")
    if spec.synthesis.pool is not None and spec.uses_synthetic_data:
        made = ", ".join(f"{name} x{weight:g}" for name, (_, weight) in spec.synthesis.strategies().items())
        lines.append(
            f"pool: {spec.synthesis.pool * len(inputs.train_rows):,} candidates ({spec.synthesis.pool} per example; {made}), "
            f"{spec.synthesis.select} choice of {spec.schedule.synthetic_share:g} x {len(inputs.train_rows):,} per synthetic epoch"
        )
    if inputs.label_mapping:
        lines.append(f"labels: {inputs.label_mapping}")
    if spec.teacher.path is not None:
        teacher_folder: Path | None = Path(spec.teacher.path)
        lines.append(f"teacher: {spec.teacher.path}: a trained {task.name} classifier")
    else:
        settings = spec.teacher.finetune
        rows = task.load("train", spec.task.data_dir) if settings.full_train else inputs.train_rows
        cached = teacher_cache_dir(task, rows, settings, spec.task.max_length)
        teacher_folder = cached if (cached / RECORD_FILE).exists() else None
        state = "cached" if teacher_folder else f"not cached: {settings.epochs} epochs of fine-tuning on {len(rows)} rows first"
        lines.append(f"teacher: fine-tuned from {settings.backbone or default_backbone()}, {state} ({cached})")
    lines.append(_teacher_outputs_line(spec, inputs, teacher_folder))
    lines.append(f"outputs cache: {_size(_bytes_under(outputs_root()))} in all under {outputs_root()}")
    lines.append(f"output_dir: {folder.path}: {plan}")
    lines.append("ok: nothing was trained")
    return lines


def _source(spec: SageSpec) -> str:
    """Where the task's rows come from, in words."""
    task = spec.task.create()
    if isinstance(task, GlueTask):
        return str(spec.task.data_dir or os.environ.get("SAGE_DATA_DIR") or "the Hugging Face hub")
    if isinstance(task, HubTask):
        return f"the Hugging Face hub ({task.dataset})"
    if isinstance(task, FileTask):
        return ", ".join(str(path) for path in (task.train, task.dev) if path)
    return f"task {task.name!r}"


def _teacher_outputs_line(spec: SageSpec, inputs: Inputs, teacher_folder: Path | None) -> str:
    """Whether a single-process run of ``spec`` finds the teacher's outputs on its rows cached
    (see ``sage.run.teacher_cache``), or what the teacher reads first. ``teacher_folder`` is None
    for a teacher still to be fine-tuned, whose contents, and so its outputs' key, are unknown."""
    splits = {"train": inputs.train_rows, "dev": inputs.dev_rows}
    if inputs.transfer_rows is not None:
        splits["transfer"] = inputs.transfer_rows
    if teacher_folder is None:
        return "teacher outputs: computed after fine-tuning: " + _reads(splits)
    device = resolve_device(spec.device)
    teacher_pass = TeacherPass(
        teacher=folder_fingerprint(teacher_folder),
        interface_layer=spec.teacher.interface_layer,
        max_length=spec.task.max_length,
        dtype=resolve_precision(spec.teacher.precision, device),
        device_type=device.type,
        batch=inference_batch(spec.schedule.batch_size, device),
        parts=1,
    )
    files = {split: teacher_pass.split_file(inputs.task, rows, split) for split, rows in splits.items()}
    kept = [split for split, path in files.items() if path.is_file()]
    missing = {split: rows for split, rows in splits.items() if split not in kept}
    if not kept:
        return "teacher outputs: not cached: " + _reads(missing)
    cached = f"cached for {' and '.join(kept)} ({_size(sum(files[split].stat().st_size for split in kept))}) in {teacher_pass.folder}"
    return f"teacher outputs: {cached}" + (f"; not for {' and '.join(missing)}: {_reads(missing)}" if missing else "")


def _reads(splits: dict[str, Any]) -> str:
    return "the teacher reads " + " and ".join(f"{len(rows):,} {split}" for split, rows in splits.items()) + " rows first"


def _bytes_under(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def _size(count: float) -> str:
    """A byte count as people read it: 0 B, 812 kB, 12.3 MB, 1.4 GB (powers of 1,000, as du --si)."""
    units = ("B", "kB", "MB", "GB", "TB")
    power = 0
    while count >= 1000 and power < len(units) - 1:
        count, power = count / 1000, power + 1
    return f"{count:.0f} {units[power]}" if power < 2 else f"{count:.1f} {units[power]}"
