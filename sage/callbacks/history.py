"""history.csv: one row per finished epoch, rewritten as each epoch ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sage.callbacks import register
from sage.callbacks.base import Callback, FitStart
from sage.run.outputs import write_history


@register("history")
class HistoryCSV(Callback):
    """Writes ``<run>/<file_name>`` after every epoch, so that a running or killed run can be
    looked at; a resumed run rewrites it from the epochs it restored."""

    def __init__(self, file_name: str = "history.csv") -> None:
        if not file_name.endswith(".csv") or "/" in file_name:
            raise ValueError(f"file_name must be a .csv file name inside the run folder, got {file_name!r}")
        self.file_name = file_name
        self.rows: list[dict[str, Any]] = []
        self.path = None

    def on_fit_start(self, start: FitStart) -> None:
        self.path = start.output_dir / self.file_name
        self.rows = [dict(row) for row in start.history]

    def on_epoch_end(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))
        write_history(self.rows, self.path)
