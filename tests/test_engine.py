"""The engine end to end on a tiny real subset: real MiniLM teacher, real SST-2 sentences."""

from __future__ import annotations

import csv
import json
import os
import stat

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoConfig, AutoTokenizer, pipeline

import sage
import sage.run.provenance
import sage.run.finish
import sage.run.setup
import sage.synthesis.neighbours
from sage.models.finetune import teacher_cache_dir
from sage.run.setup import split_rows
from sage.spec import FinetuneSpec
from tiny import TINY, fast_spec, tiny_spec

pytestmark = pytest.mark.slow
TASK = sage.tasks.get("sst2")

# Measured on the project's 2-core CPU (torch 2.13.0 CPU build), 2026-12-05. The student learns: dev
# accuracy well above SST-2 dev's majority class (0.509), agreement with the teacher rising.
PINNED_TEACHER_DEV = 0.75
PINNED_KD = {"train_loss": [2.74149, 2.59394, 2.39473], "agreement": [0.52, 0.895, 0.94], "dev": 0.72133}
# The paper pipeline (UMAP fitted in a child process, kNN sampler, fast inverse): synthesis numerics.
PINNED_SAGE = {"train_loss": [2.74149, 2.61488, 2.37881], "agreement": [0.52, 0.95, 0.95], "dev": 0.73394}


@pytest.fixture(scope="module")
def sage_run(tmp_path_factory):
    return sage.build(tiny_spec(tmp_path_factory.mktemp("sage")), progress=False).fit()


@pytest.fixture(scope="module")
def kd_run(tmp_path_factory):
    spec = tiny_spec(tmp_path_factory.mktemp("kd"), schedule={"synthetic_share": 0})
    return sage.build(spec, progress=False).fit()


@pytest.mark.parametrize("name", ["kd", "sage"])
def test_a_fixed_seed_run_gives_the_pinned_numbers(name, kd_run, sage_run):
    """The settled engine's numerics, pinned: teacher fine-tuning, interface, AdamW schedule, real
    batch order and dropout, and for SAGE the projection, sampling, inverse and lift. A change that
    moves any of them moves these numbers, and every bench row would move with it. Re-pin only on
    purpose, bump sage.run.provenance.NUMERICS_VERSION, and say so in docs/results.md."""
    run, pinned = {"kd": (kd_run, PINNED_KD), "sage": (sage_run, PINNED_SAGE)}[name]
    # KD's numbers are exact on every CPU measured. The synthesis path's last bits differ between
    # CPU generations (measured 2026-12-05 on an AVX-512 EPYC: train loss 2.61632 and 2.38050
    # against these, dev one sentence of 872 apart), so SAGE's are pinned to 0.1% of the loss and
    # one dev sentence, about 1.5 times the gap measured between the two machines.
    loss_tolerance, dev_tolerance = (0, 0) if name == "kd" else (1e-3, 1 / 872)
    assert [round(row["train_loss"], 5) for row in run.history] == pytest.approx(pinned["train_loss"], rel=loss_tolerance, abs=0)
    assert [round(row["agreement"], 5) for row in run.history] == pinned["agreement"]
    assert round(run.metrics["dev"]["score"], 5) == pytest.approx(pinned["dev"], abs=dev_tolerance + 1e-5)
    assert round(run.metrics["teacher_dev"]["score"], 5) == PINNED_TEACHER_DEV
    assert run.metrics["dev"]["score"] > 0.65  # it learns: not the majority class


def test_sage_run_trains_on_synthetic_data_every_epoch_after_warmup(sage_run):
    history = sage_run.history
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    assert history[0]["phase"] == "warmup" and "n_synthetic" not in history[0]
    for row in history[1:]:
        assert row["phase"] == "synthetic"
        assert row["n_hard"] == 20  # hard_fraction 0.1 of 200
        assert row["n_synthetic"] + row["n_rejected"] == 40  # share 0.2: 2 per hard example; clipped points are kept
        assert row["n_train"] == 200 + row["n_synthetic"]
        assert row["n_clipped"] == 0  # the fast inverse with outside: clip moves no point
        assert {
            "inverse_cosine", "inverse_fvu", "synthetic_shift", "teacher_flip", "teacher_margin_synthetic",
            "divergence_synthetic", "divergence_parent", "hard_clustering", "strategy_s", "teacher_label_s",
        } <= set(row)
    # Fitted in a child process while the warm-up epoch trained.
    assert history[1]["projection"] == "fitted in background" and "projector_background_s" in history[1]
    # Fitted once per run: the vectors never change, only the hard set does.
    assert all("projector_fit_s" not in row and row["projection"] == "reused" for row in history[2:])


