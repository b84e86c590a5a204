"""The teacher: a fine-tuned Hugging Face sequence classifier split at the vector interface."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

from sage.errors import InputError
from sage.models.body import Body, PooledHidden, select_layers, transformer_layers
from sage.models.precision import Autocast, Precision, resolve_precision
from sage.progress import Progress
from sage.tasks.task import Task
from sage.training import autocast, width_multiple
from sage.vectors import VectorSet

TextColumns = Sequence[Sequence[str]]

# What sage.models.finetune writes with a teacher it fine-tunes: the task, under this key in the
# model's config, and this record file beside it (which alone names the task for teachers
# fine-tuned before the config key existed). Defined here, where teachers are checked.
TASK_KEY = "sage_task"
RECORD_FILE = "sage_finetune.json"


class TeacherError(InputError):
    """A ``teacher.path`` that is not a trained classifier for the spec's task."""


def check_teacher(path: str | os.PathLike, task: Task) -> None:
    """Refuse, with a ``TeacherError``, a teacher that would run to the end and give wrong results.

    transformers loads a bare encoder, or a classifier with another number of labels, by giving it
    a fresh random head, and a teacher trained for another task with as many labels loads without
    complaint; either way the teacher scores chance and the student learns noise. Cheap: reads
    config.json and the names of the saved tensors, never the weights, so a run or ``sage
    validate`` can call it before any fine-tuning, caching or training.
    """
    path = Path(path)
    where = f"teacher.path {path}"
    remedy = f"give a teacher fine-tuned on {task.name}, or leave teacher.path unset to fine-tune one "
    remedy += "(teacher.finetune)"
    if not (path / "config.json").is_file():
        found = "has no config.json" if path.is_dir() else "does not exist"
        raise TeacherError(f"{where} {found}; expected a Hugging Face model folder: {remedy}")
    try:
        config = AutoConfig.from_pretrained(path)
        head = _untrained_head(path, config)
    except (OSError, ValueError, SafetensorError) as error:
        raise TeacherError(f"{where}: cannot read its config.json or weights ({error}); {remedy}") from None
    if head:
        raise TeacherError(
            f"{where} has no trained classification head ({head}); transformers would give it a random one and "
            f"the teacher would score chance: {remedy}"
        )
    recorded = _recorded_task(path, config)
    if recorded is not None and recorded != task.name:
        raise TeacherError(f"{where} was fine-tuned by sage for {recorded}, not for {task.name}: {remedy}")
    if config.num_labels != task.num_labels:
        kind = "1 output (regression)" if task.is_regression else f"{task.num_labels} labels {list(task.label_names)}"
        raise TeacherError(
            f"{where} has {config.num_labels} outputs (num_labels in config.json); {task.name} needs {kind}: {remedy}"
        )
    names = [config.id2label[i] for i in sorted(config.id2label)]
    if task.label_names is None or names == [f"LABEL_{i}" for i in range(len(names))]:
        return  # a score has no label name to check, and transformers' default names say nothing
    if [name.lower() for name in names] != [name.lower() for name in task.label_names]:
        reordered = sorted(name.lower() for name in names) == sorted(name.lower() for name in task.label_names)
        why = " (the same names in another order: its ids would be read as the wrong classes)" if reordered else ""
        raise TeacherError(
            f"{where} has labels {names} (id2label in config.json), but {task.name}'s labels are "
            f"{list(task.label_names)}, in that order{why}: {remedy}"
        )


def _untrained_head(path: Path, config: PretrainedConfig) -> str | None:
    """What shows that ``path`` has no trained sequence-classification head, or None when it has one.

    The head is what a sequence classifier built from ``config`` has outside its base model (for
    BERT ``classifier.weight`` and ``classifier.bias``); it is built on the meta device, which
    allocates nothing, and its names are looked up among the saved tensors' names.
    """
    architectures = config.architectures or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        return f"config.json's architectures is {architectures}, not a *ForSequenceClassification"
    saved = _saved_tensor_names(path)
    if saved is None:
        return f"no weight file ({SAFE_WEIGHTS_NAME}, {WEIGHTS_NAME} or their index)"
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    prefix = f"{model.base_model_prefix}."
    missing = [name for name, _ in model.named_parameters() if not name.startswith(prefix) and name not in saved]
    return f"the weights lack {', '.join(missing)}" if missing else None


def _saved_tensor_names(path: Path) -> set[str] | None:
    """The names of the tensors saved in ``path``, read from an index or a file's header; None: no weights."""
    for index in (SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_INDEX_NAME):
        if (path / index).is_file():
            return set(json.loads((path / index).read_text())["weight_map"])
    if (path / SAFE_WEIGHTS_NAME).is_file():
        with safe_open(path / SAFE_WEIGHTS_NAME, framework="pt") as weights:
            return set(weights.keys())
    if (path / WEIGHTS_NAME).is_file():
        return set(torch.load(path / WEIGHTS_NAME, map_location="meta", weights_only=True))
    return None


