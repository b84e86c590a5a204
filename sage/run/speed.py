"""How big and how fast the exported student is beside its teacher: the paper's speed-up column.

Both are timed as whole text classifiers, from token ids to logits: the teacher's full model and
the student loaded back from its export, on the run's device, on the same inputs. The inputs are
the first 32 rows the run is evaluated on, tokenised by the teacher's tokenizer and padded and
truncated to exactly ``task.max_length`` tokens, so that both models see the same shape whatever
the texts' lengths. Batch 1 times one of them; batch 32 all 32.

Each model gets one warm-up call per batch size, then the two are called in turn, at least
``MIN_CALLS`` times each and until ``MIN_SECONDS`` per model have passed, at most ``MAX_CALLS``
times; the time of a call is its median. Taking turns makes load from other processes slow both
alike, so that the speed-up holds on a busy machine even where the times themselves do not. On
the CPU both run in float32; on CUDA both run under the student's bf16 autocast
(``sage.training.autocast``), whatever the teacher's ``precision``, so that the two compare like
for like.

``metrics.json``'s ``speed`` section::

    {
      "device": "CPU ... (x86_64), 2 threads",      # the machine, as metrics.json's "machine"
      "precision": "float32",                       # or "bfloat16 autocast" on CUDA
      "max_length": 128,                            # every input is padded/truncated to this many tokens
      "inputs": "the first 32 dev rows, ...",       # what was fed, in words
      "batch_1": {
        "student_ms": 4.1, "teacher_ms": 9.8,       # median milliseconds per call (latency)
        "student_per_s": 243.9, "teacher_per_s": 102.0,  # examples per second (batch / median call)
        "speedup": 2.39,                            # teacher_ms / student_ms
        "calls": 26                                 # how many calls of each model were timed
      },
      "batch_32": {...},                            # the same fields
      "student_parameters": 12000000, "teacher_parameters": 22700000,
      "parameter_share": 0.53,                      # student / teacher
      "student_bytes": 48000000, "teacher_bytes": 90900000  # their weight files on disk
    }
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, BatchEncoding, PreTrainedTokenizerBase

from sage.models.family import attention_implementation
from sage.run.run import Run
from sage.training import autocast

BATCH_SIZES = (1, 32)
MIN_CALLS = 3
# Long enough for a stable median of a fast model, short enough that every test run affords it:
# a tiny model on the CPU is measured in about a second, all four (model, batch) pairs together.
MIN_SECONDS = 0.25
MAX_CALLS = 50
# Weight files, in order of preference: a folder that holds both kinds holds the same weights twice.
WEIGHT_FILE_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


def weight_files(model_dir: Path) -> list[Path]:
    """The files that hold a saved model's weights: its safetensors files, else its PyTorch ones."""
    for pattern in WEIGHT_FILE_PATTERNS:
        files = sorted(Path(model_dir).glob(pattern))
        if files:
            return files
    return []


def saved_parameters(model_dir: Path) -> dict[str, int]:
    """Parameter counts of a saved model, read from its weight files: every tensor name with its
    size, so that what is counted is what was saved. Safetensors headers are read alone; PyTorch
    files are loaded onto the meta device, which allocates nothing."""
    counts: dict[str, int] = {}
    for weights in weight_files(model_dir):
        if weights.suffix == ".safetensors":
            with safe_open(weights, framework="pt") as tensors:
                for name in tensors.keys():
                    counts[name] = math.prod(tensors.get_slice(name).get_shape())
        else:
            for name, tensor in torch.load(weights, map_location="meta", weights_only=True).items():
                counts[name] = tensor.numel()
    return counts


