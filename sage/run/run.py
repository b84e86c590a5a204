"""``Run``: what one ``fit()`` holds while it trains, and the parts a checkpoint keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sage.callbacks import Callbacks
from sage.distributed import Cluster
from sage.lr_schedule import EpochLR
from sage.models.body import Body
from sage.models.teacher import Teacher
from sage.run.checkpoint import Stateful
from sage.run.folder import RunFolder
from sage.spec import SageSpec
from sage.streams import RandomStreams
from sage.synthesis.synthesiser import Synthesiser
from sage.tasks.task import Task
from sage.training import TrainingSource
from sage.vectors import VectorSet


@dataclass
class CachedSplit:
    """One split at the interface: its vectors, the teacher's outputs on them, and the gold labels."""

    vectors: VectorSet
    teacher: torch.Tensor
    labels: torch.Tensor


@dataclass
class Record:
    """What the run has done so far: its history, its counts, the student's outputs on the training
    set after the last epoch (they rank the next hard set) and what ``map.png`` shows of the last
    synthetic epoch. Kept in every checkpoint."""

    device: torch.device
    # A run's time is its processes' together, so that a resumed run's cost reads as an
    # uninterrupted one's: each process counts from the end of its setup (perf_counter) to its last
    # checkpoint; the epoch a stop cut short is done again, and counted once.
    timed_from: float
    earlier_seconds: float = 0.0  # past setup, in the processes before this one
    history: list[dict[str, Any]] = field(default_factory=list)
    outputs: torch.Tensor | None = None
    last_map: dict[str, np.ndarray] | None = None
    synthetic_epochs: int = 0
    synthetic_examples: int = 0
    steps: int = 0

    def seconds(self) -> float:
        """Wall seconds past setup so far, over every process of this run."""
        return self.earlier_seconds + time.perf_counter() - self.timed_from

    def state_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds(),
            "history": self.history,
            "outputs": self.outputs,
            "map": None if self.last_map is None else {key: torch.from_numpy(np.asarray(value)) for key, value in self.last_map.items()},
            "synthetic_epochs": self.synthetic_epochs,
            "synthetic_examples": self.synthetic_examples,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.earlier_seconds = state["seconds"]
        self.history = state["history"]
        self.outputs = None if state["outputs"] is None else state["outputs"].to(self.device)
        self.last_map = None if state["map"] is None else {key: value.numpy() for key, value in state["map"].items()}
        self.synthetic_epochs = state["synthetic_epochs"]
        self.synthetic_examples = state["synthetic_examples"]
        self.steps = state["steps"]


@dataclass
class Run:
    """What one ``fit()`` holds: the teacher with the data cached at its interface, the student and
    its optimiser, the sources it trains on, the synthesiser and callbacks, and its record."""

    spec: SageSpec
    device: torch.device
    folder: RunFolder
    cluster: Cluster
    streams: RandomStreams
    task: Task
    teacher: Teacher
    teacher_path: Path
    train: CachedSplit
    dev: CachedSplit
    student: Body
    forward: torch.nn.Module  # what trains: the student, compiled when the spec asks, under DDP on several ranks
    inference: torch.nn.Module  # what predicts: the student, compiled when the spec asks (never DDP: rank 0 alone predicts)
    loss_fn: Any
    optimizer: torch.optim.Optimizer
    lr_schedule: EpochLR
    real: TrainingSource
    synthetic_order: torch.Generator | None  # the synthetic batches' own order and dropout streams
    synthetic_dropout: Any
    synthesiser: Synthesiser | None  # on the rank that synthesises, for a run that does
    callbacks: Callbacks
    inference_batch: int
    started: float
    setup_seconds: float
    data_fingerprints: dict[str, str]  # of the training rows and the rows scored ("train", "dev")
    record: Record
    progress: bool  # whether this process shows progress
    transfer: Any = None  # TransferRows: unlabelled text the teacher labelled, when the task has some
    evaluated_on: str = "dev"  # what ``dev`` is, as metrics.json says it
    label_mapping: str | None = None  # how the task's classes were aligned with the teacher's, if they were
    dev_rows: Any = None  # the rows ``dev`` was made from (a datasets.Dataset): their texts, for timing the export
    stopped_by: str = "max_epochs"
    epoch_started: float = 0.0

    def stateful_parts(self) -> dict[str, Stateful]:
        """Everything that moves while the run trains, by name: what a checkpoint keeps."""
        parts: dict[str, Stateful] = {
            "record": self.record,
            "student": self.student,
            "optimizer": self.optimizer,
            "lr_schedule": self.lr_schedule,
            "streams": self.streams,
            "callbacks": self.callbacks,
        }
        if self.synthesiser is not None:
            parts["synthesiser"] = self.synthesiser
        return parts

    def scores(self, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """The task's metrics of ``outputs`` (logits, or scores for regression) against ``labels``."""
        predictions = outputs[:, 0] if self.task.is_regression else outputs.argmax(1)
        return self.task.evaluate(predictions.cpu().numpy(), labels.cpu().numpy())

    def agreement(self, student: torch.Tensor, teacher: torch.Tensor) -> float:
        """The share of examples on which the student gives the teacher's answer (within the
        tolerance, for regression)."""
        if self.task.is_regression:
            agree = (student[:, 0] - teacher[:, 0]).abs() <= self.spec.schedule.agreement_tolerance
        else:
            agree = student.argmax(1) == teacher.argmax(1)
        return float(agree.float().mean())
