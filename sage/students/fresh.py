"""``fresh``: a student of newly initialised blocks and head, shaped like the teacher's."""

from __future__ import annotations

import copy

from transformers import AutoModelForSequenceClassification, PretrainedConfig

from sage.models.body import Body, adopt_shared_parts
from sage.models.family import feed_forward_key
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
        for name, value in (("intermediate_size", intermediate_size), ("num_attention_heads", num_attention_heads)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or null: the teacher's), got {value}")
        self.num_layers = num_layers
        self.intermediate_size = intermediate_size
        self.num_attention_heads = num_attention_heads

    def check_backbone(self, config: PretrainedConfig, interface_layer: int) -> None:
        """Refuse shapes the teacher cannot take; the spec calls this with the backbone's config.

        Above the embedding layer the exported student keeps the teacher's blocks below the
        interface, and one model config must describe those and the student's blocks alike.
        """
        if self.num_attention_heads is not None and config.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"num_attention_heads must divide the teacher's hidden size {config.hidden_size}, got {self.num_attention_heads}"
            )
        # Each requested size, with the config key that holds the teacher's (DistilBERT's feed-forward
        # width is hidden_dim); a family without such a key is refused here.
        requested = {"num_attention_heads": (self.num_attention_heads, "num_attention_heads")}
        if self.intermediate_size is not None:
            requested["intermediate_size"] = (self.intermediate_size, feed_forward_key(config))
        if interface_layer:
            changed = [
                f"{name} {value} (the teacher's: {getattr(config, key)})"
                for name, (value, key) in requested.items()
                if value is not None and value != getattr(config, key)
            ]
            if changed:
                raise ValueError(
                    f"with interface_layer {interface_layer} the student's blocks must be shaped like the teacher's, "
                    f"got {', '.join(changed)}; leave them null, or use interface_layer: 0"
                )

    def build(self, teacher: Teacher) -> Body:
        self.check_backbone(teacher.model.config, teacher.interface_layer)
        config = copy.deepcopy(teacher.model.config)
        config.num_hidden_layers = self.num_layers
        if self.intermediate_size is not None:
            setattr(config, feed_forward_key(config), self.intermediate_size)  # DistilBERT's is hidden_dim
        if self.num_attention_heads is not None:
            config.num_attention_heads = self.num_attention_heads
        model = AutoModelForSequenceClassification.from_config(config).to(teacher.device)
        body = Body.from_model(model, range(self.num_layers), interface_layer=teacher.interface_layer)
        return adopt_shared_parts(body, teacher.model) if teacher.interface_layer else body
