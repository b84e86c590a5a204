"""How far a long loop has gone: a tqdm bar on a terminal, a line now and then in a log.

tqdm alone shows nothing when stderr is not a terminal (``disable=None``), so a log of a
two-minute fine-tuning stayed blank. ``Progress`` wraps tqdm the way sage calls it and, in a
log, writes one line at most every ``interval`` seconds and one at the end instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from types import TracebackType
from typing import Any, Generic, TextIO, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

LOG_INTERVAL = 30.0  # seconds between two lines in a log


class Progress(Generic[T]):
    """Progress of a loop over ``items`` (iterate over it), or of one counted by hand (``update``).

    ``Progress(batches, desc="embedding train")`` is used like ``tqdm(batches, desc=...)``.
    ``enabled`` None shows it when there is a ``desc``, so callers can pass their optional
    progress label straight through; False shows nothing. ``leave`` False is for loops that
    run often: the bar goes once done, and a log gets the last line only from a loop long
    enough to have written one before. ``stream`` and ``clock`` are there for tests.
    """

    def __init__(
        self,
        items: Iterable[T] | None = None,
        desc: str | None = None,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        unit: str = "steps",
        leave: bool = True,
        stream: TextIO | None = None,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.items = items
        self.desc = desc
        self.total = len(items) if total is None and isinstance(items, Sized) else total
        self.unit = unit
        self.count = 0
        self._stream = stream or sys.stderr
        self._interval = interval
        self._clock = clock
        self._started = self._last_line = clock()
        self._postfix: dict[str, Any] = {}
        self._leave = leave
        self._lines = 0
        self._closed = False
        shown = bool(desc) if enabled is None else enabled
        on_terminal = shown and _is_terminal(self._stream)
        self._bar = tqdm(total=self.total, desc=desc, unit=unit, leave=leave, file=self._stream) if on_terminal else None
        self._log = shown and not on_terminal

    def __iter__(self) -> Iterator[T]:
        if self.items is None:
            raise TypeError("this Progress counts by hand (update); give it items to iterate over")
        try:
            for item in self.items:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def update(self, steps: int = 1) -> None:
        self.count += steps
        if self._bar is not None:
            self._bar.update(steps)
        elif self._log and self._clock() - self._last_line >= self._interval:
            self._write_line()

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the count, e.g. ``loss="0.312"``: beside the bar, or at the end of each line."""
        self._postfix = values
        if self._bar is not None:
            self._bar.set_postfix(values)

    def close(self) -> None:
        """End the bar, or write the last line; only the first call does anything."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self._log and (self._leave or self._lines):
            self._write_line()

    def _write_line(self) -> None:
        now = self._clock()
        self._last_line = now
        self._lines += 1
        done = f"{self.count} {self.unit}"
        if self.total:
            done = f"{self.count}/{self.total} {self.unit} ({100 * self.count // self.total}%)"
        extra = "".join(f", {name} {value}" for name, value in self._postfix.items())
        print(f"{self.desc or 'progress'}: {done}, {now - self._started:.0f} s{extra}", file=self._stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
