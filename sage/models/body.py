"""The part of a sequence classifier above the vector interface: transformer blocks and head.

Both teacher and student are ``Body`` modules: they read cached vectors (the teacher's
embedding-layer output, or block k's output) and return logits. A body is a Hugging Face
sequence-classification model whose embedding layer is replaced by a pass-through, so the
library's own attention masks, attention kernels (SDPA) and heads are used unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from itertools import chain

import torch
from torch import nn
from transformers import PreTrainedModel


class PassThroughEmbeddings(nn.Module):
    """Stands in for a model's embedding layer: returns the vectors it is given."""

    def forward(self, input_ids=None, inputs_embeds=None, *args, **kwargs) -> torch.Tensor:
        if inputs_embeds is None:
            raise ValueError("this model reads cached vectors (inputs_embeds), not token ids")
        return inputs_embeds


def transformer_layers(model: PreTrainedModel) -> tuple[nn.Module, str]:
    """The module holding the model's list of transformer blocks, and that list's attribute name.

    Found structurally (the ``nn.ModuleList`` of ``config.num_hidden_layers`` blocks), so BERT,
    RoBERTa, ELECTRA, XLM-R and DistilBERT style models all work.
    """
    expected = model.config.num_hidden_layers
    for name, module in model.base_model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == expected:
            parent_name, _, attribute = name.rpartition(".")
            return model.base_model.get_submodule(parent_name), attribute
    raise ValueError(
        f"cannot find the {expected} transformer blocks of {type(model).__name__}; sage supports "
        "encoder models whose base model holds them in one nn.ModuleList (BERT, RoBERTa, DistilBERT, ...)"
    )


def select_layers(
    model: PreTrainedModel, layer_indices: Sequence[int], *, embeddings: nn.Module, share_weights: bool
) -> PreTrainedModel:
    """A copy of ``model`` keeping only the chosen blocks, with ``embeddings`` as its embedding layer.

    With ``share_weights`` the copy reuses the original parameters (a frozen view, no extra
    memory); otherwise every parameter is copied (a trainable student).
    """
    original_embeddings = model.base_model.embeddings
    model.base_model.embeddings = embeddings
    try:
        memo = {id(t): t for t in chain(model.parameters(), model.buffers())} if share_weights else {}
        memo[id(embeddings)] = embeddings
        view = copy.deepcopy(model, memo)
    finally:
        model.base_model.embeddings = original_embeddings
    parent, attribute = transformer_layers(view)
    blocks = getattr(parent, attribute)
    setattr(parent, attribute, nn.ModuleList(blocks[i] for i in layer_indices))
    view.config.num_hidden_layers = len(layer_indices)
    return view


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
        cls, model: PreTrainedModel, layer_indices: Sequence[int], *, share_weights: bool = False
    ) -> Body:
        """The body of ``model`` made of the chosen blocks (in the given order) and its head."""
        return cls(select_layers(model, layer_indices, embeddings=PassThroughEmbeddings(), share_weights=share_weights))

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
