"""Choose the student optimiser's defaults for plain KD on a slice held out from train, never on dev.

    HF_HUB_OFFLINE=1 SAGE_DATA_DIR=../shared/glue python benchmarks/tune_optimizer.py

Plain KD students on 2,000 SST-2 training examples, scored on 2,000 other train rows
(``task.holdout``), with the teacher of ``benchmarks/sst2-strategies.yaml``. Each candidate
runs the same seeds, so that differences are paired. Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import sage

CANDIDATES = {
    "constant 1e-4, wd 0.01, no clip (before)": {"lr": 1e-4, "lr_schedule": "constant", "lr_warmup": 0.0, "weight_decay": 0.01, "max_grad_norm": None},
    "linear 1e-4, warm-up 0.1, wd 0.01, clip 1": {"lr": 1e-4, "lr_schedule": "linear", "lr_warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0},
    "linear 2e-4, warm-up 0.1, wd 0.01, clip 1": {"lr": 2e-4, "lr_schedule": "linear", "lr_warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0},
    "linear 5e-5, warm-up 0.1, wd 0.01, clip 1": {"lr": 5e-5, "lr_schedule": "linear", "lr_warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("runs/tune-optimizer"))
    args = parser.parse_args()
    results = {}
    for name, schedule in CANDIDATES.items():
        scores = []
        for seed in args.seeds:
            spec = {
                "task": {"name": "sst2", "max_train": 2000, "holdout": 2000},
                "teacher": {"finetune": {"epochs": 2, "full_train": True}},
                "schedule": {"synthetic_share": 0, "max_epochs": args.max_epochs, **schedule},
                "device": "cpu",
                "seed": seed,
                "output_dir": str(args.output / f"{len(results)}-{seed}"),
            }
            metrics = sage.build(spec, progress=False).fit(overwrite=True).metrics
            scores.append(metrics["dev"]["accuracy"])
            print(name, seed, metrics["dev"]["accuracy"], metrics["epochs"], metrics["evaluated_on"], flush=True)
        results[name] = {"schedule": schedule, "scores": scores, "machine": metrics["machine"]}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "tune_optimizer.json").write_text(json.dumps(results, indent=2))
    print("\n| settings | held-out accuracy per seed | mean |\n|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {', '.join(f'{s * 100:.1f}' for s in row['scores'])} | {statistics.fmean(row['scores']) * 100:.1f} |")


if __name__ == "__main__":
    main()
