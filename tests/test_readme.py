"""README's examples, run as the README writes them: a task and a strategy from one user file
through ``sage run --import``, and the "Your own data" commands through ``sage distil``.

The README's teacher is a fine-tuned MiniLM; here a tiny random teacher stands in (``--set
teacher.path=...``, ``$TEACHER``) and the runs are shortened with ``--set``: the code, the spec and the
commands are the README's own.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import catalogue
import pytest
import yaml
from families import save_tiny_teacher

import sage.engine  # noqa: F401  (registers every built-in before a test copies the registry)
import sage.imports
from sage.cli import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
FAST = ["--set", "schedule.max_epochs=2", "--set", "student.layers=[0]", "--set", "teacher.precision=float32",
        "--set", "device=cpu", "--set", "callbacks=[]"]


def block(first_line: str, language: str) -> str:
    """The README code block (of ``language``) whose first line is ``first_line``."""
    found = re.findall(rf"```{language}\n({re.escape(first_line)}\n.*?)```", README, flags=re.DOTALL)
    assert len(found) == 1, f"README has {len(found)} {language} blocks starting {first_line!r}"
    return found[0]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"), label_names=("negative", "positive"))


def test_a_task_and_a_strategy_from_one_user_file_run_through_import(
    tmp_path: Path, teacher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(catalogue, "REGISTRY", dict(catalogue.REGISTRY))  # forget the user's components afterwards
    monkeypatch.setattr(sage.imports, "_IMPORTED", [])  # as in a new process
    (tmp_path / "my_components.py").write_text(block("# my_components.py", "python"))
    (tmp_path / "my-spec.yaml").write_text(block("# my-spec.yaml", "yaml"))
    command = shlex.split(block("sage run my-spec.yaml --import my_components.py      # a file", "bash").splitlines()[0], comments=True)
    assert command[:2] == ["sage", "run"]

    overrides = [*FAST, "--set", f"teacher.path={teacher}", "--set", "task.max_train=64", "--set", "output_dir=run"]
    assert main([*command[1:], *overrides]) == 0

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == "short_reviews" and set(metrics["dev"]) == {"accuracy", "macro_f1", "score"}
    assert metrics["synthetic_epochs"] == 1 and metrics["imports"] == [str(tmp_path / "my_components.py")]
    spec = yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())
    assert spec["task"]["max_words"] == 12 and spec["synthesis"]["name"] == "parent_copies"


def test_your_own_data_runs_with_sage_distil_and_its_spec_reproduces_the_run(
    tmp_path: Path, teacher: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make, _, distil = block("python examples/make_reviews.py --glue ../shared/glue --out data/reviews   # train.csv, dev.jsonl, unlabelled.txt", "bash").strip().splitlines()
    make = shlex.split(make, comments=True)
    subprocess.run(
        [sys.executable, str(REPO / make[1]), *make[2:], "--glue", str(data_dir), "--train", "80", "--dev", "40", "--unlabelled", "30"],
        check=True,
    )
    command = shlex.split(distil.replace('"$TEACHER"', str(teacher)))
    assert command[:2] == ["sage", "distil"]

    assert main([*command[1:], *FAST]) == 0

    first = json.loads((tmp_path / "runs" / "reviews" / "metrics.json").read_text())
    assert first["task"] == "files" and first["train_examples"] == 80 and first["transfer_examples"] == 30
    assert main(["run", "runs/reviews/spec.yaml", "--set", "output_dir=again"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["dev"] == first["dev"] and again["agreement"] == first["agreement"]
