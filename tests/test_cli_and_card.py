"""The command line starts without the heavy stack, the model card, the progress display, and the
fine-tuning's word on the new classification head. All fast: no training."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard

import sage
from sage.models.backbone import default_backbone
from sage.models.finetune import _LOADING_LOGGER, _load_report_held, _report_loading
from sage.models.teacher import RECORD_FILE
from sage.progress import Progress
from sage.run.model_card import teacher_license, write_model_card
from sage.tasks.glue import HUB_DATASET

HEAVY = ("torch", "transformers", "umap", "datasets")


# -- the command line ----------------------------------------------------------------------------


def imported_modules(*arguments: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m sage ARGUMENTS``; its output and the top-level modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sage", *arguments], capture_output=True, text=True, check=True
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return result, {name.split(".")[0] for name in names}


@pytest.mark.parametrize("argument", ["--help", "--version"])
def test_help_and_version_import_none_of_the_heavy_stack(argument: str) -> None:
    result, modules = imported_modules(argument)
    assert ("usage: sage" in result.stdout) if argument == "--help" else result.stdout.startswith("sage ")
    assert "sage" in modules and not modules & set(HEAVY)


def test_building_the_parser_imports_none_of_the_heavy_stack() -> None:
    check = f"import sys, sage.cli; sage.cli.parser(); print([m for m in {HEAVY!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_the_public_names_load_on_first_use() -> None:
    check = "import sys, sage; print([m for m in sys.modules if m.startswith('sage.')])"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    from sage.engine import Distiller, FitResult, build
    from sage.spec import SageSpec
    from sage.spec.file import SpecError, load_spec
    from sage.synthesis import strategies

    expected = {
        "Distiller": Distiller, "FitResult": FitResult, "build": build, "SageSpec": SageSpec, "SpecError": SpecError,
        "load_spec": load_spec, "strategies": strategies, "tasks": sage.tasks, "callbacks": sage.callbacks,
    }
    assert {name: sage.__getattr__(name) for name in expected} == expected  # as found on first use
    assert set(sage.__all__) <= set(dir(sage)) and sage.tasks.get("sst2").name == "sst2"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        sage.nothing  # noqa: B018


# -- the model card ------------------------------------------------------------------------------


def run_metrics(teacher: Path) -> dict[str, Any]:
    """What a finished run's metrics.json holds, by hand."""
    return {
        "task": "sst2",
        "evaluated_on": "dev",
        "dev": {"accuracy": 0.812345, "score": 0.812345},
        "teacher_dev": {"accuracy": 0.85, "score": 0.85},
        "dev_agreement": 0.9,
        "epochs": 3,
        "stopped_by": "max_epochs",
        "synthetic_examples_trained": 100,
        "gradient_steps": 300,
        "train_examples": 2000,
        "dev_examples": 872,
        "student_parameters": 12_000_000,
        "teacher_parameters": 22_000_000,
        "teacher_path": str(teacher),
        "teacher_precision": "float32",
        "machine": "a 2-core CPU",
        "speed": {
            "device": "a 2-core CPU", "max_length": 128, "parameter_share": 0.53,
            "batch_1": {"speedup": 2.1}, "batch_32": {"speedup": 2.4},
        },
        "total_seconds": 100.0,
        "provenance": {
            "train_rows": "a" * 64,
            "dev_rows": "b" * 64,
            "teacher": "0123456789abcdef" + "c" * 48,
            "numerics_version": 1,
            "versions": {"torch": "2.13.0"},
            "commit": "abc1234",
        },
    }


def fine_tuned_teacher(folder: Path, backbone: Path | str) -> Path:
    """A teacher folder as sage's fine-tuning leaves it: no model card, a record naming its backbone."""
    folder.mkdir(parents=True)
    (folder / RECORD_FILE).write_text(json.dumps({"backbone": str(backbone), "task": "sst2"}))
    return folder


def card_for(teacher: Path, student: Path) -> tuple[str, ModelCard]:
    write_model_card(student, sage.load_spec({"task": {"name": "sst2"}}), sage.tasks.get("sst2"), run_metrics(teacher))
    return (student / "README.md").read_text(), ModelCard.load(student / "README.md")


