"""``sage distil``: one line from a teacher and data files to a run, whose spec.yaml ``sage run`` takes
to the same numbers. Tiny random teacher, 64 SST-2 rows in a CSV of the user's own columns."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from families import save_tiny_teacher
from sage import cli
from sage.spec.file import load_spec

LABELS = ("negative", "positive")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"), label_names=LABELS)


def write_reviews(source: Path, target: Path, count: int) -> Path:
    """``count`` SST-2 rows as a CSV with the user's own column names and label names."""
    with open(source, encoding="utf-8", newline="") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))]
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        writer.writerows([row["sentence"].strip(), LABELS[int(row["label"])]] for row in rows)
    return target


def printed_metrics(stdout: str) -> dict:
    """The metrics a run prints last (progress lines of the synthesis may come before them)."""
    return json.loads(stdout[stdout.index("{\n"):])


def test_distil_leaves_out_what_is_not_given_and_makes_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.parser().parse_args(["distil", "--teacher", "model", "--train", "data/train.csv"])
    assert cli.distil_spec(args) == {
        "task": {"name": "files", "train": str(tmp_path / "data" / "train.csv")},
        "teacher": {"path": str(tmp_path / "model")},
    }
    args = cli.parser().parse_args(
        ["distil", "--teacher", "model", "--train", "a.csv", "--dev", "b.csv", "--text", "q", "--text-pair", "p",
         "--label", "y", "--unlabelled", "u.csv", "--out", "run"]
    )
    assert cli.distil_spec(args) == {
        "task": {
            "name": "files", "train": str(tmp_path / "a.csv"), "dev": str(tmp_path / "b.csv"), "text": "q",
            "text_pair": "p", "label": "y", "unlabelled": str(tmp_path / "u.csv"),
        },
        "teacher": {"path": str(tmp_path / "model")},
        "output_dir": str(tmp_path / "run"),
    }


def test_distil_runs_and_its_spec_runs_again_to_the_same_numbers(tmp_path, teacher, data_dir, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    write_reviews(data_dir / "SST-2" / "train.tsv", data / "train.csv", 64)
    write_reviews(data_dir / "SST-2" / "dev.tsv", data / "dev.csv", 40)
    monkeypatch.chdir(data)  # the paths on the command line are relative to it
    fast = ["schedule.max_epochs=2", "student.layers=[0]", "projector.name=pca", "teacher.precision=float32",
            "device=cpu", "callbacks=[]"]  # SAGE's pipeline, small: a 1-block student, PCA for UMAP
    command = ["distil", "--teacher", os.path.relpath(teacher), "--train", "train.csv", "--dev", "dev.csv",
               "--text", "review", "--label", "sentiment", "--out", "../first"]
    assert cli.main(command + [argument for setting in fast for argument in ("--set", setting)]) == 0
    first = printed_metrics(capsys.readouterr().out)
    assert first["output_dir"] == str(tmp_path / "first")
    assert first["task"] == "files" and first["dev_examples"] == 40 and first["train_examples"] == 64
    assert first["synthetic_epochs"] == 1

    saved = tmp_path / "first" / "spec.yaml"
    spec = yaml.safe_load(saved.read_text())
    assert {key: spec["task"][key] for key in ("name", "train", "dev", "text", "label")} == {
        "name": "files", "train": str(data / "train.csv"), "dev": str(data / "dev.csv"), "text": "review", "label": "sentiment",
    }
    assert spec["teacher"]["path"] == str(teacher) and spec["synthesis"]["name"] == "paper"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["run", str(saved), "--overwrite", "--set", f"output_dir={tmp_path / 'second'}"]) == 0
    second = printed_metrics(capsys.readouterr().out)
    assert second["output_dir"] == str(tmp_path / "second")
    for key in ("dev", "teacher_dev", "agreement", "dev_agreement", "epochs", "synthetic_examples_trained", "provenance"):
        assert second[key] == first[key], key


def test_a_spec_files_data_paths_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data").mkdir()
    for name in ("train.csv", "dev.csv"):
        (folder / "data" / name).write_text("text,label\ngood,positive\nbad,negative\n")
    (folder / "more.txt").write_text("fine\n")
    spec = folder / "spec.yaml"
    spec.write_text("task: {name: files, train: data/train.csv, dev: data/dev.csv, unlabelled: more.txt}\n")
    monkeypatch.chdir(tmp_path)
    task = load_spec(spec).resolved()["task"]
    assert (task["train"], task["dev"], task["unlabelled"]) == (
        str(folder / "data" / "train.csv"), str(folder / "data" / "dev.csv"), str(folder / "more.txt")
    )
