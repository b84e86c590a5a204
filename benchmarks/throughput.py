"""Training throughput of the 3-layer student on cached SST-2 vectors, and where its time goes.

    python benchmarks/throughput.py --max-train 4000 --batch-sizes 32          # CPU
    python benchmarks/throughput.py --batch-sizes 64 256 1024 4096 --compile-batch 1024   # GPU, full SST-2

Each configuration trains two full epochs through the engine's own ``train_epoch`` and
times the second, so that compilation and per-shape kernel planning stay out of the figure. "padded" pads every sequence to
max_length, as a naive loop does; "bucketed" is the engine's length-bucketed batching.
Writes JSON and prints a markdown table, then a profile of the fastest configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import sage
from sage.models.backbone import default_backbone
from sage.losses.soft_ce import SoftCELoss
from sage.students.truncated import TruncatedStudent
from sage.models.teacher import Teacher
from sage.streams import RandomStreams
from sage.lr_schedule import EpochLR
from sage.training import TrainingSource, build_optimizer, predict, train_epoch
from sage.vectors import VectorSet


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def padded(data: VectorSet, width: int) -> VectorSet:
    """Every sequence padded to ``width`` and attended in full, as a loop without bucketing runs."""
    vectors = torch.nn.functional.pad(data.padded(), (0, 0, 0, width - data.longest))
    return VectorSet.from_padded(vectors, torch.full_like(data.lengths, width))


def trainer(student, data, targets, seed=0):
    """What the engine's ``train_epoch`` needs for one source of real examples, at a constant rate."""
    device = data.device
    optimizer = build_optimizer(student, 1e-4, 0.01, device)
    streams = RandomStreams(seed)
    labels = torch.zeros(len(data), dtype=torch.long, device=device)
    source = TrainingSource(data, targets, labels, streams.torch("real_batches"), streams.global_torch("real_dropout", device))
    return [source], optimizer, EpochLR(optimizer, "constant", 0.0, 1)


def epoch_throughput(teacher, data, targets, batch_size, compile_student, seed=0) -> float:
    device = data.device
    student = TruncatedStudent([0, 2, 4]).build(teacher).to(device)
    forward = torch.compile(student, dynamic=True) if compile_student else student
    sources, optimizer, rate = trainer(student, data, targets, seed)
    train_epoch(forward, sources, SoftCELoss(), optimizer, rate, 1, batch_size)
    synchronize(device)
    started = time.perf_counter()
    train_epoch(forward, sources, SoftCELoss(), optimizer, rate, 1, batch_size)
    synchronize(device)
    return len(data) / (time.perf_counter() - started)


def profile_steps(teacher, data, targets, batch_size, steps=20) -> str:
    device = data.device
    student = TruncatedStudent([0, 2, 4]).build(teacher).to(device)
    subset = data.select(torch.arange(min(len(data), steps * batch_size), device=device))
    sources, optimizer, rate = trainer(student, subset, targets[: len(subset)])
    train_epoch(student, sources, SoftCELoss(), optimizer, rate, 1, batch_size)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        train_epoch(student, sources, SoftCELoss(), optimizer, rate, 1, batch_size)
        synchronize(device)
    sort_by = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return profiler.key_averages().table(sort_by=sort_by, row_limit=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default=None, help="model folder; default: the bundled MiniLM")
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--compile-batch", type=int, default=None, help="also measure a torch.compile'd student at this batch size")
    parser.add_argument("--output", type=Path, default=Path("runs/throughput.json"))
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    teacher = Teacher.from_pretrained(args.backbone or default_backbone(), device=str(device))
    task = sage.tasks.get("sst2")
    rows = task.load("train")
    if args.max_train:
        rows = rows.select(range(args.max_train))
    started = time.perf_counter()
    data = teacher.embed(task.texts(rows), args.max_length, batch_size=1024)
    synchronize(device)
    embed_s = time.perf_counter() - started
    predict(teacher.body, data, 1024)  # plans kernels for every width once
    started = time.perf_counter()
    targets = predict(teacher.body, data, 1024)
    synchronize(device)
    label_rate = len(data) / (time.perf_counter() - started)
    mean_tokens = float(data.lengths.float().mean())

    results = []
    for batch_size in args.batch_sizes:
        for compile_student in [False, True] if batch_size == args.compile_batch else [False]:
            for layout, vectors in (("padded", padded(data, args.max_length)), ("bucketed", data)):
                if layout == "padded" and compile_student:
                    continue
                try:
                    rate = epoch_throughput(teacher, vectors, targets, batch_size, compile_student)
                except Exception as error:  # a configuration that fails is reported, not fatal
                    rate, layout = float("nan"), f"{layout} (failed: {type(error).__name__}: {error})"[:120]
                results.append({"batch": batch_size, "layout": layout, "compile": compile_student, "examples_per_s": rate})
                print(results[-1], flush=True)

    machine = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    summary = {
        "machine": machine,
        "examples": len(data),
        "mean_tokens": mean_tokens,
        "embed_s": embed_s,
        "teacher_labelling_examples_per_s": label_rate,
        "student_training": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2))
    print(f"\n{machine}; {len(data)} SST-2 sentences, mean {mean_tokens:.1f} tokens; embedding {embed_s:.1f} s; "
          f"teacher labelling {label_rate:,.0f} examples/s")
    print("| batch | layout | compile | examples/s |\n|---|---|---|---|")
    for row in results:
        print(f"| {row['batch']} | {row['layout']} | {row['compile']} | {row['examples_per_s']:,.0f} |")
    fastest = max((r for r in results if r["examples_per_s"] == r["examples_per_s"]), key=lambda r: r["examples_per_s"])
    print(f"\nprofile of batch {fastest['batch']}, bucketed, eager:\n")
    print(profile_steps(teacher, data, targets, fastest["batch"]))


if __name__ == "__main__":
    main()
