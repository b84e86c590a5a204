"""Python ``logging``: the run's events as records of one logger, for a team's own handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sage.callbacks import register
from sage.callbacks.base import Callback, FitStart, numeric_items


@register("logging")
class Logging(Callback):
    """Sends each event to ``logging.getLogger(logger)`` at ``level``: the start, every synthetic
    set's size, every epoch's numbers and the final metrics. Handlers, formats and destinations are
    the application's (``logging.basicConfig``, a file handler, a log shipper)."""

    def __init__(self, logger: str = "sage.run", level: str = "INFO") -> None:
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"level must be a logging level name (DEBUG, INFO, WARNING, ERROR), got {level!r}")
        self.logger = logging.getLogger(logger)
        self.level = number

    def on_fit_start(self, start: FitStart) -> None:
        self.logger.log(
            self.level, "fit start: %s, %s, output %s%s", start.spec.task.name, start.spec.synthesis.name,
            start.output_dir, f", resumed after epoch {len(start.history)}" if start.resumed else "",
        )

    def on_synthesis(self, synthetic: Any) -> None:
        self.logger.log(self.level, "synthesis: %d points from %d parents", len(synthetic.vectors), len(set(synthetic.parents.tolist())))

    def on_epoch_end(self, row: Mapping[str, Any]) -> None:
        numbers = " ".join(f"{key}={value:.6g}" for key, value in numeric_items(row).items())
        self.logger.log(self.level, "epoch %d (%s): %s", row["epoch"], row["phase"], numbers)

    def on_fit_end(self, metrics: Mapping[str, Any]) -> None:
        self.logger.log(self.level, "fit end: dev %s, stopped by %s after %d epochs", metrics["dev"], metrics["stopped_by"], metrics["epochs"])