def test_sage_run_writes_everything_a_user_looks_at(sage_run):
    out = sage_run.output_dir
    resolved = yaml.safe_load((out / "spec.yaml").read_text())
    # null: UMAP follows the run's seed, also when the saved spec is run again with another one.
    assert resolved["projector"]["random_state"] is None and resolved["sampler"] == {"name": "knn", "k": 10}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == sage_run.metrics
    assert set(metrics["dev"]) == {"accuracy", "score"} and 0 <= metrics["dev"]["accuracy"] <= 1
    # The tiny teacher learnt something real: well above SST-2 dev's majority class (444 of 872, 0.509).
    assert metrics["teacher_dev"]["accuracy"] > 0.65
    assert metrics["agreement"] == sage_run.history[-1]["agreement"]
    assert 0.5 < metrics["dev_agreement"] <= 1
    assert metrics["student_parameters"] < metrics["teacher_parameters"]
    assert metrics["synthetic_epochs"] == 2 and metrics["synthetic_examples_trained"] == sum(r["n_synthetic"] for r in sage_run.history[1:])
    assert metrics["gradient_steps"] == sum(row["steps"] for row in sage_run.history)
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(sage_run.history) and "dev_accuracy" in rows[0]
    assert (out / "map.png").stat().st_size > 10_000
    # Files and folders anyone may read, as the user's umask allows: not the staging folder's 0700.
    mask = os.umask(0)
    os.umask(mask)
    for path in (out / "student", out / "student" / "model.safetensors", out / "metrics.json"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o777 if path.is_dir() else 0o666) & ~mask, path


def pipeline_scores(student_dir, rows) -> dict[str, float]:
    """The exported student's scores on SST-2 ``rows`` through ``transformers.pipeline``, as a user would call it."""
    classify = pipeline("text-classification", model=str(student_dir), device="cpu")
    outputs = classify(TASK.texts(rows)[0], truncation=True, batch_size=64)
    predictions = np.array([classify.model.config.label2id[output["label"]] for output in outputs])
    return TASK.evaluate(predictions, TASK.labels(rows))


def test_the_exported_student_in_a_transformers_pipeline_scores_as_the_run_did(sage_run):
    dev = TASK.load("dev")
    assert pipeline_scores(sage_run.output_dir / "student", dev)["accuracy"] == pytest.approx(
        sage_run.metrics["dev"]["accuracy"], abs=1 / len(dev)
    )
    config = AutoConfig.from_pretrained(sage_run.output_dir / "student")
    assert config.num_hidden_layers == 3
    assert config.id2label == {0: "negative", 1: "positive"} and config.label2id == {"negative": 0, "positive": 1}


def test_a_student_with_its_interface_at_block_2_exports_those_blocks_and_scores_as_the_run_did(deep_interface_run):
    student = deep_interface_run.output_dir / "student"
    assert AutoConfig.from_pretrained(student).num_hidden_layers == 2 + 2  # the teacher's 2 blocks, then the student's 2
    held_out = split_rows(TASK, sage.load_spec(deep_interface_run.output_dir / "spec.yaml").task).evaluation
    assert deep_interface_run.metrics["evaluated_on"] == "50 held-out train rows"
    assert pipeline_scores(student, held_out)["accuracy"] == pytest.approx(
        deep_interface_run.metrics["dev"]["accuracy"], abs=1 / len(held_out)
    )
    assert AutoTokenizer.from_pretrained(student).model_max_length == TINY["task"]["max_length"]