def test_the_card_metadata_is_the_hubs_with_the_teachers_license(tmp_path: Path) -> None:
    backbone = tmp_path / "backbone"
    backbone.mkdir()
    (backbone / "README.md").write_text("---\nlicense: mit\nlanguage: en\n---\n\n# a backbone\n")
    teacher = fine_tuned_teacher(tmp_path / "teachers" / "sst2-0123456789ab", backbone)
    (tmp_path / "student").mkdir()
    text, card = card_for(teacher, tmp_path / "student")

    assert card.data.license == "mit" and "`mit`, as its backbone's model card gives it" in text
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    (result,) = card.data.eval_results
    assert (result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) == (
        "text-classification", HUB_DATASET, "sst2", "validation"
    )
    assert (result.metric_type, result.metric_value) == ("accuracy", 0.8123)  # "score" is the bench's alias
    # The teacher by name and content, never by where it lay on the machine that ran.
    assert "`sst2-0123456789ab` (content fingerprint `0123456789abcdef`" in text
    assert str(tmp_path) not in text and "/teachers/" not in text


def test_a_teacher_card_wins_over_its_backbone_and_no_card_means_license_other(tmp_path: Path) -> None:
    backbone = tmp_path / "backbone"
    backbone.mkdir()
    (backbone / "README.md").write_text("---\nlicense: mit\n---\n")
    teacher = fine_tuned_teacher(tmp_path / "teacher", backbone)
    (teacher / "README.md").write_text("---\nlicense: other\nlicense_name: a-licence\nlicense_link: LICENSE\n---\n")
    assert teacher_license(teacher) == (
        {"license": "other", "license_name": "a-licence", "license_link": "LICENSE"}, "the teacher's"
    )

    bare = tmp_path / "bare-teacher"
    bare.mkdir()
    (tmp_path / "student").mkdir()
    text, card = card_for(bare, tmp_path / "student")
    assert card.data.license == "other" and "its license follows the teacher's" in text


def test_the_default_backbone_gives_apache_2() -> None:
    assert teacher_license(Path(default_backbone())) == ({"license": "apache-2.0"}, "the teacher's")


# -- progress ------------------------------------------------------------------------------------


