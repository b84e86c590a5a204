"""The exported student's model card (its README.md), filled from the run that made it.

The metadata is huggingface_hub's (``ModelCardData``, ``EvalResult``), so the hub reads it as it
reads any card. The card names the teacher by its folder's name and content fingerprint, never
by its local path, and carries the teacher's license: the student is made from the teacher's
embedding layer and outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from sage.models.teacher import RECORD_FILE
from sage.run.files import write_text_atomically
from sage.spec import SageSpec
from sage.tasks.task import Task

# The metadata fields that say what license a card's model is under.
LICENSE_FIELDS = ("license", "license_name", "license_link")


def model_card(spec: SageSpec, task: Task, metrics: Mapping[str, Any]) -> ModelCard:
    """Hugging Face model-card metadata and text: what the student is, how to call it, the
    teacher, the data, the scores and the speed beside the teacher's, and the spec that reproduces it."""
    # "score" repeats the task's main metric under the bench's name for it; the card names metrics.
    dev = {name: value for name, value in metrics["dev"].items() if name != "score"} or metrics["dev"]
    teacher_dev = metrics["teacher_dev"]
    pairs = len(task.text_fields) == 2
    teacher_folder = Path(metrics["teacher_path"])
    license_fields, license_source = teacher_license(teacher_folder)
    if license_fields:
        license_text = (
            "The student is made from its teacher, so it carries the teacher's license,\n"
            f"`{license_fields.get('license_name') or license_fields['license']}`, as {license_source} model card gives it."
        )
    else:
        license_text = (
            "The student is made from its teacher, so its license follows the teacher's, which no model card\n"
            "beside the teacher (or its backbone) gives: check the teacher's terms before using or sharing the student."
        )
    # The hub dataset the task reads (GLUE's, or a hub task's), or None for a user's own files.
    dataset, dataset_config = task.card_dataset or (None, None)
    metadata = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["sage-distill", "knowledge-distillation", task.name],
        datasets=[dataset] if dataset else None,
        **(license_fields or {"license": "other"}),
        model_name=f"sage student for {task.name}",
        eval_results=[
            EvalResult(
                task_type="text-classification",
                dataset_type=dataset or "local files",
                dataset_config=dataset_config,
                dataset_name=task.name,
                dataset_split=_split(metrics),
                metric_type=name,
                metric_value=round(value, 4),
            )
            for name, value in dev.items()
        ],
    )
    retained = 100 * metrics["dev"]["score"] / teacher_dev["score"] if teacher_dev["score"] else float("nan")
    scores = "\n".join(
        f"| {name} | {value:.4f} | {teacher_dev[name]:.4f} |" for name, value in dev.items() if name in teacher_dev
    )
    method = "plain KD" if not spec.uses_synthetic_data else f"SAGE, synthesis strategy `{spec.synthesis.name}`"
    given = "a pair of texts as `{\"text\": ..., \"text_pair\": ...}`" if pairs else "a text"
    output = "its score as `score` (a regression: no softmax)" if task.is_regression else "its label name and probability"
    provenance = metrics["provenance"]
    versions = ", ".join(f"{name} {version}" for name, version in provenance["versions"].items())
    body = f"""# sage student for {task.name}

A text classifier distilled with [sage](https://pypi.org/project/sage-distill/) ({method}) from a
fine-tuned teacher: the teacher's embedding layer{_below(spec)}, then the student's blocks (student
`{spec.student.name}`) and head; {metrics["student_parameters"]:,} parameters in all.

## Use

```python
from transformers import pipeline

classify = pipeline("text-classification", model="path/to/this/folder")
classify({_example(pairs)}, truncation=True)
```

Give it {given}; it returns {output}. The tokenizer's `model_max_length` is {spec.task.max_length}, the length the
student was trained at; `truncation=True` cuts longer inputs there.

## Scores

On {metrics["evaluated_on"]} ({metrics["dev_examples"]} examples); the student keeps {retained:.1f}% of
the teacher's score and agrees with it on {100 * metrics["dev_agreement"]:.1f}% of them.

| metric | student | teacher |
|---|---|---|
{scores}

## Speed

{speed_sentence(metrics["speed"], retained)}

## Teacher

`{teacher_folder.name}` (content fingerprint `{provenance["teacher"][:16]}`; {metrics["teacher_parameters"]:,} parameters,
run at {metrics["teacher_precision"]}), interface at {"the embedding layer" if not spec.teacher.interface_layer else f"block {spec.teacher.interface_layer}"}.

## License

{license_text}

## Data

{metrics["train_examples"]:,} {task.name} training examples (rows fingerprint `{provenance["train_rows"][:16]}`),
{metrics["epochs"]} epochs (stopped by {metrics["stopped_by"]}), {metrics["gradient_steps"]:,} gradient steps,
{metrics["synthetic_examples_trained"]:,} synthetic examples trained on.

## Reproduce

Trained on {metrics["machine"]} in {metrics["total_seconds"]:.0f} s with {versions}, sage commit
`{provenance["commit"]}`. The spec (`sage run spec.yaml`):

```yaml
{yaml.safe_dump(spec.resolved(), sort_keys=False).rstrip()}
```
"""
    return ModelCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}")


def write_model_card(student_dir: Path, spec: SageSpec, task: Task, metrics: Mapping[str, Any]) -> None:
    write_text_atomically(student_dir / "README.md", str(model_card(spec, task, metrics)))


def teacher_license(teacher: Path) -> tuple[dict[str, str], str]:
    """The license fields of the teacher's own model card, else of the card of the backbone sage
    fine-tuned it from (a fine-tuned teacher has no card), and whose card that was; ({}, "") if neither says."""
    backbone = None
    if (teacher / RECORD_FILE).is_file():
        backbone = json.loads((teacher / RECORD_FILE).read_text()).get("backbone")
    for folder, whose in ((teacher, "the teacher's"), (backbone, "its backbone's")):
        readme = Path(folder) / "README.md" if folder else None
        if readme is None or not readme.is_file():
            continue
        # A card's other metadata may be malformed; the license is all that is read here.
        card = ModelCard.load(readme, ignore_metadata_errors=True)
        fields = {field: getattr(card.data, field) for field in LICENSE_FIELDS if getattr(card.data, field, None)}
        if "license" in fields:
            return fields, whose
    return {}, ""


def speed_sentence(speed: Mapping[str, Any], retained: float) -> str:
    """How many times faster the student is than its teacher, with what share of its parameters
    and of its score (``retained``, in percent): ``speed`` is metrics.json's (``sage.run.speed``)."""
    return (
        f"On {speed['device']}, with inputs of {speed['max_length']} tokens, the student is "
        f"{speed['batch_32']['speedup']:.1f} times as fast as its teacher in throughput at batch 32 and "
        f"{speed['batch_1']['speedup']:.1f} times in latency at batch 1, with {100 * speed['parameter_share']:.1f}% "
        f"of the teacher's parameters, and keeps {retained:.1f}% of the teacher's score."
    )


def _split(metrics: Mapping[str, Any]) -> str:
    return "validation" if metrics["evaluated_on"] == "dev" else "train (held out)"


def _below(spec: SageSpec) -> str:
    layer = spec.teacher.interface_layer
    return f" and its first {layer} block{'s' if layer > 1 else ''}" if layer else ""


def _example(pairs: bool) -> str:
    if pairs:
        return '{"text": "A man is playing a guitar.", "text_pair": "Someone plays music."}'
    return '"a gripping, beautifully acted film"'
