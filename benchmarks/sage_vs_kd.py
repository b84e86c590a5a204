"""Wall time of a whole SAGE run against a whole plain-KD run: same teacher, student, data and epochs.

    python benchmarks/sage_vs_kd.py --max-train 4000 --epochs 10            # the CPU figure
    python benchmarks/sage_vs_kd.py --epochs 10 --batch-size 256 --lr 3e-4  # full SST-2 on a GPU

The teacher is fine-tuned (or taken from the cache) before any clock starts. Both runs go
the full number of epochs (the agreement stop is off), one after the other in one process,
and each run's phases come from its own history. Prints a markdown table and writes the
numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sage
from sage.engine import resolve_device, training_rows
from sage.models.finetune import finetune_teacher


def phase_seconds(history: list[dict]) -> dict[str, float]:
    columns = ("projector_background_s", "projector_fit_s", "sample_s", "inverse_s", "teacher_label_s", "train_s")
    return {column: round(sum(row.get(column, 0.0) for row in history), 2) for column in columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--fit-max", type=int, default=20_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra spec overrides")
    parser.add_argument("--output", type=Path, default=Path("runs/sage-vs-kd"))
    args = parser.parse_args()

    base = sage.load_spec(
        {
            "task": {"name": args.task, "max_train": args.max_train},
            "schedule": {
                "max_epochs": args.epochs,
                "agreement_target": 1.0,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "fit_max": args.fit_max,
            },
            "device": args.device,
        },
        args.overrides,
    )
    task = sage.tasks.get(args.task)
    teacher = finetune_teacher(
        task, training_rows(task, base.task), base.teacher.finetune, base.task.max_length, resolve_device(args.device)
    )
    results = {}
    for method, synthetic in (("kd", 0), ("sage", base.schedule.synthetic_per_hard)):
        spec = sage.load_spec(
            base,
            [
                f"teacher.path={teacher}",
                f"schedule.synthetic_per_hard={synthetic}",
                f"output_dir={args.output / method}",
            ],
        )
        started = time.perf_counter()
        result = sage.build(spec).fit()
        results[method] = {
            "wall_s": round(time.perf_counter() - started, 2),
            "setup_s": result.metrics["setup_seconds"],
            **phase_seconds(result.history),
            "dev": result.metrics["dev"],
            "agreement": result.metrics["agreement"],
            "machine": result.metrics["machine"],
            "train_examples": result.metrics["train_examples"],
        }
    ratio = results["sage"]["wall_s"] / results["kd"]["wall_s"]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "sage_vs_kd.json").write_text(json.dumps({"ratio": ratio, **results}, indent=2))

    print(f"\n{results['kd']['machine']}, {args.task}, {results['kd']['train_examples']} training examples, {args.epochs} epochs")
    columns = ["wall_s", "setup_s", "projector_background_s", "projector_fit_s", "sample_s", "inverse_s", "teacher_label_s", "train_s"]
    print("| run | " + " | ".join(columns) + " | dev score |")
    print("|---" * (len(columns) + 2) + "|")
    for method, row in results.items():
        print(f"| {method} | " + " | ".join(str(row[c]) for c in columns) + f" | {row['dev']['score']:.4f} |")
    print(f"\nSAGE / KD wall time: {ratio:.3f}")


if __name__ == "__main__":
    main()
