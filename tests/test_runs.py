"""Runs a user can trust: kill and resume, output folders that hold one run, honest status and counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

import sage
import sage.engine
import sage.run.setup
from sage import cli
from sage.run.folder import MARKER_FILE, RunFolder, RunFolderError
from tiny import fast_spec

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
    """``value`` without wall times, which no two runs share (the speed report is timings too)."""
    if isinstance(value, dict):
        return {key: untimed(item) for key, item in value.items() if not key.endswith(("_s", "_seconds")) and key != "speed"}
    if isinstance(value, list):
        return [untimed(item) for item in value]
    return value


def quick_spec(folder, **sections) -> dict:
    """The tiny spec on a tiny random teacher, scored on 50 held-out train rows: what these tests
    check is what a run does with its folder, checkpoint and state, not what it learns."""
    return fast_spec(folder, **sections)


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

    # The killed process's time past its setup, to the end of epoch 2: the resumed run counts it.
    earlier = torch.load(run_dir / "checkpoint" / "state.pt", weights_only=True)["record"]["seconds"]
    started = time.perf_counter()
    resumed = sage.build(spec_file, progress=False).fit(resume=True)
    this_process = time.perf_counter() - started
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert earlier > 0 and this_process < resumed.metrics["total_seconds"] <= earlier + this_process
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


def an_older_sage_run(folder, entries=("map.png", "metrics.json", "history.csv")):
    """A folder as a finished SAGE run of another spec leaves it, marked as sage's."""
    folder.mkdir()
    for name in entries:
        (folder / name).write_text("old")
    (folder / "status.json").write_text(json.dumps({"status": "finished", "fingerprint": "0123abcd"}))
    marker = {"written_by": "sage", "fingerprint": "0123abcd", "entries": [*entries, "status.json"]}
    (folder / MARKER_FILE).write_text(json.dumps(marker))


def no_work(*arguments):
    raise AssertionError("the refusal must come before any data is read")


