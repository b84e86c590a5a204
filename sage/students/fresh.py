"""``fresh``: a student of newly initialised blocks and head, shaped like the teacher's."""

from __future__ import annotations

import copy

from transformers import AutoModelForSequenceClassification

from sage.models.body import Body
from sage.students import register
from sage.models.teacher import Teacher


@register("fresh")
class FreshStudent:
    """``num_layers`` new blocks; width follows the teacher (it reads the teacher's vectors), while
    the feed-forward size and head count can shrink."""

    def __init__(
        self, num_layers: int = 3, intermediate_size: int | None = None, num_attention_heads: int | None = None
    ) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_layers = num_layers
        self.intermediate_size = intermediate_size
        self.num_attention_heads = num_attention_heads

    def build(self, teacher: Teacher) -> Body:
        config = copy.deepcopy(teacher.model.config)
        config.num_hidden_layers = self.num_layers
        if self.intermediate_size is not None:
            config.intermediate_size = self.intermediate_size
        if self.num_attention_heads is not None:
            if config.hidden_size % self.num_attention_heads:
                raise ValueError(
                    f"num_attention_heads must divide the hidden size {config.hidden_size}, got {self.num_attention_heads}"
                )
            config.num_attention_heads = self.num_attention_heads
        model = AutoModelForSequenceClassification.from_config(config).to(teacher.device)
        return Body.from_model(model, range(self.num_layers))
