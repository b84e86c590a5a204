"""The bench runner at a tiny size: 2 tasks, 2 methods, 2 seeds and an ablation variant; resumable; tables parse."""

from __future__ import annotations

import json
import math
import re
import warnings
from types import SimpleNamespace

import pytest
import torch

from pydantic import ValidationError

from sage.bench.config import BenchConfig, merge, planned_runs
from sage.bench.report import cost_ratios, holm, p_cell, paired_difference, paired_p_value, verdict, write_report
from sage.bench.runner import pair_group, run_bench, run_key, save_rows, teacher_weights
from sage.models.precision import resolve_precision
from sage.spec.file import load_spec
from tiny import random_teacher

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
            # The runner's bookkeeping, not learning: teachers fine-tuned from the tiny random one
            # (tests/families.py) in a fraction of MiniLM's time.
            "base": {
                "teacher": {"finetune": {"epochs": 1, "batch_size": 16, "backbone": str(random_teacher())}},
                "student": {"name": "truncated", "layers": [0, 2]},
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
    assert verdict(low, high, 3) == "none yet (3 seeds; a verdict needs 5)"
    assert verdict(low, high, 1) == "none yet (1 seed; a verdict needs 5)"


def test_differences_alike_across_seeds_give_a_zero_width_interval_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's precision-loss warning would reach the bench's output
        assert paired_difference([1.1] * 5) == (pytest.approx(1.1), pytest.approx(1.1), pytest.approx(1.1))
        mean, low, high = paired_difference([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)


# -- the scale table: its config, planned runs and report, from rows made up here -------------------------


def scale_config(output_dir) -> BenchConfig:
    """A bench with a scale table on both its tasks: two KD baselines, a synthesising method and a
    ceiling whose transfer rows differ on rte. Nothing here runs; the rows are made up."""
    return BenchConfig.model_validate(
        {
            "title": "tiny scale",
            "output_dir": str(output_dir),
            "seeds": [0, 1, 2, 3, 4],
            "base": {"schedule": {"max_epochs": 2, "batch_size": 16}, "device": "cpu"},
            "tasks": {"sst2": {"task": {"max_train": 60}}, "rte": {"task": {"max_train": 60}}},
            "methods": ["kd", "sage"],
            "scale": {
                "title": "Synthesis at scale",
                "tasks": {"sst2": {}, "rte": {"overrides": {"task": {"max_length": 32}}, "methods": {"ceiling": {"task": {"transfer": 500}}}}},
                "methods": {
                    "kd": {"schedule": {"synthetic_share": 0}},
                    "kd, long": {"schedule": {"synthetic_share": 0, "max_epochs": 4}},
                    "pool": {"synthesis": {"name": "adversarial"}},
                    "ceiling": {"schedule": {"synthetic_share": 0}, "task": {"transfer": 1000}},
                },
                "baselines": ["kd", "kd, long"],
                "primary": {"method": "pool", "baseline": "kd, long"},
                "cost_baseline": "kd",
                "ceiling": "ceiling",
            },
        }
    )


def fake_row(table: str, task: str, method: str, seed: int, score: float, seconds: float = 110.0, setup: float | None = 10.0) -> dict:
    """A row with what the report reads of one; ``setup`` None for a row from before rows kept it."""
    return {
        "table": table, "task": task, "method": method, "seed": seed, "dev": {"score": score}, "teacher_dev": {"score": 0.9},
        "teacher": "one", "machine": "test machine", "train_examples": 60, "epochs_to_agreement": None, "train_seconds": seconds,
        "total_seconds": seconds, **({"setup_seconds": setup} if setup is not None else {}), "curve": [], "diagnostics": {},
    }


def scale_rows(task: str, seeds, methods=("kd", "kd, long", "pool", "ceiling")) -> list[dict]:
    """Per seed: KD, KD at more epochs 0.2 points above it, the pool 1 point above it (and about 4
    times its run time), and the ceiling 2 points above it, each with its own wobble by seed."""
    above = {"kd": 0.0, "kd, long": 0.2, "pool": 1.0, "ceiling": 2.0}
    wobble = {"kd": [0, 0, 0, 0, 0], "kd, long": [0.3, -0.4, 0.1, 0.2, -0.5], "pool": [0.2, -0.1, 0.4, -0.3, 0.1], "ceiling": [0.4, 0.1, -0.2, 0.3, 0.6]}
    cost = {"kd": 90.0, "kd, long": 170.0, "pool": 390.0, "ceiling": 250.0}
    return [
        fake_row("scale", task, method, seed, 0.8 + (above[method] + wobble[method][seed]) / 100, cost[method] + 10 * seed + 10)
        for seed in seeds
        for method in methods
    ]


def section(text: str, heading: str) -> str:
    return text.split(heading)[1].split("\n## ")[0]


def test_holm_adjusts_p_values_in_their_order_and_keeps_it():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # 2 x 0.5 capped at 1, and the larger p never adjusts below it
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_paired_p_value_is_the_two_sided_t_test_and_one_for_identical_runs():
    # mean 2, standard error 0.7071 / sqrt(5): t = 6.32 on 4 degrees of freedom
    assert paired_p_value([1.0, 2.0, 3.0, 2.0, 2.0]) == pytest.approx(0.003198, abs=1e-6)
    assert paired_p_value([0.0, 0.0, 0.0]) == 1.0  # two methods that scored alike on every seed
    assert math.isnan(paired_p_value([0.4]))


def test_scale_config_refuses_names_it_does_not_define(tmp_path):
    data = scale_config(tmp_path).model_dump(mode="json")
    for change, message in [
        ({"primary": {"method": "pool", "baseline": "sage"}}, "scale.primary.baseline"),
        ({"primary": {"method": "kd", "baseline": "kd, long"}}, "is a baseline"),
        ({"ceiling": "kd"}, "scale.ceiling"),
        ({"cost_baseline": "plain"}, "scale.cost_baseline ['plain'] are not among scale.methods"),
        ({"tasks": {"cola": {}}}, "scale.tasks ['cola'] are not among the bench's tasks"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(message)):
            BenchConfig.model_validate({**data, "scale": {**data["scale"], **change}})


def test_plan_adds_the_scale_table_task_by_task_and_seed_by_seed_leaving_the_others_alone(tmp_path):
    config = scale_config(tmp_path)
    plan = planned_runs(config)
    scale = [run for run in plan if run["table"] == "scale"]
    assert len(scale) == 2 * 4 * 5 and len({run_key(run) for run in plan}) == len(plan)
    # The other tables' runs, and so their rows' keys and fingerprints, are those of the bench without it.
    assert [run for run in plan if run["table"] != "scale"] == planned_runs(config.model_copy(update={"scale": None}))
    order = [(list(config.tasks).index(run["task"]), run["seed"]) for run in plan]
    assert order == sorted(order)  # a stopped bench holds complete pairs
    spec = {(run["task"], run["method"], run["seed"]): run["spec"] for run in scale}
    assert spec["sst2", "ceiling", 0]["task"] == {"name": "sst2", "max_train": 60, "transfer": 1000}
    assert spec["rte", "ceiling", 3]["task"] == {"name": "rte", "max_train": 60, "max_length": 32, "transfer": 500}
    assert spec["rte", "kd, long", 0]["schedule"] == {"max_epochs": 4, "batch_size": 16, "synthetic_share": 0}
    assert spec["rte", "pool", 2]["synthesis"] == {"name": "adversarial"} and spec["rte", "pool", 2]["seed"] == 2
    # The scale table is compared within itself: its rows make no group of the other tables unfinished.
    assert pair_group(scale[0]) != pair_group(next(run for run in plan if run["table"] == "quality" and run["task"] == scale[0]["task"]))


def test_cost_ratio_is_run_time_less_shared_setup_over_the_baselines_seed_by_seed():
    rows = [
        fake_row("scale", "sst2", "kd", 0, 0.8, seconds=110.0, setup=10.0),
        fake_row("scale", "sst2", "pool", 0, 0.8, seconds=430.0, setup=30.0),  # a teacher fine-tuned here counts for nothing
        fake_row("scale", "sst2", "kd", 1, 0.8, seconds=210.0, setup=10.0),
        fake_row("scale", "sst2", "pool", 1, 0.8, seconds=510.0, setup=10.0),
        fake_row("scale", "sst2", "kd", 2, 0.8),
        fake_row("scale", "sst2", "pool", 2, 0.8, setup=None),  # not timed the same way: no ratio
        fake_row("scale", "sst2", "pool", 3, 0.8),  # no KD row to divide by yet
    ]
    assert cost_ratios(rows, "scale", "sst2", "pool", "kd") == {0: pytest.approx(4.0), 1: pytest.approx(2.5)}


def test_scale_table_comes_first_with_its_primary_comparison_holm_cost_and_ceiling(tmp_path):
    config = scale_config(tmp_path)
    quality = [fake_row("quality", task, method, seed, 0.8) for task in config.tasks for method in config.methods for seed in config.seeds]
    rows = scale_rows("sst2", config.seeds) + scale_rows("rte", config.seeds)
    write_report(config, quality + rows)
    text = (tmp_path / "results.md").read_text()
    assert text.index("- Seeds:") < text.index("## Synthesis at scale") < text.index("## Verdicts")
    scale = section(text, "## Synthesis at scale")
    assert "The primary comparison, named before the runs: **pool** against **kd, long**, on each task" in scale
    verdicts, cost, ceiling = [block for block in scale.split("\n\n") if block.startswith("| ")]
    body = [line.strip("| ").split(" | ") for line in verdicts.splitlines()[2:]]
    # Per task: "kd, long", the pool and the ceiling against KD; the pool and the ceiling against "kd, long".
    assert [row[:3] for row in body[:5]] == [
        ["sst2", "kd, long", "student, plain KD"], ["sst2", "pool", "student, plain KD"], ["sst2", "**pool** (primary)", "kd, long"],
        ["sst2", "ceiling", "student, plain KD"], ["sst2", "ceiling", "kd, long"],
    ]
    assert len(body) == 10 and "over the 10 comparisons below with two or more paired seeds (10 once every task has run)" in scale
    assert body[1][3:5] == ["+1.1 [+0.7, +1.4]", "5"] and body[1][7] == "beats" and body[0][7] == "no difference shown"
    # Holm over all 10 comparisons of both tasks, from the exact p-values.
    score = {(row["task"], row["method"], row["seed"]): row["dev"]["score"] for row in rows}
    exact = [
        paired_p_value([(score[task, method, seed] - score[task, baseline, seed]) * 100 for seed in config.seeds])
        for task in ("sst2", "rte")
        for method, baseline in config.scale.comparisons()
    ]
    assert [row[5] for row in body] == [p_cell(p) for p in exact]
    assert [row[6] for row in body] == [p_cell(p) for p in holm(exact)] and body[2][5:7] == ["0.009", "0.034"]
    cost_body = [line.strip("| ").split(" | ") for line in cost.splitlines()[2:]]
    assert cost_body[0] == ["sst2", "student, plain KD: run time in s", "90", "100", "110", "120", "130", "110 [90–130]"]
    assert cost_body[2] == ["sst2", "pool", "4.33", "4.00", "3.73", "3.50", "3.31", "3.73 [3.31–4.33]"]  # (390 + 10 s) / (90 + 10 s)
    header, _, *lines = ceiling.splitlines()
    assert header == "| task | student, plain KD | pool | ceiling | ceiling − student, plain KD | pool − student, plain KD | recovered: mean [seed range] | seeds |"
    # Gains over KD of 2.4, 2.1, 1.8, 2.3, 2.6 (ceiling) and 1.2, 0.9, 1.4, 0.7, 1.1 (pool): 1.06 / 2.24 = 47%, 30% to 78% by seed.
    assert lines[0] == "| sst2 | 80.0 ± 0.0 | 81.1 ± 0.3 | 82.2 ± 0.3 | +2.2 [+1.9, +2.6] | +1.1 [+0.7, +1.4] | 47% [30%, 78%] | 5 |"
    assert lines[1].startswith("| rte |")


def test_scale_table_with_partial_rows_says_what_has_not_run(tmp_path):
    config = scale_config(tmp_path)
    write_report(config, [])
    text = (tmp_path / "results.md").read_text()
    assert "Not run yet: no rows for any of its tasks (sst2, rte)." in section(text, "## Synthesis at scale")
    # sst2 stopped after seed 1 of KD and the pool, before the other methods; rte has not started.
    write_report(config, scale_rows("sst2", [0, 1], methods=("kd", "pool")))
    scale = section((tmp_path / "results.md").read_text(), "## Synthesis at scale")
    assert "Not run yet: rte." in scale and "| rte |" not in scale
    verdicts, cost, ceiling = [block for block in scale.split("\n\n") if block.startswith("| ")]
    assert "| sst2 | pool | student, plain KD | +1.1 [-0.9, +3.0] | 2 | 0.090 | 0.090 | none yet (2 seeds; a verdict needs 5) |" in verdicts
    assert "| sst2 | **pool** (primary) | kd, long | not run yet | 0 | – | – | not run yet |" in verdicts
    assert "over the 1 comparisons below" in scale
    assert "| sst2 | pool | 4.33 | 4.00 | – | – | – | 4.17 [4.00–4.33] |" in cost
    assert ceiling.splitlines()[2] == "| sst2 | 80.0 ± 0.0 | 81.1 ± 0.2 | – | not run yet | not run yet | not run yet | 0 |"


def test_adding_the_scale_table_runs_its_rows_alone_and_times_each(tmp_path, monkeypatch):
    """A finished bench given a scale table runs the scale rows and nothing else: not the finished
    rows whose teacher is not cached here (rte), nor, as twins, the rows from before rows kept their
    setup time (sst2's plain KD, whose spec the scale table's repeats). Runs are faked: this is the
    runner's bookkeeping."""
    config = scale_config(tmp_path / "docs").model_copy(update={"seeds": [0, 1], "runs_dir": tmp_path / "runs"})
    here = tmp_path / "teacher"
    here.mkdir()
    (here / "model.safetensors").write_bytes(b"weights")
    finished = {}
    for run in planned_runs(config.model_copy(update={"scale": None})):
        teacher = {"teacher": teacher_weights(here), "teacher_path": str(here)} if run["task"] == "sst2" else {"teacher": "another machine"}
        row = fake_row(run["table"], run["task"], run["method"], run["seed"], 0.8, setup=None)
        finished[run_key(run)] = {**row, **teacher, "fingerprint": load_spec(run["spec"]).fingerprint()}
    save_rows(config.output_dir / "results.json", finished, config)

    def fake_summary(result, spec, commit):  # what summarise gives: no table, task, method or seed
        measured = {key: value for key, value in fake_row("", "", "", 0, 0.81).items() if key not in ("table", "task", "method", "seed")}
        return {**measured, "teacher": teacher_weights(here), "teacher_path": str(here), "fingerprint": spec.fingerprint()}

    monkeypatch.setattr("sage.bench.runner.build", lambda spec, progress: SimpleNamespace(fit=lambda **options: None))
    monkeypatch.setattr("sage.bench.runner.summarise", fake_summary)
    messages = []
    run_bench(config, say=messages.append)
    scale_keys = [run_key(run) for run in planned_runs(config) if run["table"] == "scale"]
    started = [message.split("] ")[1] for message in messages if "dev score" not in message]
    assert started == [f"{key}: running" for key in scale_keys]  # nothing shared, nothing run again
    rows = {run_key(row): row for row in json.loads((config.output_dir / "results.json").read_text())["rows"]}
    assert {key: rows[key] for key in finished} == finished
    assert all(rows[key]["setup_seconds"] == 10.0 for key in scale_keys)
