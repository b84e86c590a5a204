"""Tasks from a user's files, labels aligned with the teacher's, and unlabelled transfer text.

Every run here uses a tiny random BERT teacher (tests/families.py): what is checked is what the
library does with the data, not how well a student learns.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from families import save_tiny_teacher
from transformers import pipeline

import sage
from sage.cli import main
from sage.tasks.files import FileTask
from sage.tasks.task import DataError

SENTIMENT = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def sst2_frame(data_dir: Path) -> pd.DataFrame:
    """The first 140 SST-2 training rows: 100 to train on, 40 to score."""
    frame = pd.read_csv(data_dir / "SST-2" / "train.tsv", sep="\t", quoting=3, nrows=140)
    return pd.DataFrame({"review": frame.sentence.str.strip(), "stars": frame.label.map(SENTIMENT)})


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Named in the other order than the file's sorted labels: every run below maps them.
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"), label_names=("positive", "negative"))


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        datasets.Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(path))
    return path


def _spec(folder: Path, teacher: Path, task: dict, **sections) -> Path:
    """A spec file in ``folder`` (its data paths relative to it), for a fast run."""
    spec = {
        "task": {"max_length": 32, **task},
        "teacher": {"path": str(teacher), "precision": "float32"},
        "student": {"name": "truncated", "layers": [0, 2]},
        "schedule": {"max_epochs": 1, "synthetic_share": 0},
        "device": "cpu",
        "callbacks": [],
        "output_dir": "run",
        **sections,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", "_disk"])
def test_each_format_distils_and_the_exported_student_reproduces_the_dev_metric(
    tmp_path: Path, sst2_frame: pd.DataFrame, teacher: Path, suffix: str
) -> None:
    train = _write(sst2_frame.iloc[:100], tmp_path / f"train{suffix}")
    dev = _write(sst2_frame.iloc[100:], tmp_path / f"dev{suffix}")
    task = {"name": "files", "train": train.name, "dev": dev.name, "text": "review", "label": "stars"}

    assert main(["run", str(_spec(tmp_path, teacher, task))]) == 0

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    classify = pipeline("text-classification", model=str(tmp_path / "run" / "student"), device=-1)
    reviews = sst2_frame.review.iloc[100:].tolist()
    predicted = [result["label"] for result in classify(reviews, truncation=True)]
    accuracy = float(np.mean(np.asarray(predicted) == sst2_frame.stars.iloc[100:].to_numpy()))
    assert metrics["dev"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert set(metrics["dev"]) == {"accuracy", "macro_f1", "score"}
    assert metrics["evaluated_on"] == "dev" and metrics["dev_examples"] == 40


def test_string_labels_are_mapped_to_the_teachers_order(tmp_path: Path, sst2_frame: pd.DataFrame, teacher: Path) -> None:
    """The teacher says 0 = positive; the file's sorted names say 0 = negative. The teacher's dev
    score in metrics.json must be the one its own pipeline gets, so the ids were mapped."""
    _write(sst2_frame.iloc[:100], tmp_path / "train.csv")
    _write(sst2_frame.iloc[100:], tmp_path / "dev.csv")
    task = {"name": "files", "train": "train.csv", "dev": "dev.csv", "text": "review", "label": "stars"}
    result = sage.build(_spec(tmp_path, teacher, task), progress=False).fit()

    classify = pipeline("text-classification", model=str(teacher), device=-1, truncation=True, max_length=32)
    said = np.asarray([row["label"] for row in classify(sst2_frame.review.iloc[100:].tolist())])
    assert result.metrics["teacher_dev"]["accuracy"] == pytest.approx(np.mean(said == sst2_frame.stars.iloc[100:].to_numpy()))
    config = json.loads((tmp_path / "run" / "student" / "config.json").read_text())
    assert config["id2label"] == {"0": "positive", "1": "negative"}


def test_a_label_mismatch_and_an_unknown_column_are_refused_before_any_work(
    tmp_path: Path, sst2_frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    other = save_tiny_teacher("bert", tmp_path / "teacher", label_names=("spam", "ham"))
    _write(sst2_frame.iloc[:100], tmp_path / "train.csv")
    task = {"name": "files", "train": "train.csv", "text": "review", "label": "stars"}
    capsys.readouterr()

    assert main(["validate", str(_spec(tmp_path, other, task))]) == 2
    error = capsys.readouterr().err
    assert "['spam', 'ham']" in error and "['negative', 'positive']" in error and len(error.splitlines()) <= 6

    assert main(["run", str(_spec(tmp_path, other, task | {"text": "sentence"}))]) == 2
    error = capsys.readouterr().err
    assert "no column task.text: 'sentence'" in error and "['review', 'stars']" in error
    assert len(error.splitlines()) <= 6
    assert not (tmp_path / "run").exists()


def test_integer_labels_take_the_teachers_names_and_floats_make_regression(tmp_path: Path, sst2_frame: pd.DataFrame) -> None:
    ids = sst2_frame.assign(stars=(sst2_frame.stars == "positive").astype(int))
    _write(ids, tmp_path / "ids.csv")
    task = FileTask(str(tmp_path / "ids.csv"), text="review", label="stars")
    assert task.integer_labels and task.label_names == ("LABEL_0", "LABEL_1")
    teacher = save_tiny_teacher("bert", tmp_path / "teacher", label_names=("negative", "positive"))
    spec = sage.load_spec(_spec(tmp_path, teacher, {"name": "files", "train": "ids.csv", "text": "review", "label": "stars"}))
    from sage.run.setup import check_inputs

    inputs = check_inputs(spec)
    assert inputs.task.label_names == ("negative", "positive")
    assert inputs.evaluated_on.startswith("14 train rows held out as dev")  # no dev file: dev_fraction 0.1 of 140
    assert len(inputs.train_rows) == 126 and not set(inputs.train_rows["review"]) & set(inputs.dev_rows["review"])

    scores = sst2_frame.assign(stars=np.linspace(0, 5, len(sst2_frame)))
    _write(scores, tmp_path / "scores.jsonl")
    regression = FileTask(str(tmp_path / "scores.jsonl"), text="review", label="stars")
    assert regression.is_regression and regression.metrics == ("pearson", "spearman")
    assert regression.labels(regression.load("train"))[-1] == pytest.approx(5.0)


def test_bad_label_in_dev_names_the_row_and_the_valid_labels(tmp_path: Path, sst2_frame: pd.DataFrame) -> None:
    _write(sst2_frame.iloc[:100], tmp_path / "train.csv")
    bad = sst2_frame.iloc[100:110].copy()
    bad.iloc[3, 1] = "neutral"
    _write(bad, tmp_path / "dev.jsonl")
    task = FileTask(str(tmp_path / "train.csv"), str(tmp_path / "dev.jsonl"), text="review", label="stars")
    with pytest.raises(DataError, match=r"dev.jsonl:4: label 'neutral' is not one of the training labels; expected one of negative, positive"):
        task.load("dev")


def test_transfer_rows_are_disjoint_unlabelled_and_trained_on(tmp_path: Path, teacher: Path) -> None:
    """task.transfer: rows of SST-2's train split beyond max_train, their labels dropped, labelled by
    the teacher and trained on; task.unlabelled adds a text file's lines to them."""
    (tmp_path / "more.txt").write_text("a quietly moving film .\n\nutterly dull .\n")
    spec = {
        "task": {"name": "sst2", "max_train": 64, "max_length": 32, "transfer": 48, "unlabelled": str(tmp_path / "more.txt")},
        "teacher": {"path": str(teacher), "precision": "float32"},
        "student": {"name": "truncated", "layers": [0]},
        "schedule": {"max_epochs": 2, "synthetic_share": 0, "agreement_target": 1.0},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(tmp_path / "run"),
    }
    from sage.run.setup import check_inputs

    inputs = check_inputs(sage.load_spec(spec))
    assert len(inputs.transfer_rows) == 50 and set(inputs.transfer_rows["label"]) == {-1}
    assert not set(inputs.transfer_rows["sentence"]) & set(inputs.train_rows["sentence"])
    assert {"a quietly moving film .", "utterly dull ."} <= set(inputs.transfer_rows["sentence"])

    distiller = sage.build(spec, progress=False)
    result = distiller.fit()
    assert [row["n_transfer"] for row in result.history] == [50, 50]
    assert [row["n_train"] for row in result.history] == [114, 114]
    assert result.metrics["transfer_examples"] == 50 and result.metrics["transfer_examples_trained"] == 100

    # Half a training set of them per epoch: 32 rows, drawn afresh.
    halves = sage.build(spec | {"schedule": spec["schedule"] | {"transfer_share": 0.5}, "output_dir": str(tmp_path / "half")}, progress=False).fit()
    assert [row["n_transfer"] for row in halves.history] == [32, 32]
    assert halves.metrics["gradient_steps"] < result.metrics["gradient_steps"]


