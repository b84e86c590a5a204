"""Callbacks: a run's events reach TensorBoard, logging, history.csv and a user's own callback."""

from __future__ import annotations

import csv
import logging

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import recorder
import sage
from sage.spec.file import SpecError, load_spec

pytestmark = pytest.mark.slow


def test_a_users_callback_sees_every_event_in_order(deep_interface_run):
    names = [name for name, _ in recorder.CALLS]
    epochs = len(deep_interface_run.history)
    # warm-up, then a synthetic set before each later epoch
    assert names == ["on_fit_start", "on_epoch_end"] + ["on_synthesis", "on_epoch_end"] * (epochs - 1) + ["on_fit_end"]
    start = recorder.CALLS[0][1]
    assert start.output_dir == deep_interface_run.output_dir and not start.resumed
    rows = [argument for name, argument in recorder.CALLS if name == "on_epoch_end"]
    assert rows == deep_interface_run.history
    synthetic = [argument for name, argument in recorder.CALLS if name == "on_synthesis"]
    assert [len(s.parents) for s in synthetic] == [row["n_synthetic"] for row in deep_interface_run.history[1:]]
    assert recorder.CALLS[-1][1] == deep_interface_run.metrics


def test_the_tensorboard_callback_writes_event_files_that_tensorboard_reads_back(deep_interface_run):
    folder = deep_interface_run.output_dir / "tensorboard"
    events = EventAccumulator(str(folder)).Reload()
    scalars = events.Tags()["scalars"]
    assert {"epoch/train_loss", "epoch/agreement", "epoch/dev_score", "synthesis/points", "final/dev_accuracy"} <= set(scalars)
    losses = events.Scalars("epoch/train_loss")
    assert [event.step for event in losses] == [row["epoch"] for row in deep_interface_run.history]
    assert [event.value for event in losses] == pytest.approx([row["train_loss"] for row in deep_interface_run.history])
    assert events.Scalars("final/dev_accuracy")[0].value == pytest.approx(deep_interface_run.metrics["dev"]["accuracy"])
    assert "spec/text_summary" in events.Tags()["tensors"]  # the resolved spec, as text


def test_history_csv_is_written_by_its_callback(deep_interface_run):
    with open(deep_interface_run.output_dir / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [row["epoch"] for row in deep_interface_run.history]


def test_the_logging_callback_sends_each_event_to_the_python_logger(tmp_path, caplog):
    from sage.callbacks.log import Logging

    callback = Logging(logger="sage.test", level="warning")
    with caplog.at_level(logging.WARNING, logger="sage.test"):
        callback.on_epoch_end({"epoch": 2, "phase": "synthetic", "train_loss": 0.5, "agreement": 0.9, "kept": True})
    (record,) = caplog.records
    assert record.name == "sage.test" and record.levelno == logging.WARNING
    assert record.getMessage() == "epoch 2 (synthetic): train_loss=0.5 agreement=0.9"


def test_callbacks_are_checked_with_the_spec_and_leave_its_fingerprint_alone():
    plain = load_spec({})
    assert [section.name for section in plain.callbacks] == ["progress", "history"]
    watched = load_spec({"callbacks": [{"name": "tensorboard", "log_dir": "tb"}, {"name": "logging"}]})
    assert watched.fingerprint() == plain.fingerprint()  # a logger does not make another run
    with pytest.raises(SpecError, match=r"callbacks\.0\.name.*unknown callback 'tensorbord'.*did you mean 'tensorboard'"):
        load_spec({"callbacks": [{"name": "tensorbord"}]})
    with pytest.raises(SpecError, match=r"callbacks\.0.*level must be a logging level name"):
        load_spec({"callbacks": [{"name": "logging", "level": "LOUD"}]})
    assert "tensorboard" in sage.callbacks.get_all()
