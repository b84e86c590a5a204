"""The progress display: one line per epoch, beside the engine's step bars."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

from sage.callbacks import register
from sage.callbacks.base import Callback, FitStart


@register("progress")
class ProgressDisplay(Callback):
    """Prints where the run is: its folder at the start, each epoch's agreement and dev score, and
    the final dev metrics. Written through ``tqdm.write`` so that it never breaks a progress bar;
    silent when the run was asked to be quiet."""

    def __init__(self) -> None:
        self.enabled = True
        self.max_epochs = 0

    def on_fit_start(self, start: FitStart) -> None:
        self.enabled = start.progress
        self.max_epochs = start.spec.schedule.max_epochs
        done = len(start.history)
        self._say(f"{'resuming' if done else 'running'} {start.output_dir}" + (f" after epoch {done}" if done else ""))

    def on_epoch_end(self, row: Mapping[str, Any]) -> None:
        self._say(
            f"epoch {row['epoch']}/{self.max_epochs}: agreement {row['agreement']:.4f}, dev score {row['dev_score']:.4f}"
            + (f", {row['n_synthetic']} synthetic" if "n_synthetic" in row else "")
            + f" ({row['epoch_s']:.1f} s)"
        )

    def on_fit_end(self, metrics: Mapping[str, Any]) -> None:
        scores = ", ".join(f"{name} {value:.4f}" for name, value in metrics["dev"].items())
        self._say(f"done: {metrics['evaluated_on']} {scores} (teacher {metrics['teacher_dev']['score']:.4f})")

    def _say(self, message: str) -> None:
        if self.enabled:
            tqdm.write(message)
