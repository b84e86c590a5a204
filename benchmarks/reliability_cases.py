"""Every bad input tried against the command line, with the message and exit status each gets.

    HF_HUB_OFFLINE=1 SAGE_DATA_DIR=../shared/glue python benchmarks/reliability_cases.py

Each case runs ``sage`` in a fresh process, in a scratch folder, and must end before any
training: exit status 2 (a wrong input), a message without a traceback, and no result written
(no metrics.json, no student). The table goes to docs/reliability.md; the script exits 1 if any
case breaks those rules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import BertConfig, BertForSequenceClassification, BertModel

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "task": {"name": "sst2", "max_train": 200, "max_length": 32},
    "teacher": {"finetune": {"epochs": 1}},
    # Blocks 0 and 1: within the 2-block teachers the teacher cases save, so that their own check speaks.
    "student": {"name": "truncated", "layers": [0, 1]},
    "schedule": {"max_epochs": 2},
    "device": "cpu",
}
TINY_SIZES = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
TINY_BERT = BertConfig(**TINY_SIZES)


@dataclass
class Case:
    finding: str  # what a user did
    arguments: list[str]  # after `sage`; {spec}, {data}, {scratch} are filled in
    setup: Callable[[Path], None] = field(default=lambda scratch: None)
    spec: dict | str | None = None  # the spec file's contents: data merged into BASE, or raw text
    environment: dict[str, str | None] = field(default_factory=dict)


def glue_copy(scratch: Path, train_text: str | bytes) -> None:
    """A data_dir whose SST-2 train.tsv is ``train_text`` (dev.tsv is the real one)."""
    folder = scratch / "glue" / "SST-2"
    folder.mkdir(parents=True)
    raw = train_text if isinstance(train_text, bytes) else train_text.encode()
    (folder / "train.tsv").write_bytes(raw)
    real = Path(os.environ["SAGE_DATA_DIR"]) / "SST-2" / "dev.tsv"
    (folder / "dev.tsv").write_bytes(real.read_bytes())


def saved_model(scratch: Path, model, **config) -> None:
    for key, value in config.items():
        setattr(model.config, key, value)
    model.save_pretrained(scratch / "teacher")


def data(text: str | bytes) -> Callable[[Path], None]:
    return lambda scratch: glue_copy(scratch, text)


def with_data(**task) -> dict:
    return {"task": {"data_dir": "{scratch}/glue", **task}}


HEADER = "sentence\tlabel\n"
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
) + "task: {name: sst2}\n"


def older_sage_run(scratch: Path) -> None:
    """A finished sage run of another spec in scratch/run, marked as sage's."""
    run = scratch / "run"
    run.mkdir()
    (run / "status.json").write_text('{"status": "finished", "fingerprint": "0123abcd"}')
    (run / "history.csv").write_text("epoch\n1\n")  # not metrics.json: the script checks no case writes one
    (run / ".sage-run.json").write_text('{"written_by": "sage", "entries": ["status.json", "history.csv"]}')


def project_folder(scratch: Path) -> None:
    (scratch / ".git").mkdir()
    (scratch / "data").mkdir()
    (scratch / "data" / "train.csv").write_text("text,label\n")
