"""``--import``: components registered in the user's own file reach ``sage validate`` and ``sage run``;
the run records the import and the spec it writes says which ``--import`` it needs. Tiny random
teacher, 64 SST-2 rows: a few seconds a run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import catalogue
import pytest
import yaml

import sage.imports
from families import save_tiny_teacher
from sage import cli
from sage.imports import import_user_code, imported
from sage.spec.file import SpecError, load_spec

# A synthesis strategy and a projector as README's "Your own component" writes them; each test
# registers them under names of its own, so that a name is unknown until that test imports it.
COMPONENTS = '''
import numpy as np
import torch

import sage
from sage.synthesis.strategies.base import Proposal, Strategy, cyclic_parents


@sage.strategies.register("parent_copies_{suffix}")
class ParentCopies(Strategy):
    """Each synthetic point is a copy of its parent."""

    def propose(self, anchors, count, student):
        parents, _ = cyclic_parents(anchors, count)
        index = torch.as_tensor(parents, device=self.context.device)
        copies = self.context.real.lift(index, torch.as_tensor(self.context.pooled[parents], device=self.context.device))
        return Proposal(copies, parents)


@sage.projectors.register("first_two_{suffix}")
class FirstTwo:
    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, X):
        self.mean_ = X.mean(0)
        return self

    def transform(self, X):
        return X[:, :2] * self.scale

    def inverse_transform(self, Z):
        X = np.tile(self.mean_, (len(Z), 1))
        X[:, :2] = Z / self.scale
        return X
'''


def write_components(folder: Path, suffix: str, name: str = "my_components.py") -> Path:
    path = folder / name
    path.write_text(COMPONENTS.replace("{suffix}", suffix), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def new_process(monkeypatch):
    """Each test starts with nothing imported by ``--import``, as a new ``sage`` process does."""
    monkeypatch.setattr(sage.imports, "_IMPORTED", [])
    monkeypatch.setattr(sys, "path", list(sys.path))  # a module import puts the current directory on it


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"))


def tiny_spec(teacher: Path, output_dir: Path, suffix: str) -> dict:
    return {
        "task": {"name": "sst2", "max_train": 64, "max_length": 32, "holdout": 32},  # scored on 32 rows, not dev's 872
        "teacher": {"path": str(teacher), "precision": "float32"},
        "student": {"name": "truncated", "layers": [0]},
        "projector": {"name": f"first_two_{suffix}", "scale": 2.0},
        "schedule": {"max_epochs": 2, "warmup_epochs": 1, "synthetic_share": 0.5, "hard_fraction": 0.2},
        "synthesis": {"name": f"parent_copies_{suffix}"},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(output_dir),
    }


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_validate_finds_a_users_components_only_with_their_import(tmp_path, teacher, capsys):
    components = write_components(tmp_path, "validate")
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(teacher, tmp_path / "run", "validate"))

    assert cli.main(["validate", str(spec)]) == cli.INPUT_ERROR
    error = capsys.readouterr().err
    assert "synthesis.name: unknown synthesis strategy 'parent_copies_validate'; registered synthesis strategies:" in error
    assert "projector.name: unknown projector 'first_two_validate'" in error

    assert cli.main(["validate", str(spec), "--import", str(components)]) == 0
    output = capsys.readouterr().out
    assert "name: parent_copies_validate" in output and "scale: 2.0" in output
    assert output.rstrip().endswith("ok: nothing was trained")
    assert imported() == [str(components)]


def test_a_module_is_imported_by_its_dotted_name_from_the_current_directory(tmp_path, monkeypatch):
    package = tmp_path / "sage_test_user_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_components(package, "module", name="components.py")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="unknown synthesis strategy 'parent_copies_module'"):
        load_spec({"synthesis": {"name": "parent_copies_module"}})

    assert import_user_code(["sage_test_user_package.components"]) == ["sage_test_user_package.components"]
    assert load_spec({"synthesis": {"name": "parent_copies_module"}}).synthesis.name == "parent_copies_module"
    assert import_user_code(["sage_test_user_package.components"]) == ["sage_test_user_package.components"]
    assert imported() == ["sage_test_user_package.components"]  # recorded once


def test_a_run_records_its_imports_and_its_spec_names_them(tmp_path, teacher, capsys, monkeypatch):
    components = write_components(tmp_path, "run")
    run_dir = tmp_path / "run"
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(teacher, run_dir, "run"))

    assert cli.main(["run", str(spec), "--import", str(components)]) == 0
    stdout = capsys.readouterr().out
    printed = json.loads(stdout[stdout.index("{\n"):])  # progress lines may come first
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["imports"] == printed["imports"] == [str(components)]
    assert metrics["synthetic_epochs"] == 1 and metrics["synthetic_examples_trained"] == 32  # 0.5 of 64 rows

    saved = run_dir / "spec.yaml"
    assert saved.read_text().splitlines()[0] == f"# written by sage run --import {components}"
    assert cli.main(["validate", str(saved), "--import", str(components), "--set", f"output_dir={tmp_path / 'again'}"]) == 0
    capsys.readouterr()

    # A new process, given the saved spec without the import: its components are not registered.
    for kind, name in (("strategies", "parent_copies_run"), ("projectors", "first_two_run")):
        monkeypatch.delitem(catalogue.REGISTRY, ("sage", kind, name))
    monkeypatch.setattr(sage.imports, "_IMPORTED", [])
    assert cli.main(["validate", str(saved)]) == cli.INPUT_ERROR
    error = capsys.readouterr().err
    assert "unknown synthesis strategy 'parent_copies_run'" in error
    assert f"{saved}:1: this spec was written by a run with --import {components}: pass the same --import" in error


def test_the_hint_names_only_imports_not_given_and_only_for_unknown_names(tmp_path):
    spec = tmp_path / "spec.yaml"
    given = str(write_components(tmp_path, "hint"))
    header = f"# written by sage run --import '{tmp_path}/gone one.py' --import {given}\n"
    spec.write_text(header + "task: {name: sst2}\nsynthesis: {name: never_registered}\n", encoding="utf-8")
    import_user_code([given])
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert raised.value.problems[-1].startswith(f"{spec}:1: this spec was written by a run with --import '{tmp_path}/gone one.py': ")

    spec.write_text(header + "task: {name: sst2}\nschedule: {max_epochs: 0}\n", encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert len(raised.value.problems) == 1 and "--import" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("missing.py", None, "--import {path}: no such file"),
        ("components.txt", "x = 1\n", "--import {path}: not a Python file (it ends in .txt)"),
        ("raises.py", "import sage\n\nVALUE = 1 / 0\n", "--import {path} failed: ZeroDivisionError: division by zero (at {path}:3)"),
        ("broken.py", "def f(:\n", "--import {path} failed: SyntaxError: invalid syntax"),
        ("needs.py", "import sage_no_such_dependency\n", "--import {path} failed: ModuleNotFoundError: No module named 'sage_no_such_dependency' (at {path}:1)"),
    ],
)
def test_a_bad_import_is_an_input_error_before_any_work(tmp_path, capsys, name, code, message):
    path = tmp_path / name
    if code is not None:
        path.write_text(code, encoding="utf-8")
    # The spec does not exist: the import is refused before anything else is read.
    assert cli.main(["run", str(tmp_path / "no-spec.yaml"), "--import", str(path)]) == cli.INPUT_ERROR
    error = capsys.readouterr().err
    assert error.startswith("sage: " + message.format(path=path)) and error.count("\n") == 1
    assert imported() == []


def test_an_unknown_module_says_where_it_was_looked_for(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "spec.yaml", "--import", "sage_no_such_module.components"]) == cli.INPUT_ERROR
    assert capsys.readouterr().err == (
        "sage: --import sage_no_such_module.components: no module named 'sage_no_such_module' in the current "
        "directory or the installed packages; give a dotted module name or a path to a .py file\n"
    )