def test_a_folder_holding_a_run_is_refused_before_any_work_and_overwrite_clears_only_what_it_wrote(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    an_older_sage_run(folder)
    (folder / "notes.txt").write_text("the user's own notes, put there after the run")
    spec = quick_spec(folder, schedule={"synthetic_share": 0, "max_epochs": 1})
    with monkeypatch.context() as patch:
        patch.setattr(sage.run.setup, "split_rows", no_work)
        with pytest.raises(RunFolderError, match="holds a finished run of another spec.*--overwrite"):
            sage.build(spec, progress=False).fit()
    assert (folder / "map.png").read_text() == "old"

    result = sage.build(spec, progress=False).fit(overwrite=True)
    assert not (folder / "map.png").exists()  # a plain-KD run must not keep the SAGE run's map
    assert (folder / "notes.txt").read_text().startswith("the user's own notes")
    assert json.loads((folder / "metrics.json").read_text()) == result.metrics
    assert json.loads((folder / "status.json").read_text())["status"] == "finished"
    assert "notes.txt" not in json.loads((folder / MARKER_FILE).read_text())["entries"]


def test_overwrite_with_a_wrong_input_deletes_nothing(tmp_path):
    folder = tmp_path / "run"
    an_older_sage_run(folder)
    spec_file = write_spec(tmp_path)
    assert cli.main(["run", str(spec_file), "--overwrite", "--set", "task.data_dir=/nonexistent"]) == cli.INPUT_ERROR
    assert sorted(path.name for path in folder.iterdir()) == sorted(["history.csv", "map.png", "metrics.json", "status.json", MARKER_FILE])


def test_a_users_own_folder_is_never_emptied(tmp_path, capsys):
    """A project folder whose spec writes into the folder itself: it holds a spec.yaml, as a run
    folder does, but sage did not write it, so neither a run nor --overwrite touches anything."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({**quick_spec(tmp_path), "output_dir": "."}))
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert cli.main(["run", str(spec_file)]) == cli.INPUT_ERROR
    assert "holds files that sage did not write" in capsys.readouterr().err
    assert cli.main(["run", str(spec_file), "--overwrite", "--set", "task.data_dir=/nonexistent"]) == cli.INPUT_ERROR
    assert cli.main(["run", str(spec_file), "--overwrite"]) == cli.INPUT_ERROR
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, monkeypatch):
    spec = sage.load_spec(quick_spec(tmp_path / "run"))
    with RunFolder(spec.run_dir(), spec.fingerprint()).locked():
        monkeypatch.setattr(sage.run.setup, "split_rows", no_work)  # refused before any data is read
        with pytest.raises(RunFolderError, match=r"in use by another sage run \(pid \d+"):
            sage.build(spec, progress=False).fit(overwrite=True)


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
    assert "a trained sst2 classifier" in out
    assert "teacher outputs: cached for train and dev" in out  # the kd_run fixture computed them
    assert "output_dir:" in out and "new or empty; the run writes there" in out and out.rstrip().endswith("ok: nothing was trained")


@pytest.mark.parametrize(
    "problem, overrides, message",
    [
        ("negative seed", ["seed=-1"], "seed: Input should be greater than or equal to 0"),
        ("negative subset seed", ["task.subset_seed=-1"], "task.subset_seed: Input should be greater than or equal to 0"),
        ("a folder inside a file", ["output_dir={file}/run"], "is a file, not a folder"),
        ("a hub backbone offline", ["teacher.path=null", "teacher.finetune.backbone=nobody/no-such-model"], "HF_HUB_OFFLINE is set"),
        ("a folder sage would refuse", ["output_dir={older}"], "holds a finished run of another spec"),
    ],
)
def test_validate_refuses_what_run_refuses_before_any_work(problem, overrides, message, tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    an_older_sage_run(tmp_path / "older")
    overrides = [o.format(file=tmp_path / "a-file", older=tmp_path / "older") for o in overrides]
    spec_file = write_spec(tmp_path, schedule={"synthetic_share": 0, "max_epochs": 1})
    monkeypatch.setattr(sage.engine, "start", lambda *a, **k: pytest.fail("refused inputs must stop before setup"))
    for command in ("validate", "run"):
        arguments = [command, str(spec_file)] + [part for o in overrides for part in ("--set", o)]
        assert cli.main(arguments) == cli.INPUT_ERROR, (command, problem)
        assert message in capsys.readouterr().err, (command, problem)
    assert not (tmp_path / "run").exists()  # no failed folder left behind


def interrupted_run(tmp_path, monkeypatch, at_epoch, **sections):
    """A run stopped by Ctrl-C when epoch ``at_epoch`` starts training: its checkpoint holds the epochs before."""
    real_train_epoch = sage.engine.train_epoch

    def stopping(body, sources, loss_fn, optimizer, lr_schedule, epoch, *rest):
        if epoch == at_epoch:
            raise KeyboardInterrupt
        return real_train_epoch(body, sources, loss_fn, optimizer, lr_schedule, epoch, *rest)

    spec = quick_spec(tmp_path / "run", **sections)
    with monkeypatch.context() as patch:
        patch.setattr(sage.engine, "train_epoch", stopping)
        with pytest.raises(KeyboardInterrupt):
            sage.build(spec, progress=False).fit()
    return spec


@pytest.fixture(scope="module")
def interrupted_kd_run(tmp_path_factory):
    """A plain-KD run stopped by Ctrl-C in its second epoch: a folder with a checkpoint to resume."""
    with pytest.MonkeyPatch.context() as patch:
        return interrupted_run(tmp_path_factory.mktemp("interrupted"), patch, 2, schedule={"synthetic_share": 0, "max_epochs": 2})


@pytest.mark.parametrize("damage", ["4 KB overwritten", "truncated", "empty"])
def test_a_damaged_checkpoint_is_refused_before_any_work(damage, interrupted_kd_run, tmp_path, monkeypatch, capsys):
    shutil.copytree(interrupted_kd_run["output_dir"], tmp_path / "run")
    state = tmp_path / "run" / "checkpoint" / "state.pt"
    data = bytearray(state.read_bytes())
    if damage == "4 KB overwritten":
        data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    state.write_bytes(bytes(data[: len(data) // 3]) if damage == "truncated" else bytes(data) if damage != "empty" else b"")
    monkeypatch.setattr(sage.run.setup, "split_rows", no_work)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**interrupted_kd_run, "output_dir": str(tmp_path / "run")}))
    assert cli.main(["run", str(tmp_path / "spec.yaml"), "--resume"]) == cli.INPUT_ERROR
    error = capsys.readouterr().err
    assert str(state) in error and "--overwrite" in error and ("damaged" in error)


def test_a_run_whose_loss_goes_non_finite_fails_and_exports_nothing(tmp_path, capsys):
    spec_file = write_spec(tmp_path, schedule={"synthetic_share": 0, "max_epochs": 2})
    overrides = ["--set", "schedule.lr=1e6", "--set", "schedule.max_grad_norm=null"]
    assert cli.main(["run", str(spec_file), *overrides]) == cli.RUN_FAILED
    assert "non-finite at epoch 1, step" in capsys.readouterr().err
    run_dir = tmp_path / "run"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and "NonFiniteLoss" in status["error"]
    assert not (run_dir / "student").exists() and not (run_dir / "metrics.json").exists()


def test_a_refitted_projection_without_real_data_resumes_exactly(tmp_path, monkeypatch):
    """refit_each_epoch draws a new fit sample every synthetic epoch (fit_max < N); a resumed run
    must draw the next one from the restored stream, not refit on the sample it drew at start.
    keep_real: false trains on the synthetic points alone."""
    sections = {
        "projector": {"name": "pca", "n_components": 2},
        "synthesis": {"refit_each_epoch": True, "fit_max": 100},
        "schedule": {"max_epochs": 3, "keep_real": False},
    }
    whole = sage.build(quick_spec(tmp_path / "whole", **sections), progress=False).fit()
    spec = interrupted_run(tmp_path, monkeypatch, 3, **sections)  # after two fits, on two samples
    resumed = sage.build(spec, progress=False).fit(resume=True)
    assert [row["projection"] for row in resumed.history[1:]] == ["fitted in background", "fitted"]
    assert all(row["n_train"] == row["n_synthetic"] for row in resumed.history[1:])
    assert untimed(resumed.history) == untimed(whole.history)
    assert untimed(resumed.metrics) == untimed(whole.metrics)