CASES = [
    Case("unknown component name", ["run", "{spec}", "--set", "projector.name=umapp"]),
    Case("UMAP with n_neighbors 1", ["run", "{spec}", "--set", "projector.n_neighbors=1"]),
    Case("UMAP with an unknown metric", ["run", "{spec}", "--set", "projector.metric=foo"]),
    Case("UMAP with n_components 0", ["run", "{spec}", "--set", "projector.n_components=0"]),
    Case("student layer beyond the backbone", ["run", "{spec}", "--set", "student.layers=[0,99]"]),
    Case("student layer given twice", ["run", "{spec}", "--set", "student.layers=[0,0]"]),
    Case("interface layer beyond the backbone", ["run", "{spec}", "--set", "teacher.interface_layer=99"]),
    Case("a boolean where a count belongs", ["run", "{spec}", "--set", "task.max_train=true"]),
    Case("unknown spec field", ["run", "{spec}", "--set", "schedule.max_epoch=3"]),
    Case("wrong type", ["run", "{spec}", "--set", "schedule.lr=fast"]),
    Case("duplicate key in the spec file", ["run", "{spec}"], spec="task: {name: sst2}\nschedule: {max_epochs: 2}\nschedule: {max_epochs: 3}\n"),
    Case("a !!python tag in the spec file", ["run", "{spec}"], spec="task: !!python/object:os.system {name: sst2}\n"),
    Case("spec file that does not exist", ["run", "{scratch}/missing.yaml"]),
    Case("teacher.path that does not exist", ["run", "{spec}", "--set", "teacher.path={scratch}/nowhere"]),
    Case(
        "a bare encoder as teacher.path (no classification head)",
        ["run", "{spec}", "--set", "teacher.path={scratch}/teacher"],
        setup=lambda scratch: saved_model(scratch, BertModel(TINY_BERT)),
    ),
    Case(
        "a teacher with 3 outputs for a 2-class task",
        ["run", "{spec}", "--set", "teacher.path={scratch}/teacher"],
        setup=lambda scratch: saved_model(scratch, BertForSequenceClassification(BertConfig(**TINY_SIZES, num_labels=3))),
    ),
    Case(
        "an SST-2 teacher (fine-tuned by sage) on RTE",
        ["run", "{spec}", "--set", "teacher.path={scratch}/teacher", "--set", "task.name=rte"],
        setup=lambda scratch: saved_model(scratch, BertForSequenceClassification(TINY_BERT), sage_task="sst2"),
    ),
    Case(
        "an outside teacher whose label names are another task's",
        ["run", "{spec}", "--set", "teacher.path={scratch}/teacher"],
        setup=lambda scratch: saved_model(
            scratch,
            BertForSequenceClassification(
                BertConfig(**TINY_SIZES, id2label={0: "entailment", 1: "not_entailment"}, label2id={"entailment": 0, "not_entailment": 1})
            ),
        ),
    ),
    Case("a TSV with a header only", ["run", "{spec}"], setup=data(HEADER), spec=with_data()),
    Case("a TSV row with an extra column", ["run", "{spec}"], setup=data(HEADER + "good film\t1\n" + "bad film\t0\textra\n"), spec=with_data()),
    Case("a TSV with a latin-1 byte", ["run", "{spec}"], setup=data(HEADER.encode() + b"caf\xe9 film\t1\n"), spec=with_data()),
    Case("a TSV row without its label", ["run", "{spec}"], setup=data(HEADER + "good film\t1\n" + "bad film\t\n"), spec=with_data()),
    Case("a label that is no class", ["run", "{spec}"], setup=data(HEADER + "good film\t1\n" + "bad film\t7\n"), spec=with_data()),
    Case("a data_dir without the task's files", ["run", "{spec}", "--set", "task.data_dir={scratch}"]),
    Case("no data_dir and the hub offline", ["run", "{spec}"], environment={"SAGE_DATA_DIR": None, "HF_HUB_OFFLINE": "1"}),
    Case("an output_dir that holds another run", ["run", "{spec}"], setup=older_sage_run),
    Case(
        "--overwrite over a sage run, with a data_dir that does not exist (nothing is deleted)",
        ["run", "{spec}", "--overwrite", "--set", "task.data_dir={scratch}/nowhere"],
        setup=older_sage_run,
    ),
    Case(
        "a project folder (.git, data, its own spec.yaml) as output_dir, with --overwrite",
        ["run", "{spec}", "--overwrite"],
        setup=project_folder,
        spec={"output_dir": "."},
    ),
    Case("an output_dir inside a file", ["run", "{spec}", "--set", "output_dir={scratch}/a-file/run"], setup=lambda scratch: (scratch / "a-file").write_text("")),
    Case("a negative seed", ["run", "{spec}", "--set", "seed=-1"]),
    Case("a negative subset seed", ["validate", "{spec}", "--set", "task.subset_seed=-1"]),
    Case("a hub backbone while offline", ["validate", "{spec}", "--set", "teacher.finetune.backbone=nobody/no-such-model"]),
    Case("an empty spec file", ["run", "{spec}"], spec=""),
    Case("a YAML alias bomb in the spec file", ["run", "{spec}"], spec=ALIAS_BOMB),
    Case("a TSV with an empty sentence", ["run", "{spec}"], setup=data(HEADER + "good film\t1\n" + "   \t0\n"), spec=with_data()),
    Case("a TSV with a NUL byte", ["run", "{spec}"], setup=data(HEADER + "good film\t1\n" + "bad\x00film\t0\n"), spec=with_data()),
    Case("a TSV saved as UTF-16", ["run", "{spec}"], setup=data((HEADER + "good film\t1\n").encode("utf-16")), spec=with_data()),
    Case(
        "--overwrite on a folder that is not a sage run",
        ["run", "{spec}", "--overwrite"],
        setup=lambda scratch: (scratch / "run").mkdir() or (scratch / "run" / "notes.txt").write_text("mine"),
    ),
    Case("an output_dir that is a file", ["run", "{spec}"], setup=lambda scratch: (scratch / "run").write_text("")),
    Case(
        "--resume with nothing to resume",
        ["run", "{spec}", "--resume"],
        setup=lambda scratch: (scratch / "run").mkdir() or (scratch / "run" / "spec.yaml").write_text("old"),
    ),
    Case("a bench config that does not exist", ["bench", "{scratch}/missing-bench.yaml"]),
    Case(
        "a bench config with an unknown method field",
        ["bench", "{scratch}/bench.yaml"],
        setup=lambda scratch: (scratch / "bench.yaml").write_text(
            textwrap.dedent(
                f"""
                title: t
                output_dir: {scratch}/bench
                tasks: {{sst2: {{task: {{max_train: 100}}}}}}
                methods: {{kd: {{schedule: {{synthetic_shares: 0}}}}}}
                """
            )
        ),
    ),
]


