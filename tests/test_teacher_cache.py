"""The teacher's outputs kept across runs: a second run with the same teacher and rows does no
teacher pass and repeats the first bit for bit; anything that moves the outputs misses."""

from __future__ import annotations

import pytest
import torch

import sage
import sage.models.precision
import sage.models.teacher
import sage.run.provenance
from families import save_tiny_teacher
from sage.distributed import Cluster
from sage.models.teacher import Teacher
from sage.run.provenance import folder_fingerprint
from sage.run.teacher_cache import TeacherPass, outputs_root, teacher_split
from sage.validate import validate

TASK = sage.tasks.get("sst2")
TIMINGS = ("train_s", "epoch_s")  # wall-clock seconds, the only numbers two runs may differ in


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory):
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def rows():
    return TASK.load("train").select(range(48))


@pytest.fixture
def embeds(monkeypatch):
    """The texts of every Teacher.embed call, in order."""
    calls = []
    real_embed = Teacher.embed

    def counted(self, columns, *args, **kwargs):
        calls.append(columns)
        return real_embed(self, columns, *args, **kwargs)

    monkeypatch.setattr(sage.models.teacher.Teacher, "embed", counted)
    return calls


def run_spec(teacher_folder, output_dir, **teacher) -> dict:
    return {
        "task": {"name": "sst2", "max_train": 64, "max_length": 32, "holdout": 32},  # not dev's 872 rows: seconds
        "teacher": {"path": str(teacher_folder), "precision": "float32", **teacher},
        "student": {"name": "truncated", "layers": [0]},
        "schedule": {"max_epochs": 1, "synthetic_share": 0},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(output_dir),
    }


def split(teacher, rows, max_length=32, cluster=Cluster(), report=lambda message: None):
    fingerprint = folder_fingerprint(teacher.path)
    return teacher_split(teacher.model, TASK, rows, "train", max_length, 16, cluster, False, fingerprint, report)


class Loaded:
    """A teacher loaded from its folder, with the folder (its fingerprint is the cache's key)."""

    def __init__(self, path, interface_layer=0):
        self.path = path
        self.model = Teacher.from_pretrained(path, interface_layer, "cpu", "float32")


def test_a_second_run_with_the_same_teacher_and_rows_does_no_teacher_pass_and_repeats_the_first(
    teacher_folder, cache, embeds, tmp_path, monkeypatch
):
    first = sage.build(run_spec(teacher_folder, tmp_path / "first"), progress=False).fit()
    assert len(embeds) == 2  # train and dev, computed and kept
    kept = sorted(path.name.split("-")[0] for path in outputs_root().rglob("*.pt"))
    assert kept == ["dev", "train"] and outputs_root().is_relative_to(cache)

    def no_teacher_pass(*args, **kwargs):
        raise AssertionError("the second run ran the teacher")

    monkeypatch.setattr(sage.models.teacher.Teacher, "embed", no_teacher_pass)
    monkeypatch.setattr(sage.models.precision.Autocast, "forward", no_teacher_pass)  # the teacher's inference
    second = sage.build(run_spec(teacher_folder, tmp_path / "second"), progress=False).fit()
    untimed = [[{key: value for key, value in row.items() if key not in TIMINGS} for row in run.history] for run in (first, second)]
    assert untimed[0] == untimed[1]
    for key in ("dev", "teacher_dev", "dev_agreement", "agreement"):
        assert first.metrics[key] == second.metrics[key], key


def test_a_kept_split_is_bit_identical_to_the_computed_one(teacher_folder, cache, rows, embeds):
    teacher = Loaded(teacher_folder, interface_layer=1)
    computed, read = split(teacher, rows), split(teacher, rows)
    assert len(embeds) == 1
    assert torch.equal(computed.vectors.tokens, read.vectors.tokens) and torch.equal(computed.vectors.lengths, read.vectors.lengths)
    assert torch.equal(computed.teacher, read.teacher) and torch.equal(computed.labels, read.labels)
    assert read.vectors.device == read.teacher.device == teacher.model.device


def test_another_max_length_interface_layer_or_teacher_misses(teacher_folder, cache, rows, embeds, tmp_path):
    split(Loaded(teacher_folder), rows)
    split(Loaded(teacher_folder), rows, max_length=24)
    split(Loaded(teacher_folder, interface_layer=2), rows)
    other_teacher = Loaded(save_tiny_teacher("bert", tmp_path / "other", seed=1))
    split(other_teacher, rows)
    assert len(embeds) == 4
    split(Loaded(teacher_folder), rows.select(range(40)))  # other rows
    assert len(embeds) == 5
    split(Loaded(teacher_folder), rows)
    split(Loaded(teacher_folder, interface_layer=2), rows)
    assert len(embeds) == 5  # every one of them kept apart


