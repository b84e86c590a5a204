"""Wall time of a whole SAGE run against a whole plain-KD run: same teacher, student, data and epochs.

    python benchmarks/sage_vs_kd.py --max-train 4000 --epochs 10            # the CPU figure
    python benchmarks/sage_vs_kd.py --epochs 10 --batch-size 256 --lr 3e-4  # full SST-2 on a GPU

The teacher is fine-tuned (or taken from the cache) before any clock starts. Both runs go
the full number of epochs (the agreement stop is off). Each run is a fresh process, as a
user's would be, so every SAGE run pays the paper pipeline's one-time costs (numba loading
its compiled code, the UMAP fit). ``--repeats`` pairs alternate which method goes first,
because one epoch's time varies by ±15% on a shared 2-core machine; the verdict is on the
median of the per-pair ratios. Each run's phases come from its own history. Prints a
markdown table of medians and writes every run as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sage
from sage.run.setup import resolve_device, split_rows
from sage.models.finetune import finetune_teacher
from sage.spec.file import save_spec


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
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs, alternating which goes first")
    parser.add_argument("--output", type=Path, default=Path("runs/sage-vs-kd"))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # internal: run one spec file, print JSON
    args = parser.parse_args()
    if args.worker:
        return measure(sage.load_spec(args.worker))

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
        task, task.load("train", base.task.data_dir) if base.teacher.finetune.full_train else split_rows(task, base.task).train, base.teacher.finetune, base.task.max_length, resolve_device(args.device)
    )
    args.output.mkdir(parents=True, exist_ok=True)
    runs = {"kd": [], "sage": []}
    for repeat in range(args.repeats):
        for method in ("kd", "sage") if repeat % 2 == 0 else ("sage", "kd"):
            spec = sage.load_spec(
                base,
                [
                    f"teacher.path={teacher}",
                    f"schedule.synthetic_share={0 if method == 'kd' else base.schedule.synthetic_share}",
                    f"output_dir={args.output / method}",
                ],
            )
            spec_file = args.output / f"{method}.yaml"
            save_spec(spec, spec_file)
            worker = subprocess.run(
                [sys.executable, __file__, "--worker", str(spec_file)], check=True, capture_output=True, text=True
            )
            runs[method].append(json.loads(worker.stdout.strip().splitlines()[-1]))
            print(method, runs[method][-1]["wall_s"], flush=True)
    ratios = [sage_run["wall_s"] / kd_run["wall_s"] for kd_run, sage_run in zip(runs["kd"], runs["sage"])]
    results = {method: median_run(rows) for method, rows in runs.items()}
    ratio = statistics.median(ratios)
    # The bound: no more than KD's cost scaled by the examples trained on, plus 5%.
    bound = results["sage"]["examples_trained"] / results["kd"]["examples_trained"] * 1.05
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "sage_vs_kd.json").write_text(
        json.dumps({"ratio": ratio, "ratios": ratios, "bound": bound, "medians": results, "runs": runs}, indent=2)
    )

    print(f"\n{results['kd']['machine']}, {args.task}, {results['kd']['train_examples']} training examples, {args.epochs} epochs")
    columns = ["wall_s", "setup_s", "examples_trained", "projector_background_s", "projector_fit_s", "strategy_s", "teacher_label_s", "diagnostics_s", "train_s"]
    print("| run | " + " | ".join(columns) + " | dev score |")
    print("|---" * (len(columns) + 2) + "|")
    for method, row in results.items():
        print(f"| {method} | " + " | ".join(str(row[c]) for c in columns) + f" | {row['dev']['score']:.4f} |")
    print(f"\nper-pair SAGE / KD: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median SAGE / KD wall time: {ratio:.3f}; bound (examples ratio × 1.05): {bound:.3f}; {'within' if ratio <= bound else 'over'}")


def measure(spec: sage.SageSpec) -> None:
    """One run, timed from build to the written metrics; its figures as one JSON line."""
    started = time.perf_counter()
    result = sage.build(spec, progress=False).fit(overwrite=True)
    print(json.dumps({
        "wall_s": round(time.perf_counter() - started, 2),
        "setup_s": result.metrics["setup_seconds"],
        **phase_seconds(result.history),
        "dev": result.metrics["dev"],
        "machine": result.metrics["machine"],
        "train_examples": result.metrics["train_examples"],
        "examples_trained": result.metrics["real_examples_trained"] + result.metrics["synthetic_examples_trained"],
    }))


def median_run(rows: list[dict]) -> dict:
    """Each timing's median over the repeats; the rest as in the first run."""
    return rows[0] | {key: round(statistics.median(row[key] for row in rows), 2) for key in rows[0] if key.endswith("_s")}


if __name__ == "__main__":
    main()
