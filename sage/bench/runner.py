"""``sage bench CONFIG``: runs what the config plans, resumably, and writes the report.

A bench config names tasks (each with its spec overrides), methods, ablation variants,
seeds and shared overrides. Every (table, task, method, seed) becomes one run of the
engine. Its row is appended to ``results.json`` as soon as the run ends, so an interrupted
bench resumes where it stopped; a row whose settings have changed in the config runs
again. Runs with identical resolved specs are run once and shared between tables.
Teachers are shared through the engine's teacher cache: one fine-tune per task, whatever
the seed or variant.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from sage.bench.config import TARGET_AGREEMENT, BenchConfig, planned_runs
from sage.bench.report import DIAGNOSTICS, write_report
from sage.engine import build
from sage.provenance import code_version
from sage.spec.file import load_spec


def run_key(run: Mapping[str, Any]) -> str:
    return f"{run['table']}/{run['task']}/{run['method']}/{run['seed']}"


def epochs_to_agreement(history: list[dict[str, Any]], target: float = TARGET_AGREEMENT) -> int | None:
    return next((row["epoch"] for row in history if row["agreement"] >= target), None)


def summarise(result, spec, commit: str) -> dict[str, Any]:
    """The row a finished run contributes: metrics, convergence, time and synthetic-data diagnostics."""
    diagnostics = {}
    for key in DIAGNOSTICS:
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
        "teacher_precision": result.metrics["teacher_precision"],
        "agreement": result.metrics["agreement"],
        "epochs": result.metrics["epochs"],
        "epochs_to_agreement": epochs_to_agreement(result.history),
        "train_seconds": result.metrics["train_seconds"],
        "total_seconds": result.metrics["total_seconds"],
        "train_examples": result.metrics["train_examples"],
        "synthetic_epochs": result.metrics["synthetic_epochs"],
        "synthetic_examples_trained": result.metrics["synthetic_examples_trained"],
        "gradient_steps": result.metrics["gradient_steps"],
        "machine": result.metrics["machine"],
        "commit": commit,
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
    commit = code_version()  # of the code this process loaded, whatever is committed meanwhile
    results_path = config.output_dir / "results.json"
    rows = load_rows(results_path)
    by_fingerprint = {row["fingerprint"]: row for row in rows.values()}
    plan = planned_runs(config)
    # Every spec is resolved before the first run, so that a bad one stops the bench before hours of work.
    specs = [load_spec(run["spec"], [f"output_dir={config.runs_dir / run_key(run).replace('/', '-')}"]) for run in plan]
    current: dict[str, str] = {}  # run key → fingerprint of the spec the config asks for now
    for number, (run, spec) in enumerate(zip(plan, specs), start=1):
        key = run_key(run)
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
            # A run the bench was stopped in continues from its checkpoint; any other folder is replaced.
            summary = summarise(build(spec, progress=False).fit(resume=True, overwrite=True), spec, commit)
            say(f"{label}: dev score {summary['dev']['score']:.4f} in {time.perf_counter() - started:.0f} s")
        rows[key] = {"table": run["table"], "task": run["task"], "method": run["method"], "seed": run["seed"], **summary}
        by_fingerprint[summary["fingerprint"]] = rows[key]
        save_rows(results_path, rows, config)
    # Stale rows (from settings the config no longer asks for) never reach the tables.
    write_report(config, [row for key, row in rows.items() if current.get(key) == row["fingerprint"]])
    return rows
