"""check_teacher: a teacher.path that would run to the end with wrong results is refused up front.

The models are tiny BERTs saved to tmp_path, so every check runs in well under a second; only
the last test fine-tunes (a tiny backbone, on eight rows) to see finetune_teacher record its task.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

import sage.tasks
from sage.models.backbone import default_backbone
from sage.models.finetune import finetune_teacher
from sage.models.teacher import TeacherError, check_teacher
from sage.spec import FinetuneSpec

FIX = "or leave teacher.path unset to fine-tune one (teacher.finetune)"


def _config(**settings) -> BertConfig:
    shape = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    return BertConfig(**(shape | settings))


def _classifier(folder: Path, **settings) -> Path:
    """A tiny BertForSequenceClassification saved to ``folder``; ``settings`` go to its config."""
    torch.manual_seed(0)
    BertForSequenceClassification(_config(**settings)).save_pretrained(folder)
    return folder


def _labels(*names: str) -> dict:
    return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}


def _refused(path: Path, task: str, message: str) -> str:
    with pytest.raises(TeacherError, match=message) as error:
        check_teacher(path, sage.tasks.get(task))
    return str(error.value)


def test_missing_folder_and_missing_config(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    message = _refused(nowhere, "sst2", rf"^teacher.path {re.escape(str(nowhere))} does not exist")
    assert FIX in message
    _refused(tmp_path, "sst2", r"has no config.json; expected a Hugging Face model folder: give a teacher fine-tuned")


def test_unreadable_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{")
    _refused(tmp_path, "sst2", r"cannot read its config.json or weights \(.*\); give a teacher fine-tuned on sst2")


def test_bare_encoder_is_refused(tmp_path: Path) -> None:
    BertModel(_config()).save_pretrained(tmp_path)
    message = _refused(
        tmp_path, "sst2", r"has no trained classification head \(config.json's architectures is \['BertModel'\]"
    )
    assert "random one and the teacher would score chance" in message and FIX in message


def test_bundled_minilm_encoder_is_refused() -> None:
    _refused(Path(default_backbone()), "sst2", r"architectures is \['BertModel'\], not a \*ForSequenceClassification")


def test_classifier_config_over_encoder_weights_is_refused(tmp_path: Path) -> None:
    BertModel(_config()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"architectures": ["BertForSequenceClassification"]}))
    _refused(tmp_path, "sst2", r"no trained classification head \(the weights lack classifier.weight, classifier.bias")


def test_wrong_number_of_labels_is_refused(tmp_path: Path) -> None:
    _classifier(tmp_path, num_labels=3)
    _refused(tmp_path, "sst2", r"has 3 outputs \(num_labels in config.json\); sst2 needs 2 labels \['negative', 'posi")
    _refused(tmp_path, "stsb", r"stsb needs 1 output \(regression\)")


def test_sage_teacher_for_another_task_is_refused(tmp_path: Path) -> None:
    _classifier(tmp_path, sage_task="sst2", **_labels("negative", "positive"))
    message = _refused(tmp_path, "rte", r"was fine-tuned by sage for sst2, not for rte: give a teacher fine-tuned on")
    assert FIX in message


def test_teacher_cached_before_the_config_key_is_checked_by_its_record(tmp_path: Path) -> None:
    _classifier(tmp_path, **_labels("LABEL_0", "LABEL_1"))
    (tmp_path / "sage_finetune.json").write_text(json.dumps({"task": "sst2"}))
    _refused(tmp_path, "rte", r"was fine-tuned by sage for sst2, not for rte")


def test_label_names_of_another_task_are_refused(tmp_path: Path) -> None:
    _classifier(tmp_path, **_labels("entailment", "not_entailment"))
    _refused(
        tmp_path,
        "sst2",
        r"has classes \['entailment', 'not_entailment'\] \(id2label in config.json\), "
        r"but task 'sst2' has \['negative', 'positive'\]: the names must match \(in any order\)",
    )


def test_label_names_in_another_order_are_mapped_to_the_teachers_ids(tmp_path: Path, data_dir: Path) -> None:
    """The teacher's output 0 means positive: the task's ids follow it, so gold labels agree with it."""
    sst2 = sage.tasks.get("sst2")
    aligned, mapped = check_teacher(_classifier(tmp_path, **_labels("Positive", "negative")), sst2)
    assert aligned.label_names == ("Positive", "negative") and sst2.label_names == ("negative", "positive")
    assert mapped == "the task's class ids mapped to the teacher's (negative 0->1, positive 1->0)"
    rows = sst2.load("dev", data_dir)
    assert (aligned.labels(rows) == 1 - sst2.labels(rows)).all()
    assert aligned.head_config()["id2label"] == {0: "Positive", 1: "negative"}


@pytest.mark.parametrize(
    ("task", "settings"),
    [
        ("sst2", {}),  # transformers' default names, LABEL_0 and LABEL_1, say nothing
        ("sst2", _labels("NEGATIVE", "Positive")),  # names compare without case
        ("rte", {"sage_task": "rte", **_labels("entailment", "not_entailment")}),
        ("stsb", {"num_labels": 1, **_labels("similarity")}),  # a score has no name to check
    ],
)
def test_trained_classifier_for_the_task_passes(task: str, settings: dict, tmp_path: Path) -> None:
    check_teacher(_classifier(tmp_path, **settings), sage.tasks.get(task))


def test_head_is_found_in_sharded_and_pytorch_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config())
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    check_teacher(tmp_path / "sharded", sage.tasks.get("sst2"))

    model.config.save_pretrained(tmp_path / "bin")
    encoder = {name: tensor for name, tensor in model.state_dict().items() if not name.startswith("classifier.")}
    torch.save(encoder, tmp_path / "bin" / "pytorch_model.bin")
    _refused(tmp_path / "bin", "sst2", r"the weights lack classifier.weight, classifier.bias")
    torch.save(model.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    check_teacher(tmp_path / "bin", sage.tasks.get("sst2"))


def test_finetuned_teacher_records_its_task(tmp_path: Path, data_dir: Path) -> None:
    backbone = tmp_path / "backbone"
    tokenizer = AutoTokenizer.from_pretrained(default_backbone())
    BertModel(_config(vocab_size=tokenizer.vocab_size)).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    sst2 = sage.tasks.get("sst2")
    rows = sst2.load("dev", data_dir).select(range(8))

    settings = FinetuneSpec(backbone=str(backbone), epochs=1, batch_size=4)
    teacher = finetune_teacher(sst2, rows, settings, 16, torch.device("cpu"))

    assert json.loads((teacher / "config.json").read_text())["sage_task"] == "sst2"
    check_teacher(teacher, sst2)
    _refused(teacher, "rte", r"was fine-tuned by sage for sst2, not for rte")
