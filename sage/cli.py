"""``sage run SPEC [--set key.path=value ...]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sage.engine import build
from sage.spec.file import SpecError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sage", description="Distil a fine-tuned text classifier with SAGE.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the distillation a spec describes")
    run.add_argument("spec", help="spec file, YAML or JSON")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one spec value, e.g. --set schedule.max_epochs=3 (repeatable; values are YAML)",
    )
    bench = commands.add_parser("bench", help="run a GLUE quality/ablation bench over seeds and write its tables")
    bench.add_argument("config", help="bench config, YAML (see benchmarks/glue-cpu.yaml)")
    bench.add_argument("--report-only", action="store_true", help="rewrite the tables and plots from results.json; run nothing")
    args = parser.parse_args(argv)
    if args.command == "bench":
        from sage.bench.runner import BenchConfig, run_bench

        run_bench(BenchConfig.from_file(args.config), report_only=args.report_only)
        return 0
    try:
        distiller = build(args.spec, args.overrides)
    except (SpecError, FileNotFoundError) as error:
        print(f"sage: {error}", file=sys.stderr)
        return 2
    result = distiller.fit()
    print(json.dumps({"output_dir": str(result.output_dir), **result.metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
