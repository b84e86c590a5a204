"""``files``: a task read from the user's own files, CSV, TSV, JSONL, Parquet or a ``save_to_disk`` folder.

Every format is read by ``datasets`` (``load_dataset`` for files, ``load_from_disk`` for folders),
so sage parses nothing by hand. The label column decides the problem unless ``problem`` does:
strings or integers make a classification task, floats a regression task. String labels are
named by themselves, sorted; integer labels are class ids, named by the teacher's ``id2label``
when it has real names (see ``sage.tasks.labels``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import pyarrow as pa

from sage.tasks import register
from sage.tasks.metrics import METRICS
from sage.tasks.task import DataError, Task, refuse_first

# File suffix -> the ``datasets`` builder that reads it, and that builder's options.
READERS: dict[str, tuple[str, dict]] = {
    ".csv": ("csv", {"keep_default_na": False}),
    ".tsv": ("csv", {"sep": "\t", "keep_default_na": False}),
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".parquet": ("parquet", {}),
}
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
REGRESSION_METRICS = ("pearson", "spearman")


def read_table(path: str | os.PathLike, role: str) -> datasets.Dataset:
    """The rows of one file (or ``save_to_disk`` folder), every column as stored.

    ``role`` names the spec field the path came from, for errors.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (task.{role}); expected a CSV, TSV, JSONL or Parquet file, or a folder written by datasets' save_to_disk")
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as error:
            raise DataError(f"{path}: not a folder written by datasets' save_to_disk (task.{role}): {error}") from None
        if isinstance(loaded, datasets.DatasetDict):
            raise DataError(
                f"{path}: a DatasetDict with splits {list(loaded)} (task.{role}); point task.{role} at one split's "
                f"folder, e.g. {path / next(iter(loaded))}"
            )
        return loaded
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(f"{path}: cannot read {suffix or 'a file without a suffix'} files (task.{role}); expected one of {', '.join(READERS)}, or a save_to_disk folder")
    builder, options = READERS[suffix]
    try:
        with quiet_datasets():
            return datasets.load_dataset(builder, data_files=str(path.resolve()), split="train", **options)
    except Exception as error:  # datasets wraps pandas' and pyarrow's parse errors in its own types
        cause = error.__cause__ or error
        raise DataError(f"{path}: cannot be read as {builder.upper()} (task.{role}): {type(cause).__name__}: {cause}") from None


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """datasets' own progress bars off while it reads a user's file: a run shows its own progress,
    and an error about the file should be all that a failed check prints."""
    were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not were_disabled:
            datasets.enable_progress_bars()


def locate_row(path: str | os.PathLike) -> callable:
    """Row index -> where it is, as errors name it: a JSONL row is a line; other formats count rows."""
    if Path(path).suffix.lower() == ".jsonl":
        return lambda row: f"{path}:{row + 1}"
    header = 1 if Path(path).suffix.lower() in (".csv", ".tsv") else 0
    return lambda row: f"{path}, row {row + 1}" + (f" (line {row + 1 + header} unless a field spans lines)" if header else "")


def check_columns(table: datasets.Dataset, path: str | os.PathLike, wanted: dict[str, str]) -> None:
    """Refuse a column the file does not have, naming the spec field and the file's columns."""
    missing = [f"task.{field}: {column!r}" for field, column in wanted.items() if column not in table.column_names]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}; the file's columns are {table.column_names}")


