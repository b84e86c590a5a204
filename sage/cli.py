"""``sage run SPEC``, ``sage validate SPEC``, ``sage bench CONFIG`` and ``sage --version``.

A mistake in the user's inputs (spec, data, teacher, output folder) ends in a one-screen
message and exit status 2, a failure while running in one line and status 1, Ctrl-C in
status 130; ``--debug`` shows the traceback instead.

Each command imports what it runs inside its function: the engine loads torch, transformers and
umap (about 15 s on a small CPU), which ``sage --help`` and ``sage --version`` must not wait for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from sage.errors import InputError
from sage.run.provenance import NUMERICS_VERSION, package_versions

# Exit statuses.
INPUT_ERROR, RUN_FAILED, INTERRUPTED = 2, 1, 130


def version_text() -> str:
    versions = package_versions()
    others = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "sage-distill")
    return f"sage {versions['sage-distill']} (numerics version {NUMERICS_VERSION}; {others})"


def _debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    _debug_argument(parser)
    parser.add_argument("spec", help="spec file, YAML or JSON")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one spec value, e.g. --set schedule.max_epochs=3 (repeatable; values are YAML)",
    )


def _folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue an unfinished run of this spec in its output_dir")
    parser.add_argument(
        "--overwrite", action="store_true", help="remove what the sage run in its output_dir wrote (and nothing else), then start"
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sage", description="Distil a fine-tuned text classifier with SAGE.")
    top.add_argument("--version", action="version", version=version_text())
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the distillation a spec describes")
    _spec_arguments(run)
    _folder_arguments(run)
    validate = commands.add_parser(
        "validate", help="resolve and print the full spec, check its data, teacher and output folder; train nothing"
    )
    _spec_arguments(validate)
    _folder_arguments(validate)  # validate checks the folder as the run it precedes would
    bench = commands.add_parser("bench", help="run a GLUE quality/ablation bench over seeds and write its tables")
    _debug_argument(bench)
    bench.add_argument("config", help="bench config, YAML (see benchmarks/glue-evidence.yaml)")
    bench.add_argument("--report-only", action="store_true", help="rewrite the tables and plots from results.json; run nothing")
    return top


def _run(args: argparse.Namespace) -> int:
    from sage.engine import build

    distiller = build(args.spec, args.overrides)
    result = distiller.fit(resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every rank has the result; one prints it
        print(json.dumps({"output_dir": str(result.output_dir), **result.metrics}, indent=2))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from sage.validate import validate

    for line in validate(args.spec, args.overrides, resume=args.resume, overwrite=args.overwrite):
        print(line)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from sage.bench.runner import BenchConfig, run_bench

    run_bench(BenchConfig.from_file(args.config), report_only=args.report_only)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"run": _run, "validate": _validate, "bench": _bench}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("sage: interrupted; `sage run SPEC --resume` continues from the last finished epoch", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, (InputError, FileNotFoundError)):
            print(f"sage: {error}", file=sys.stderr)
            return INPUT_ERROR
        print(f"sage: the run failed: {type(error).__name__}: {error} (--debug shows the traceback)", file=sys.stderr)
        return RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
