"""The student's training step and inference, and a whole SAGE run against a whole plain-KD run."""

from __future__ import annotations

import pytest
import torch

import sage
from sage.run.setup import split_rows
from sage.losses.soft_ce import SoftCELoss
from sage.models.finetune import finetune_teacher
from sage.students.truncated import TruncatedStudent
from sage.training import autocast, bucketed_batches, predict

BATCH = 32


@pytest.fixture(scope="module")
def student(teacher):
    return TruncatedStudent([0, 2, 4]).build(teacher)


def test_training_step(benchmark, teacher, student, sst2_sequences):
    lengths = sst2_sequences.host_lengths.float()
    batches = bucketed_batches(lengths, BATCH, torch.Generator().manual_seed(0))
    # A batch of typical length: bucketed batches hold sentences of about the same length.
    index = min(batches, key=lambda batch: abs(lengths[batch].mean() - lengths.mean()))
    vectors, mask = sst2_sequences.batch(index)
    with torch.no_grad(), autocast(vectors.device):
        targets = teacher.body(vectors, mask).float()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    loss_fn = SoftCELoss()

    def step():
        with autocast(vectors.device):
            loss = loss_fn(student(vectors, mask).float(), targets).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=20, iterations=1, warmup_rounds=2)
    benchmark.extra_info["examples_per_s"] = BATCH / benchmark.stats.stats.median
    benchmark.extra_info["tokens_per_example"] = float(mask.sum() / BATCH)


def test_student_inference(benchmark, student, sst2_sequences):
    subset = sst2_sequences.select(torch.arange(4096))
    benchmark.pedantic(predict, args=(student, subset, 4 * BATCH), rounds=3, iterations=1)
    benchmark.extra_info["examples_per_s"] = len(subset) / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def trained_teacher():
    """A teacher fine-tuned for one epoch on the runs' 1,000 rows (cached): runs refuse an untrained
    head, and the timed runs must not include fine-tuning."""
    spec = sage.SageSpec(task={"name": "sst2", "max_train": 1000}, teacher={"finetune": {"epochs": 1}})
    task = sage.tasks.get("sst2")
    rows = split_rows(task, spec.task).train
    return finetune_teacher(task, rows, spec.teacher.finetune, spec.task.max_length, torch.device("cpu"))


@pytest.mark.parametrize("method", ["kd", "sage"])
def test_whole_run(benchmark, tmp_path, method, trained_teacher):
    spec = {
        "task": {"name": "sst2", "max_train": 1000},
        "teacher": {"path": str(trained_teacher)},
        "schedule": {
            "max_epochs": 3,
            "agreement_target": 1.0,  # same number of epochs for both
            "synthetic_share": 0.1 if method == "sage" else 0,
        },
        "output_dir": str(tmp_path),
    }
    distiller = sage.build(spec, progress=False)
    result = benchmark.pedantic(distiller.fit, rounds=1, iterations=1)
    benchmark.extra_info["epochs"] = result.metrics["epochs"]
