"""The bench runner at a tiny size: 2 tasks, 2 methods, 2 seeds and an ablation variant; resumable; tables parse."""

from __future__ import annotations

import json
import math
import re
import warnings

import pytest
import torch

from sage.bench.config import BenchConfig, merge, planned_runs
from sage.bench.report import paired_difference, verdict
from sage.bench.runner import run_bench, run_key, save_rows
from sage.models.precision import resolve_precision

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return BenchConfig.model_validate(
        {
            "title": "tiny",
            "output_dir": str(root / "docs"),
            "runs_dir": str(root / "runs"),
            "command": "pytest tests/test_bench.py",
            "seeds": [0, 1],
            "base": {
                "teacher": {"finetune": {"epochs": 1, "batch_size": 16}},
                "projector": {"name": "umap", "n_neighbors": 10},
                "schedule": {"max_epochs": 2, "batch_size": 16},
                "device": "cpu",
            },
            # Scored on 40 held-out train rows: the dev splits (872 and 277 rows) would cost most of the time.
            "tasks": {
                "sst2": {"task": {"max_train": 60, "max_length": 24, "holdout": 40}},
                "rte": {"task": {"max_train": 60, "max_length": 32, "holdout": 40}},
            },
            "methods": ["kd", "sage"],
            "ablation": {"tasks": ["sst2"], "variants": {"no projection": {"projector": {"name": "identity"}}}},
            # The 60-example point is the quality table's sst2 runs again: shared, not rerun.
            "curve": {"task": "sst2", "sizes": [30, 60], "methods": ["kd", "sage"]},
        }
    )


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def bench(config, teacher_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGE_CACHE_DIR", str(teacher_cache))
        messages = []
        rows = run_bench(config, say=messages.append)
        again = []
        run_bench(config, say=again.append)
    return rows, messages, again


def test_merge_replaces_a_named_component_and_merges_settings():
    base = {"projector": {"name": "umap", "n_neighbors": 10}, "schedule": {"max_epochs": 2}}
    merged = merge(base, {"projector": {"name": "pca"}, "schedule": {"lr": 0.1}})
    assert merged == {"projector": {"name": "pca"}, "schedule": {"max_epochs": 2, "lr": 0.1}}
    assert merge(base, {"projector": {"n_neighbors": 5}})["projector"] == {"name": "umap", "n_neighbors": 5}


def test_plan_covers_every_task_method_seed_and_variant(config):
    keys = [(run["table"], run["task"], run["method"], run["seed"]) for run in planned_runs(config)]
    assert len(keys) == 2 * 2 * 2 + 1 * 2 + 2 * 2 * 2 and len(set(keys)) == len(keys)
    small = next(run for run in planned_runs(config) if run["method"] == "sage, 30 examples")
    assert small["table"] == "curve" and small["spec"]["task"]["max_train"] == 30
    kd = next(run for run in planned_runs(config) if run["method"] == "kd")
    assert kd["spec"]["schedule"] == {"max_epochs": 2, "batch_size": 16, "synthetic_share": 0}


def test_plan_runs_task_by_task_and_seed_by_seed_within_a_task(config):
    tasks = list(config.tasks)
    order = [(tasks.index(run["task"]), run["seed"]) for run in planned_runs(config)]
    assert order == sorted(order)  # one teacher at a time; a stopped bench holds complete pairs


def test_every_run_completes_and_is_recorded(bench, config):
    rows, messages, _ = bench
    assert len(rows) == 18
    assert sum("running" in message for message in messages) == 14
    assert sum("shared" in message for message in messages) == 4
    document = json.loads((config.output_dir / "results.json").read_text())
    assert len(document["rows"]) == 18
    for row in document["rows"]:
        # A plain-KD student on the curve's 30 examples may meet the agreement stop after epoch 1.
        assert 0 <= row["dev"]["score"] <= 1 and len(row["curve"]) == row["epochs"]
        assert row["epochs"] == 2 or (row["table"], row["method"]) == ("curve", "kd, 30 examples")
    sage_row = next(row for row in document["rows"] if row["method"] == "sage")
    assert {"inverse_cosine", "synthetic_shift", "teacher_flip", "teacher_margin_synthetic", "divergence_synthetic"} <= set(sage_row["diagnostics"])
    assert sage_row["synthetic_epochs"] == 1 and sage_row["commit"]
    # Every row says which precision its teacher ran in: "auto" differs between machines.
    expected = str(resolve_precision("auto", torch.device("cpu"))).removeprefix("torch.")
    assert {row["teacher_precision"] for row in document["rows"]} == {expected}
    # One teacher per task, shared by every seed and method. (This config's teachers learn from the
    # students' subset, so the curve's 30-example point has its own; with full_train it would not.)
    for task in ("sst2", "rte"):
        assert len({row["teacher_dev"]["score"] for row in document["rows"] if row["task"] == task and row["table"] != "curve"}) == 1


def test_a_second_run_resumes_without_redoing_rows(bench):
    _, _, again = bench
    assert not any("running" in message for message in again)


def test_tables_parse(bench, config):
    text = (config.output_dir / "results.md").read_text()
    tables = [block for block in text.split("\n\n") if block.startswith("| ")]
    paired, quality, convergence, diagnostics, curve, ablation = tables[:6]
    assert text.index("## Verdicts") < text.index("## Quality")
    header, rule, *body = quality.splitlines()
    assert header.startswith("| method | sst2 (accuracy) | rte (accuracy) | average | % of teacher |")
    assert [line.split(" | ")[0] for line in body] == ["| teacher (fine-tuned MiniLM-L6, one per task)", "| student, plain KD", "| student, SAGE"]
    cells = [line.strip("| ").split(" | ")[1:] for line in body[1:]]
    # Task cells also say how much of the teacher they keep; the average columns do not.
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d \(\d+%\)", cell) for row in cells for cell in row[:2])
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d", cell) for row in cells for cell in row[2:])
    assert "pytest tests/test_bench.py" in text
    assert [line.split(" | ")[:2] for line in paired.splitlines()[2:]] == [["| sst2", "student, SAGE"], ["| rte", "student, SAGE"]]
    assert all(line.endswith("| 2 | none yet (2 seeds; a verdict needs 5) |") for line in paired.splitlines()[2:])
    assert len(convergence.splitlines()) == 2 + 4
    assert diagnostics.splitlines()[0].startswith("| task | method | teacher margin, synthetic")
    assert ablation.splitlines()[2].startswith("| no projection | ")
    header, rule, *body = curve.splitlines()
    assert header.startswith("| training examples | student, plain KD | student, SAGE | student, SAGE − student, plain KD")
    assert [line.split(" | ")[0] for line in body] == ["| 30", "| 60"]
    assert all(line.endswith("(none yet (2 seeds; a verdict needs 5)) | 2 |") for line in body)
    assert (config.output_dir / "plots" / "sst2-dev-vs-size.png").stat().st_size > 5_000
    assert (config.output_dir / "plots" / "sst2-dev-vs-time.png").stat().st_size > 5_000


def test_report_only_tables_an_unfinished_bench_without_running(bench, config, tmp_path):
    rows, _, _ = bench
    unfinished = config.model_copy(update={"output_dir": tmp_path})
    kept = {key: row for key, row in rows.items() if row["task"] == "sst2"}
    # A row from settings the config no longer asks for stays out of the tables.
    kept["quality/rte/kd/0"] = {**rows["quality/rte/kd/0"], "fingerprint": "stale"}
    save_rows(tmp_path / "results.json", kept, unfinished)
    messages = []
    run_bench(unfinished, say=messages.append, report_only=True)
    assert messages == []
    quality = (tmp_path / "results.md").read_text().split("## Quality\n\n")[1].split("\n\n")[0]
    kd = next(line for line in quality.splitlines() if line.startswith("| student, plain KD"))
    assert re.fullmatch(r"\| student, plain KD \| \d+\.\d ± \d+\.\d \(\d+%\) \| – \| – \| – \|", kd)


def test_a_row_whose_settings_changed_runs_again(bench, config, teacher_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGE_CACHE_DIR", str(teacher_cache))
    rows, _, _ = bench
    moved = config.model_copy(update={"output_dir": tmp_path, "runs_dir": tmp_path / "runs"})
    # Not an sst2 row: those at 60 examples have twins in the curve, which they would be refreshed from.
    stale_key = "quality/rte/kd/0"
    save_rows(tmp_path / "results.json", {key: {**row, "fingerprint": "stale"} if key == stale_key else row for key, row in rows.items()}, moved)
    messages = []
    run_bench(moved, say=messages.append)
    number = next(n for n, run in enumerate(planned_runs(moved), start=1) if run_key(run) == stale_key)
    assert [message for message in messages if "running" in message] == [f"[{number}/18] {stale_key}: running again, its settings changed"]


def test_an_unfinished_seed_runs_again_whole_on_this_machines_teacher(bench, config, teacher_cache, tmp_path, monkeypatch):
    """A seed's rows are compared with each other, so they must share a teacher. A bench resumed on
    another machine, whose teacher was fine-tuned again, reruns the seeds it finds unfinished."""
    monkeypatch.setenv("SAGE_CACHE_DIR", str(teacher_cache))
    rows, _, _ = bench
    moved = config.model_copy(update={"output_dir": tmp_path, "runs_dir": tmp_path / "runs"})
    elsewhere = {key: {**row, "teacher": "fine-tuned on another machine"} if row["task"] == "rte" else row for key, row in rows.items()}
    del elsewhere["quality/rte/kd/1"]  # seed 1 of rte was left unfinished there; seed 0 was finished
    save_rows(tmp_path / "results.json", elsewhere, moved)
    messages = []
    run_bench(moved, say=messages.append)
    assert [message.split("] ")[1] for message in messages if "running" in message] == [
        "quality/rte/kd/1: running",
        "quality/rte/sage/1: running again, on this machine's teacher",
    ]
    document = json.loads((tmp_path / "results.json").read_text())
    teachers = {(row["seed"], row["method"]): row["teacher"] for row in document["rows"] if row["task"] == "rte"}
    assert teachers[0, "kd"] == teachers[0, "sage"] == "fine-tuned on another machine"
    assert teachers[1, "kd"] == teachers[1, "sage"] == rows["quality/rte/kd/1"]["teacher"]
    # The report says that rte's seeds came from two teachers, and what each scored.
    score = f"{rows['quality/rte/kd/1']['teacher_dev']['score'] * 100:.1f}"
    assert f"- rte: 2 teachers, fine-tuned on different machines, scored {score}, {score};" in (tmp_path / "results.md").read_text()


def test_paired_differences_give_a_t_interval_and_a_verdict_from_it_alone():
    mean, low, high = paired_difference([1.0, 2.0, 3.0, 2.0, 2.0])
    # mean 2, std sqrt(0.5), t(0.975, 4) = 2.776: half-width 2.776 * 0.7071 / sqrt(5) = 0.878
    assert mean == 2.0 and low == pytest.approx(1.122, abs=1e-3) and high == pytest.approx(2.878, abs=1e-3)
    assert verdict(low, high, 5) == "beats"
    assert verdict(-2.9, -1.1, 5) == "behind" and verdict(-0.5, 1.0, 6) == "no difference shown"
    assert verdict(low, high, 3).startswith("none yet")


def test_differences_alike_across_seeds_give_a_zero_width_interval_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's precision-loss warning would reach the bench's output
        assert paired_difference([1.1] * 5) == (pytest.approx(1.1), pytest.approx(1.1), pytest.approx(1.1))
        mean, low, high = paired_difference([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
