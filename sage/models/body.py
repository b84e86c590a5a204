"""The part of a sequence classifier above the vector interface: transformer blocks and head.

Both teacher and student are ``Body`` modules: they read cached vectors (the teacher's
embedding-layer output, or block k's output) and return logits. A body is a Hugging Face
sequence-classification model whose embedding layer is replaced by a pass-through, so the
library's own attention masks, attention kernels (SDPA) and heads are used unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from itertools import chain

import torch
from torch import nn
from transformers import PreTrainedModel

from sage.models.family import (
    EMBEDDING_STAGE,
    FIRST_BLOCK_PARTS,
    SHARED_BY_BLOCKS,
    parts,
    set_part,
    transformer_layers,
)


class PassThroughEmbeddings(nn.Module):
    """Stands in for a model's embedding layer: returns the vectors it is given."""

    def forward(self, input_ids=None, inputs_embeds=None, *args, **kwargs) -> torch.Tensor:
        if inputs_embeds is None:
            raise ValueError("this model reads cached vectors (inputs_embeds), not token ids")
        return inputs_embeds


def select_layers(
    model: PreTrainedModel,
    layer_indices: Sequence[int],
    *,
    replacements: Mapping[str, nn.Module | None],
    share_weights: bool,
) -> PreTrainedModel:
    """A copy of ``model`` keeping only the chosen blocks, with ``replacements`` (paths inside the
    base model, see ``sage.models.family``) standing where the parts they name were.

    With ``share_weights`` the copy reuses the original parameters (a frozen view, no extra
    memory); otherwise every parameter is copied (a trainable student). Replaced parts are never
    copied.
    """
    memo = {id(t): t for t in chain(model.parameters(), model.buffers())} if share_weights else {}
    # deepcopy puts whatever the memo holds for an object wherever that object occurs.
    memo |= {id(model.base_model.get_submodule(path)): part for path, part in replacements.items()}
    view = copy.deepcopy(model, memo)
    parent, attribute = transformer_layers(view)
    blocks = getattr(parent, attribute)
    setattr(parent, attribute, nn.ModuleList(blocks[i] for i in layer_indices))
    view.config.num_hidden_layers = len(layer_indices)
    return view


def adopt_shared_parts(body: Body, teacher: PreTrainedModel) -> Body:
    """Give ``body`` frozen copies of the parts of ``teacher`` that every block reads (DeBERTa-v2's
    relative-position table), and return it.

    Above an interface at block k > 0, the exported student runs the teacher's blocks below k and
    its own above with one copy of those parts: the student must read the teacher's, unchanged.
    """
    for path, part in parts(teacher, SHARED_BY_BLOCKS).items():
        set_part(body.model, path, copy.deepcopy(part).requires_grad_(False))
    return body


class Body(nn.Module):
    """Transformer blocks and classification head, reading vectors at the interface.

    ``forward(vectors [B, L, d], mask [B, L]) -> logits [B, num_labels]``.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        if not isinstance(model.base_model.embeddings, PassThroughEmbeddings):
            raise ValueError("a Body's model must read vectors: build it with Body.from_model")
        self.model = model

    @classmethod
    def from_model(
        cls, model: PreTrainedModel, layer_indices: Sequence[int], *, interface_layer: int = 0, share_weights: bool = False
    ) -> Body:
        """The body of ``model`` made of the chosen blocks (in the given order) and its head, reading
        vectors at ``interface_layer`` (0: block 0's input; k: block k's).

        The embedding layer gives way to a pass-through, and so does the rest of the family's
        embedding stage; above block 0 its first-block parts have acted already and are left out.
        """
        replacements: dict[str, nn.Module | None] = {"embeddings": PassThroughEmbeddings()}
        replacements |= {path: nn.Identity() for path in parts(model, EMBEDDING_STAGE)}
        if interface_layer:
            replacements |= {path: None for path in parts(model, FIRST_BLOCK_PARTS)}
        return cls(select_layers(model, layer_indices, replacements=replacements, share_weights=share_weights))

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=vectors, attention_mask=mask).logits


class PooledHidden(nn.Module):
    """A body's final hidden layer, mean-pooled over real tokens: ``(vectors, mask) -> [B, hidden]``.

    The teacher's semantic space, in which neighbours are sentences of similar meaning (at the
    interface, a pooled vector at layer 0 is a bag of context-free word embeddings).
    """

    def __init__(self, body: Body) -> None:
        super().__init__()
        self.body = body

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body.model.base_model(inputs_embeds=vectors, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)
