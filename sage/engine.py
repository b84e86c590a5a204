"""The distillation engine: the loop of DESIGN.md, for SAGE and every baseline it can express."""

from __future__ import annotations

import contextlib
import math
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from safetensors import safe_open

import sage.tasks
from sage import streams
from sage.run import checkpoint
from sage.callbacks import Callback, FitStart
from sage.distributed import Cluster
from sage.errors import InputError
from sage.run.model_card import write_model_card
from sage.models.body import Body
from sage.models.finetune import data_fingerprint, finetune_teacher
from sage.models.teacher import Teacher, check_teacher
from sage.run.outputs import plot_map, write_metrics
from sage.run.provenance import NUMERICS_VERSION, code_version, folder_fingerprint, package_versions
from sage.run.folder import RunFolder, atomic
from sage.spec import SageSpec, TaskSpec
from sage.spec.file import save_spec
from sage.streams import RandomStreams
from sage.synthesis.strategies.base import SynthesisContext
from sage.synthesis.synthesiser import Synthesiser, SyntheticSet
from sage.tasks.task import Task
from sage.training import LearningRate, TrainingSource, build_optimizer, predict, train_epoch
from sage.vectors import VectorSet


def inference_batch(batch_size: int, device: torch.device) -> int:
    """Inference has no backward pass to hold, so a GPU takes 4 times the training batch. A CPU
    is fastest at about the training batch: larger ones leave its caches (labelling 1,000 SST-2
    sentences with MiniLM on 2 cores: 2.1 s in batches of 32, 2.5 s of 128, 9.0 s of 1,024)."""
    return batch_size * 4 if device.type == "cuda" else batch_size


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


