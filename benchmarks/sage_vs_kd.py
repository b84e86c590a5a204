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
from sage.engine import resolve_device, split_rows
from sage.models.finetune import finetune_teacher


def phase_seconds(history: list[dict]) -> dict[str, float]:
    columns = ("projector_background_s", "projector_fit_s", "strategy_s", "teacher_label_s", "diagnostics_s", "train_s")
    return {column: round(sum(row.get(column, 0.0) for row in history), 2) for column in columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--fit-max", type=int, default=20_000, help="the paper pipeline's fit_max")
    parser.add_argument("--strategy", default="paper", help="the synthesis strategy of the SAGE run")
    parser.add_argument("--share", type=float, default=0.1, help="schedule.synthetic_share of the SAGE run")
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
                "synthetic_share": args.share,
            },
            "synthesis": {"name": args.strategy, **({"fit_max": args.fit_max} if args.strategy in ("paper", "residual") else {})},
            "device": args.device,
        },
        args.overrides,
    )
    task = sage.tasks.get(args.task)
    teacher = finetune_teacher(
        task, task.load("train", base.task.data_dir) if base.teacher.finetune.full_train else split_rows(task, base.task)[0], base.teacher.finetune, base.task.max_length, resolve_device(args.device)
    )
    results = {}
    for method, synthetic in (("kd", 0), ("sage", base.schedule.synthetic_share)):
        spec = sage.load_spec(
            base,
            [
                f"teacher.path={teacher}",
                f"schedule.synthetic_share={synthetic}",
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
            "examples_trained": result.metrics["real_examples_trained"] + result.metrics["synthetic_examples_trained"],
        }
    ratio = results["sage"]["wall_s"] / results["kd"]["wall_s"]
    # The bound: no more than KD's cost scaled by the examples trained on, plus 5%.
    bound = results["sage"]["examples_trained"] / results["kd"]["examples_trained"] * 1.05
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "sage_vs_kd.json").write_text(json.dumps({"ratio": ratio, "bound": bound, **results}, indent=2))

    print(f"\n{results['kd']['machine']}, {args.task}, {results['kd']['train_examples']} training examples, {args.epochs} epochs")
    columns = ["wall_s", "setup_s", "examples_trained", "projector_background_s", "projector_fit_s", "strategy_s", "teacher_label_s", "diagnostics_s", "train_s"]
    print("| run | " + " | ".join(columns) + " | dev score |")
    print("|---" * (len(columns) + 2) + "|")
    for method, row in results.items():
        print(f"| {method} | " + " | ".join(str(row[c]) for c in columns) + f" | {row['dev']['score']:.4f} |")
    print(f"\nSAGE / KD wall time: {ratio:.3f}; bound (examples ratio × 1.05): {bound:.3f}; {'within' if ratio <= bound else 'over'}")


if __name__ == "__main__":
    main()
