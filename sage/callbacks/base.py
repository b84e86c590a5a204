"""The callback protocol: what a run tells the tools watching it, and when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sage.spec import SageSpec
    from sage.synthesis.synthesiser import SyntheticSet


@dataclass(frozen=True)
class FitStart:
    """What a callback learns when a run starts, or resumes.

    ``history`` holds the epochs a resumed run had already finished (empty for a new run), so that
    a callback can carry on from them: append, or purge what a killed run wrote after them.
    """

    spec: SageSpec
    output_dir: Path
    history: Sequence[Mapping[str, Any]]
    progress: bool  # False when the caller asked for a quiet run (``build(..., progress=False)``)

    @property
    def resumed(self) -> bool:
        return bool(self.history)


class Callback:
    """Hooks into a run, each a no-op here; a callback overrides the ones it needs.

    Called in the order the spec lists the callbacks:

    - ``on_fit_start(start)``: the teacher is ready and the data cached; before the first epoch
      (or the first epoch left, on resume).
    - ``on_synthesis(synthetic)``: an epoch's synthetic set, before the student trains on it.
    - ``on_epoch_end(row)``: one epoch's row of history.csv (losses, agreement, dev scores, timings).
    - ``on_fit_end(metrics)``: the finished run's metrics.json, after the student is exported.

    A callback observes; it must not change what it is given. It is built from the spec like
    every component (``callbacks: [{name: tensorboard, log_dir: tb}]``), so its constructor takes
    plain settings and does no work. One that keeps state across epochs (a running best, a count)
    returns it from ``state_dict()`` and takes it back in ``load_state_dict()``, so that a resumed
    run goes on where it stopped; ``on_fit_start`` comes after ``load_state_dict``.
    """

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def on_fit_start(self, start: FitStart) -> None:
        pass

    def on_synthesis(self, synthetic: SyntheticSet) -> None:
        pass

    def on_epoch_end(self, row: Mapping[str, Any]) -> None:
        pass

    def on_fit_end(self, metrics: Mapping[str, Any]) -> None:
        pass


def numeric_items(row: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a history row (timings, losses, scores), without the epoch and its phase."""
    return {
        key: float(value)
        for key, value in row.items()
        if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class Callbacks:
    """The run's callbacks, in the spec's order: each hook called on each, and their states kept
    together as one part of a checkpoint."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def notify(self, hook: str, argument: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(argument)

    def state_dict(self) -> dict[str, Any]:
        return {key: callback.state_dict() for key, callback in self._keyed().items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # Callbacks are not part of a run's identity: a resumed run may list others. Those it
        # listed before take their state back; new ones start afresh.
        for key, callback in self._keyed().items():
            if key in state:
                callback.load_state_dict(state[key])

    def _keyed(self) -> dict[str, Callback]:
        return {f"{position}:{type(callback).__name__}": callback for position, callback in enumerate(self.callbacks)}
