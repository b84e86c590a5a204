"""``truncated``: a student made of chosen teacher blocks and the teacher's head."""

from __future__ import annotations

from transformers import PretrainedConfig

from sage.models.body import Body, adopt_shared_parts
from sage.models.family import transformer_layers
from sage.students import register
from sage.models.teacher import Teacher


@register("truncated")
class TruncatedStudent:
    """Copies teacher blocks ``layers`` (indices into all of the teacher's blocks, in order) and its head."""

    def __init__(self, layers: list[int] = [0, 2, 4]) -> None:  # noqa: B006 (pydantic copies it)
        if not layers:
            raise ValueError("layers must name at least one teacher block, e.g. [0, 2, 4]")
        negative = [i for i in layers if i < 0]
        if negative:
            raise ValueError(f"layers are teacher block indices from 0, got {negative}")
        repeated = sorted({i for i in layers if layers.count(i) > 1})
        if repeated:
            # A repeated block would be one module twice: its weights shared, and not exportable.
            raise ValueError(f"layers must be distinct teacher blocks, got {list(layers)} (repeats {repeated})")
        self.layers = list(layers)

    def check_backbone(self, config: PretrainedConfig, interface_layer: int) -> None:
        """Refuse layers the teacher does not have; the spec calls this with the backbone's config.

        ``layers`` index all of the teacher's blocks, whatever ``interface_layer`` is.
        """
        depth = config.num_hidden_layers
        outside = [i for i in self.layers if i >= depth]
        if outside:
            raise ValueError(f"layers {outside} do not exist: the teacher's blocks are 0..{depth - 1}")

    def build(self, teacher: Teacher) -> Body:
        self.check_backbone(teacher.model.config, teacher.interface_layer)
        parent, attribute = transformer_layers(teacher.model)
        if not getattr(parent, attribute):
            raise ValueError("the teacher has no transformer blocks to copy")
        body = Body.from_model(teacher.model, self.layers, interface_layer=teacher.interface_layer)
        body.requires_grad_(True)
        return adopt_shared_parts(body, teacher.model) if teacher.interface_layer else body