@register("files")
class FileTask(Task):
    """Rows from ``train`` and ``dev`` files; ``text`` (and ``text_pair``) and ``label`` name their columns.

    Without ``dev``, a run scores ``dev_fraction`` of the train rows, held out of training.
    ``metrics`` default to accuracy and macro-F1 (classification) or Pearson and Spearman
    (regression); ``mcc`` and ``f1`` (of class 1) may be asked for.
    """

    name = "files"
    refuses_teachers_of_other_tasks = False  # a teacher of any task is checked by its class names instead

    def __init__(
        self,
        train: str,
        dev: str | None = None,
        text: str = "text",
        text_pair: str | None = None,
        label: str = "label",
        problem: Literal["classification", "regression"] | None = None,
        metrics: list[str] | None = None,
        dev_fraction: float = 0.1,
    ) -> None:
        if not 0 < dev_fraction < 1:
            raise ValueError(f"dev_fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
        if text_pair == text:
            raise ValueError(f"text_pair must be another column than text, got {text!r} for both")
        if metrics is not None:
            unknown = [metric for metric in metrics if metric not in METRICS]
            if unknown or not metrics:
                raise ValueError(f"unknown metrics {unknown or '(none given)'}; known: {', '.join(METRICS)}")
        self.train, self.dev = train, dev
        self.text_fields = (text,) if text_pair is None else (text, text_pair)
        self.label_column = label
        self.problem = problem
        self.dev_fraction = dev_fraction
        self.requested_metrics = tuple(metrics) if metrics else None
        self._rows: dict[str, datasets.Dataset] = {}
        self._label_kind: str | None = None
        self._names: tuple[str, ...] | None = None

    # -- what the rows decide -------------------------------------------------------------------

    @property
    def label_names(self) -> tuple[str, ...] | None:
        self._read_labels()
        return self._names

    @label_names.setter
    def label_names(self, names: tuple[str, ...] | None) -> None:
        # Aligning with a teacher (Task.with_label_order, adopt_label_names) renames the classes.
        self._read_labels()
        self._names = names

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.requested_metrics or (REGRESSION_METRICS if self.is_regression else CLASSIFICATION_METRICS)

    @property
    def has_dev(self) -> bool:
        return self.dev is not None

    @property
    def integer_labels(self) -> bool:
        """Whether the file gives class ids rather than class names: then the teacher names them."""
        self._read_labels()
        return self._label_kind == "integer"

    def load(self, split: str, data_dir: str | os.PathLike | None = None) -> datasets.Dataset:
        """``train`` or ``dev`` (``data_dir`` is GLUE's and unused here), checked and labelled."""
        if split == "dev" and self.dev is None:
            raise DataError("the files task has no dev file (task.dev); a run holds out task.dev_fraction of train instead")
        if split not in ("train", "dev"):
            raise ValueError(f"unknown split {split!r}; valid splits: train, dev")
        self._read_labels()
        if split not in self._rows:
            self._rows[split] = self._labelled(split)
        return self._rows[split]

    # -- reading ---------------------------------------------------------------------------------

    def _table(self, split: str) -> datasets.Dataset:
        """The split's rows as stored, its columns checked."""
        path = self.train if split == "train" else self.dev
        table = read_table(path, split)
        check_columns(table, path, self._fields())
        return table

    def _fields(self) -> dict[str, str]:
        """Spec field -> the column it names."""
        fields = {"text": self.text_fields[0], "label": self.label_column}
        if len(self.text_fields) == 2:
            fields["text_pair"] = self.text_fields[1]
        return fields

    def _read_labels(self) -> None:
        """Read train once and decide, from its label column, the problem and the class names."""
        if self._label_kind is not None:
            return
        table = self._table("train")
        self._train_table = table
        column = table.data.column(self.label_column)
        feature = table.features[self.label_column]
        where = f"{self.train}: column {self.label_column!r} (task.label)"
        if isinstance(feature, datasets.ClassLabel) and self.problem != "regression":
            # Class ids that datasets names (a hub dataset, a save_to_disk folder): named classes.
            self._label_kind, self._names = "classlabel", tuple(feature.names)
            return
        kind = _label_kind(column.type)
        if kind is None:
            raise DataError(f"{where} holds {column.type} values; expected class names (strings), class ids (integers) or scores (floats)")
        if self.problem == "regression" and kind == "string":
            raise DataError(f"{where} holds strings, but task.problem is regression; expected numeric scores")
        if self.problem == "classification" and kind == "float":
            values = column.to_numpy(zero_copy_only=False)
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                raise DataError(f"{where} holds non-integer numbers, but task.problem is classification; expected class names or ids")
            kind = "integer"
        if self.problem == "regression" or kind == "float":
            kind, names = "float", None
        elif kind == "string":
            values = [value for value in column.to_pylist() if value is not None and value.strip()]
            names = tuple(sorted({value.strip() for value in values}))
        else:
            ids = column.to_numpy(zero_copy_only=False)
            count = int(np.nanmax(ids)) + 1 if len(ids) else 0
            names = tuple(f"LABEL_{i}" for i in range(count))  # named by the teacher, when it names them
        self._label_kind, self._names = kind, names

    def _labelled(self, split: str) -> datasets.Dataset:
        table = self._train_table if split == "train" else self._table("dev")
        path = self.train if split == "train" else self.dev
        locate = locate_row(path)
        frame = table.select_columns([*self.text_fields, self.label_column]).to_pandas()
        frame.columns = [*self.text_fields, "__label__"]
        raw = frame["__label__"]
        if self.is_regression:
            scores = raw.to_numpy(dtype=np.float64, na_value=np.nan)
            refuse_first(~np.isfinite(scores), locate, lambda row: f"score {raw.iloc[row]!r} is not a number", "have no valid score", f"a finite number in column {self.label_column!r}")
            frame["__label__"] = scores.astype(np.float32)
        elif self._label_kind == "string":
            ids = raw.astype("string").str.strip().map({name: i for i, name in enumerate(self._original_names)})
            refuse_first(
                ids.isna().to_numpy(dtype=bool), locate, lambda row: f"label {raw.iloc[row]!r} is not one of the training labels",
                "have such labels", f"one of {', '.join(self._names)} (from the train file) in column {self.label_column!r}",
            )
            frame["__label__"] = ids.astype(np.int64)
        else:
            ids = raw.to_numpy(dtype=np.float64, na_value=np.nan)
            count = len(self._original_names)
            refuse_first(
                ~(np.isfinite(ids) & (ids >= 0) & (ids < count) & (ids == np.round(ids))), locate,
                lambda row: f"label {raw.iloc[row]!r} is not a class id", "have such labels",
                f"a class id from 0 to {count - 1} in column {self.label_column!r}",
            )
            frame["__label__"] = ids.astype(np.int64)
        return self.to_dataset(frame, locate)

    @property
    def _original_names(self) -> tuple[str, ...]:
        """The class names in the ids the file's rows are loaded with (before any alignment)."""
        names = self._names or ()
        if self._label_order is None:
            return names
        return tuple(names[self._label_order[i]] for i in range(len(names)))

    @property
    def features(self) -> datasets.Features:
        # Ids are loaded in the file's own order; ``labels()`` maps them to the aligned one.
        label = datasets.Value("float32") if self.is_regression else datasets.ClassLabel(names=list(self._original_names))
        return datasets.Features({**{field: datasets.Value("string") for field in self.text_fields}, "label": label})


def _label_kind(kind: pa.DataType) -> str | None:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "float"
    return None
