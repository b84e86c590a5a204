"""``residual``: the paper's pipeline with residual decoding, a controlled step from the parent."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from sage.synthesis.strategies import register
from sage.synthesis.strategies.paper import PaperPipeline


@register("residual")
class ResidualPipeline(PaperPipeline):
    """The paper's pipeline, decoded as a residual: x' = x_parent + step · (decode(z') − decode(z_parent)).

    A 2-D inverse is close to a local mean (``../shared/notes/projector-baseline.md``), so the
    paper's synthetic points land on blurred neighbourhood means, far from their parents. Decoding
    the difference between the new point and its parent's own point keeps the direction the
    projection suggests and moves the parent by a controlled ``step`` of it; ``step: 0`` gives the
    parents back exactly. Residual decoding is the standard way to make an approximate decoder
    local (as in residual vector quantisation); here it is applied to the projector's inverse.
    """

    def __init__(
        self,
        step: float = 0.5,
        fit_max: int | None = 20_000,
        place_rest: Literal["neighbours", "transform"] = "neighbours",
        fit_in_background: bool | None = None,
        refit_each_epoch: bool = False,
        diagnostic_points: int = 64,
    ) -> None:
        if isinstance(step, bool) or not (math.isfinite(step) and step >= 0):
            raise ValueError(f"step must be a finite float >= 0, got {step!r}")
        super().__init__(fit_max, place_rest, fit_in_background, refit_each_epoch, diagnostic_points)
        self.step = float(step)

    def targets(self, points: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        pooled = self.context.pooled[parents]
        if self.step == 0:
            return pooled.copy(), {"n_clipped": 0, "n_rejected": 0}
        # Each parent's own point is decoded once, however many children it has. The new points
        # are decoded last, so that the inverse's counts describe them, not their parents.
        anchors, which = np.unique(parents, return_inverse=True)
        origin, _ = self._decode_counted(self.embedding[anchors])
        moved, counts = self._decode_counted(points)
        return pooled + self.step * (moved - origin[which]), counts