def speed_report(run: Run, device_name: str) -> dict[str, Any]:
    """The ``speed`` section of ``metrics.json`` (laid out in this module's docstring) for a run
    whose student is exported: both models timed, their parameters and their weight files' bytes."""
    student_dir = run.folder.path / "student"
    max_length = run.spec.task.max_length
    rows = run.dev_rows
    columns = run.task.texts(rows.select(range(min(len(rows), max(BATCH_SIZES)))))
    inputs = speed_inputs(run.teacher.tokenizer, columns, max_length).to(run.device)
    # The teacher's attention kernel, so that the two differ in their blocks alone.
    student = AutoModelForSequenceClassification.from_pretrained(
        student_dir, dtype=torch.float32, attn_implementation=attention_implementation(run.teacher.model.config)
    ).to(run.device)
    student_parameters = sum(saved_parameters(student_dir).values())
    teacher_parameters = sum(saved_parameters(run.teacher_path).values())
    return {
        "device": device_name,
        "precision": "bfloat16 autocast" if run.device.type == "cuda" else "float32",
        "max_length": max_length,
        "inputs": (
            f"the first {max(BATCH_SIZES)} rows evaluated on (repeated where fewer), tokenised by the teacher's "
            f"tokenizer, padded and truncated to exactly {max_length} tokens for both models"
        ),
        **compare_speed(student, run.teacher.model, inputs, run.device),
        "student_parameters": student_parameters,
        "teacher_parameters": teacher_parameters,
        "parameter_share": round(student_parameters / teacher_parameters, 4),
        "student_bytes": sum(path.stat().st_size for path in weight_files(student_dir)),
        "teacher_bytes": sum(path.stat().st_size for path in weight_files(run.teacher_path)),
    }


def speed_inputs(tokenizer: PreTrainedTokenizerBase, columns: Sequence[Sequence[str]], max_length: int) -> BatchEncoding:
    """The largest batch of ``BATCH_SIZES``, from the texts of ``columns`` (one list per field, two
    for pair tasks) repeated in turn where there are fewer, each exactly ``max_length`` tokens."""
    rows = [[column[i % len(column)] for i in range(max(BATCH_SIZES))] for column in columns]
    return tokenizer(*rows, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")


def compare_speed(
    student: torch.nn.Module, teacher: torch.nn.Module, inputs: Mapping[str, torch.Tensor], device: torch.device
) -> dict[str, dict[str, float | int]]:
    """``batch_<n>`` for each of ``BATCH_SIZES``: both models' median milliseconds per call,
    examples per second, the teacher's time over the student's, and how many calls each had timed.
    ``inputs`` are keyword tensors on ``device`` with at least the largest batch's rows."""
    comparison = {}
    for size in BATCH_SIZES:
        batch = {name: tensor[:size] for name, tensor in inputs.items()}
        (student_seconds, teacher_seconds), calls = time_calls((student, teacher), batch, device)
        comparison[f"batch_{size}"] = {
            "student_ms": round(1000 * student_seconds, 3),
            "teacher_ms": round(1000 * teacher_seconds, 3),
            "student_per_s": round(size / student_seconds, 1),
            "teacher_per_s": round(size / teacher_seconds, 1),
            "speedup": round(teacher_seconds / student_seconds, 2),
            "calls": calls,
        }
    return comparison


def time_calls(
    models: Sequence[torch.nn.Module], inputs: Mapping[str, torch.Tensor], device: torch.device
) -> tuple[list[float], int]:
    """The median seconds of ``model(**inputs)`` for each of ``models``, in eval mode and
    ``device``'s precision, and how many calls each had timed.

    Each model has one untimed call first (it pays for first-call allocations and kernel choices);
    then the models are called in turn, round after round, so that a burst of load from another
    process slows them alike instead of the one that happened to be running.
    """
    modes = [model.training for model in models]
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode(), autocast(device):
        for model in models:
            model.eval()(**inputs)
        _synchronize(device)
        started, rounds = time.perf_counter(), 0
        while rounds < MIN_CALLS or (rounds < MAX_CALLS and time.perf_counter() - started < MIN_SECONDS * len(models)):
            for model, model_times in zip(models, times):
                call_started = time.perf_counter()
                model(**inputs)
                _synchronize(device)  # CUDA calls return before the work is done
                model_times.append(time.perf_counter() - call_started)
            rounds += 1
    for model, mode in zip(models, modes):
        model.train(mode)
    return [statistics.median(model_times) for model_times in times], rounds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
