"""The teacher: a fine-tuned Hugging Face sequence classifier split at the vector interface."""

from __future__ import annotations

import copy
import inspect
import json
import os
from collections.abc import Mapping, Sequence
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
from sage.models.body import Body, PooledHidden
from sage.models.family import (
    EMBEDDING_STAGE,
    FIRST_BLOCK_PARTS,
    SHARED_BY_BLOCKS,
    attention_implementation,
    check_family,
    feed_forward_key,
    parts,
    set_part,
    transformer_layers,
)
from sage.models.precision import Autocast, Precision, resolve_precision
from sage.progress import Progress
from sage.tasks.labels import LabelMismatch, align_labels
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


def check_teacher(path: str | os.PathLike, task: Task) -> tuple[Task, str | None]:
    """Refuse, with a ``TeacherError``, a teacher that would run to the end and give wrong results;
    return ``task`` with its classes in the teacher's order, and what was mapped (see
    ``sage.tasks.labels``; None when nothing was).

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
    if recorded is not None and recorded != task.name and task.refuses_teachers_of_other_tasks:
        raise TeacherError(f"{where} was fine-tuned by sage for {recorded}, not for {task.name}: {remedy}")
    try:
        task, mapped = align_labels(task, config, where)
    except LabelMismatch as error:
        raise TeacherError(str(error)) from None
    if config.num_labels != task.num_labels:
        kind = "1 output (regression)" if task.is_regression else f"{task.num_labels} labels {list(task.label_names)}"
        raise TeacherError(
            f"{where} has {config.num_labels} outputs (num_labels in config.json); {task.name} needs {kind}: {remedy}"
        )
    return task, mapped


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


class _InterfaceReached(Exception):
    """Stops the teacher's forward at the interface, carrying the vectors found there."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.vectors = vectors


