"""``Task``: what sage needs of a text-classification (or regression) task, and what every task shares.

A task names its text columns and labels, loads its splits as a ``datasets.Dataset`` with
columns ``text_fields + ("label",)``, and scores predictions. A subclass gives ``name``,
``text_fields``, ``label_names`` (None for regression) and ``metrics``, and implements ``load``;
everything else is here: label ids by name, the checks every row passes whatever its source, the
order of labels aligned with a teacher's, the classifier config a student is exported with.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from typing import Any

import datasets
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sage.errors import InputError
from sage.tasks.metrics import METRICS

DATA_DIR_ENV = "SAGE_DATA_DIR"
SPLITS = ("train", "dev")
# The label of a row that has none (unlabelled transfer text): datasets' own convention for
# ClassLabel columns, and NaN for a regression score.
NO_LABEL = -1


class DataError(InputError):
    """A task's rows cannot be read: a missing or malformed file, or an unreachable hub.

    A fault in a file is reported as ``path:line: what is wrong; what would be valid`` (or the row
    where a format has no lines), so that it can be found in an editor.
    """


# Data row index -> where that row is, as an error names it: ``path:line``, or a hub split's row.
Locate = Callable[[int], str]


def refuse_first(
    bad: np.ndarray, locate: Locate, problem: str | Callable[[int], str], rows_have: str, expected: str
) -> None:
    """Raise a ``DataError`` at the first row that ``bad`` (a boolean mask over rows) flags, counting the rest.

    ``problem`` says what is wrong with the row, or gives that from the row's index.
    """
    rows = np.flatnonzero(bad)
    if len(rows):
        row = int(rows[0])
        found = problem(row) if callable(problem) else problem
        others = f" ({len(rows)} rows {rows_have}; this is the first)" if len(rows) > 1 else ""
        raise DataError(f"{locate(row)}: {found}{others}; expected {expected}")


class Task:
    """A text-classification or regression task; subclass it (or register an instance) to add one.

    Subclasses set ``name``, ``text_fields`` (one column, or two for pairs), ``label_names``
    (None: regression, one score per example) and ``metrics`` (keys of
    ``sage.tasks.metrics.METRICS``), and implement ``load``. ``label_range`` bounds a regression
    task's scores; ``card_dataset`` names the hub dataset (and config) a model card cites.
    """

    name: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...] | None
    metrics: tuple[str, ...]
    label_range: tuple[float, float] | None = None
    card_dataset: tuple[str, str | None] | None = None
    dev_fraction: float = 0.1  # without dev rows (has_dev false), the share of train a run scores instead
    # A teacher sage fine-tuned for another task is refused: true for tasks of one fixed dataset, whose
    # teachers sage fine-tunes; a user's data may come with a teacher sage tuned on any task with its classes.
    refuses_teachers_of_other_tasks: bool = True
    # Old id -> id in ``label_names``' order, once the labels are aligned with a teacher's.
    _label_order: tuple[int, ...] | None = None

    def load(self, split: str, data_dir: str | os.PathLike | None = None) -> datasets.Dataset:
        """The rows of ``split`` ("train" or "dev"): columns ``text_fields`` (stripped strings) and
        ``label`` (int64 ids in ``label_names``' order, float32 scores for regression)."""
        raise NotImplementedError(f"{type(self).__name__} must implement load(split, data_dir)")

    @property
    def has_dev(self) -> bool:
        """Whether ``load("dev")`` gives rows; without them a run scores rows held out of train."""
        return True

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        """Number of model outputs: 1 for regression, else the number of classes."""
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.text_fields, "label")

    @property
    def features(self) -> datasets.Features:
        label = datasets.Value("float32") if self.label_names is None else datasets.ClassLabel(names=list(self.label_names))
        return datasets.Features({**{field: datasets.Value("string") for field in self.text_fields}, "label": label})

    def head_config(self) -> dict[str, Any]:
        """What a Hugging Face classifier's config says of this task's outputs: label names by id
        (one ``score`` for regression), ids by name, and the problem type."""
        names = self.label_names or ("score",)
        return {
            "num_labels": self.num_labels,
            "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)},
            "problem_type": "regression" if self.is_regression else "single_label_classification",
        }

    def check_definition(self) -> None:
        """Raise ``ValueError`` when the task's own declaration is inconsistent."""
        unknown = [metric for metric in self.metrics if metric not in METRICS]
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown metrics {unknown}; known: {', '.join(METRICS)}")
        if len(self.text_fields) not in (1, 2):
            raise ValueError(f"task {self.name!r}: text_fields must name one or two columns, got {self.text_fields}")
        if self.label_range is not None and (self.label_names is not None or not self.label_range[0] < self.label_range[1]):
            raise ValueError(f"task {self.name!r}: label_range {self.label_range} must be (low, high) of a regression task")

    def texts(self, rows: datasets.Dataset) -> list[list[str]]:
        """The text columns of loaded rows, one list per field (two for pair tasks)."""
        # Read through Arrow: datasets' own column access is lazy and slow on large splits.
        table = rows.with_format("arrow")
        return [table[field].to_pylist() for field in self.text_fields]

    def labels(self, rows: datasets.Dataset) -> np.ndarray:
        """The gold labels of loaded rows: int64 ids in ``label_names``' order (``NO_LABEL`` for an
        unlabelled row), or float32 scores for regression (NaN when unlabelled)."""
        labels = rows.with_format("arrow")["label"].to_numpy(zero_copy_only=False)
        if self.is_regression:
            return labels.astype(np.float32)
        labels = labels.astype(np.int64)
        if self._label_order is not None:
            mapping = np.asarray(self._label_order, dtype=np.int64)
            labels = np.where(labels == NO_LABEL, NO_LABEL, mapping[np.clip(labels, 0, None)])
        return labels

    def evaluate(self, predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
        """The task's metrics, plus ``"score"``: their mean, as the GLUE leaderboard ranks by.

        ``predictions`` are class ids (floats for regression), one per example.
        """
        results = {metric: METRICS[metric](predictions, labels) for metric in self.metrics}
        results["score"] = float(np.mean(list(results.values())))
        return results

    def with_label_order(self, names: Sequence[str]) -> Task:
        """This task with its classes in the order of ``names`` (the same names, compared without
        case, in another order): the labels it loads are then ids into ``names``, so that they mean
        what a teacher with that ``id2label`` means."""
        current = [name.lower() for name in self.label_names or ()]
        wanted = [name.lower() for name in names]
        if sorted(current) != sorted(wanted):
            raise ValueError(f"task {self.name!r}: labels {list(names)} are not a reordering of {list(self.label_names or ())}")
        aligned = copy.copy(self)
        position = [wanted.index(name) for name in current]
        previous = self._label_order or tuple(range(len(current)))
        # Frozen dataclass tasks too: the copy is this object's alone.
        object.__setattr__(aligned, "label_names", tuple(names))
        object.__setattr__(aligned, "_label_order", tuple(position[i] for i in previous))
        return aligned

    def with_label_names(self, names: Sequence[str]) -> Task:
        """This task with class ``i`` called ``names[i]``: for labels that are bare ids, named by a teacher."""
        renamed = copy.copy(self)
        object.__setattr__(renamed, "label_names", tuple(names))
        return renamed

    def unlabelled(self, rows: datasets.Dataset) -> datasets.Dataset:
        """``rows`` with their labels dropped: what a teacher labels as transfer data."""
        empty = [float("nan")] * len(rows) if self.is_regression else [NO_LABEL] * len(rows)
        return rows.remove_columns("label").add_column("label", empty, feature=self.features["label"])

    def to_dataset(self, frame: pd.DataFrame, locate: Locate, labelled: bool = True) -> datasets.Dataset:
        """Rows from ``frame``, which holds the source's columns for ``self.columns`` in that order,
        labels parsed (or missing, ``labelled`` false); texts are stripped, and a row that would train on nothing or on garbage is
        refused, whichever source it came from. Vectorised: about 25 ms on SST-2's 67k rows, most of
        it the search for NULs, against about 200 ms to read them."""
        *text_columns, label = frame.columns
        for column in text_columns:
            texts = frame[column].str.strip()
            # NaN: a row without its text (to_pandas gives None, .str gives NaN).
            empty = (texts.isna() | (texts == "")).to_numpy(dtype=bool)
            refuse_first(
                empty,
                locate,
                f"no text in column {column!r} (the field is empty or only whitespace)",
                "have no text there",
                f"a text in every row's {column!r}: fill the field in or remove the row",
            )
            nul = texts.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
            refuse_first(
                nul,
                locate,
                f"a NUL byte (\\x00) in column {column!r}",
                "have NUL bytes there",
                "text without NUL bytes: NULs come from binary data or a file saved as UTF-16",
            )
            frame[column] = texts
        if self.label_range is not None and labelled:
            low, high = self.label_range
            scores = frame[label].to_numpy(dtype=np.float64)
            refuse_first(
                ~((scores >= low) & (scores <= high)),
                locate,
                lambda row: f"score {scores[row]:g} is outside the task's range",
                "have scores outside it",
                f"a score from {low:g} to {high:g} in column {label!r}",
            )
        frame = frame.set_axis(self.columns, axis=1)
        return datasets.Dataset.from_pandas(frame, features=self.features, preserve_index=False)
