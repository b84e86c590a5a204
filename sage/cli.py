"""``sage run SPEC``, ``sage validate SPEC``, ``sage distil --teacher DIR --train FILE``, ``sage bench CONFIG``
and ``sage --version``.

``--import MODULE_OR_FILE`` imports the user's own components before anything else is read, so
that a spec can name them; the spec itself never runs code.

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
from typing import Any

from sage.errors import InputError
from sage.imports import import_user_code
from sage.run.provenance import NUMERICS_VERSION, package_versions

# Exit statuses.
INPUT_ERROR, RUN_FAILED, INTERRUPTED = 2, 1, 130


def version_text() -> str:
    versions = package_versions()
    others = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "sage-distill")
    return f"sage {versions['sage-distill']} (numerics version {NUMERICS_VERSION}; {others})"


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import a dotted module name or a .py file first, so that the components it registers can be "
        "named (repeatable)",
    )


def _set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one spec value, e.g. --set schedule.max_epochs=3 (repeatable; values are YAML)",
    )


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    _common_arguments(parser)
    parser.add_argument("spec", help="spec file, YAML or JSON")
    _set_argument(parser)


def _distil_arguments(parser: argparse.ArgumentParser) -> None:
    _common_arguments(parser)
    parser.add_argument("--teacher", required=True, metavar="DIR", help="the fine-tuned classifier, a Hugging Face model folder")
    parser.add_argument("--train", required=True, metavar="FILE", help="the labelled training rows (task.train)")
    parser.add_argument(
        "--dev", metavar="FILE", help="the rows the student is scored on (task.dev; default: a share of --train held out)"
    )
    parser.add_argument("--text", metavar="COLUMN", help="the text column (task.text; default: text)")
    parser.add_argument("--text-pair", metavar="COLUMN", help="the second text's column, for sentence pairs (task.text_pair)")
    parser.add_argument("--label", metavar="COLUMN", help="the label column (task.label; default: label)")
    parser.add_argument("--unlabelled", metavar="FILE", help="rows without labels (task.unlabelled)")
    parser.add_argument("--out", metavar="DIR", help="the run folder (default: runs/files-<hash of the spec>)")
    _set_argument(parser)


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
    distil = commands.add_parser(
        "distil",
        help="distil a teacher on your own data files with SAGE's defaults, no spec needed; the run folder's "
        "spec.yaml is the spec to go on from with sage run",
    )
    _distil_arguments(distil)
    _folder_arguments(distil)
    validate = commands.add_parser(
        "validate", help="resolve and print the full spec, check its data, teacher and output folder; train nothing"
    )
    _spec_arguments(validate)
    _folder_arguments(validate)  # validate checks the folder as the run it precedes would
    bench = commands.add_parser("bench", help="run a GLUE quality/ablation bench over seeds and write its tables")
    _common_arguments(bench)
    bench.add_argument("config", help="bench config, YAML (see benchmarks/glue-evidence.yaml)")
    bench.add_argument("--report-only", action="store_true", help="rewrite the tables and plots from results.json; run nothing")
    return top


def _run(args: argparse.Namespace) -> int:
    return _fit(args.spec, args)


def _distil(args: argparse.Namespace) -> int:
    return _fit(distil_spec(args), args)


def _fit(source: Any, args: argparse.Namespace) -> int:
    """Run the spec ``source`` (a file or a mapping) with the command's overrides and folder options,
    and print its metrics."""
    from sage.engine import build

    distiller = build(source, args.overrides)
    result = distiller.fit(resume=args.resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every rank has the result; one prints it
        print(json.dumps({"output_dir": str(result.output_dir), **result.metrics}, indent=2))
    return 0


def distil_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The spec ``sage distil`` runs: the ``files`` task on the given files, the given teacher,
    everything else SAGE's defaults. Options not given are left out, so that the task's own
    defaults apply; paths are made absolute, so that the spec.yaml the run writes works from anywhere."""
    task = {
        "name": "files",
        "train": _absolute(args.train),
        "dev": _absolute(args.dev),
        "text": args.text,
        "text_pair": args.text_pair,
        "label": args.label,
        "unlabelled": _absolute(args.unlabelled),
    }
    spec: dict[str, Any] = {
        "task": {key: value for key, value in task.items() if value is not None},
        "teacher": {"path": _absolute(args.teacher)},
    }
    if args.out is not None:
        spec["output_dir"] = _absolute(args.out)
    return spec


def _absolute(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def _validate(args: argparse.Namespace) -> int:
    from sage.validate import validate

    for line in validate(args.spec, args.overrides, resume=args.resume, overwrite=args.overwrite):
        print(line)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from sage.bench.runner import BenchConfig, run_bench

    run_bench(BenchConfig.from_file(args.config), report_only=args.report_only)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run, "validate": _validate, "distil": _distil, "bench": _bench
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import_user_code(args.imports)  # before the spec is read: it may name what they register
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