class Clock:
    """A clock that stands still until moved."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_every_interval_and_one_at_the_end() -> None:
    log, clock = io.StringIO(), Clock()
    with Progress(desc="fine-tuning the sst2 teacher", total=375, stream=log, clock=clock) as progress:
        for step in range(375):
            clock.now += 0.375  # 80 steps in 30 s
            progress.set_postfix(loss=f"{0.5 - step / 1000:.3f}")
            progress.update()
    assert log.getvalue().splitlines() == [
        "fine-tuning the sst2 teacher: 80/375 steps (21%), 30 s, loss 0.421",
        "fine-tuning the sst2 teacher: 160/375 steps (42%), 60 s, loss 0.341",
        "fine-tuning the sst2 teacher: 240/375 steps (64%), 90 s, loss 0.261",
        "fine-tuning the sst2 teacher: 320/375 steps (85%), 120 s, loss 0.181",
        "fine-tuning the sst2 teacher: 375/375 steps (100%), 141 s, loss 0.126",
    ]


def test_iterating_yields_every_item_and_a_short_loop_logs_its_end_only() -> None:
    log = io.StringIO()
    assert list(Progress(iter("abc"), desc="reading", total=3, unit="letters", stream=log, clock=Clock())) == ["a", "b", "c"]
    assert log.getvalue() == "reading: 3/3 letters (100%), 0 s\n"
    # Sized items give their own total; with none known, the count alone.
    log = io.StringIO()
    list(Progress([1, 2], desc="sized", stream=log, clock=Clock()))
    list(Progress(iter([1, 2]), desc="unsized", stream=log, clock=Clock()))
    assert log.getvalue().splitlines() == ["sized: 2/2 steps (100%), 0 s", "unsized: 2 steps, 0 s"]


def test_a_transient_loop_logs_its_end_only_when_it_was_long() -> None:
    log, clock = io.StringIO(), Clock()
    list(Progress(range(3), desc="quick", leave=False, stream=log, clock=clock))
    assert log.getvalue() == ""

    def slow(count: int):
        for item in range(count):
            clock.now += 20
            yield item

    list(Progress(slow(3), desc="slow", total=3, leave=False, stream=log, clock=clock))
    assert log.getvalue().splitlines() == ["slow: 2/3 steps (66%), 40 s", "slow: 3/3 steps (100%), 60 s"]


def test_nothing_is_shown_without_a_label_or_when_disabled() -> None:
    log = io.StringIO()
    assert list(Progress(range(3), desc=None, stream=log)) == [0, 1, 2]  # what predict(progress=None) passes
    list(Progress(range(3), desc="off", enabled=False, stream=log))
    terminal = Terminal()
    list(Progress(range(3), desc="off", enabled=False, stream=terminal))
    assert log.getvalue() == "" and terminal.getvalue() == ""


def test_a_terminal_gets_a_bar_not_lines() -> None:
    terminal = Terminal()
    with Progress(desc="embedding train", total=4, unit="batches", stream=terminal, interval=0) as progress:
        for _ in range(4):
            progress.update()
            progress.set_postfix(loss="0.125")
    shown = terminal.getvalue()
    assert "\r" in shown and "embedding train" in shown and "4/4" in shown and "loss=0.125" in shown
    assert "embedding train: 4/4 batches" not in shown


# -- fine-tuning's new head ----------------------------------------------------------------------


class Backbone:
    base_model_prefix = "bert"


def loading(missing=(), unexpected=(), mismatched=()) -> dict[str, set]:
    return {"missing_keys": set(missing), "unexpected_keys": set(unexpected), "mismatched_keys": set(mismatched)}


def report_record() -> logging.LogRecord:
    return _LOADING_LOGGER.makeRecord(_LOADING_LOGGER.name, logging.WARNING, __file__, 0, "X LOAD REPORT", (), None)


class Shown(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def shown():
    handler = Shown()
    _LOADING_LOGGER.addHandler(handler)
    yield handler
    _LOADING_LOGGER.removeHandler(handler)


def test_a_new_head_alone_is_one_line_not_the_report(capsys, shown: Shown) -> None:
    with _load_report_held() as held:
        _LOADING_LOGGER.handle(report_record())
        _LOADING_LOGGER.warning("another warning")  # passes: only the report is held
    assert [record.getMessage() for record in held.records] == ["X LOAD REPORT"] and shown.messages == ["another warning"]
    _report_loading(Backbone(), loading(["classifier.weight", "classifier.bias"]), held, sage.tasks.get("sst2"))
    assert capsys.readouterr().err == "new classification head for fine-tuning: classifier.bias, classifier.weight (2 labels)\n"
    assert shown.messages == ["another warning"]


@pytest.mark.parametrize(
    "found",
    [
        loading(["classifier.weight", "bert.pooler.dense.weight"]),  # a backbone weight missing
        loading(["classifier.weight"], unexpected=["cls.predictions.bias"]),
        loading(mismatched=[("classifier.weight", (3, 8), (2, 8))]),
    ],
)
def test_anything_but_a_new_head_shows_the_report(found: dict[str, set], capsys, shown: Shown) -> None:
    with _load_report_held() as held:
        _LOADING_LOGGER.handle(report_record())
    _report_loading(Backbone(), found, held, sage.tasks.get("sst2"))
    assert shown.messages == ["X LOAD REPORT"] and "new classification head" not in capsys.readouterr().err


def test_loading_the_default_backbone_for_fine_tuning_holds_the_real_report() -> None:
    from transformers import AutoModelForSequenceClassification

    task = sage.tasks.get("sst2")
    with _load_report_held() as held:
        model, found = AutoModelForSequenceClassification.from_pretrained(
            default_backbone(), **task.head_config(), output_loading_info=True
        )
    (record,) = held.records  # the transformers version in use still reports through this logger
    assert "MISSING" in record.getMessage() and found["missing_keys"] == {"classifier.weight", "classifier.bias"}