def _recorded_task(path: Path, config: PretrainedConfig) -> str | None:
    """The task sage fine-tuned this teacher for, or None for an outside teacher."""
    recorded = getattr(config, TASK_KEY, None)
    if recorded is None and (path / RECORD_FILE).is_file():
        recorded = json.loads((path / RECORD_FILE).read_text()).get("task")
    return recorded


class Teacher:
    """A frozen sequence classifier seen as ``embed`` (text → vectors) and ``body`` (vectors → logits).

    ``interface_layer`` 0 puts the interface at the embedding layer's output (the SAGE paper's
    choice); k > 0 puts it at the output of transformer block k. ``inference`` is the body run at
    ``precision`` (see ``sage.models.precision``): the teacher's outputs and its labels for
    synthetic points come from it. ``embed`` keeps the device's default, so that the student's
    inputs, and what its export computes, do not depend on the teacher's precision.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        interface_layer: int = 0,
        precision: Precision = "auto",
    ) -> None:
        depth = model.config.num_hidden_layers
        if not 0 <= interface_layer < depth:
            raise ValueError(f"interface_layer must be in [0, {depth - 1}] for this {depth}-layer teacher, got {interface_layer}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.interface_layer = interface_layer
        self.prefix = select_layers(
            model, range(interface_layer), embeddings=model.base_model.embeddings, share_weights=True
        ).base_model
        self.body = Body.from_model(model, range(interface_layer, depth), share_weights=True)
        self.dtype = resolve_precision(precision, self.device)
        self.inference = Autocast(self.body, self.dtype)
        self.semantic = Autocast(PooledHidden(self.body), self.dtype)  # its final layer, pooled

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, interface_layer: int = 0, device: str = "cpu", precision: Precision = "auto"
    ) -> Teacher:
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"no Hugging Face model folder at {path} (config.json missing)")
        # Full-precision weights whatever the checkpoint stores; CUDA runs use bf16 autocast.
        model = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=torch.float32, attn_implementation="sdpa"
        ).to(device)
        return cls(model, AutoTokenizer.from_pretrained(path), interface_layer, precision)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def embed(self, columns: TextColumns, max_length: int, batch_size: int = 256, progress: str | None = None) -> VectorSet:
        """Vectors at the interface for every example, stored ragged (real tokens only)."""
        encoded = self.tokenizer(*columns, truncation=True, max_length=max_length)
        lengths = torch.as_tensor([len(ids) for ids in encoded["input_ids"]], device=self.device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        tokens = torch.zeros(int(lengths.sum()), self.model.config.hidden_size, dtype=dtype, device=self.device)
        starts = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)[:-1]])
        # Longest first, so that each batch pads only to its own longest member.
        order = np.argsort(-lengths.cpu().numpy(), kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in Progress(batches, desc=progress, unit="batches", leave=False):
            features = self.tokenizer.pad(
                {key: [encoded[key][i] for i in batch] for key in encoded.keys()},
                pad_to_multiple_of=width_multiple(self.device),
                return_tensors="pt",
            ).to(self.device)
            with autocast(self.device):
                hidden = self.prefix(**features).last_hidden_state
            batch = torch.as_tensor(batch, device=self.device)
            positions = torch.arange(hidden.shape[1], device=self.device)
            real = positions < lengths[batch, None]
            # Row by row, the real tokens land at their sequence's offset in ``tokens``.
            tokens[(starts[batch, None] + positions)[real]] = hidden[real].to(dtype)
        return VectorSet(tokens, lengths)

    def export(self, student: Body, directory: str | os.PathLike, task: Task, max_length: int) -> Path:
        """Save ``student`` as a text classifier for ``task``: this teacher's embedding layer and
        blocks below the interface, then the student's blocks and head, with the teacher's tokenizer.

        ``pipeline("text-classification", model=directory)`` uses it as it is: the config names
        the task's labels (``id2label``, ``label2id``) and its problem type, and the tokenizer's
        ``model_max_length`` is the ``max_length`` the student was trained at, so that
        ``truncation=True`` cuts inputs where training did.
        """
        if self.interface_layer and any(
            getattr(student.model.config, key) != getattr(self.model.config, key)
            for key in ("intermediate_size", "num_attention_heads")
        ):
            raise ValueError(
                "cannot export a student whose blocks are shaped unlike the teacher's blocks below the "
                "interface: one model config cannot describe both"
            )
        parent, attribute = transformer_layers(self.model)
        prefix_blocks = [copy.deepcopy(block) for block in getattr(parent, attribute)[: self.interface_layer]]
        model = copy.deepcopy(student.model)
        model.base_model.embeddings = copy.deepcopy(self.model.base_model.embeddings)
        parent, attribute = transformer_layers(model)
        model_blocks = getattr(parent, attribute)
        setattr(parent, attribute, torch.nn.ModuleList([*prefix_blocks, *model_blocks]))
        model.config.num_hidden_layers = len(prefix_blocks) + len(model_blocks)
        for key, value in task.head_config().items():
            setattr(model.config, key, value)
        setattr(model.config, TASK_KEY, task.name)
        directory = Path(directory)
        model.requires_grad_(True).save_pretrained(directory)
        tokenizer = copy.deepcopy(self.tokenizer)
        tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(directory)
        return directory