def fill(text: str, scratch: Path) -> str:
    return text.replace("{spec}", str(scratch / "spec.yaml")).replace("{scratch}", str(scratch))


def run_case(case: Case) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        case.setup(scratch)
        if isinstance(case.spec, str):
            text = case.spec
        else:
            spec = json.loads(json.dumps(BASE))
            for section, values in (case.spec or {}).items():
                if isinstance(values, dict):
                    spec[section] = {**spec.get(section, {}), **values}
            spec["output_dir"] = str(scratch / "run")
            spec.update({key: value for key, value in (case.spec or {}).items() if not isinstance(value, dict)})
            text = fill(yaml.safe_dump(spec), scratch)
        (scratch / "spec.yaml").write_text(text)
        environment = {**os.environ, "SAGE_CACHE_DIR": str(scratch / "cache")}
        for key, value in case.environment.items():
            environment.pop(key, None) if value is None else environment.__setitem__(key, value)
        command = [sys.executable, "-m", "sage", *(fill(argument, scratch) for argument in case.arguments)]
        finished = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO, timeout=600)
        wrote_result = any(scratch.rglob("metrics.json")) or any(p.name == "student" for p in scratch.rglob("*"))
        message = finished.stderr.strip().replace(str(scratch), "<scratch>")
        return {
            "finding": case.finding,
            "command": "sage " + " ".join(case.arguments).replace("{spec}", "spec.yaml").replace("{scratch}", "<scratch>"),
            "exit": finished.returncode,
            "message": message,
            "traceback": "Traceback" in finished.stderr,
            "wrote_result": wrote_result,
        }


def table(rows: list[dict]) -> str:
    lines = ["| case | command | exit | message |", "|---|---|---|---|"]
    for row in rows:
        message = row["message"].replace("|", "\\|").replace("\n", "<br>")
        lines.append(f"| {row['finding']} | `{row['command']}` | {row['exit']} | {message} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=str(REPO / "docs" / "reliability.md"))
    args = parser.parse_args()
    rows = []
    for number, case in enumerate(CASES, start=1):
        rows.append(run_case(case))
        print(f"[{number}/{len(CASES)}] {case.finding}: exit {rows[-1]['exit']}", flush=True)
    broken = [row for row in rows if row["exit"] != 2 or row["traceback"] or row["wrote_result"] or not row["message"]]
    document = textwrap.dedent(
        f"""\
        # Reliability: every bad input tried

        Written by `HF_HUB_OFFLINE=1 SAGE_DATA_DIR=../shared/glue python benchmarks/reliability_cases.py`
        on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.

        Each case runs `sage` in a fresh process on a scratch folder (`<scratch>`). Every case must
        end before any training with exit status 2 (a wrong input), a message without a
        traceback (`--debug` shows one), and no result written (no `metrics.json`, no `student/`).
        {len(rows) - len(broken)} of {len(rows)} cases do.
        """
    )
    if broken:
        document += "\n**Cases that break those rules:** " + ", ".join(row["finding"] for row in broken) + "\n"
    document += "\n" + table(rows) + "\n"
    document += textwrap.dedent(
        """
        Failures during a run are not input errors: they end with exit status 1 and one line,
        and the folder's `status.json` says `failed` with the error (a failed export included;
        `tests/test_runs.py`). Ctrl-C ends with status 130 and `status.json` says `interrupted`;
        a killed run's `status.json` still says `running`, and `sage run SPEC --resume`
        continues it from its last finished epoch.
        """
    )
    Path(args.output).write_text(document)
    print(f"wrote {args.output}; {len(broken)} case(s) break the rules")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
