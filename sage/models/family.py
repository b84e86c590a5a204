"""Model families: what sage needs of one to split it at the vector interface, and where it keeps its parts.

sage splits a Hugging Face sequence classifier between its token embedding and its transformer
blocks (or between two blocks). That needs a base model with an ``embeddings`` module, one
``nn.ModuleList`` of ``num_hidden_layers`` blocks and a forward that reads ``inputs_embeds``.
BERT, RoBERTa, DistilBERT, DeBERTa-v2 and ELECTRA have them; a few keep further parts beside
those, which the split must place, named here per family (``config.model_type``):

- embedding stage: turns the embedding layer's output into block 0's input (ELECTRA's projection
  from its embedding size to its hidden size). Like ``embeddings``, it belongs to the teacher
  below the interface; the vectors at layer 0 are block 0's input.
- first-block parts: act with block 0 only, on the embedding output (DeBERTa-v2's convolution, in
  its xlarge models). Above block 0 they have already acted.
- shared by blocks: read by every block (DeBERTa-v2's relative-position table and its norm). An
  exported model has one copy for the teacher's blocks below the interface and the student's.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

# Paths inside the base model; a part a model lacks (ELECTRA with equal sizes, DeBERTa-v2 without
# a convolution) is left out.
EMBEDDING_STAGE = {"electra": ("embeddings_project",)}
FIRST_BLOCK_PARTS = {"deberta-v2": ("encoder.conv",)}
SHARED_BY_BLOCKS = {"deberta-v2": ("encoder.rel_embeddings", "encoder.LayerNorm")}
# The config key of the blocks' feed-forward width, where it is not intermediate_size (and
# transformers' attribute_map does not translate it).
FEED_FORWARD_KEYS = {"distilbert": "hidden_dim"}


def check_family(config: PretrainedConfig) -> None:
    """Refuse, with a ``ValueError`` naming the family and why, a model sage cannot split.

    The model is built on the meta device, which allocates nothing, so a spec can check its
    teacher's family in milliseconds, before any fine-tuning or caching.
    """
    family = config.model_type
    if type(config) not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING:
        raise ValueError(f"{family} models have no sequence-classification model (AutoModelForSequenceClassification)")
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    why = _unsplittable(model)
    if why:
        raise ValueError(
            f"{family} models cannot be split at sage's vector interface: {why}; sage supports encoders such as "
            "BERT, RoBERTa, DistilBERT, DeBERTa-v2 and ELECTRA"
        )


def _unsplittable(model: PreTrainedModel) -> str | None:
    """Why sage cannot split ``model``, or None when it can."""
    base = model.base_model
    if model.config.is_encoder_decoder:
        return "it is an encoder-decoder"
    if not isinstance(getattr(base, "embeddings", None), nn.Module):
        return f"its base model ({type(base).__name__}) has no `embeddings` module to put the interface after"
    try:
        transformer_layers(model)
    except ValueError as error:
        return str(error)
    inputs = set(inspect.signature(base.forward).parameters)
    missing = [name for name in ("inputs_embeds", "attention_mask") if name not in inputs]
    if missing:
        return f"its base model's forward takes no {' or '.join(missing)}, through which sage feeds it vectors"
    return None


def transformer_layers(model: PreTrainedModel) -> tuple[nn.Module, str]:
    """The module holding the model's list of transformer blocks, and that list's attribute name.

    Found structurally (the ``nn.ModuleList`` of ``config.num_hidden_layers`` blocks), so BERT,
    RoBERTa, ELECTRA, DeBERTa-v2 and DistilBERT style models all work.
    """
    expected = model.config.num_hidden_layers
    for name, module in model.base_model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == expected:
            parent_name, _, attribute = name.rpartition(".")
            return model.base_model.get_submodule(parent_name), attribute
    raise ValueError(
        f"cannot find the {expected} transformer blocks of {type(model).__name__} in one nn.ModuleList of "
        f"num_hidden_layers ({expected}) blocks"
    )


def parts(model: PreTrainedModel, paths: dict[str, tuple[str, ...]]) -> dict[str, nn.Module]:
    """The parts of ``model``'s base model that ``paths`` (one of the tables above) names for its family."""
    base = model.base_model
    found = {}
    for path in paths.get(model.config.model_type, ()):
        parent_path, _, attribute = path.rpartition(".")
        part = getattr(base.get_submodule(parent_path), attribute, None)
        if part is not None:
            found[path] = part
    return found


def set_part(model: PreTrainedModel, path: str, part: nn.Module | None) -> None:
    """Put ``part`` at ``path`` in ``model``'s base model (None removes it where the family allows)."""
    parent_path, _, attribute = path.rpartition(".")
    setattr(model.base_model.get_submodule(parent_path), attribute, part)


def feed_forward_key(config: PretrainedConfig) -> str:
    """The name under which ``config`` keeps its blocks' feed-forward width.

    Setting a name a config does not use would change nothing, silently; so a family whose config
    has no such name is refused.
    """
    key = FEED_FORWARD_KEYS.get(config.model_type, "intermediate_size")
    if not hasattr(config, key):
        raise ValueError(f"cannot tell where {config.model_type} configs keep their blocks' feed-forward width")
    return key


def attention_implementation(config: PretrainedConfig) -> str:
    """PyTorch's fused attention kernels (SDPA) where the family has them (DeBERTa-v2 has not), else eager."""
    return "sdpa" if MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[type(config)]._supports_sdpa else "eager"