def test_the_model_card_is_filled_from_the_run(sage_run):
    card = (sage_run.output_dir / "student" / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["pipeline_tag"] == "text-classification" and metadata["library_name"] == "transformers"
    (result,) = metadata["model-index"][0]["results"]
    assert result["metrics"] == [{"type": "accuracy", "value": round(sage_run.metrics["dev"]["accuracy"], 4)}]
    teacher = sage_run.metrics["teacher_dev"]["accuracy"]
    assert f"| accuracy | {sage_run.metrics['dev']['accuracy']:.4f} | {teacher:.4f} |" in card
    teacher = sage_run.metrics["teacher_path"]
    assert f"`{os.path.basename(teacher)}` (content fingerprint `{sage_run.metrics['provenance']['teacher'][:16]}`" in card
    assert teacher not in card and "200 sst2 training examples" in card and metadata["license"] == "apache-2.0"
    assert result["dataset"] == {"name": "sst2", "type": "nyu-mll/glue", "config": "sst2", "split": "validation"}
    assert yaml.safe_load(card.split("```yaml\n")[1].split("```")[0]) == yaml.safe_load((sage_run.output_dir / "spec.yaml").read_text())


def test_plain_kd_is_the_same_loop_without_synthetic_data(kd_run, sage_run):
    assert all(row["n_train"] == 200 and "n_synthetic" not in row for row in kd_run.history)
    assert [row["phase"] for row in kd_run.history] == ["warmup", "real", "real"]
    assert not (kd_run.output_dir / "map.png").exists()
    # Like for like: the same teacher, fine-tuned once and reused from the cache.
    assert kd_run.metrics["teacher_path"] == sage_run.metrics["teacher_path"]
    assert kd_run.metrics["teacher_dev"] == sage_run.metrics["teacher_dev"]


def test_runs_are_reproducible(tmp_path):
    first, again = (
        sage.build(fast_spec(tmp_path / name, schedule={"synthetic_share": 0}), progress=False).fit() for name in ("first", "again")
    )
    assert [row["train_loss"] for row in again.history] == [row["train_loss"] for row in first.history]
    assert again.metrics["dev"] == first.metrics["dev"]


def test_labels_only_baseline_and_agreement_stop(tmp_path):
    spec = fast_spec(tmp_path, loss={"name": "labels"}, schedule={"synthetic_share": 0, "agreement_target": 0.01})
    result = sage.build(spec, progress=False).fit()
    assert result.metrics["stopped_by"] == "agreement" and result.metrics["epochs"] == 1


class CountingProjector:
    """First two coordinates; the inverse writes them into the mean vector. No base class is needed."""

    calls: dict[str, int] = {"fit": 0, "inverse": 0}

    def fit(self, X):
        CountingProjector.calls["fit"] += 1
        self.mean_ = X.mean(0)
        return self

    def transform(self, X):
        return np.asarray(X[:, :2], dtype=np.float32)

    def inverse_transform(self, Z):
        CountingProjector.calls["inverse"] += 1
        X = np.tile(self.mean_, (len(Z), 1))
        X[:, :2] = Z
        return X


def test_a_custom_projector_named_in_a_spec_is_called_by_the_engine(tmp_path):
    sage.projectors.register("test_first_two")(CountingProjector)
    spec = fast_spec(
        tmp_path,
        projector={"name": "test_first_two"},
        # Counted in this process, without the diagnostics' own inverse calls.
        synthesis={"refit_each_epoch": True, "fit_in_background": False, "diagnostic_points": 0},
    )
    result = sage.build(spec, progress=False).fit()
    assert CountingProjector.calls == {"fit": 2, "inverse": 2}
    assert [row.get("projection") for row in result.history] == [None, "fitted", "fitted"]
    assert result.history[1]["n_synthetic"] == 40


class TeacherRowsSeen(Exception):
    """Stops a run once it has chosen the teacher's training rows."""


@pytest.mark.parametrize("full_train", [False, True])
def test_full_train_fine_tunes_the_teacher_on_the_whole_split(tmp_path, monkeypatch, full_train):
    def record_rows(task, train, settings, max_length, device):
        raise TeacherRowsSeen(len(train))

    monkeypatch.setattr(sage.run.setup, "finetune_teacher", record_rows)
    spec = tiny_spec(tmp_path, teacher={"finetune": {**TINY["teacher"]["finetune"], "full_train": full_train}})
    with pytest.raises(TeacherRowsSeen) as seen:
        sage.build(spec, progress=False).fit()
    whole_split = len(sage.tasks.get("sst2").load("train", spec["task"].get("data_dir")))
    assert seen.value.args[0] == (whole_split if full_train else TINY["task"]["max_train"])


def test_a_teachers_cache_folder_depends_on_its_rows_not_on_how_they_were_chosen():
    task = sage.tasks.get("sst2")
    rows = task.load("train").select(range(50))
    folders = [teacher_cache_dir(task, rows, FinetuneSpec(full_train=flag), 32) for flag in (False, True)]
    assert folders[0] == folders[1]
    assert teacher_cache_dir(task, rows.select(range(40)), FinetuneSpec(), 32) != folders[0]


def test_a_teachers_cache_folder_changes_with_the_backbones_contents_and_the_library_versions(tmp_path, monkeypatch):
    task = sage.tasks.get("sst2")
    rows = task.load("train").select(range(50))
    backbone = tmp_path / "backbone"
    backbone.mkdir()
    (backbone / "config.json").write_text("{}")
    settings = FinetuneSpec(backbone=str(backbone))
    before = teacher_cache_dir(task, rows, settings, 32)
    (backbone / "config.json").write_text('{"hidden_size": 8}')  # same path, other weights
    replaced = teacher_cache_dir(task, rows, settings, 32)
    assert replaced != before
    monkeypatch.setattr(sage.run.provenance, "package_versions", lambda: {"torch": "another"})
    assert teacher_cache_dir(task, rows, settings, 32) != replaced


def test_kd_and_sage_of_one_seed_share_the_warmup_and_the_real_batch_order(tmp_path, monkeypatch):
    planned: dict[str, list] = {}
    real_plan = sage.training.epoch_plan

    def record(sources, batch_size):
        plan = real_plan(sources, batch_size)
        planned[current].append([batch.tolist() for number, batch in plan if number == 0])
        return plan

    monkeypatch.setattr(sage.training, "epoch_plan", record)
    runs = {}
    for current in ("kd", "sage"):
        planned[current] = []
        share = 0 if current == "kd" else 0.5  # SAGE epochs hold 100 synthetic examples more
        runs[current] = sage.build(fast_spec(tmp_path / current, schedule={"synthetic_share": share}), progress=False).fit()
    kd, sage_run = runs["kd"].history, runs["sage"].history
    assert sage_run[1]["n_synthetic"] == 100
    # The same student initialisation and warm-up: identical losses, agreement and dev scores.
    for key in ("train_loss", "agreement", "dev_score"):
        assert kd[0][key] == sage_run[0][key], key
    # After it, the same real batches in the same order, whatever the synthetic batches did.
    assert planned["kd"] == planned["sage"] and len(planned["kd"]) == 3


def test_no_agreement_stop_before_the_first_synthetic_epoch(tmp_path):
    spec = fast_spec(tmp_path, schedule={"agreement_target": 0.01})
    result = sage.build(spec, progress=False).fit()
    assert result.metrics["stopped_by"] == "agreement" and result.metrics["epochs"] == 2
    assert result.metrics["synthetic_epochs"] == 1 and result.metrics["synthetic_examples_trained"] > 0


def test_warmup_zero_ranks_the_untrained_student_and_maps_what_it_ranked_in_the_teacher_space(tmp_path, monkeypatch):
    drawn = {}

    def capture(embedding, scores, hard, synthetic, path, title, colour_label):
        drawn.update(scores=scores, hard=hard, title=title, colour=colour_label)
        path.write_bytes(b"")  # the engine puts the drawn file in place

    monkeypatch.setattr(sage.run.finish, "plot_map", capture)
    contexts, searched = [], []
    real_context, real_nearest = sage.run.setup._synthesis_context, sage.synthesis.neighbours.nearest
    monkeypatch.setattr(sage.run.setup, "_synthesis_context", lambda *a: contexts.append(real_context(*a)) or contexts[-1])
    monkeypatch.setattr(sage.synthesis.neighbours, "nearest", lambda space, *a: searched.append(space) or real_nearest(space, *a))
    spec = fast_spec(
        tmp_path,
        synthesis={"name": "mixup", "partner": "nearest", "space": "teacher"},
        schedule={"warmup_epochs": 0, "max_epochs": 2},
    )
    result = sage.build(spec, progress=False).fit()
    assert [row["phase"] for row in result.history] == ["synthetic", "synthetic"]
    # The map rings the hard set chosen by the very scores it is coloured by.
    np.testing.assert_array_equal(drawn["hard"], np.argsort(-drawn["scores"], kind="stable")[:20])
    assert "divergence" in drawn["colour"] and "teacher space" in drawn["title"]
    # Neighbours were searched among the teacher's pooled final hidden states, not the interface's.
    (context,) = contexts
    assert context.space_name == "teacher" and context.space.shape == (200, 32)  # the random teacher is 32 wide
    assert not np.allclose(context.space, context.pooled, atol=1e-2)
    assert len(searched) == 2 and all(space is context.space for space in searched)


def test_an_interrupted_run_leaves_no_background_fit_behind(tmp_path, monkeypatch):
    import sage.synthesis.background as background

    started = []
    original = background.BackgroundFit.__init__

    def remember(self, *args):
        original(self, *args)
        started.append(self)

    monkeypatch.setattr(background.BackgroundFit, "__init__", remember)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sage.engine, "train_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        sage.build(tiny_spec(tmp_path), progress=False).fit()
    assert len(started) == 1
    fit = started[0]
    assert fit._process.poll() is not None and not fit._folder.exists()


def test_a_holdout_comes_from_train_and_never_overlaps_the_students_rows():
    task = sage.tasks.get("sst2")
    spec = sage.load_spec({"task": {"max_train": 500, "holdout": 300}}).task
    train, held_out, _, _ = split_rows(task, spec)
    assert len(train) == 500 and len(held_out) == 300
    assert not set(train["sentence"]) & set(held_out["sentence"]) - {""}
    # Without a holdout the same subset is drawn, and dev is the evaluation split.
    same, dev, _, _ = split_rows(task, sage.load_spec({"task": {"max_train": 500}}).task)
    assert same["sentence"] == train["sentence"] and len(dev) == 872


@pytest.mark.parametrize(
    "case, sections",
    [
        pytest.param(
            "a compiled student",
            {"schedule": {"compile": True, "synthetic_share": 0, "max_epochs": 1}},
            # Inductor's compilation alone takes about 2 minutes on the 2-core CI machine.
            marks=pytest.mark.skipif(os.environ.get("SAGE_TEST_COMPILE") != "1", reason="set SAGE_TEST_COMPILE=1 (2 min on 2 cores)"),
        ),
        ("hard examples ranked by the paper's loss", {"synthesis": {"name": "mixup"}, "schedule": {"rank_by": "loss", "max_epochs": 2}}),
        ("a fresh student", {"student": {"name": "fresh", "num_layers": 2, "intermediate_size": 256}, "schedule": {"synthetic_share": 0, "max_epochs": 2}}),
    ],
)
def test_a_run_end_to_end_exports_a_student_that_scores_as_the_run_did(case, sections, tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(sage.run.finish, "plot_map", lambda *a: drawn.update(colour=a[6]) or a[4].write_bytes(b""))
    result = sage.build(tiny_spec(tmp_path, task={"holdout": 50}, **sections), progress=False).fit()
    held_out = split_rows(TASK, sage.load_spec(result.output_dir / "spec.yaml").task).evaluation
    assert pipeline_scores(result.output_dir / "student", held_out)["accuracy"] == pytest.approx(
        result.metrics["dev"]["accuracy"], abs=1 / len(held_out)
    )
    config = AutoConfig.from_pretrained(result.output_dir / "student")
    if case == "a fresh student":
        assert (config.num_hidden_layers, config.intermediate_size) == (2, 256)
    if case == "hard examples ranked by the paper's loss":
        assert result.history[1]["n_hard"] == 20 and drawn["colour"] == "loss (ranks the hard set)"
