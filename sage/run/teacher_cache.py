"""The teacher's pass over a split, kept across runs: an ablation with the same teacher and rows
reads the interface vectors and the teacher's outputs from disk instead of running the teacher.

A split's file is found by everything that decides those numbers bit for bit (``TeacherPass``)
and by the texts of its rows, under ``cache_root() / "outputs"``. The gold labels are not kept:
they come from the rows, cheaply, and may be mapped to the teacher's classes anew by each run.
A file that cannot be read is computed again and overwritten, so a damaged cache costs time only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch

from sage.distributed import Cluster
from sage.models.finetune import cache_root
from sage.models.teacher import Teacher
from sage.run.files import atomic
from sage.run.provenance import results_identity
from sage.run.run import CachedSplit
from sage.tasks.task import Task
from sage.training import predict
from sage.vectors import VectorSet


def outputs_root() -> Path:
    """Where every teacher pass is kept: ``cache_root() / "outputs"``."""
    return cache_root() / "outputs"


@dataclass(frozen=True)
class TeacherPass:
    """Everything besides the rows that decides, bit for bit, what the teacher's pass gives.

    The inference batch and the number of processes belong here because the outputs depend on
    how rows are batched (MiniLM's logits move by up to 5e-8 on the CPU between batches of 8 and
    32, its embedding-layer vectors not at all): a run that read another batching's outputs would
    not repeat the numbers of a run that computed its own.
    """

    teacher: str  # folder_fingerprint of the teacher's folder: weights, config and tokenizer
    interface_layer: int
    max_length: int
    dtype: torch.dtype  # the teacher's inference precision
    device_type: str  # CUDA keeps the vectors in bf16, the CPU in float32
    batch: int  # the inference batch
    parts: int  # processes, each computing every parts-th row

    @classmethod
    def of(cls, teacher: Teacher, teacher_fingerprint: str, max_length: int, batch: int, cluster: Cluster) -> TeacherPass:
        return cls(teacher_fingerprint, teacher.interface_layer, max_length, teacher.dtype, teacher.device.type, batch, cluster.world)

    @property
    def folder(self) -> Path:
        identity = {
            "teacher": self.teacher,
            "interface_layer": self.interface_layer,
            "max_length": self.max_length,
            "dtype": str(self.dtype),
            "device": self.device_type,
            "batch": self.batch,
            "parts": self.parts,
            "versions": results_identity(),
        }
        return outputs_root() / hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]

    def split_file(self, task: Task, rows: datasets.Dataset, split: str) -> Path:
        """The file of ``rows``' outputs, named by ``split`` (for the reader) and their texts."""
        return self.folder / f"{split}-{texts_fingerprint(task, rows)[:16]}.pt"


def texts_fingerprint(task: Task, rows: datasets.Dataset) -> str:
    """A hash of the texts the teacher reads, columns kept apart; labels play no part in its pass.
    About 45 ms for SST-2's 67,349 training rows, against over two minutes for MiniLM to embed and
    label them on 2 CPU cores."""
    return hashlib.sha256(json.dumps(task.texts(rows)).encode()).hexdigest()


def teacher_split(
    teacher: Teacher,
    task: Task,
    rows: datasets.Dataset,
    split: str,
    max_length: int,
    batch: int,
    cluster: Cluster,
    progress: bool,
    teacher_fingerprint: str,
    report: Callable[[str], None],
) -> CachedSplit:
    """The split at the interface, the teacher's outputs on it and its labels: read from the cache
    when an earlier run kept them, else computed (over several processes each rank computes its
    part and every rank receives the whole) and kept by rank 0. ``teacher_fingerprint`` is
    ``folder_fingerprint`` of the teacher's folder, computed once per run."""
    path = TeacherPass.of(teacher, teacher_fingerprint, max_length, batch, cluster).split_file(task, rows, split)
    labels = torch.as_tensor(task.labels(rows), device=teacher.device)
    cached, problem = _load(path, teacher, len(rows)) if path.exists() else (None, None)
    # Every rank reads the file, but computes only if all of them could: the computation gathers.
    if all(cluster.gather(cached is not None)):
        report(f"{split}: teacher outputs on {len(rows):,} rows read from the cache ({path.parent})")
        return CachedSplit(*cached, labels)
    if problem is not None:
        report(f"{split}: the cached teacher outputs {path} could not be read ({problem}); computing them again")
    vectors, teacher_outputs = _compute(teacher, task, rows, split, max_length, batch, cluster, progress)
    if cluster.is_main:
        _store(path, vectors, teacher_outputs, split, report)
    return CachedSplit(vectors, teacher_outputs, labels)


def _load(path: Path, teacher: Teacher, count: int) -> tuple[tuple[VectorSet, torch.Tensor] | None, str | None]:
    """The vectors and outputs kept at ``path``, or None and why they cannot be used."""
    try:
        state = torch.load(path, map_location=teacher.device, weights_only=True)
        vectors = VectorSet(state["tokens"], state["lengths"])  # checks that the lengths add up
        outputs = state["teacher"]
        if len(vectors) != count or len(outputs) != count or vectors.dim != teacher.model.config.hidden_size:
            raise ValueError(
                f"{len(vectors)} sequences of width {vectors.dim} and {len(outputs)} outputs, expected {count} "
                f"of width {teacher.model.config.hidden_size}"
            )
    except Exception as error:  # torch.load raises RuntimeError, EOFError, KeyError, OSError... by where a file is damaged
        first = str(error).split("\n")[0].split(". ")[0]  # for one line: torch's messages run to paragraphs
        return None, f"{type(error).__name__}: {first}" if first else type(error).__name__
    return (vectors, outputs), None


def _compute(
    teacher: Teacher, task: Task, rows: datasets.Dataset, split: str, max_length: int, batch: int, cluster: Cluster, progress: bool
) -> tuple[VectorSet, torch.Tensor]:
    part = rows.select(cluster.part(len(rows))) if cluster.distributed else rows
    vectors = teacher.embed(task.texts(part), max_length, batch, progress=f"{split}: embedding" if progress else None)
    teacher_outputs = predict(teacher.inference, vectors, batch, progress=f"{split}: teacher outputs" if progress else None)
    if cluster.distributed:
        parts = cluster.gather((vectors.to("cpu"), teacher_outputs.cpu()))
        # Rank r holds rows r, r + W, ...: row i is item i // W of rank i % W's part.
        firsts = np.cumsum([0] + [len(part_vectors) for part_vectors, _ in parts[:-1]])
        order = torch.as_tensor([firsts[i % cluster.world] + i // cluster.world for i in range(len(rows))])
        vectors = VectorSet.concatenate([part_vectors for part_vectors, _ in parts]).select(order).to(teacher.device)
        teacher_outputs = torch.cat([outputs for _, outputs in parts])[order].to(teacher.device)
    return vectors, teacher_outputs


def _store(path: Path, vectors: VectorSet, teacher_outputs: torch.Tensor, split: str, report: Callable[[str], None]) -> None:
    """Keep the pass at ``path``; a cache that cannot be written costs the next run time, not this run."""
    state = {"tokens": vectors.tokens.cpu(), "lengths": vectors.lengths.cpu(), "teacher": teacher_outputs.cpu()}
    try:
        with atomic(path) as staging:
            torch.save(state, staging)
    except (OSError, RuntimeError) as error:  # torch.save raises RuntimeError on a full disk
        report(f"{split}: the teacher outputs could not be kept in {path} ({error}); the next run computes them again")
