"""What labelling synthetic points costs the teacher, by inference batch size and precision.

    HF_HUB_OFFLINE=1 SAGE_DATA_DIR=../shared/glue python benchmarks/teacher_labelling.py   # the CPU figures

The teacher fine-tuned on all of SST-2 (cached; fine-tuned first if it is not) labels the
interface vectors of 1,000 SST-2 train sentences, in length-sorted batches as ``predict``
does. Each setting's time is the best of 3. bf16 is compared with float32 on the same
sentences: how far the probabilities move and how often the argmax changes. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import sage
from sage.run.finish import machine_description
from sage.run.setup import resolve_device
from sage.models.finetune import finetune_teacher
from sage.models.precision import Autocast
from sage.models.teacher import Teacher
from sage.training import predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 1024])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device = resolve_device(args.device)
    spec = sage.load_spec({"task": {"name": "sst2"}, "teacher": {"finetune": {"epochs": 2, "full_train": True}}})
    task = sage.tasks.get("sst2")
    path = finetune_teacher(task, task.load("train", spec.task.data_dir), spec.teacher.finetune, spec.task.max_length, device)
    teacher = Teacher.from_pretrained(path, device=str(device), precision="float32")
    rows = task.load("train", spec.task.data_dir)
    rows = rows.select(np.sort(np.random.default_rng(0).choice(len(rows), args.sentences, replace=False)))
    vectors = teacher.embed(task.texts(rows), spec.task.max_length)

    def best_of_three(body: torch.nn.Module, batch_size: int) -> tuple[float, torch.Tensor]:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            outputs = predict(body, vectors, batch_size)
            times.append(time.perf_counter() - started)
        return min(times), outputs

    exact = best_of_three(teacher.body, args.batch_sizes[0])[1]
    print(f"{machine_description(device)}; {args.sentences} SST-2 sentences, mean length {vectors.lengths.float().mean():.1f} tokens")
    print("| precision | batch | seconds | max change in probability | argmax changed |")
    print("|---|---|---|---|---|")
    for dtype in (torch.float32, torch.bfloat16):
        for batch_size in args.batch_sizes:
            seconds, outputs = best_of_three(Autocast(teacher.body, dtype), batch_size)
            moved = (outputs.softmax(1) - exact.softmax(1)).abs().max().item()
            flipped = (outputs.argmax(1) != exact.argmax(1)).sum().item()
            name = str(dtype).removeprefix("torch.")
            print(f"| {name} | {batch_size} | {seconds:.2f} | {moved:.4f} | {flipped} of {args.sentences} |", flush=True)


if __name__ == "__main__":
    main()
