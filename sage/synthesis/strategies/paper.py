"""``paper``: the SAGE paper's pipeline: projector → sampler → inverse → lift."""

from __future__ import annotations

import pickle
import time
from typing import Any, Literal

import numpy as np
import torch

from sage.models.body import Body
from sage.projectors.neighbour_mean import NeighbourMean
from sage.synthesis.background import BackgroundFit, fit_projection
from sage.synthesis.diagnostics import inverse_diagnostics
from sage.synthesis.strategies import register
from sage.synthesis.strategies.base import Proposal, Strategy, SynthesisContext


@register("paper")
class PaperPipeline(Strategy):
    """The hard examples are located in a low-dimensional projection of the search space (the
    spec's ``projector``, UMAP-2D in the paper), new points are sampled near them there (the
    spec's ``sampler``), decoded back to pooled interface vectors, and lifted onto their parents'
    token sequences: H' = H[parent] + (s' − pool(H[parent])).

    The search space never changes during a run (the teacher is frozen), so the projection is
    fitted once and reused; only the hard set moves. With more than ``fit_max`` examples the
    projector is fitted on a sample of that size (the fit-sample stream) and the rest are placed
    by ``place_rest``: ``neighbours`` puts each at the weighted mean of its nearest fitted
    examples' coordinates (where UMAP's own transform starts before it refines), ``transform``
    calls the projector's ``transform`` (exact, but minutes for UMAP or t-SNE at tens of
    thousands of points). ``fit_in_background`` fits in a child process while the warm-up
    trains (default: on GPU runs, where the child does not compete with training for the cores).

    Decoding uses the projector's ``inverse_transform`` when the space is the interface and the
    projector has one; otherwise (teacher space, or reducers such as Isomap) a ``NeighbourMean``
    from the projection to the pooled interface vectors. ``diagnostic_points`` hard examples per
    epoch are decoded from their own coordinates, each left out of its own decoding, to measure
    the inverse.
    """

    def __init__(
        self,
        fit_max: int | None = 20_000,
        place_rest: Literal["neighbours", "transform"] = "neighbours",
        fit_in_background: bool | None = None,
        refit_each_epoch: bool = False,
        diagnostic_points: int = 64,
    ) -> None:
        if fit_max is not None and fit_max < 2:
            raise ValueError(f"fit_max must be at least 2 (or null: fit on every example), got {fit_max}")
        if diagnostic_points < 0:
            raise ValueError(f"diagnostic_points must be >= 0, got {diagnostic_points}")
        self.fit_max = fit_max
        self.place_rest = place_rest
        self.fit_in_background = fit_in_background
        self.refit_each_epoch = refit_each_epoch
        self.diagnostic_points = diagnostic_points
        self.embedding: np.ndarray | None = None
        self._fits = 0  # projections fitted in this run so far (kept in checkpoints)
        self._background: BackgroundFit | None = None

    # -- the projection, fitted once per run ------------------------------------------------

    def prepare(self, context: SynthesisContext) -> None:
        super().prepare(context)
        self.projector = context.projector
        background = self.fit_in_background
        if background is None:
            background = context.device.type == "cuda"
        self._start_fit(background)

    def _start_fit(self, background: bool) -> None:
        space = self.context.space
        self._fitted = np.arange(len(space))
        if self.fit_max is not None and len(space) > self.fit_max:
            self._fitted = np.sort(self.context.fit_rng.choice(len(space), self.fit_max, replace=False))
        self._background = None
        if background:
            try:
                self._background = BackgroundFit(self.projector, space[self._fitted])
            except (pickle.PicklingError, AttributeError, TypeError):
                pass  # a projector that cannot travel is fitted here, in _finish_fit

    def _finish_fit(self) -> dict[str, Any]:
        """Wait for the projection, place examples beyond ``fit_max``, prepare the decoder."""
        started = time.perf_counter()
        space, pooled = self.context.space, self.context.pooled
        sample = space[self._fitted]
        report: dict[str, Any] = {"projection": "fitted"}
        name = type(self.projector).__name__
        if self._background is not None:
            self.context.report(f"synthesis: waiting for the {name} fit on {len(sample):,} points (in a background process)")
            self.projector, fitted_embedding, fit_seconds = self._background.result()
            self._background = None
            report = {"projection": "fitted in background", "projector_background_s": fit_seconds}
        else:
            self.context.report(f"synthesis: fitting the {name} on {len(sample):,} points")
            self.projector, fitted_embedding, fit_seconds = fit_projection(self.projector, sample)
        self.context.report(f"synthesis: {name} fitted in {fit_seconds:.1f} s")
        embedding = np.empty((len(space), fitted_embedding.shape[1]), dtype=np.float32)
        embedding[self._fitted] = fitted_embedding
        rest = np.setdiff1d(np.arange(len(space)), self._fitted)
        if len(rest) and self.place_rest == "transform":
            embedding[rest] = self.projector.transform(space[rest])
        elif len(rest):
            embedding[rest] = NeighbourMean().fit(sample, fitted_embedding).predict(space[rest])
        self.embedding = embedding
        if self.context.searches_interface and hasattr(self.projector, "inverse_transform"):
            self._decode = self.projector.inverse_transform
            self._decode_held_out = getattr(
                self.projector, "inverse_transform_held_out", lambda Z, rows: self._decode(Z)
            )
        else:
            decoder = NeighbourMean().fit(fitted_embedding, pooled[self._fitted])
            self._decode = decoder.predict
            self._decode_held_out = lambda Z, rows: decoder.predict(Z, exclude=rows)
        return {**report, "projector_fit_s": time.perf_counter() - started}

    @property
    def map_embedding(self) -> np.ndarray | None:
        return self.embedding

    def state_dict(self) -> dict[str, Any]:
        return {"fits": self._fits}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # The projection is refitted rather than stored: the fit is deterministic. Fitted once per
        # run, it is fitted on the sample prepare drew, as the first run's was. Refitted every epoch,
        # the next propose draws its sample from the restored fit-sample stream, as the uninterrupted
        # run draws it, so only the count of fits comes back.
        self._fits = state["fits"]
        if self._fits and not self.refit_each_epoch:
            self._finish_fit()

    def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            self._background = None

    # -- each epoch ---------------------------------------------------------------------------

    def targets(self, points: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """Pooled interface vectors for the sampled ``points``, and how many of them the inverse
        clipped or rejected (``n_clipped``, ``n_rejected``)."""
        return self._decode_counted(points)

    def _decode_counted(self, points: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """The decoding of ``points``, with the inverse's counts read right after that call: a
        projector's ``n_clipped_``/``n_rejected_`` describe its last ``inverse_transform`` only."""
        decoded = np.asarray(self._decode(points), dtype=np.float32)
        counts = {name: int(getattr(self.projector, f"{name}_", 0)) for name in ("n_clipped", "n_rejected")}
        return decoded, counts

    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        if self.refit_each_epoch and self._fits:
            self._start_fit(background=False)  # a new fit sample, from the fit-sample stream
            stats = self._finish_fit()
            self._fits += 1
        elif self.embedding is None:
            stats = self._finish_fit()
            self._fits += 1
        else:
            stats = {"projection": "reused"}
        context = self.context

        started = time.perf_counter()
        points, parents = context.sampler.sample(self.embedding, anchors, count, context.rng)
        stats["sample_s"] = time.perf_counter() - started
        started = time.perf_counter()
        pooled, counts = self.targets(points, parents)
        stats["inverse_s"] = time.perf_counter() - started
        stats |= counts
        # Projectors return NaN rows for points they refuse to invert; those points are dropped.
        kept = np.isfinite(pooled).all(axis=1)
        points, parents, pooled = points[kept], parents[kept], pooled[kept]
        device = context.real.device
        vectors = context.real.lift(torch.as_tensor(parents, device=device), torch.as_tensor(pooled, device=device))
        stats |= self._inverse_fidelity(anchors)
        return Proposal(vectors, parents, points=points, stats=stats)

    def _inverse_fidelity(self, anchors: np.ndarray) -> dict[str, float]:
        """Hard examples the projector was fitted on, each decoded without itself: decoding a
        memorised point proves nothing (see Projector.inverse_transform_held_out)."""
        probe = anchors[np.isin(anchors, self._fitted)][: self.diagnostic_points]
        if not len(probe):
            return {}
        started = time.perf_counter()
        rows = np.searchsorted(self._fitted, probe)
        decoded = np.asarray(self._decode_held_out(self.embedding[probe], rows), dtype=np.float32)
        finite = np.isfinite(decoded).all(1)
        pooled = self.context.pooled
        result = inverse_diagnostics(decoded[finite], pooled[probe][finite], pooled.mean(0))
        return {**result, "inverse_diagnostics_s": time.perf_counter() - started}
