"""Memory of the cached interface for full SST-2, and the student's training throughput on it.

    python benchmarks/interface_memory.py [--max-train N] [--throughput-rows 4000]

Embeds the whole SST-2 train split (67,349 sentences) at the embedding layer of the bundled
MiniLM (hidden 384, max_length 64), as a run caches it, and reports the bytes the cached
vectors hold, the bytes a store padded to the longest sentence would hold, and the process's
peak resident memory. Then it trains the 3-layer student for two epochs on the first
``--throughput-rows`` sentences, through the engine's own ``train_epoch``, and times the second.

It runs against whichever sage the current folder holds (``python`` puts the working folder
first on the path), so the same command measures an older checkout for a before/after pair.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path.cwd()))

import sage  # noqa: E402
from sage.losses.soft_ce import SoftCELoss  # noqa: E402
from sage.models.backbone import default_backbone  # noqa: E402
from sage.models.teacher import Teacher  # noqa: E402
from sage.run.provenance import code_version  # noqa: E402
from sage.streams import RandomStreams  # noqa: E402
from sage.students.truncated import TruncatedStudent  # noqa: E402
from sage.lr_schedule import EpochLR  # noqa: E402
from sage.training import TrainingSource, build_optimizer, predict, train_epoch  # noqa: E402


def peak_resident_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def stored_bytes(data) -> int:
    """What the cached vectors hold: the ragged tokens, or (older code) the padded array."""
    stored = data.tokens if hasattr(data, "tokens") else data.vectors
    return stored.numel() * stored.element_size() + data.lengths.numel() * data.lengths.element_size()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train", type=int, default=None, help="embed only this many sentences (a quick check)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--throughput-rows", type=int, default=4000)
    parser.add_argument("--output", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()

    teacher = Teacher.from_pretrained(default_backbone(), device="cpu", precision="float32")
    task = sage.tasks.get("sst2")
    rows = task.load("train")
    if args.max_train:
        rows = rows.select(range(args.max_train))
    texts = task.texts(rows)
    before = peak_resident_gib()
    started = time.perf_counter()
    data = teacher.embed(texts, args.max_length, batch_size=32)
    embed_s = time.perf_counter() - started
    peak = peak_resident_gib()
    lengths = data.lengths.float()
    padded_bytes = len(data) * int(lengths.max()) * data.dim * 4

    subset = data.select(torch.arange(min(args.throughput_rows, len(data))))
    targets = predict(teacher.body, subset, 32)
    student = TruncatedStudent([0, 2, 4]).build(teacher)
    optimizer = build_optimizer(student, 1e-4, 0.01, torch.device("cpu"))
    streams = RandomStreams(0)
    labels = torch.zeros(len(subset), dtype=torch.long)
    source = TrainingSource(subset, targets, labels, streams.torch("real_batches"), streams.global_torch("real_dropout", torch.device("cpu")))
    rate = EpochLR(optimizer, "constant", 0.0, 1)
    train_epoch(student, [source], SoftCELoss(), optimizer, rate, 1, 32)
    started = time.perf_counter()
    train_epoch(student, [source], SoftCELoss(), optimizer, rate, 1, 32)
    throughput = len(subset) / (time.perf_counter() - started)

    result = {
        "code": code_version(),
        "machine": f"CPU, {torch.get_num_threads()} threads",
        "sentences": len(data),
        "mean_tokens": round(float(lengths.mean()), 2),
        "longest": int(lengths.max()),
        "stored_gib": round(stored_bytes(data) / 2**30, 3),
        "padded_gib": round(padded_bytes / 2**30, 3),
        "peak_resident_gib": round(peak, 3),
        "peak_resident_before_embedding_gib": round(before, 3),
        "embed_s": round(embed_s, 1),
        "training_examples_per_s": round(throughput, 1),
        "throughput_rows": len(subset),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
