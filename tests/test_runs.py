"""Runs a user can trust: kill and resume, output folders that hold one run, honest status and counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

import sage
import sage.engine
from sage import cli
from sage.run.folder import RunFolderError
from tiny import tiny_spec

pytestmark = pytest.mark.slow

# A SAGE run of 4 epochs: the warm-up, then 3 synthetic ones (paper pipeline, UMAP fitted in the background).
FOUR_EPOCHS = {"schedule": {"max_epochs": 4}}

# Kills its own process with SIGKILL after the second training batch of epoch 3: mid-epoch,
# after two synthetic epochs, so the resumed run must rebuild the fitted projection too.
KILLED_IN_EPOCH_3 = textwrap.dedent(
    """
    import os, signal, sys
    import sage, sage.engine

    real_train_epoch = sage.engine.train_epoch

    def train_epoch(body, sources, loss_fn, optimizer, learning_rate, epoch, *rest):
        if epoch != 3:
            return real_train_epoch(body, sources, loss_fn, optimizer, learning_rate, epoch, *rest)
        batches = []

        def dying(*arguments):
            batches.append(1)
            if len(batches) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return loss_fn(*arguments)

        return real_train_epoch(body, sources, dying, optimizer, learning_rate, epoch, *rest)

    sage.engine.train_epoch = train_epoch
    sage.build(sys.argv[1], progress=False).fit()
    """
)


def untimed(value):
    """``value`` without wall times, which no two runs share."""
    if isinstance(value, dict):
        return {key: untimed(item) for key, item in value.items() if not key.endswith(("_s", "_seconds"))}
    if isinstance(value, list):
        return [untimed(item) for item in value]
    return value


def quick_spec(folder, **sections) -> dict:
    """The tiny spec scored on 50 held-out train rows rather than the 872 dev rows, which cost most
    of a tiny run's time; its training rows, and so its cached teacher, are the tiny spec's."""
    return tiny_spec(folder, task={"holdout": 50}, **sections)


def write_spec(folder, **sections):
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(quick_spec(folder / "run", **sections)))
    return path


def test_a_run_killed_mid_epoch_and_resumed_ends_as_an_uninterrupted_run(tmp_path):
    whole = sage.build(quick_spec(tmp_path / "whole", **FOUR_EPOCHS), progress=False).fit()

    spec_file = write_spec(tmp_path, **FOUR_EPOCHS)
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_EPOCH_3, str(spec_file)], env=os.environ.copy(), capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = tmp_path / "run"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "running"  # SIGKILL leaves no chance to say more, and none is needed
    assert not (run_dir / "metrics.json").exists()
    with pytest.raises(RunFolderError, match="--resume to continue an unfinished run"):
        sage.build(spec_file, progress=False).fit()

    resumed = sage.build(spec_file, progress=False).fit(resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert untimed(resumed.metrics) == untimed(whole.metrics)
    assert untimed(resumed.history) == untimed(whole.history)
    weights = [load_file(run / "student" / "model.safetensors") for run in (whole.output_dir, run_dir)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"
    assert not (run_dir / "checkpoint").exists()  # exported: the checkpoint has no more use
    assert (run_dir / "map.png").exists()


@pytest.fixture(scope="module")
def kd_run(tmp_path_factory):
    spec = quick_spec(tmp_path_factory.mktemp("kd"), schedule={"synthetic_share": 0, "max_epochs": 1})
    return sage.build(spec, progress=False).fit()


def test_a_folder_holding_a_run_is_refused_before_any_work_and_overwrite_clears_it(kd_run, tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    # A SAGE run's leftovers: a plain-KD run must not keep its map.
    for name in ("map.png", "metrics.json", "history.csv"):
        (folder / name).write_text("old")
    (folder / "status.json").write_text(json.dumps({"status": "finished", "fingerprint": "0123abcd"}))
    spec = quick_spec(folder, schedule={"synthetic_share": 0, "max_epochs": 1})

    def no_work(*arguments):
        raise AssertionError("the refusal must come before any data is read")

    with monkeypatch.context() as patch:
        patch.setattr(sage.engine, "split_rows", no_work)
        with pytest.raises(RunFolderError, match="holds a finished run of another spec.*--overwrite"):
            sage.build(spec, progress=False).fit()
    assert (folder / "map.png").read_text() == "old"

    result = sage.build(spec, progress=False).fit(overwrite=True)
    assert not (folder / "map.png").exists()
    assert json.loads((folder / "metrics.json").read_text()) == result.metrics
    assert json.loads((folder / "status.json").read_text())["status"] == "finished"


def test_overwrite_removes_only_sage_runs(tmp_path):
    (tmp_path / "notes.txt").write_text("a user's file")
    with pytest.raises(RunFolderError, match="not a sage run"):
        sage.build(quick_spec(tmp_path), progress=False).fit(overwrite=True)
    assert (tmp_path / "notes.txt").exists()


def test_a_failed_export_is_an_error_with_a_failed_status_and_no_metrics(tmp_path, monkeypatch, capsys):
    def broken_export(self, student, directory, *rest):
        raise OSError(f"disk full while writing {directory}")

    monkeypatch.setattr(sage.models.teacher.Teacher, "export", broken_export)
    spec_file = write_spec(tmp_path, schedule={"synthetic_share": 0, "max_epochs": 1})
    assert cli.main(["run", str(spec_file)]) == cli.RUN_FAILED
    assert "disk full" in capsys.readouterr().err
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and "disk full" in status["error"]
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "student").exists()


def test_ctrl_c_marks_the_run_interrupted(tmp_path, monkeypatch, capsys):
    def interrupted(*arguments, **keywords):
        raise KeyboardInterrupt

    monkeypatch.setattr(sage.engine, "train_epoch", interrupted)
    spec_file = write_spec(tmp_path, schedule={"synthetic_share": 0, "max_epochs": 1})
    assert cli.main(["run", str(spec_file)]) == cli.INTERRUPTED
    assert "--resume" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "interrupted"


def test_parameter_counts_are_those_of_the_saved_models(kd_run):
    metrics = kd_run.metrics
    exported = AutoModelForSequenceClassification.from_pretrained(kd_run.output_dir / "student")
    assert metrics["student_parameters"] == sum(p.numel() for p in exported.parameters())
    embeddings = sum(p.numel() for p in exported.base_model.embeddings.parameters())
    assert metrics["student_parameters_without_embeddings"] == metrics["student_parameters"] - embeddings
    teacher = AutoModelForSequenceClassification.from_pretrained(metrics["teacher_path"])
    assert metrics["teacher_parameters"] == sum(p.numel() for p in teacher.parameters())


def test_a_run_records_where_its_numbers_came_from(kd_run):
    provenance = kd_run.metrics["provenance"]
    assert {"train_rows", "holdout_rows", "teacher", "numerics_version", "versions", "commit"} <= set(provenance)
    assert set(provenance["versions"]) == {"sage-distill", "torch", "transformers", "umap-learn"}
    assert provenance["versions"]["torch"] == torch.__version__


def test_version_names_the_packages_that_shape_results(capsys):
    with pytest.raises(SystemExit) as exit_status:
        cli.main(["--version"])
    assert exit_status.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("sage 0.") and f"torch {torch.__version__}" in out and "numerics version" in out


def test_validate_resolves_the_spec_and_checks_its_inputs_without_training(kd_run, tmp_path, monkeypatch, capsys):
    spec_file = write_spec(tmp_path, schedule={"synthetic_share": 0, "max_epochs": 1})
    monkeypatch.setattr(sage.engine.Distiller, "fit", lambda *a, **k: pytest.fail("validate must not train"))
    assert cli.main(["validate", str(spec_file)]) == 0
    out = capsys.readouterr().out
    assert "# the resolved spec" in out and "max_epochs: 1" in out
    assert "data: 200 training rows, scored on 50 held-out train rows" in out
    assert "teacher: fine-tuned from" in out and ", cached (" in out  # the kd_run fixture fine-tuned it
    assert "output_dir:" in out and "new; the run writes there" in out and out.rstrip().endswith("ok: nothing was trained")
