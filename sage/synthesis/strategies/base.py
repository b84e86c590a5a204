"""The synthesis-strategy protocol: new interface sequences near given parent examples.

Each epoch the synthesiser ranks the training examples, picks the anchors (the hard set, or a
uniform draw for the random-parent control) and asks the strategy for ``count`` new sequences
around them. The strategy returns the sequences and, for each, the index of its parent; the
synthesiser labels them with the teacher (unless the strategy already did) and describes them.

A strategy is a registered class whose ``__init__`` takes only its hyper-parameters, annotated
and with defaults (the spec validates user arguments against that signature, and builds one to
check their values), and whose constructor does no work. Its lifecycle:

- ``check_task(task)``, ``check_interface(interface_layer)``: refuse, with a ``ValueError``, a
  task or an interface layer it cannot serve (spec time); ``needs_transfer``: it searches the
  task's transfer rows, which the spec must then give;
- ``prepare(context)``: once per run, before the first epoch; fixed inputs arrive here;
- ``propose(anchors, count, student)``: once per synthetic epoch;
- ``state_dict()`` / ``load_state_dict(state)``: for checkpoints, as torch modules have them; a
  resumed run calls ``prepare`` and then ``load_state_dict`` with what ``state_dict`` returned
  after the last finished epoch. The random streams are the run's to keep, so a strategy keeps
  only what it built itself (and need not define either when it builds nothing that lasts);
- ``close()``: always, also after an error or Ctrl-C.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from sage.models.body import Body
from sage.tasks.task import Task
from sage.training import predict
from sage.vectors import VectorSet


@dataclass
class SynthesisContext:
    """What a strategy may read; fixed for the whole run."""

    real: VectorSet  # the training examples at the interface
    pooled: np.ndarray  # float32 [N, d]: their mean-pooled interface vectors
    space: np.ndarray  # float32 [N, d']: where neighbours are searched, the space named by ``space_name``
    space_name: Literal["interface", "teacher"]  # the pooled interface vectors (``pooled``), or the teacher's pooled final layer
    teacher: torch.nn.Module  # the teacher body at its inference precision: (vectors, mask) -> float32 logits
    teacher_outputs: torch.Tensor  # [N, C], the teacher's outputs on ``real``
    regression: bool
    temperature: float  # of the divergence the student is ranked by
    batch_size: int  # for inference passes
    rng: np.random.Generator  # the synthesis stream: every random choice of the strategy
    fit_rng: np.random.Generator  # the fit-sample stream, for strategies that fit a projection
    projector: Any  # the spec's projector and sampler, for strategies that work in a projection
    sampler: Any
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    report: Callable[[str], None] = lambda message: None  # one line to the user, for steps that take a while
    # For strategies that work on tokens (``substitute``): the whole teacher (its tokenizer,
    # word-embedding table and ``embed``), the training rows' text columns as it reads them, and
    # the length they were cut to.
    source: Any = None
    texts: Sequence[Sequence[str]] | None = None
    max_length: int = 64
    # For strategies that search real text (``retrieve``): the teacher-labelled transfer rows
    # (``task.transfer``, ``task.unlabelled``) at the interface, the teacher's outputs on them,
    # and their points in ``space``. None unless a strategy of the run searches them.
    transfer: VectorSet | None = None
    transfer_teacher: torch.Tensor | None = None
    transfer_space: np.ndarray | None = None

    @property
    def searches_interface(self) -> bool:
        """Whether ``space`` is the pooled interface, where a decoded point is a pooled vector itself."""
        return self.space_name == "interface"


@dataclass
class Proposal:
    """A strategy's answer: sequences (float32, so that small shifts survive) and their parents."""

    vectors: VectorSet
    parents: np.ndarray  # int64 [M], index into the real examples
    teacher: torch.Tensor | None = None  # the teacher's outputs on ``vectors``, if the strategy computed them
    points: np.ndarray | None = None  # the new points in the strategy's map (see Strategy.map_embedding)
    stats: dict[str, Any] = field(default_factory=dict)  # extra history columns: seconds, counts, diagnostics

    def labelled(self, context: SynthesisContext) -> torch.Tensor:
        """The teacher's outputs on the sequences: the strategy's own, or one pass of the teacher
        in its inference batches."""
        if self.teacher is not None:
            return self.teacher
        if not len(self.parents):
            return context.teacher_outputs[:0]
        return predict(context.teacher, self.vectors, context.batch_size)


class Strategy(ABC):
    """Base class of synthesis strategies; see the module docstring for the protocol."""

    supports_regression: bool = True

    def check_task(self, task: Task) -> None:
        if task.is_regression and not self.supports_regression:
            raise ValueError(
                f"synthesis strategy {type(self).__name__} needs teacher classes, but task {task.name!r} "
                "is a regression task; use paper, residual, mixup or adversarial"
            )

    def check_interface(self, interface_layer: int) -> None:
        """Refuse, with a ``ValueError``, an interface layer the strategy cannot work at (spec time)."""

    needs_transfer: bool = False  # whether it searches the transfer rows (the spec refuses it without them)

    def prepare(self, context: SynthesisContext) -> None:
        self.context = context

    @abstractmethod
    def propose(self, anchors: np.ndarray, count: int, student: Body) -> Proposal:
        """``count`` new sequences around ``anchors`` (indices into the real examples)."""

    @property
    def map_embedding(self) -> np.ndarray | None:
        """Coordinates of the real examples for ``map.png``, if the strategy has its own map;
        otherwise the map shows the search space through its first two principal components."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps so that ``propose`` continues exactly after a resume: plain data
        and tensors. The random streams are the run's to keep. A stateless strategy keeps nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what ``state_dict`` returned; called on resume, after ``prepare``."""

    def close(self) -> None:
        """Release what ``prepare`` started (background processes, files)."""


def cyclic_parents(anchors: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor repeated in turn up to ``count`` parents, and each parent's repetition number
    (0 for an anchor's first child, 1 for its second, ...)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    parents = np.resize(anchors, count) if len(anchors) else np.empty(0, dtype=np.int64)
    return parents, np.arange(count) // max(len(anchors), 1)
