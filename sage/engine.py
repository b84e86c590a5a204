"""The distillation engine: the loop of DESIGN.md, for SAGE and every baseline it can express."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm

import sage.tasks
from sage.body import Body
from sage.finetune import finetune_teacher
from sage.report import plot_map, write_history, write_metrics
from sage.spec import SageSpec, TaskSpec
from sage.spec_file import save_spec
from sage.synthesis import SyntheticSet, Synthesiser
from sage.tasks.task import Task
from sage.teacher import Teacher
from sage.training import predict, train_epoch
from sage.vectors import VectorSet

# Inference has no backward pass to hold, so it takes larger batches than training.
INFERENCE_BATCH_FACTOR = 4


@dataclass
class FitResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    output_dir: Path


@dataclass
class CachedSplit:
    """One split at the interface: its vectors, the teacher's outputs on them, and the gold labels."""

    vectors: VectorSet
    teacher: torch.Tensor
    labels: torch.Tensor


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("spec device is 'cuda', but torch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def training_rows(task: Task, spec: TaskSpec) -> datasets.Dataset:
    """The task's train split, or a random subset of ``max_train`` rows drawn with ``subset_seed``."""
    rows = task.load("train", spec.data_dir)
    if spec.max_train is None or spec.max_train >= len(rows):
        return rows
    chosen = np.random.default_rng(spec.subset_seed).permutation(len(rows))[: spec.max_train]
    return rows.select(np.sort(chosen))


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads"


class Distiller:
    """Runs one spec: ``Distiller(spec).fit()``. Build it with ``sage.build``."""

    def __init__(self, spec: SageSpec, progress: bool = True) -> None:
        self.spec = spec
        self.progress = progress

    def _say(self, message: str) -> None:
        if self.progress:
            tqdm.write(message)

    def _cache(self, teacher: Teacher, task: Task, rows: datasets.Dataset, split: str) -> CachedSplit:
        columns = task.texts(rows)
        batch = self.spec.schedule.batch_size * INFERENCE_BATCH_FACTOR
        progress = f"{split}: embedding" if self.progress else None
        vectors = teacher.embed(columns, self.spec.task.max_length, batch, progress=progress)
        progress = f"{split}: teacher outputs" if self.progress else None
        teacher_outputs = predict(teacher.body, vectors, batch, progress=progress)
        labels = torch.as_tensor(task.labels(rows), device=teacher.device)
        return CachedSplit(vectors, teacher_outputs, labels)

    def _agreement(self, task: Task, student: torch.Tensor, teacher: torch.Tensor) -> float:
        if task.is_regression:
            agree = (student[:, 0] - teacher[:, 0]).abs() <= self.spec.schedule.agreement_tolerance
        else:
            agree = student.argmax(1) == teacher.argmax(1)
        return float(agree.float().mean())

    @staticmethod
    def _evaluate(task: Task, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        predictions = outputs[:, 0] if task.is_regression else outputs.argmax(1)
        return task.evaluate(predictions.cpu().numpy(), labels.cpu().numpy())

    def fit(self) -> FitResult:
        spec, schedule = self.spec, self.spec.schedule
        started = time.perf_counter()
        device = resolve_device(spec.device)
        output_dir = spec.run_dir()
        output_dir.mkdir(parents=True, exist_ok=True)
        save_spec(spec, output_dir / "spec.yaml")
        rng = np.random.default_rng(spec.seed)
        generator = torch.Generator().manual_seed(spec.seed)

        task = sage.tasks.get(spec.task.name)
        train_rows = training_rows(task, spec.task)
        dev_rows = task.load("dev", spec.task.data_dir)
        teacher_path = spec.teacher.path or finetune_teacher(
            task,
            task.load("train", spec.task.data_dir) if spec.teacher.finetune.full_train else train_rows,
            spec.teacher.finetune,
            spec.task.max_length,
            device,
        )
        teacher = Teacher.from_pretrained(teacher_path, spec.teacher.interface_layer, device)
        if teacher.model.config.num_labels != task.num_labels:
            raise ValueError(
                f"teacher {teacher_path} has {teacher.model.config.num_labels} outputs, task {task.name!r} needs {task.num_labels}"
            )
        train = self._cache(teacher, task, train_rows, "train")
        dev = self._cache(teacher, task, dev_rows, "dev")
        setup_seconds = time.perf_counter() - started

        # Seeded here, after the teacher is ready, so that a run draws the same student
        # initialisation and dropout masks whether its teacher was just fine-tuned or cached.
        torch.manual_seed(spec.seed)
        student = spec.student.create().build(teacher).to(device)
        loss_fn = spec.loss.create()
        optimizer = torch.optim.AdamW(student.parameters(), lr=schedule.lr, fused=device.type == "cuda")
        # Batches vary in length, so the compiled graph is built for dynamic shapes.
        forward = torch.compile(student, dynamic=True) if schedule.compile else student
        synthesiser = None
        if spec.uses_synthetic_data:
            synthesiser = Synthesiser(
                spec.projector.create(),
                spec.sampler.create(),
                schedule.hard_fraction,
                schedule.synthetic_per_hard,
                rng,
                schedule.fit_max,
                schedule.place_rest,
                schedule.diagnostic_points,
            )
            # The projection needs only the pooled vectors: it can fit while the warm-up trains.
            background = schedule.fit_in_background
            if background is None:
                background = device.type == "cuda"
            background = background and schedule.warmup_epochs > 0
            synthesiser.start_fit(train.vectors, background=background)
        inference_batch = schedule.batch_size * INFERENCE_BATCH_FACTOR

        history: list[dict[str, Any]] = []
        losses: np.ndarray | None = None
        last_synthetic: SyntheticSet | None = None
        stopped_by = "max_epochs"
        for epoch in range(1, schedule.max_epochs + 1):
            epoch_started = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch}
            data, targets, labels = train.vectors, train.teacher, train.labels
            if synthesiser is not None and epoch > schedule.warmup_epochs:
                if synthesiser.embedding is None:
                    row.update(synthesiser.finish_fit())
                elif schedule.refit_each_epoch:
                    row.update(synthesiser.fit(train.vectors))
                else:
                    row["projection"] = "reused"
                last_synthetic = synthesiser.generate(losses, train.vectors, teacher.body, train.teacher, inference_batch)
                row.update(last_synthetic.stats)
                synthetic_labels = torch.full((len(last_synthetic.parents),), -1, dtype=labels.dtype, device=device)
                if schedule.keep_real:
                    data = VectorSet.concat(data, last_synthetic.vectors)
                    targets = torch.cat([targets, last_synthetic.teacher])
                    labels = torch.cat([labels, synthetic_labels])
                else:
                    data, targets, labels = last_synthetic.vectors, last_synthetic.teacher, synthetic_labels
            row["phase"] = "warmup" if epoch <= schedule.warmup_epochs else ("synthetic" if synthesiser else "real")
            row["n_train"] = len(data)

            train_started = time.perf_counter()
            progress = f"epoch {epoch}/{schedule.max_epochs}" if self.progress else None
            row["train_loss"] = train_epoch(
                forward, data, targets, labels, loss_fn, optimizer, schedule.batch_size, generator, progress
            )
            row["train_s"] = time.perf_counter() - train_started

            outputs = predict(forward, train.vectors, inference_batch)
            with torch.no_grad():
                losses = loss_fn(outputs, train.teacher, train.labels).float().cpu().numpy()
            row["agreement"] = self._agreement(task, outputs, train.teacher)
            dev_metrics = self._evaluate(task, predict(forward, dev.vectors, inference_batch), dev.labels)
            row.update({f"dev_{name}": value for name, value in dev_metrics.items()})
            row["epoch_s"] = time.perf_counter() - epoch_started
            history.append(row)
            self._say(
                f"epoch {epoch}: agreement {row['agreement']:.4f}, dev score {dev_metrics['score']:.4f}"
                + (f", {row['n_synthetic']} synthetic" if "n_synthetic" in row else "")
                + f" ({row['epoch_s']:.1f} s)"
            )
            if row["agreement"] >= schedule.agreement_target:
                stopped_by = "agreement"
                break

        if synthesiser is not None:
            synthesiser.close()
        teacher.export(student, output_dir / "student")
        write_history(history, output_dir / "history.csv")
        if last_synthetic is not None:
            plot_map(
                synthesiser.embedding,
                losses,
                last_synthetic.hard,
                last_synthetic.points,
                output_dir / "map.png",
                f"{task.name}: {spec.projector.name} projection, epoch {history[-1]['epoch']}",
            )
        dev_outputs = predict(student, dev.vectors, inference_batch)
        metrics = {
            "task": task.name,
            "dev": self._evaluate(task, dev_outputs, dev.labels),
            "teacher_dev": self._evaluate(task, dev.teacher, dev.labels),
            "agreement": history[-1]["agreement"],
            "dev_agreement": self._agreement(task, dev_outputs, dev.teacher),
            "epochs": len(history),
            "stopped_by": stopped_by,
            "train_examples": len(train.vectors),
            "dev_examples": len(dev.vectors),
            "student_parameters": _count_parameters(student),
            "teacher_parameters": _count_parameters(teacher.model),
            "teacher_path": str(teacher_path),
            "machine": machine_description(device),
            "setup_seconds": round(setup_seconds, 2),
            "train_seconds": round(sum(row["epoch_s"] for row in history), 2),
            "total_seconds": round(time.perf_counter() - started, 2),
        }
        write_metrics(metrics, output_dir / "metrics.json")
        return FitResult(metrics, history, output_dir)


def _count_parameters(module: torch.nn.Module) -> int:
    """Parameters that compute outputs; a body's pass-through embedding has none."""
    return sum(p.numel() for p in module.parameters())


def build(spec: Any, overrides: tuple[str, ...] | list[str] = (), progress: bool = True) -> Distiller:
    """A ``Distiller`` from a ``SageSpec``, a mapping, or a YAML/JSON file path, with ``key=value`` overrides."""
    from sage.spec_file import load_spec

    return Distiller(load_spec(spec, overrides), progress=progress)


__all__ = ["Body", "CachedSplit", "Distiller", "FitResult", "build"]
