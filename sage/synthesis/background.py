"""Fitting a projector in a separate process, so that the warm-up epoch trains meanwhile.

The projection needs only the pooled vectors, which exist before the first epoch; the
engine needs it only after the warm-up. A child interpreter (``python -m sage.synthesis.background``)
does the fit with one thread and hands back the fitted projector and its training
embedding through pickle files. A plain subprocess, rather than multiprocessing, never
re-imports the caller's ``__main__`` and can be killed cleanly if the run ends early. The child
first imports what the run imported with ``--import``, so that a projector defined in the
user's own file unpickles there too.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sage.imports import import_user_code, imported

# One thread for the child: the other cores keep training.
_CHILD_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def fit_projection(projector: Any, sample: np.ndarray) -> tuple[Any, np.ndarray, float]:
    """Fit ``projector`` on ``sample``; returns it, the training embedding and the seconds taken."""
    started = time.perf_counter()
    fit_transform = getattr(projector, "fit_transform", None)
    embedding = fit_transform(sample) if fit_transform else projector.fit(sample).transform(sample)
    return projector, np.asarray(embedding, dtype=np.float32), time.perf_counter() - started


class BackgroundFit:
    """``fit_projection`` running in a child process; ``result()`` waits for it."""

    def __init__(self, projector: Any, sample: np.ndarray) -> None:
        payload = pickle.dumps((projector, sample), protocol=pickle.HIGHEST_PROTOCOL)
        self._folder = Path(tempfile.mkdtemp(prefix="sage-fit-"))
        (self._folder / "input.pkl").write_bytes(payload)
        (self._folder / "imports.json").write_text(json.dumps(imported()))
        environment = {**os.environ, **_CHILD_THREADS, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(self._folder / "stderr.txt", "wb") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "sage.synthesis.background", str(self._folder)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=environment,
            )

    def result(self) -> tuple[Any, np.ndarray, float]:
        try:
            if self._process.wait() != 0:
                log = (self._folder / "stderr.txt").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"fitting the projector in a background process failed:\n{log}")
            return pickle.loads((self._folder / "output.pkl").read_bytes())
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def cancel(self) -> None:
        self._process.kill()
        self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def _main(folder: Path) -> None:
    import_user_code(json.loads((folder / "imports.json").read_text()))
    projector, sample = pickle.loads((folder / "input.pkl").read_bytes())
    output = pickle.dumps(fit_projection(projector, sample), protocol=pickle.HIGHEST_PROTOCOL)
    (folder / "output.pkl").write_bytes(output)


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
