"""``truncated``: a student made of chosen teacher blocks and the teacher's head."""

from __future__ import annotations

from sage.models.body import Body, transformer_layers
from sage.students import register
from sage.models.teacher import Teacher


@register("truncated")
class TruncatedStudent:
    """Copies teacher blocks ``layers`` (indices into all of the teacher's blocks, in order) and its head."""

    def __init__(self, layers: list[int] = [0, 2, 4]) -> None:  # noqa: B006 (pydantic copies it)
        if not layers:
            raise ValueError("layers must name at least one teacher block, e.g. [0, 2, 4]")
        self.layers = list(layers)

    def build(self, teacher: Teacher) -> Body:
        depth = teacher.num_layers
        outside = [i for i in self.layers if not 0 <= i < depth]
        if outside:
            raise ValueError(f"student layers {outside} do not exist: the teacher has blocks 0..{depth - 1}")
        parent, attribute = transformer_layers(teacher.model)
        if not getattr(parent, attribute):
            raise ValueError("the teacher has no transformer blocks to copy")
        return Body.from_model(teacher.model, self.layers).requires_grad_(True)