def test_transfer_rows_are_labelled_by_the_teacher(tmp_path: Path, teacher: Path) -> None:
    """The transfer rows' targets are the teacher's outputs on their texts, as its own pipeline gives them."""
    spec = {
        "task": {"name": "sst2", "max_train": 16, "max_length": 32, "transfer": 8},
        "teacher": {"path": str(teacher), "precision": "float32"},
        "student": {"name": "truncated", "layers": [0]},
        "schedule": {"max_epochs": 1, "synthetic_share": 0},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(tmp_path / "run"),
    }
    from sage.engine import Distiller
    from sage.run import setup

    seen = {}
    original = setup.TransferRows.__init__

    def keep(self, split, *args):  # type: ignore[no-untyped-def]
        seen["split"] = split
        original(self, split, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(setup.TransferRows, "__init__", keep)
        distiller: Distiller = sage.build(spec, progress=False)
        distiller.fit()
    inputs = setup.check_inputs(sage.load_spec(spec))
    classify = pipeline("text-classification", model=str(teacher), device=-1, top_k=None, truncation=True, max_length=32)
    for row, scores in enumerate(classify(list(inputs.transfer_rows["sentence"]), function_to_apply="none")):
        logits = {score["label"]: score["score"] for score in scores}
        expected = torch.tensor([logits["positive"], logits["negative"]])
        assert torch.allclose(seen["split"].teacher[row].cpu(), expected, atol=1e-4)
    assert set(seen["split"].labels.tolist()) == {-1}


def test_bad_transfer_and_unlabelled_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task.transfer takes rows of the train split beyond max_train"):
        sage.load_spec({"task": {"name": "sst2", "transfer": 10}})
    with pytest.raises(ValueError, match="loss 'labels' trains on gold labels, which transfer text does not have"):
        sage.load_spec({"task": {"name": "sst2", "max_train": 10, "transfer": 10}, "loss": {"name": "labels"}, "schedule": {"synthetic_share": 0}})
    from sage.run.setup import split_rows

    spec = sage.load_spec({"task": {"name": "rte", "max_train": 2000, "transfer": 1000}})
    with pytest.raises(ValueError, match=r"task.transfer \(1000\) asks for more train rows than lie beyond the 2000 training rows: the rte train split has 2490 rows"):
        split_rows(spec.task.create(), spec.task)
    (tmp_path / "pairs.txt").write_text("one line\n")
    spec = sage.load_spec({"task": {"name": "rte", "max_train": 10, "unlabelled": str(tmp_path / "pairs.txt")}})
    with pytest.raises(DataError, match=r"a .txt file gives one text per line, but task 'rte' reads pairs \(sentence1, sentence2\)"):
        split_rows(spec.task.create(), spec.task)


def test_a_hub_task_offline_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError) as error:
        sage.load_spec({"task": {"name": "hub", "dataset": "imdb", "dev_split": "test"}})
    message = str(error.value)
    assert "no network is available here" in message and "task: {name: files" in message


def test_a_teacher_sage_fine_tuned_on_another_task_serves_a_files_task_with_its_classes(
    tmp_path: Path, sst2_frame: pd.DataFrame
) -> None:
    """README's example distils the main job's SST-2 teacher on review files: the class names decide."""
    from sage.models.teacher import TeacherError, check_teacher

    teacher = save_tiny_teacher("bert", tmp_path / "teacher", label_names=("negative", "positive"))
    config = json.loads((teacher / "config.json").read_text())
    (teacher / "config.json").write_text(json.dumps(config | {"sage_task": "sst2"}))
    _write(sst2_frame, tmp_path / "reviews.csv")

    task, mapped = check_teacher(teacher, FileTask(str(tmp_path / "reviews.csv"), text="review", label="stars"))
    assert task.label_names == ("negative", "positive") and mapped is None
    with pytest.raises(TeacherError, match="was fine-tuned by sage for sst2, not for rte"):
        check_teacher(teacher, sage.tasks.get("rte"))