@dataclass
class Run:
    """What one ``fit()`` holds while it trains."""

    spec: SageSpec
    device: torch.device
    folder: RunFolder
    streams: RandomStreams
    task: Task
    teacher: Teacher
    teacher_path: Path
    train: CachedSplit
    dev: CachedSplit
    cluster: Cluster
    student: Body
    forward: torch.nn.Module  # what trains: the student, compiled when the spec asks, under DDP on several ranks
    inference: torch.nn.Module  # what predicts: the student, compiled when the spec asks (never DDP: rank 0 alone predicts)
    loss_fn: Any
    optimizer: torch.optim.Optimizer
    learning_rate: LearningRate
    real: TrainingSource
    synthesiser: Synthesiser | None
    callbacks: list[Callback]
    started: float
    setup_seconds: float
    data_fingerprints: dict[str, str]  # of the training rows and the rows scored ("train", "dev")
    synthetic_order: torch.Generator | None = None  # the synthetic batches' own order and dropout streams
    synthetic_dropout: streams.GlobalTorchStream | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_started: float = 0.0
    outputs: torch.Tensor | None = None  # the student's outputs on the training set, after the last epoch
    last_map: dict[str, np.ndarray] | None = None  # what map.png shows of the last synthetic epoch
    synthetic_epochs: int = 0
    synthetic_examples: int = 0
    steps: int = 0
    stopped_by: str = "max_epochs"


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("spec device is 'cuda', but torch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def split_rows(task: Task, spec: TaskSpec) -> tuple[datasets.Dataset, datasets.Dataset]:
    """The student's training rows and the rows it is evaluated on.

    Training rows are the train split, or ``max_train`` of them drawn with ``subset_seed``. The
    evaluation rows are the dev split, or, with ``holdout``, that many train rows from the end of
    the same permutation, so never among the training rows.
    """
    rows = task.load("train", spec.data_dir)
    order = np.random.default_rng(spec.subset_seed).permutation(len(rows))
    held = spec.holdout or 0
    available = len(rows) - held
    if available < 1:
        raise ValueError(f"task.holdout ({held}) leaves none of the {len(rows)} {task.name} train rows to train on")
    size = available if spec.max_train is None else min(spec.max_train, available)
    train = rows if size == len(rows) else rows.select(np.sort(order[:size]))
    evaluation = rows.select(np.sort(order[-held:])) if held else task.load("dev", spec.data_dir)
    return train, evaluation


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU {cpu_model()} ({platform.machine()}), {torch.get_num_threads()} threads"


def cpu_model() -> str:
    """The processor's name, so that rows from two machines of the same architecture can be told apart."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or "unknown model"


class Distiller:
    """Runs one spec: ``Distiller(spec).fit()``. Build it with ``sage.build``."""

    def __init__(self, spec: SageSpec, progress: bool = True) -> None:
        self.spec = spec
        self.progress = progress

    def fit(self, resume: bool = False, overwrite: bool = False) -> FitResult:
        """DESIGN.md's data flow: cache the interface once, then epochs of (synthesis,) training and
        evaluation, each ending in a checkpoint.

        The output folder must be new or empty. ``resume`` continues an unfinished run of this spec
        there from its last finished epoch, and ends exactly as the run would have uninterrupted;
        ``overwrite`` removes the run the folder holds; both: resume where possible, else start again.
        """
        cluster = Cluster.from_environment(resolve_device(self.spec.device))
        if cluster.distributed and resume:
            raise InputError("resume is not supported in a run over several processes yet; run again with --overwrite")
        self.progress = self.progress and cluster.is_main  # one process shows progress
        folder = RunFolder(self.spec.run_dir(), self.spec.fingerprint())
        resumed = cluster.on_main(lambda: folder.claim(resume, overwrite))  # refuses before any work
        rows = self._inputs()  # a wrong input stops the run before anything is written
        run = None
        with folder.running() if cluster.is_main else contextlib.nullcontext():
            try:
                run = self._start(folder, cluster, *rows)
                self._prepare_synthesis(run)
                if resumed:
                    checkpoint.restore(run, checkpoint.load(folder.checkpoint))
                self._notify(run, "on_fit_start", FitStart(self.spec, folder.path, tuple(run.history), self.progress))
                while not self._done(run):
                    epoch = len(run.history) + 1
                    synthetic = self._synthesise(run, epoch)  # None in warm-up epochs and for plain KD
                    row = self._train(run, epoch, synthetic)
                    row = cluster.broadcast(row | self._evaluate(run) if cluster.is_main else row)
                    self._record(run, row)
                    if cluster.is_main:
                        checkpoint.save(folder.checkpoint, checkpoint.capture(run))
            finally:
                if run is not None and run.synthesiser is not None:
                    run.synthesiser.close()  # no background fit or temporary file outlives the run
            result = cluster.on_main(lambda: self._finish(run))
        return result

    # -- the steps of fit() ---------------------------------------------------------------------

    def _inputs(self) -> tuple[Task, datasets.Dataset, datasets.Dataset]:
        """The task, its training and scored rows, and a given teacher, checked."""
        task = sage.tasks.get(self.spec.task.name)
        train_rows, dev_rows = split_rows(task, self.spec.task)
        if self.spec.teacher.path is not None:
            check_teacher(Path(self.spec.teacher.path), task)
        return task, train_rows, dev_rows

    def _start(
        self, folder: RunFolder, cluster: Cluster, task: Task, train_rows: datasets.Dataset, dev_rows: datasets.Dataset
    ) -> Run:
        """The resolved spec, the teacher at the interface with the data cached there, student and optimiser."""
        spec, schedule = self.spec, self.spec.schedule
        started = time.perf_counter()
        device = resolve_device(spec.device)
        if cluster.is_main:
            with atomic(folder.path / "spec.yaml") as staging:
                save_spec(spec, staging)
        run_streams = RandomStreams(spec.seed)

        teacher_path = spec.teacher.path or cluster.on_main(  # the other ranks then find it cached
            lambda: finetune_teacher(
                task,
                task.load("train", spec.task.data_dir) if spec.teacher.finetune.full_train else train_rows,
                spec.teacher.finetune,
                spec.task.max_length,
                device,
            )
        )
        teacher = Teacher.from_pretrained(teacher_path, spec.teacher.interface_layer, device, spec.teacher.precision)
        train = self._cache(teacher, task, train_rows, "train", cluster)
        dev = self._cache(teacher, task, dev_rows, "dev", cluster)
        setup_seconds = time.perf_counter() - started

        # Drawn after the teacher is ready, from streams of their own, so that a run draws the same
        # student and dropout masks whether its teacher was just fine-tuned or cached.
        with run_streams.global_torch(streams.STUDENT_INIT, device):
            student = spec.student.create().build(teacher).to(device)
        optimizer = build_optimizer(student, schedule.lr, schedule.weight_decay, device)
        learning_rate = LearningRate(optimizer, schedule.lr, schedule.lr_schedule, schedule.lr_warmup, schedule.max_epochs)
        real = TrainingSource(
            train.vectors,
            train.teacher,
            train.labels,
            run_streams.torch(streams.REAL_BATCHES),  # alike on every rank: each takes its share
            run_streams.global_torch(cluster.stream_name(streams.REAL_DROPOUT), device),
        )
        loss_fn = spec.loss.create()
        synthesiser = None
        if spec.uses_synthetic_data and cluster.is_main:
            synthesiser = Synthesiser(
                spec.synthesis.create(),
                spec.synthesis.parents,
                schedule.hard_fraction,
                schedule.synthetic_share,
                schedule.rank_by,
                loss_fn,
            )
        # Batches vary in length, so the compiled graph is built for dynamic shapes.
        inference = torch.compile(student, dynamic=True) if schedule.compile else student
        forward = torch.compile(cluster.wrap(student, device), dynamic=True) if schedule.compile else cluster.wrap(student, device)
        callbacks = [section.create() for section in spec.callbacks] if cluster.is_main else []
        return Run(
            spec, device, folder, run_streams, task, teacher, Path(teacher_path), train, dev, cluster, student, forward,
            inference, loss_fn, optimizer, learning_rate, real, synthesiser, callbacks, started, setup_seconds,
            {"train": data_fingerprint(task, train_rows), "dev": data_fingerprint(task, dev_rows)},
        )

    def _prepare_synthesis(self, run: Run) -> None:
        """Hand the strategy what stays fixed for the run (on rank 0, which synthesises); it may start
        fitting a projection now. Every rank trains on the synthetic sets, with streams of their own."""
        if not self.spec.uses_synthetic_data:
            return
        run.synthetic_order = run.streams.torch(streams.SYNTHETIC_BATCHES)
        run.synthetic_dropout = run.streams.global_torch(run.cluster.stream_name(streams.SYNTHETIC_DROPOUT), run.device)
        if run.synthesiser is None:
            return
        spec, train = self.spec, run.train
        batch = self._inference_batch
        pooled = train.vectors.pooled().cpu().numpy()
        space = pooled
        if spec.synthesis.space == "teacher":
            progress = "train: teacher space" if self.progress else None
            space = predict(run.teacher.semantic, train.vectors, batch, progress=progress).cpu().numpy()
        context = SynthesisContext(
            real=train.vectors,
            pooled=pooled,
            space=space,
            teacher=run.teacher.inference,
            teacher_outputs=train.teacher,
            regression=run.task.is_regression,
            temperature=float(getattr(run.loss_fn, "temperature", 1.0)),
            batch_size=batch,
            rng=run.streams.numpy(streams.SYNTHESIS),
            fit_rng=run.streams.numpy(streams.FIT_SAMPLE),
            projector=spec.projector.create(),
            sampler=spec.sampler.create(),
            device=run.device,
        )
        run.synthesiser.prepare(context, train.labels)

    def _synthesise(self, run: Run, epoch: int) -> SyntheticSet | None:
        run.epoch_started = time.perf_counter()
        if not self.spec.uses_synthetic_data or epoch <= self.spec.schedule.warmup_epochs:
            return None
        synthetic = None
        if run.cluster.is_main:
            if run.outputs is None:  # no warm-up: rank the untrained student
                run.outputs = predict(run.inference, run.train.vectors, self._inference_batch)
            synthetic = run.synthesiser.generate(run.outputs, run.student)
            run.last_map = self._map_inputs(run, synthetic)
            self._notify(run, "on_synthesis", synthetic)
        if run.cluster.distributed:
            synthetic = run.cluster.broadcast(synthetic.to("cpu") if run.cluster.is_main else None).to(run.device)
        return synthetic

    def _train(self, run: Run, epoch: int, synthetic: SyntheticSet | None) -> dict[str, Any]:
        schedule = self.spec.schedule
        row: dict[str, Any] = {"epoch": epoch, "phase": "warmup" if epoch <= schedule.warmup_epochs else "real"}
        sources = [run.real]
        if synthetic is not None:
            row["phase"] = "synthetic"
            row |= synthetic.stats
            missing = torch.full((len(synthetic.parents),), -1, dtype=run.train.labels.dtype, device=run.device)
            source = TrainingSource(synthetic.vectors, synthetic.teacher, missing, run.synthetic_order, run.synthetic_dropout)
            sources = [run.real, source] if schedule.keep_real else [source]
            run.synthetic_epochs += 1
            run.synthetic_examples += len(synthetic.parents)
        row["n_train"] = sum(len(source.data) for source in sources)
        started = time.perf_counter()
        progress = f"epoch {epoch}/{schedule.max_epochs}" if self.progress else None
        row |= train_epoch(
            run.forward, sources, run.loss_fn, run.optimizer, run.learning_rate, epoch,
            schedule.batch_size, schedule.max_grad_norm, progress, run.cluster,
        )
        row["train_s"] = time.perf_counter() - started
        run.steps += row["steps"]
        return row

    def _evaluate(self, run: Run) -> dict[str, Any]:
        run.outputs = predict(run.inference, run.train.vectors, self._inference_batch)
        dev_metrics = self._scores(run.task, predict(run.inference, run.dev.vectors, self._inference_batch), run.dev.labels)
        return {"agreement": self._agreement(run.task, run.outputs, run.train.teacher)} | {
            f"dev_{name}": value for name, value in dev_metrics.items()
        }

    def _record(self, run: Run, row: dict[str, Any]) -> None:
        row["epoch_s"] = time.perf_counter() - run.epoch_started
        run.history.append(row)
        self._notify(run, "on_epoch_end", row)

    def _done(self, run: Run) -> bool:
        """All epochs run, or agreement reached, and, for a run with synthesis, after at least one
        synthetic epoch: a run that stopped in its warm-up would be plain KD filed as SAGE."""
        if not run.history:
            return False
        reached = run.history[-1]["agreement"] >= self.spec.schedule.agreement_target
        if reached and (not self.spec.uses_synthetic_data or run.synthetic_epochs > 0):
            run.stopped_by = "agreement"
            return True
        return len(run.history) >= self.spec.schedule.max_epochs

    def _finish(self, run: Run) -> FitResult:
        """Export the student, write the map, metrics and the student's model card."""
        spec, task, output_dir = self.spec, run.task, run.folder.path
        with atomic(output_dir / "student") as staging:
            run.teacher.export(run.student, staging, task, spec.task.max_length)
        if run.last_map is not None:
            self._plot(run)
        dev_outputs = predict(run.student, run.dev.vectors, self._inference_batch)
        metrics = {
            "task": task.name,
            "evaluated_on": f"{spec.task.holdout} held-out train rows" if spec.task.holdout else "dev",
            "dev": self._scores(task, dev_outputs, run.dev.labels),
            "teacher_dev": self._scores(task, run.dev.teacher, run.dev.labels),
            "agreement": run.history[-1]["agreement"],
            "dev_agreement": self._agreement(task, dev_outputs, run.dev.teacher),
            "epochs": len(run.history),
            "stopped_by": run.stopped_by,
            "synthetic_epochs": run.synthetic_epochs,
            "synthetic_examples_trained": run.synthetic_examples,
            "real_examples_trained": sum(len(run.train.vectors) for row in run.history if spec.schedule.keep_real or row["phase"] != "synthetic"),
            "gradient_steps": run.steps,
            "train_examples": len(run.train.vectors),
            "dev_examples": len(run.dev.vectors),
            **_parameter_counts("student", saved_parameters(output_dir / "student")),
            **_parameter_counts("teacher", saved_parameters(run.teacher_path)),
            "teacher_path": str(run.teacher_path),
            "teacher_precision": str(run.teacher.dtype).removeprefix("torch."),
            "machine": machine_description(run.device),
            "setup_seconds": round(run.setup_seconds, 2),
            "train_seconds": round(sum(row["epoch_s"] for row in run.history), 2),
            "total_seconds": round(time.perf_counter() - run.started, 2),
            "provenance": self._provenance(run),
        }
        write_metrics(metrics, output_dir / "metrics.json")
        write_model_card(output_dir / "student", spec, task, metrics)
        self._notify(run, "on_fit_end", metrics)
        shutil.rmtree(run.folder.checkpoint, ignore_errors=True)  # the run is exported; resuming has no use
        return FitResult(metrics, run.history, output_dir)

    def _provenance(self, run: Run) -> dict[str, Any]:
        """Everything outside the spec that decided the numbers: data, teacher, code and libraries."""
        return {
            "train_rows": run.data_fingerprints["train"],
            f"{'holdout' if self.spec.task.holdout else 'dev'}_rows": run.data_fingerprints["dev"],
            "teacher": folder_fingerprint(run.teacher_path),
            "numerics_version": NUMERICS_VERSION,
            "versions": package_versions(),
            "commit": code_version(),
        }

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def _inference_batch(self) -> int:
        return inference_batch(self.spec.schedule.batch_size, resolve_device(self.spec.device))

    @staticmethod
    def _notify(run: Run, hook: str, argument: Any) -> None:
        for callback in run.callbacks:
            getattr(callback, hook)(argument)

    def _cache(self, teacher: Teacher, task: Task, rows: datasets.Dataset, split: str, cluster: Cluster) -> CachedSplit:
        """The split at the interface and the teacher's outputs on it; over several processes each
        rank computes its part and every rank receives the whole."""
        part = rows.select(cluster.part(len(rows))) if cluster.distributed else rows
        progress = f"{split}: embedding" if self.progress else None
        vectors = teacher.embed(task.texts(part), self.spec.task.max_length, self._inference_batch, progress=progress)
        progress = f"{split}: teacher outputs" if self.progress else None
        teacher_outputs = predict(teacher.inference, vectors, self._inference_batch, progress=progress)
        if cluster.distributed:
            parts = cluster.gather((vectors.to("cpu"), teacher_outputs.cpu()))
            # Rank r holds rows r, r + W, ...: row i is item i // W of rank i % W's part.
            firsts = np.cumsum([0] + [len(part_vectors) for part_vectors, _ in parts[:-1]])
            order = torch.as_tensor([firsts[i % cluster.world] + i // cluster.world for i in range(len(rows))])
            vectors = VectorSet.concatenate([part_vectors for part_vectors, _ in parts]).select(order).to(teacher.device)
            teacher_outputs = torch.cat([outputs for _, outputs in parts])[order].to(teacher.device)
        labels = torch.as_tensor(task.labels(rows), device=teacher.device)
        return CachedSplit(vectors, teacher_outputs, labels)

    @staticmethod
    def _map_inputs(run: Run, synthetic: SyntheticSet) -> dict[str, np.ndarray]:
        """What map.png needs of a synthetic epoch: small enough for a checkpoint, unlike the set."""
        context = run.synthesiser.context
        if run.synthesiser.strategy.map_embedding is not None:
            points = synthetic.points
        elif context.space is context.pooled:
            points = synthetic.vectors.pooled().cpu().numpy()
        else:  # teacher space: the new points have no place in it until the teacher reads them
            points = np.empty((0, context.space.shape[1]), dtype=np.float32)
        return {"scores": synthetic.scores, "hard": synthetic.hard, "points": points}

    def _plot(self, run: Run) -> None:
        """The map of the last synthetic epoch, coloured by the scores that chose its hard set."""
        spec, drawn = self.spec, run.last_map
        embedding = run.synthesiser.strategy.map_embedding
        where = f"{spec.projector.name} projection" if embedding is not None else f"{spec.synthesis.space} space"
        with atomic(run.folder.path / "map.png") as staging:
            plot_map(
                run.synthesiser.context.space if embedding is None else embedding,
                drawn["scores"],
                drawn["hard"],
                drawn["points"],
                staging,
                f"{run.task.name}: {spec.synthesis.name}, {where}, epoch {run.history[-1]['epoch']}",
                f"{spec.schedule.rank_by} (ranks the hard set)",
            )

    def _agreement(self, task: Task, student: torch.Tensor, teacher: torch.Tensor) -> float:
        if task.is_regression:
            agree = (student[:, 0] - teacher[:, 0]).abs() <= self.spec.schedule.agreement_tolerance
        else:
            agree = student.argmax(1) == teacher.argmax(1)
        return float(agree.float().mean())

    @staticmethod
    def _scores(task: Task, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        predictions = outputs[:, 0] if task.is_regression else outputs.argmax(1)
        return task.evaluate(predictions.cpu().numpy(), labels.cpu().numpy())


def saved_parameters(model_dir: Path) -> dict[str, int]:
    """Parameter counts of a saved model, read from its weight files' headers: every tensor name
    with its size, so that what is counted is what was saved."""
    counts: dict[str, int] = {}
    for weights in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(weights, framework="pt") as tensors:
            for name in tensors.keys():
                counts[name] = math.prod(tensors.get_slice(name).get_shape())
    return counts


def _parameter_counts(model: str, counts: dict[str, int]) -> dict[str, int]:
    """The whole count, and the count without the embedding layer (which the distilled blocks
    never train: the student reads the teacher's interface vectors)."""
    return {
        f"{model}_parameters": sum(counts.values()),
        f"{model}_parameters_without_embeddings": sum(n for name, n in counts.items() if ".embeddings." not in f".{name}"),
    }


def build(spec: Any, overrides: tuple[str, ...] | list[str] = (), progress: bool = True) -> Distiller:
    """A ``Distiller`` from a ``SageSpec``, a mapping, or a YAML/JSON file path, with ``key=value`` overrides."""
    from sage.spec.file import load_spec

    return Distiller(load_spec(spec, overrides), progress=progress)


__all__ = ["Body", "CachedSplit", "Distiller", "FitResult", "build"]