class Teacher:
    """A frozen sequence classifier seen as ``embed`` (text → vectors) and ``body`` (vectors → logits).

    ``interface_layer`` 0 puts the interface at the embedding layer's output (the SAGE paper's
    choice), after whatever else the family runs before its first block (ELECTRA's projection to
    its hidden size); k > 0 puts it at the output of transformer block k. The families sage can
    split, and the parts each keeps beside its blocks, are in ``sage.models.family``. ``inference`` is the body run at
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
        check_family(model.config)
        depth = model.config.num_hidden_layers
        if not 0 <= interface_layer < depth:
            raise ValueError(f"interface_layer must be in [0, {depth - 1}] for this {depth}-layer teacher, got {interface_layer}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.interface_layer = interface_layer
        parent, attribute = transformer_layers(model)
        self._interface_block = getattr(parent, attribute)[interface_layer]
        self._block_input = next(iter(inspect.signature(self._interface_block.forward).parameters))
        # What the tokenizer gives and the model does not take (DistilBERT's token_type_ids) is
        # dropped: a forward that collects other keywords would pass them on, or fail on them.
        self._model_inputs = {
            name
            for name, parameter in inspect.signature(model.base_model.forward).parameters.items()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        }
        self.body = Body.from_model(
            model, range(interface_layer, depth), interface_layer=interface_layer, share_weights=True
        )
        self.dtype = resolve_precision(precision, self.device)
        # Frozen: built in eval mode, so that no call of its own ever runs the teacher's dropout.
        self.inference = Autocast(self.body, self.dtype).eval()
        self.semantic = Autocast(PooledHidden(self.body), self.dtype).eval()  # its final layer, pooled

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, interface_layer: int = 0, device: str = "cpu", precision: Precision = "auto"
    ) -> Teacher:
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"no Hugging Face model folder at {path} (config.json missing)")
        config = AutoConfig.from_pretrained(path)
        # Full-precision weights whatever the checkpoint stores; CUDA runs use bf16 autocast.
        model = AutoModelForSequenceClassification.from_pretrained(
            path, config=config, dtype=torch.float32, attn_implementation=attention_implementation(config)
        ).to(device)
        return cls(model, AutoTokenizer.from_pretrained(path), interface_layer, precision)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def embed(self, columns: TextColumns, max_length: int, batch_size: int = 256, progress: str | None = None) -> VectorSet:
        """Vectors at the interface for every example, stored ragged (real tokens only)."""
        return self.embed_encoded(self.encode(columns, max_length), batch_size, progress)

    def encode(self, columns: TextColumns, max_length: int) -> dict[str, list[list[int]]]:
        """Each example's token ids, cut to ``max_length``, and the other inputs the model takes
        (token types, attention mask): what ``embed`` embeds, for callers that change tokens first."""
        encoded = self.tokenizer(*columns, truncation=True, max_length=max_length)
        return {key: encoded[key] for key in encoded.keys() if key in self._model_inputs}

    @torch.no_grad()
    def embed_encoded(
        self, encoded: Mapping[str, Sequence[Sequence[int]]], batch_size: int = 256, progress: str | None = None
    ) -> VectorSet:
        """Vectors at the interface for examples already tokenised (as ``encode`` gives them), stored ragged."""
        lengths = torch.as_tensor([len(ids) for ids in encoded["input_ids"]], dtype=torch.int64, device=self.device)
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
                hidden = self._interface_vectors(features)
            batch = torch.as_tensor(batch, device=self.device)
            positions = torch.arange(hidden.shape[1], device=self.device)
            real = positions < lengths[batch, None]
            # Row by row, the real tokens land at their sequence's offset in ``tokens``.
            tokens[(starts[batch, None] + positions)[real]] = hidden[real].to(dtype)
        return VectorSet(tokens, lengths)

    def _interface_vectors(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The input of block ``interface_layer`` for a padded batch: ``[B, L, hidden]``.

        Caught on its way into that block, then the forward stops: whatever the family does
        between its embedding layer and block 0 (ELECTRA's projection), or beside its blocks
        (DeBERTa-v2's convolution after block 0), has happened, and nothing above runs.
        """

        def stop(block: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            raise _InterfaceReached(args[0] if args else kwargs[self._block_input])

        hook = self._interface_block.register_forward_pre_hook(stop, with_kwargs=True)
        try:
            self.model.base_model(**features)
        except _InterfaceReached as reached:
            return reached.vectors
        finally:
            hook.remove()
        raise RuntimeError(f"the teacher's forward never reached block {self.interface_layer}")

    def export(self, student: Body, directory: str | os.PathLike, task: Task, max_length: int) -> Path:
        """Save ``student`` as a text classifier for ``task``: this teacher's embedding layer and
        blocks below the interface, then the student's blocks and head, with the teacher's tokenizer.

        ``pipeline("text-classification", model=directory)`` uses it as it is: the config names
        the task's labels (``id2label``, ``label2id``) and its problem type, and the tokenizer's
        ``model_max_length`` is the ``max_length`` the student was trained at, so that
        ``truncation=True`` cuts inputs where training did.
        """
        if self.interface_layer:
            self._check_exportable_above_interface(student)
        parent, attribute = transformer_layers(self.model)
        prefix_blocks = [copy.deepcopy(block) for block in getattr(parent, attribute)[: self.interface_layer]]
        model = copy.deepcopy(student.model)
        # Below the interface everything is the teacher's; above block 0 that includes the parts
        # that act with block 0 only.
        below = {"embeddings": self.model.base_model.embeddings, **parts(self.model, EMBEDDING_STAGE)}
        if self.interface_layer:
            below |= parts(self.model, FIRST_BLOCK_PARTS)
        for path, part in below.items():
            set_part(model, path, copy.deepcopy(part))
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

    def _check_exportable_above_interface(self, student: Body) -> None:
        """Refuse a student that one model with the teacher's blocks below the interface cannot hold."""
        teacher_config, student_config = self.model.config, student.model.config
        keys = (feed_forward_key(teacher_config), "num_attention_heads")
        if any(getattr(student_config, key) != getattr(teacher_config, key) for key in keys):
            raise ValueError(
                "cannot export a student whose blocks are shaped unlike the teacher's blocks below the "
                "interface: one model config cannot describe both"
            )
        student_parts = parts(student.model, SHARED_BY_BLOCKS)
        for path, part in parts(self.model, SHARED_BY_BLOCKS).items():
            mine, theirs = part.state_dict(), student_parts[path].state_dict() if path in student_parts else {}
            if mine.keys() != theirs.keys() or not all(torch.equal(mine[key], theirs[key].to(mine[key])) for key in mine):
                raise ValueError(
                    f"cannot export a student whose {path} differs from the teacher's: every block reads it, and "
                    "the exported model holds one copy for the teacher's blocks below the interface and the "
                    "student's above; build the student with sage.models.body.adopt_shared_parts"
                )