def test_everything_that_moves_the_outputs_is_in_the_key(cache, monkeypatch):
    base = TeacherPass("ab" * 32, 0, 32, torch.float32, "cpu", 32, 1)
    changed = [
        TeacherPass("cd" * 32, 0, 32, torch.float32, "cpu", 32, 1),
        TeacherPass("ab" * 32, 1, 32, torch.float32, "cpu", 32, 1),
        TeacherPass("ab" * 32, 0, 64, torch.float32, "cpu", 32, 1),
        TeacherPass("ab" * 32, 0, 32, torch.bfloat16, "cpu", 32, 1),
        TeacherPass("ab" * 32, 0, 32, torch.float32, "cuda", 32, 1),
        TeacherPass("ab" * 32, 0, 32, torch.float32, "cpu", 128, 1),
        TeacherPass("ab" * 32, 0, 32, torch.float32, "cpu", 32, 2),
    ]
    folders = {base.folder, *(other.folder for other in changed)}
    assert len(folders) == len(changed) + 1 and all(folder.parent == cache / "outputs" for folder in folders)
    before = base.folder
    monkeypatch.setattr(sage.run.provenance, "package_versions", lambda: {"torch": "another"})
    assert base.folder != before


@pytest.mark.parametrize("damage", ["truncated", "emptied", "wrong rows"])
def test_a_damaged_cache_file_is_computed_again_and_overwritten(damage, teacher_folder, cache, rows, embeds):
    teacher, said = Loaded(teacher_folder), []
    computed = split(teacher, rows)
    [path] = outputs_root().rglob("train-*.pt")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "emptied":
        path.write_bytes(b"")
    else:  # a readable file of another split's size
        state = torch.load(path, weights_only=True)
        torch.save({"tokens": state["tokens"][: int(state["lengths"][0])], "lengths": state["lengths"][:1], "teacher": state["teacher"][:1]}, path)
    again = split(teacher, rows, report=said.append)
    assert len(embeds) == 2 and torch.equal(again.teacher, computed.teacher)
    assert len(said) == 1 and f"the cached teacher outputs {path} could not be read" in said[0] and "computing them again" in said[0]
    assert "\n" not in said[0]  # one line of the run's progress
    split(teacher, rows, report=said.append)  # rewritten whole: read, not computed
    assert len(embeds) == 2 and "read from the cache" in said[-1]


def test_a_cache_that_cannot_be_written_costs_the_next_run_time_not_this_run(teacher_folder, cache, rows, monkeypatch):
    def disk_full(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    said = []
    computed = split(Loaded(teacher_folder), rows, report=said.append)
    assert len(computed.vectors) == len(rows) == len(computed.teacher)
    assert len(said) == 1 and "could not be kept" in said[0] and "file write failed" in said[0]
    assert not [path for path in outputs_root().rglob("*") if path.is_file()]  # no half-written file left


def test_ranks_compute_together_unless_every_one_reads_the_file(teacher_folder, cache, rows, embeds):
    """Computing gathers over the ranks, so one rank that cannot read the file makes all compute."""

    class OtherRankMissed(Cluster):
        def gather(self, value):
            return [value, False]

    teacher = Loaded(teacher_folder)
    split(teacher, rows)
    split(teacher, rows, cluster=OtherRankMissed())
    assert len(embeds) == 2


def test_validate_says_whether_the_teacher_outputs_are_cached(teacher_folder, cache, tmp_path):
    spec = run_spec(teacher_folder, tmp_path / "run")
    lines = validate(spec)
    assert "teacher outputs: not cached: the teacher reads 64 train and 32 dev rows first" in lines
    assert f"outputs cache: 0 B in all under {cache / 'outputs'}" in lines
    sage.build(spec, progress=False).fit()
    [line] = [line for line in validate(spec, overwrite=True) if line.startswith("teacher outputs:")]
    [folder] = (cache / "outputs").iterdir()
    size = f"{sum(path.stat().st_size for path in folder.iterdir()) / 1000:.0f} kB"
    assert line == f"teacher outputs: cached for train and dev ({size}) in {folder}"
    assert f"outputs cache: {size} in all under {cache / 'outputs'}" in validate(spec, overwrite=True)
    other = run_spec(teacher_folder, tmp_path / "other", interface_layer=1)
    assert "teacher outputs: not cached: the teacher reads 64 train and 32 dev rows first" in validate(other)
    finetuned = run_spec(teacher_folder, tmp_path / "finetuned", path=None, finetune={"backbone": str(teacher_folder)})
    assert "teacher outputs: computed after fine-tuning: the teacher reads 64 train and 32 dev rows first" in validate(finetuned)
