"""What a run keeps after each epoch so that, resumed, it ends exactly as if never stopped.

The teacher, the cached interface vectors and the strategy's fixed inputs are rebuilt on
resume: they depend on the spec alone. What moves during training is kept here: the student,
AdamW's moments, every random stream's position, the strategy's own state, the student's
outputs that rank the next hard set, the history and the counters. The next epoch's synthetic
set is then regenerated exactly from this state. Everything is tensors and plain data, so the
file loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sage.run.folder import atomic

if TYPE_CHECKING:
    from sage.engine import Run

STATE_FILE = "state.pt"
COUNTERS = ("synthetic_epochs", "synthetic_examples", "steps")


def capture(run: Run) -> dict[str, Any]:
    """The run's state after its last finished epoch."""
    state: dict[str, Any] = {
        "history": run.history,
        "counters": {name: getattr(run, name) for name in COUNTERS},
        "student": run.student.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "real_batches": run.real.order.get_state(),
        "real_dropout": run.real.dropout.get_state(),
        "outputs": run.outputs,
        "map": {key: torch.from_numpy(np.asarray(value)) for key, value in run.last_map.items()} if run.last_map else None,
    }
    if run.synthesiser is not None:
        context = run.synthesiser.context
        state["synthesis"] = {
            "strategy": run.synthesiser.strategy.state(),
            "rng": context.rng.bit_generator.state,
            "fit_rng": context.fit_rng.bit_generator.state,
            "synthetic_batches": run.synthetic_order.get_state(),
            "synthetic_dropout": run.synthetic_dropout.get_state(),
        }
    return state


def restore(run: Run, state: dict[str, Any]) -> None:
    """Put ``state`` back into a freshly started run (its synthesis prepared)."""
    run.history = state["history"]
    for name, value in state["counters"].items():
        setattr(run, name, value)
    run.student.load_state_dict(state["student"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.real.order.set_state(state["real_batches"])
    run.real.dropout.set_state(state["real_dropout"])
    run.outputs = None if state["outputs"] is None else state["outputs"].to(run.device)
    run.last_map = None if state["map"] is None else {key: value.numpy() for key, value in state["map"].items()}
    if run.synthesiser is not None:
        synthesis, context = state["synthesis"], run.synthesiser.context
        # The strategy first: restoring it may redo deterministic work that must not draw from the streams.
        run.synthesiser.strategy.restore(synthesis["strategy"])
        context.rng.bit_generator.state = synthesis["rng"]
        context.fit_rng.bit_generator.state = synthesis["fit_rng"]
        run.synthetic_order.set_state(synthesis["synthetic_batches"])
        run.synthetic_dropout.set_state(synthesis["synthetic_dropout"])


def save(folder: Path, state: dict[str, Any]) -> None:
    with atomic(Path(folder) / STATE_FILE) as staging:
        torch.save(state, staging)


def load(folder: Path) -> dict[str, Any]:
    return torch.load(Path(folder) / STATE_FILE, weights_only=True)
