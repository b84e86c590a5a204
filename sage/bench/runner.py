"""``sage bench CONFIG``: runs what the config plans, resumably, and writes the report.

A bench config names tasks (each with its spec overrides), methods, ablation variants,
seeds and shared overrides. Every (table, task, method, seed) becomes one run of the
engine. Its row is appended to ``results.json`` as soon as the run ends, so an interrupted
bench resumes where it stopped; a row whose settings have changed in the config runs
again. Runs with identical resolved specs are run once and shared between tables.
Teachers are shared through the engine's teacher cache: one fine-tune per task, whatever
the seed or variant.

Seed s of every method is compared with seed s of the baselines, so those rows (a pair group:
one task and seed, of the scale table or of the other tables) must share one teacher. A teacher
fine-tuned again on another machine need not have the same weights, so the rows of a group left
unfinished by an earlier session run again unless their teacher's weights are those of the
teacher cached here; a finished group is kept as it is.
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
from sage.run.provenance import code_version, folder_fingerprint
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
        # The whole run, and the part of it every method of a task shares (the teacher fine-tuned or
        # loaded, and its outputs on train and dev computed or read from the cache): the report's
        # cost is the difference, which a teacher fine-tuned in the run does not distort.
        "total_seconds": result.metrics["total_seconds"],
        "setup_seconds": result.metrics["setup_seconds"],
        "train_examples": result.metrics["train_examples"],
        "synthetic_epochs": result.metrics["synthetic_epochs"],
        "synthetic_examples_trained": result.metrics["synthetic_examples_trained"],
        "gradient_steps": result.metrics["gradient_steps"],
        "machine": result.metrics["machine"],
        # Which teacher, by its weights: the pair-group check below compares it with the one cached here.
        "teacher": teacher_weights(Path(result.metrics["teacher_path"])),
        "teacher_path": result.metrics["teacher_path"],
        "commit": commit,
        "fingerprint": spec.fingerprint(),
        "run_dir": str(result.output_dir),
        "curve": curve,
        "diagnostics": diagnostics,
    }


def teacher_weights(folder: Path) -> str:
    """A teacher's identity by its weights alone: its record of when and where it was fine-tuned
    differs between machines even when the fine-tune gave the same weights bit for bit."""
    return folder_fingerprint(folder, "*.safetensors")


def pair_group(run: Mapping[str, Any]) -> tuple[str, str, int]:
    """The rows whose per-seed differences are taken together, and so must share a teacher. The
    scale table is compared within itself alone, so adding it to a finished bench leaves the other
    tables' groups finished (and their rows as they are, whatever teacher is cached here)."""
    return "scale" if run["table"] == "scale" else "others", run["task"], run["seed"]


class TeachersHere:
    """Whether a row was distilled from the teacher this machine has in its cache (weights hashed once per folder)."""

    def __init__(self) -> None:
        self._fingerprints: dict[str, str] = {}

    def distilled(self, row: Mapping[str, Any]) -> bool:
        path = row.get("teacher_path")
        if path is None:  # rows from before teachers were recorded
            return False
        if path not in self._fingerprints:
            if not Path(path).is_dir():  # not fine-tuned here (yet): asked again once a run has made it
                return False
            self._fingerprints[path] = teacher_weights(Path(path))
        return self._fingerprints[path] == row["teacher"]


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
    current = {run_key(run): spec.fingerprint() for run, spec in zip(plan, specs)}
    groups: dict[tuple[str, str, int], list[str]] = {}
    for run in plan:
        groups.setdefault(pair_group(run), []).append(run_key(run))

    def fresh(key: str) -> bool:  # a row made from the settings the config asks for now
        return key in rows and rows[key]["fingerprint"] == current[key]

    # Decided before anything runs: a group this bench finishes now must not count as finished before.
    finished = {group for group, keys in groups.items() if all(map(fresh, keys))}
    teachers_here = TeachersHere()
    for number, (run, spec) in enumerate(zip(plan, specs), start=1):
        key = run_key(run)
        if report_only or (fresh(key) and (pair_group(run) in finished or teachers_here.distilled(rows[key]))):
            continue
        label = f"[{number}/{len(plan)}] {key}"
        twin = by_fingerprint.get(current[key])
        # A row from before rows kept their setup time is not shared: its cost could not be compared.
        if twin is not None and "setup_seconds" in twin and teachers_here.distilled(twin):
            say(f"{label}: same spec as an earlier run, shared")
            summary = {k: v for k, v in twin.items() if k not in ("table", "task", "method", "seed")}
        else:
            reason = "" if key not in rows else " again, its settings changed" if not fresh(key) else " again, on this machine's teacher"
            say(f"{label}: running{reason}")
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
