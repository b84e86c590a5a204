"""``sage bench CONFIG``: GLUE quality and ablation runs over seeds, resumable, with tables.

A bench config names tasks (each with its spec overrides), methods, ablation variants,
seeds and shared overrides. Every (table, task, method, seed) becomes one run of the
engine. Its row is appended to ``results.json`` as soon as the run ends, so an interrupted
bench resumes where it stopped; a row whose settings have changed in the config runs
again. Runs with identical resolved specs are run once and shared between tables.
Teachers are shared through the engine's teacher cache: one fine-tune per task, whatever
the seed or variant.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

import sage.tasks
from sage.engine import build
from sage.spec.file import load_spec

COMPONENT_SECTIONS = ("student", "projector", "sampler", "loss")
TARGET_AGREEMENT = 0.99

# The baselines a user would otherwise pick, as spec overrides on top of SAGE.
METHODS: dict[str, dict[str, Any]] = {
    "labels": {"loss": {"name": "labels"}, "schedule": {"synthetic_per_hard": 0}},
    "kd": {"schedule": {"synthetic_per_hard": 0}},
    "sage": {},
}


class AblationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[str] = Field(default_factory=lambda: ["sst2", "rte"])
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict, description="name → overrides on SAGE")


class BenchConfig(BaseModel):
    """What ``sage bench`` runs and where it writes."""

    model_config = ConfigDict(extra="forbid")
    title: str = "GLUE"
    output_dir: Path = Path("docs")
    runs_dir: Path = Path("runs/bench")
    command: str = Field("", description="the command that regenerates the tables, quoted above them")
    notes: str = Field("", description="a reading of the results, kept with the config so that it survives regeneration")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    base: dict[str, Any] = Field(default_factory=dict, description="overrides for every run")
    tasks: dict[str, dict[str, Any]] = Field(description="task name → overrides for its runs")
    methods: list[str] = Field(default_factory=lambda: list(METHODS))
    ablation: AblationConfig | None = None

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = [name for name in tasks if name not in sage.tasks.get_all()]
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; registered: {', '.join(sorted(sage.tasks.get_all()))}")
        return tasks

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        unknown = [name for name in methods if name not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
        return methods

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> BenchConfig:
        return cls.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` on top of ``base``; a component section that names a component replaces the old one."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        replaces = key in COMPONENT_SECTIONS and isinstance(value, Mapping) and "name" in value
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and not replaces:
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def task_spec_data(config: BenchConfig, task: str) -> dict[str, Any]:
    """The spec data every run of ``task`` starts from: the shared base, the task's name and its overrides."""
    return merge(merge(config.base, {"task": {"name": task}}), config.tasks[task])


def planned_runs(config: BenchConfig) -> list[dict[str, Any]]:
    """Every run the config asks for: its table, task, method or variant, seed and spec data."""
    runs = []
    tables = [("quality", task, method, METHODS[method]) for task in config.tasks for method in config.methods]
    if config.ablation is not None:
        missing = [task for task in config.ablation.tasks if task not in config.tasks]
        if missing:
            raise ValueError(f"ablation tasks {missing} are not among the bench's tasks")
        for task in config.ablation.tasks:
            tables += [("ablation", task, name, overrides) for name, overrides in config.ablation.variants.items()]
    for table, task, method, overrides in tables:
        for seed in config.seeds:
            data = merge(task_spec_data(config, task), overrides)
            data["seed"] = seed
            runs.append({"table": table, "task": task, "method": method, "seed": seed, "spec": data})
    return runs


def run_key(run: Mapping[str, Any]) -> str:
    return f"{run['table']}/{run['task']}/{run['method']}/{run['seed']}"


def epochs_to_agreement(history: list[dict[str, Any]], target: float = TARGET_AGREEMENT) -> int | None:
    return next((row["epoch"] for row in history if row["agreement"] >= target), None)


def summarise(result, spec) -> dict[str, Any]:
    """The row a finished run contributes: metrics, convergence, time and synthetic-data diagnostics."""
    diagnostics = {}
    for key in (
        "inverse_cosine",
        "inverse_fvu",
        "synthetic_shift",
        "teacher_confidence_synthetic",
        "teacher_confidence_parent",
        "teacher_flip",
    ):
        values = [row[key] for row in result.history if key in row]
        if values:
            diagnostics[key] = sum(values) / len(values)
    elapsed, curve = 0.0, []
    for row in result.history:
        elapsed += row["epoch_s"]
        curve.append({"epoch": row["epoch"], "seconds": round(elapsed, 2), "score": row["dev_score"], "agreement": row["agreement"]})
    return {
        "dev": result.metrics["dev"],
        "teacher_dev": result.metrics["teacher_dev"],
        "agreement": result.metrics["agreement"],
        "epochs": result.metrics["epochs"],
        "epochs_to_agreement": epochs_to_agreement(result.history),
        "train_seconds": result.metrics["train_seconds"],
        "total_seconds": result.metrics["total_seconds"],
        "train_examples": result.metrics["train_examples"],
        "machine": result.metrics["machine"],
        "fingerprint": spec.fingerprint(),
        "run_dir": str(result.output_dir),
        "curve": curve,
        "diagnostics": diagnostics,
    }


def load_rows(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return {run_key(row): row for row in json.loads(path.read_text())["rows"]}


def save_rows(path: Path, rows: dict[str, dict[str, Any]], config: BenchConfig) -> None:
    """Write every row so far; atomically, so an interrupted bench never leaves a broken file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "title": config.title,
        "command": config.command,
        "platform": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "rows": list(rows.values()),
    }
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(staging, path)


def run_bench(config: BenchConfig, say: Callable[[str], None] = print, report_only: bool = False) -> dict[str, dict[str, Any]]:
    """Run what is not in ``results.json`` yet (nothing with ``report_only``), then write the tables and plots."""
    from sage.bench.report import write_report

    results_path = config.output_dir / "results.json"
    rows = load_rows(results_path)
    by_fingerprint = {row["fingerprint"]: row for row in rows.values()}
    plan = planned_runs(config)
    current: dict[str, str] = {}  # run key → fingerprint of the spec the config asks for now
    for number, run in enumerate(plan, start=1):
        key = run_key(run)
        spec = load_spec(run["spec"], [f"output_dir={config.runs_dir / key.replace('/', '-')}"])
        current[key] = spec.fingerprint()
        # A row made from other settings (the config changed since) is stale and runs again.
        if report_only or (key in rows and rows[key]["fingerprint"] == current[key]):
            continue
        label = f"[{number}/{len(plan)}] {key}"
        if current[key] in by_fingerprint:
            say(f"{label}: same spec as an earlier run, shared")
            summary = {k: v for k, v in by_fingerprint[current[key]].items() if k not in ("table", "task", "method", "seed")}
        else:
            say(f"{label}: running")
            started = time.perf_counter()
            summary = summarise(build(spec, progress=False).fit(), spec)
            say(f"{label}: dev score {summary['dev']['score']:.4f} in {time.perf_counter() - started:.0f} s")
        rows[key] = {"table": run["table"], "task": run["task"], "method": run["method"], "seed": run["seed"], **summary}
        by_fingerprint[summary["fingerprint"]] = rows[key]
        save_rows(results_path, rows, config)
    # Stale rows (from settings the config no longer asks for) never reach the tables.
    write_report(config, [row for key, row in rows.items() if current.get(key) == row["fingerprint"]])
    return rows
