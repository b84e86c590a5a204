"""The teacher: a fine-tuned Hugging Face sequence classifier split at the vector interface."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sage.models.body import Body, PooledHidden, select_layers, transformer_layers
from sage.models.precision import Autocast, Precision, resolve_precision
from sage.training import autocast, width_multiple
from sage.vectors import VectorSet

TextColumns = Sequence[Sequence[str]]


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

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @torch.no_grad()
    def embed(self, columns: TextColumns, max_length: int, batch_size: int = 256, progress: str | None = None) -> VectorSet:
        """Vectors at the interface for every example, padded to the longest, with their lengths."""
        encoded = self.tokenizer(*columns, truncation=True, max_length=max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        width, dim = int(lengths.max()), self.model.config.hidden_size
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        vectors = torch.zeros(len(lengths), width, dim, dtype=dtype, device=self.device)
        # Longest first, so that each batch pads only to its own longest member.
        order = np.argsort(-lengths, kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc=progress, disable=None if progress else True, leave=False):
            features = self.tokenizer.pad(
                {key: [encoded[key][i] for i in batch] for key in encoded.keys()},
                pad_to_multiple_of=width_multiple(self.device),
                return_tensors="pt",
            ).to(self.device)
            with autocast(self.device):
                hidden = self.prefix(**features).last_hidden_state
            kept = min(hidden.shape[1], width)  # rounding up may pad past the longest sequence
            vectors[torch.as_tensor(batch, device=self.device), :kept] = hidden[:, :kept].to(dtype)
        return VectorSet(vectors, torch.as_tensor(lengths, device=self.device))

    def export(self, student: Body, directory: str | os.PathLike) -> Path:
        """Save ``student`` as a text classifier: this teacher's embedding layer and blocks below
        the interface, then the student's blocks and head. Loadable with
        ``AutoModelForSequenceClassification.from_pretrained``.
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
        directory = Path(directory)
        model.requires_grad_(True).save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        return directory
