"""What each synthesis strategy's step costs against the training epoch it feeds.

    python benchmarks/synthesis_cost.py --max-train 4000 --share 0.25      # the CPU figure in docs/performance.md

One run per strategy on the same teacher and data: a warm-up epoch, then two synthetic epochs
at ``--share``. The synthesis step is the strategy's own work plus the teacher labelling its
points (``strategy_s + teacher_label_s``); it is compared with the same epoch's training time
(``train_s``, real and synthetic batches). The second synthetic epoch is the steady state; a
one-time projector fit shows in the first. Diagnostics are timed apart (``diagnostics_s``).
Prints a markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import sage
import sage.run.finish
import sage.run.setup

STRATEGIES = ("paper", "residual", "mixup", "boundary", "adversarial")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train", type=int, default=4000)
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra spec overrides")
    parser.add_argument("--output", type=Path, default=Path("runs/synthesis-cost"))
    args = parser.parse_args()

    results = {}
    for name in args.strategies:
        spec = sage.load_spec(
            {
                "task": {"name": "sst2", "max_train": args.max_train},
                "teacher": {"finetune": {"epochs": 2, "full_train": True}},
                "synthesis": {"name": name},
                "schedule": {"warmup_epochs": 1, "max_epochs": 3, "synthetic_share": args.share, "agreement_target": 1.0},
                "device": "cpu",
                "output_dir": str(args.output / name),
            },
            args.overrides,
        )
        history = sage.build(spec, progress=False).fit(overwrite=True).history
        first, steady = history[1], history[2]
        results[name] = {
            "train_s": round(steady["train_s"], 2),
            "synthesis_s": round(steady["strategy_s"] + steady["teacher_label_s"], 2),
            "share_of_epoch": round((steady["strategy_s"] + steady["teacher_label_s"]) / steady["train_s"], 4),
            "first_epoch_synthesis_s": round(first["strategy_s"] + first["teacher_label_s"], 2),
            "diagnostics_s": round(steady["diagnostics_s"], 2),
            "n_synthetic": steady["n_synthetic"],
            "machine": sage.run.finish.machine_description(sage.run.setup.resolve_device("cpu")),
        }
        print(name, results[name], flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "synthesis_cost.json").write_text(json.dumps(results, indent=2))
    print(f"\nSST-2, {args.max_train} training examples, synthetic share {args.share}")
    print("| strategy | synthesis step (s) | training epoch (s) | share of the epoch | first synthetic epoch (s) | diagnostics (s) |")
    print("|---|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['synthesis_s']} | {row['train_s']} | {row['share_of_epoch'] * 100:.1f}% "
            f"| {row['first_epoch_synthesis_s']} | {row['diagnostics_s']} |"
        )


if __name__ == "__main__":
    main()
