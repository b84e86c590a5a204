"""Setting a run up: its inputs checked before any work, then the teacher at the interface with
the data cached there, the student, its optimiser and schedule, and the synthesiser."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm

from sage import streams
from sage.callbacks import Callbacks
from sage.distributed import Cluster
from sage.errors import InputError
from sage.imports import imported
from sage.lr_schedule import EpochLR
from sage.models.backbone import default_backbone
from sage.models.finetune import data_fingerprint, finetune_teacher
from sage.models.teacher import Teacher, check_teacher
from sage.run.files import atomic
from sage.run.folder import RunFolder
from sage.run.provenance import folder_fingerprint
from sage.run.run import CachedSplit, Record, Run
from sage.run.transfer import TransferRows
from sage.run.teacher_cache import teacher_split
from sage.spec import SageSpec, TaskSpec
from sage.spec.file import save_spec
from sage.streams import RandomStreams
from sage.synthesis.strategies.base import SynthesisContext
from sage.synthesis.synthesiser import PoolSettings, Synthesiser
from sage.tasks.task import Task
from sage.tasks.unlabelled import load_unlabelled
from sage.training import TrainingSource, build_optimizer, predict


@dataclass
class Inputs:
    """The task and its rows: what a run reads before it works."""

    task: Task
    train_rows: datasets.Dataset
    dev_rows: datasets.Dataset
    evaluated_on: str  # what dev_rows are, as metrics.json says it
    transfer_rows: datasets.Dataset | None = None  # unlabelled transfer text (task.unlabelled, task.transfer)
    label_mapping: str | None = None  # how the task's classes were aligned with the teacher's, if they were


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("spec device is 'cuda', but torch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def inference_batch(batch_size: int, device: torch.device) -> int:
    """Inference has no backward pass to hold, so a GPU takes 4 times the training batch. A CPU
    is fastest at about the training batch: larger ones leave its caches (labelling 1,000 SST-2
    sentences with MiniLM on 2 cores: 2.1 s in batches of 32, 2.5 s of 128, 9.0 s of 1,024)."""
    return batch_size * 4 if device.type == "cuda" else batch_size


class Rows(NamedTuple):
    """The rows a run reads: what the student trains on, what it is scored on (and what those
    are, in words), and its unlabelled transfer rows (None: the task has none)."""

    train: datasets.Dataset
    evaluation: datasets.Dataset
    evaluated_on: str
    transfer: datasets.Dataset | None


def split_rows(task: Task, spec: TaskSpec) -> Rows:
    """The student's training rows, the rows it is evaluated on (and what they are), and its
    unlabelled transfer rows.

    Training rows are the train split, or ``max_train`` of them drawn with ``subset_seed``. The
    evaluation rows are the dev split, or, with ``holdout`` (or a task without dev rows, its
    ``dev_fraction``), that many train rows from the end of the same permutation, so never among
    the training rows. ``transfer`` rows follow the training rows in that permutation, labels
    dropped, so they are neither trained on as labelled rows nor evaluated on; ``unlabelled``
    text comes after them.
    """
    rows = task.load("train", spec.data_dir)
    order = np.random.default_rng(spec.subset_seed).permutation(len(rows))
    held = spec.holdout or (0 if task.has_dev else max(1, round(task.dev_fraction * len(rows))))
    available = len(rows) - held
    if available < 1:
        raise InputError(f"task.holdout ({held}) leaves none of the {len(rows)} {task.name} train rows to train on")
    size = available if spec.max_train is None else min(spec.max_train, available)
    beyond = spec.transfer or 0
    if size + beyond > available:
        raise InputError(
            f"task.transfer ({beyond}) asks for more train rows than lie beyond the {size} training rows: the "
            f"{task.name} train split has {len(rows)} rows{f', {held} of them held out' if held else ''}, so at most "
            f"{available - size} are left; lower task.transfer or task.max_train"
        )
    train = rows if size == len(rows) else rows.select(np.sort(order[:size]))
    if spec.holdout:
        evaluation, evaluated_on = rows.select(np.sort(order[-held:])), f"{held} held-out train rows"
    elif held:
        evaluation = rows.select(np.sort(order[-held:]))
        evaluated_on = f"{held} train rows held out as dev (no dev file; dev_fraction {task.dev_fraction:g})"
    else:
        evaluation, evaluated_on = task.load("dev", spec.data_dir), "dev"
    parts = [task.unlabelled(rows.select(np.sort(order[size : size + beyond])))] if beyond else []
    if spec.unlabelled is not None:
        parts.append(load_unlabelled(spec.unlabelled, task))
    transfer = datasets.concatenate_datasets(parts) if parts else None
    return Rows(train, evaluation, evaluated_on, transfer)


def check_inputs(spec: SageSpec) -> Inputs:
    """Everything a run reads before it works, checked: the device, a given teacher (its classes
    aligned with the task's), or the backbone a teacher would be fine-tuned from, and the task's
    rows. ``sage run`` and ``sage validate`` both call it, so that validate says ok only where a
    run would start."""
    resolve_device(spec.device)
    task, mapping = spec.task.create(), None
    if spec.teacher.path is not None:
        task, mapping = check_teacher(Path(spec.teacher.path), task)
    else:
        check_backbone_reachable(spec.teacher.finetune.backbone)
    train_rows, dev_rows, evaluated_on, transfer_rows = split_rows(task, spec.task)
    return Inputs(task, train_rows, dev_rows, evaluated_on, transfer_rows, mapping)


def check_backbone_reachable(backbone: str | None) -> None:
    """Refuse a backbone named by its hub id that is not in the local cache while the hub is off:
    the run would otherwise fail only when fine-tuning starts."""
    if backbone is None or Path(backbone).exists():
        return
    from transformers import AutoConfig  # noqa: PLC0415  (the one place that needs it)

    try:
        AutoConfig.from_pretrained(backbone, local_files_only=True)
    except (OSError, ValueError):
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
            raise InputError(
                f"teacher.finetune.backbone {backbone!r} is neither a local folder nor in the Hugging Face cache, and "
                "HF_HUB_OFFLINE is set, so it cannot be downloaded: give a model folder, download it while online, "
                f"or leave the backbone unset for the bundled default ({default_backbone()})"
            ) from None


def say(enabled: bool, message: str) -> None:
    """One line of progress, between progress bars, when the run shows progress."""
    if enabled:
        tqdm.write(message, file=sys.stderr)  # stdout is the result's: `sage run` prints its metrics there


def start(spec: SageSpec, folder: RunFolder, cluster: Cluster, inputs: Inputs, progress: bool) -> Run:
    """The resolved spec written, the teacher at the interface with the data cached there, student,
    optimiser and schedule, and the synthesiser prepared (on the rank that synthesises)."""
    schedule, task = spec.schedule, inputs.task
    started = time.perf_counter()
    device = resolve_device(spec.device)
    batch = inference_batch(schedule.batch_size, device)
    if cluster.is_main:
        with atomic(folder.path / "spec.yaml") as staging:
            save_spec(spec, staging, imports=imported())
    run_streams = RandomStreams(spec.seed)

    teacher_path = spec.teacher.path or cluster.on_main(  # the other ranks then find it cached
        lambda: finetune_teacher(
            task,
            task.load("train", spec.task.data_dir) if spec.teacher.finetune.full_train else inputs.train_rows,
            spec.teacher.finetune,
            spec.task.max_length,
            device,
        )
    )
    teacher = Teacher.from_pretrained(teacher_path, spec.teacher.interface_layer, device, spec.teacher.precision)
    fingerprint, report = folder_fingerprint(Path(teacher_path)), lambda message: say(progress, message)
    train = teacher_split(teacher, task, inputs.train_rows, "train", spec.task.max_length, batch, cluster, progress, fingerprint, report)
    dev = teacher_split(teacher, task, inputs.dev_rows, "dev", spec.task.max_length, batch, cluster, progress, fingerprint, report)
    setup_seconds = time.perf_counter() - started

    # Drawn after the teacher is ready, from streams of their own, so that a run draws the same
    # student and dropout masks whether its teacher was just fine-tuned or cached.
    with run_streams.global_torch(streams.STUDENT_INIT, device):
        student = spec.student.create(spec.seed).build(teacher).to(device)
    optimizer = build_optimizer(student, schedule.lr, schedule.weight_decay, device)
    lr_schedule = EpochLR(optimizer, schedule.lr_schedule, schedule.lr_warmup, schedule.max_epochs)
    real = TrainingSource(
        train.vectors,
        train.teacher,
        train.labels,
        run_streams.torch(streams.REAL_BATCHES),  # alike on every rank: each takes its share
        run_streams.global_torch(cluster.stream_name(streams.REAL_DROPOUT), device),
    )
    transfer = transfer_split = None
    if inputs.transfer_rows is not None:
        transfer_split = teacher_split(
            teacher, task, inputs.transfer_rows, "transfer", spec.task.max_length, batch, cluster, progress, fingerprint, report
        )
    if transfer_split is not None and schedule.transfer_share != 0:  # 0: searched by synthesis only
        share = schedule.transfer_share
        transfer = TransferRows(
            transfer_split,
            len(inputs.transfer_rows) if share is None else max(1, round(share * len(inputs.train_rows))),
            run_streams.torch(streams.TRANSFER_ROWS),
            run_streams.torch(streams.TRANSFER_BATCHES),
            run_streams.global_torch(cluster.stream_name(streams.TRANSFER_DROPOUT), device),
        )
    loss_fn = spec.loss.create(spec.seed)
    synthetic_order = synthetic_dropout = synthesiser = None
    if spec.uses_synthetic_data:  # every rank trains on the synthetic sets, with streams of their own
        synthetic_order = run_streams.torch(streams.SYNTHETIC_BATCHES)
        synthetic_dropout = run_streams.global_torch(cluster.stream_name(streams.SYNTHETIC_DROPOUT), device)
    if spec.uses_synthetic_data and cluster.is_main:  # rank 0 alone synthesises
        synthesiser = _synthesiser(spec, loss_fn, run_streams)
        searched = transfer_split if any(strategy.needs_transfer for strategy in synthesiser.strategies) else None
        context = _synthesis_context(spec, teacher, train, searched, inputs, task, loss_fn, batch, run_streams, device, progress)
        synthesiser.prepare(context, train.labels)  # may start fitting a projection now
    # Batches vary in length, so the compiled graph is built for dynamic shapes.
    inference = torch.compile(student, dynamic=True) if schedule.compile else student
    forward = cluster.wrap(student, device)
    forward = torch.compile(forward, dynamic=True) if schedule.compile else forward
    callbacks = Callbacks([section.create(spec.seed) for section in spec.callbacks] if cluster.is_main else [])
    return Run(
        spec=spec, device=device, folder=folder, cluster=cluster, streams=run_streams, task=task, teacher=teacher,
        teacher_path=Path(teacher_path), train=train, dev=dev, student=student, forward=forward, inference=inference,
        loss_fn=loss_fn, optimizer=optimizer, lr_schedule=lr_schedule, real=real, synthetic_order=synthetic_order,
        synthetic_dropout=synthetic_dropout, synthesiser=synthesiser, callbacks=callbacks, inference_batch=batch,
        started=started, setup_seconds=setup_seconds,
        data_fingerprints={"train": data_fingerprint(task, inputs.train_rows), "dev": data_fingerprint(task, inputs.dev_rows)},
        record=Record(device, timed_from=started + setup_seconds), progress=progress, transfer=transfer, evaluated_on=inputs.evaluated_on, dev_rows=inputs.dev_rows,
        label_mapping=inputs.label_mapping,
    )


def _synthesiser(spec: SageSpec, loss_fn: object, run_streams: RandomStreams) -> Synthesiser:
    """The spec's synthesis: its strategy making the epoch's points around the hard set, or a pool
    of candidates made by its strategy (or mix of strategies) and chosen from each epoch."""
    synthesis, schedule = spec.synthesis, spec.schedule
    strategies = synthesis.strategies(spec.seed)
    strategy = strategies[synthesis.name][0] if synthesis.name in strategies else next(iter(strategies.values()))[0]
    pool = None
    if synthesis.pool is not None:
        pool = PoolSettings(
            synthesis.pool, strategies, synthesis.select, synthesis.refresh, synthesis.score_fraction,
            synthesis.select_temperature, run_streams.numpy(streams.POOL_SELECTION),
        )
    return Synthesiser(
        strategy, synthesis.parents, schedule.hard_fraction, schedule.synthetic_share, schedule.rank_by, loss_fn, pool
    )


def _synthesis_context(
    spec: SageSpec,
    teacher: Teacher,
    train: CachedSplit,
    transfer: CachedSplit | None,
    inputs: Inputs,
    task: Task,
    loss_fn: object,
    batch: int,
    run_streams: RandomStreams,
    device: torch.device,
    progress: bool,
) -> SynthesisContext:
    """What stays fixed for the run's synthesis: the training examples, the space neighbours are
    searched in, the teacher, the transfer rows (``transfer``: given when a strategy searches them), and the
    strategy's own streams, projector and sampler."""

    def in_space(split: CachedSplit, name: str) -> np.ndarray:
        if spec.synthesis.space == "teacher":
            label = f"{name}: teacher space" if progress else None
            return predict(teacher.semantic, split.vectors, batch, progress=label).cpu().numpy()
        return split.vectors.pooled().cpu().numpy()

    pooled = train.vectors.pooled().cpu().numpy()
    space = pooled if spec.synthesis.space == "interface" else in_space(train, "train")
    return SynthesisContext(
        real=train.vectors,
        pooled=pooled,
        space=space,
        space_name=spec.synthesis.space,
        teacher=teacher.inference,
        teacher_outputs=train.teacher,
        regression=task.is_regression,
        temperature=float(getattr(loss_fn, "temperature", 1.0)),
        batch_size=batch,
        rng=run_streams.numpy(streams.SYNTHESIS),
        fit_rng=run_streams.numpy(streams.FIT_SAMPLE),
        projector=spec.projector.create(spec.seed),
        sampler=spec.sampler.create(spec.seed),
        device=device,
        report=lambda message: say(progress, message),
        source=teacher,
        texts=task.texts(inputs.train_rows),
        max_length=spec.task.max_length,
        transfer=transfer.vectors if transfer is not None else None,
        transfer_teacher=transfer.teacher if transfer is not None else None,
        transfer_space=in_space(transfer, "transfer") if transfer is not None else None,
    )
