"""The speed report at export: a deeper model times slower, inputs are exactly max_length tokens,
parameters and bytes are the saved files', and a run's metrics.json and model card carry it all."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

import sage
from families import save_tiny_teacher
from sage.run.speed import BATCH_SIZES, MAX_CALLS, MIN_CALLS, compare_speed, saved_parameters, speed_inputs, time_calls

CPU = torch.device("cpu")
TEXTS = ["a gripping, beautifully acted film", "dull", "it never finds its footing " * 20]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return save_tiny_teacher("bert", tmp_path_factory.mktemp("teacher"))


def with_layers(folder: Path, layers: int, hidden: int = 32) -> torch.nn.Module:
    """A random classifier shaped as the tiny teacher, with ``layers`` blocks ``hidden`` wide."""
    config = AutoConfig.from_pretrained(folder)
    config.update({"num_hidden_layers": layers, "hidden_size": hidden, "intermediate_size": 4 * hidden})
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config)


def test_inputs_are_the_texts_in_turn_at_exactly_max_length(teacher_dir):
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    single = speed_inputs(tokenizer, [TEXTS], max_length=16)
    assert single["input_ids"].shape == single["attention_mask"].shape == (max(BATCH_SIZES), 16)
    assert torch.equal(single["input_ids"][0], single["input_ids"][3])  # three texts, repeated in turn
    assert single["attention_mask"][1].sum() < 16 and single["attention_mask"][2].sum() == 16  # padded; truncated
    pairs = speed_inputs(tokenizer, [TEXTS, list(reversed(TEXTS))], max_length=16)
    assert pairs["input_ids"].shape == (max(BATCH_SIZES), 16) and pairs["token_type_ids"][0].max() == 1


def test_a_deeper_model_is_slower_and_every_number_is_sane(teacher_dir):
    # Wide and long enough that batch 32 outweighs batch 1 even on a CPU other processes share.
    shallow, deep = with_layers(teacher_dir, 1, hidden=64), with_layers(teacher_dir, 4, hidden=64)
    inputs = speed_inputs(AutoTokenizer.from_pretrained(teacher_dir), [TEXTS], max_length=64)
    comparison = compare_speed(shallow, deep, inputs, CPU)

    assert set(comparison) == {f"batch_{size}" for size in BATCH_SIZES}
    for size in BATCH_SIZES:
        batch = comparison[f"batch_{size}"]
        assert batch["speedup"] > 1, batch  # 1 block against 4
        assert MIN_CALLS <= batch["calls"] <= MAX_CALLS
        for model in ("student", "teacher"):
            assert batch[f"{model}_ms"] > 0
            assert batch[f"{model}_per_s"] == pytest.approx(1000 * size / batch[f"{model}_ms"], rel=1e-2, abs=0.05)
        assert batch["speedup"] == pytest.approx(batch["teacher_ms"] / batch["student_ms"], rel=1e-2)
    for model in ("student", "teacher"):
        assert comparison["batch_32"][f"{model}_ms"] >= comparison["batch_1"][f"{model}_ms"]


def test_timing_runs_in_eval_mode_takes_turns_and_restores_the_mode(teacher_dir):
    models = [with_layers(teacher_dir, 1).train(), with_layers(teacher_dir, 1).eval()]
    seen = []
    for index, model in enumerate(models):
        model.register_forward_hook(lambda module, arguments, output, index=index: seen.append((index, module.training)))
    inputs = speed_inputs(AutoTokenizer.from_pretrained(teacher_dir), [TEXTS], 8)
    (first, second), calls = time_calls(models, inputs, CPU)
    assert first > 0 and second > 0 and MIN_CALLS <= calls <= MAX_CALLS
    # One untimed call each, then the two in turn; none in training mode, and each left as it was.
    assert seen == [(0, False), (1, False)] + [(0, False), (1, False)] * calls
    assert [model.training for model in models] == [True, False]


def test_parameters_are_counted_from_pytorch_weight_files_too(teacher_dir, tmp_path):
    state = AutoModelForSequenceClassification.from_pretrained(teacher_dir).state_dict()
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "training_args.bin").write_bytes(b"not weights")  # what a Trainer leaves beside them
    assert saved_parameters(tmp_path) == saved_parameters(teacher_dir) == {name: t.numel() for name, t in state.items()}


def test_a_run_records_its_speed_in_metrics_and_says_it_in_the_card(teacher_dir, tmp_path):
    spec = {
        "task": {"name": "sst2", "max_train": 64, "max_length": 32},
        "teacher": {"path": str(teacher_dir), "precision": "float32"},
        "student": {"name": "truncated", "layers": [0, 2]},
        "schedule": {"max_epochs": 1, "synthetic_share": 0},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(tmp_path / "run"),
    }
    result = sage.build(spec, progress=False).fit()
    metrics, student = result.metrics, result.output_dir / "student"
    speed = metrics["speed"]

    assert speed["device"] == metrics["machine"] and speed["precision"] == "float32" and speed["max_length"] == 32
    for size in BATCH_SIZES:
        assert speed[f"batch_{size}"]["student_ms"] > 0 and speed[f"batch_{size}"]["teacher_ms"] > 0
    assert (speed["student_parameters"], speed["teacher_parameters"]) == (
        metrics["student_parameters"], metrics["teacher_parameters"]
    )
    assert speed["parameter_share"] == pytest.approx(speed["student_parameters"] / speed["teacher_parameters"], abs=1e-4)
    assert 0 < speed["parameter_share"] < 1  # 2 of the teacher's 4 blocks
    assert speed["student_bytes"] == (student / "model.safetensors").stat().st_size
    assert speed["teacher_bytes"] == (teacher_dir / "model.safetensors").stat().st_size

    card = (student / "README.md").read_text()
    retained = 100 * metrics["dev"]["score"] / metrics["teacher_dev"]["score"]
    sentence = (
        f"On {metrics['machine']}, with inputs of 32 tokens, the student is "
        f"{speed['batch_32']['speedup']:.1f} times as fast as its teacher in throughput at batch 32 and "
        f"{speed['batch_1']['speedup']:.1f} times in latency at batch 1, with {100 * speed['parameter_share']:.1f}% "
        f"of the teacher's parameters, and keeps {retained:.1f}% of the teacher's score."
    )
    assert f"## Speed\n\n{sentence}\n" in card, card
