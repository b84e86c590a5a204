"""A GLUE-style text-classification (or regression) task: where its data lives, how to read it, how to score it."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sage.tasks.metrics import METRICS

DATA_DIR_ENV = "SAGE_DATA_DIR"
HUB_DATASET = "nyu-mll/glue"
# Local GLUE file stem -> hub split name. GLUE's test splits carry no labels, so neither is offered.
HUB_SPLITS = {"train": "train", "dev": "validation"}


@dataclass(frozen=True)
class Task:
    """One GLUE task; ``load`` gives a ``datasets.Dataset`` with columns ``text_fields + ("label",)``.

    Reading details are data, so one loader serves every task:
    ``tsv_columns`` names the TSV columns holding ``text_fields`` and then the label, in that order;
    ``tsv_header`` gives column names for a file that has no header row;
    ``tsv_labels`` gives the TSV's spelling of each label id when it is not the label name;
    ``hub_columns`` does for the hub dataset what ``tsv_columns`` does for the TSV (default: same names).
    """

    name: str
    glue_dir: str
    hub_config: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...] | None  # None: regression
    metrics: tuple[str, ...]  # keys of sage.tasks.metrics.METRICS
    tsv_columns: tuple[str, ...]
    tsv_header: tuple[str, ...] | None = None
    tsv_labels: tuple[str, ...] | None = None
    hub_columns: tuple[str, ...] | None = None
    splits: tuple[str, ...] = ("train", "dev")  # the splits in a local GLUE folder

    def __post_init__(self) -> None:
        unknown = [metric for metric in self.metrics if metric not in METRICS]
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown metrics {unknown}; known: {', '.join(METRICS)}")
        for field, columns in (("tsv_columns", self.tsv_columns), ("hub_columns", self.hub_columns)):
            if columns is not None and len(columns) != len(self.columns):
                raise ValueError(
                    f"task {self.name!r}: {field} must name {len(self.columns)} columns "
                    f"(for {', '.join(self.columns)}); got {columns}"
                )
        if self.tsv_labels is not None and len(self.tsv_labels) != len(self.label_names or ()):
            raise ValueError(f"task {self.name!r}: tsv_labels {self.tsv_labels} must pair up with label_names")

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
        if self.label_names is None:
            label = datasets.Value("float32")
        else:
            label = datasets.ClassLabel(names=list(self.label_names))
        return datasets.Features({**{field: datasets.Value("string") for field in self.text_fields}, "label": label})

    def load(self, split: str, data_dir: str | os.PathLike | None = None) -> datasets.Dataset:
        """Load ``split`` ("train" or "dev") from ``data_dir``, else ``$SAGE_DATA_DIR``, else the hub.

        ``data_dir`` is laid out as GLUE's download is: ``<glue_dir>/<split>.tsv``.
        Texts come stripped of surrounding whitespace; labels are int64 ids (float32 for regression).
        """
        if split not in HUB_SPLITS:
            raise ValueError(f"unknown split {split!r} for task {self.name!r}; valid splits: {', '.join(HUB_SPLITS)}")
        if data_dir is not None:
            return self._load_tsv(split, Path(data_dir), "data_dir")
        if os.environ.get(DATA_DIR_ENV):
            return self._load_tsv(split, Path(os.environ[DATA_DIR_ENV]), DATA_DIR_ENV)
        return self._load_hub(split)

    def texts(self, rows: datasets.Dataset) -> list[list[str]]:
        """The text columns of loaded rows, one list per field (two for pair tasks)."""
        # Read through Arrow: datasets' own column access is lazy and slow on large splits.
        table = rows.with_format("arrow")
        return [table[field].to_pylist() for field in self.text_fields]

    def labels(self, rows: datasets.Dataset) -> np.ndarray:
        """The gold labels of loaded rows: int64 ids, or float32 scores for regression."""
        labels = rows.with_format("arrow")["label"].to_numpy()
        return labels.astype(np.float32 if self.is_regression else np.int64)

    def evaluate(self, predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
        """The task's GLUE metrics, plus ``"score"``: their mean, as the GLUE leaderboard ranks by.

        ``predictions`` are class ids (floats for regression), one per example.
        """
        results = {metric: METRICS[metric](predictions, labels) for metric in self.metrics}
        results["score"] = float(np.mean(list(results.values())))
        return results

    def _load_tsv(self, split: str, root: Path, source: str) -> datasets.Dataset:
        if split not in self.splits:
            raise ValueError(
                f"{self.glue_dir} {split} is not in the local GLUE folder (local splits: {', '.join(self.splits)}); "
                f"to load it from the Hugging Face hub, pass no data_dir and unset {DATA_DIR_ENV}"
            )
        path = root / self.glue_dir / f"{split}.tsv"
        if not path.is_file():
            raise FileNotFoundError(
                f"expected the {self.glue_dir} {split} file at {path} (folder from {source}); point data_dir "
                f"or {DATA_DIR_ENV} at a folder laid out like GLUE's, holding {self.glue_dir}/{split}.tsv"
            )
        # QUOTE_NONE: GLUE's quotes are text (MRPC and RTE have fields that open a quote and never
        # close it). keep_default_na=False: a sentence like "null" is text, not a missing value.
        # utf-8-sig: MRPC's header starts with a byte-order mark.
        frame = pd.read_csv(
            path,
            sep="\t",
            quoting=csv.QUOTE_NONE,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            header=None if self.tsv_header else 0,
            names=self.tsv_header,
        )
        missing = [column for column in self.tsv_columns if column not in frame.columns]
        if missing:
            raise ValueError(
                f"{path}: no column(s) {missing}; expected {list(self.tsv_columns)}, found {list(frame.columns)}"
            )
        frame = frame[list(self.tsv_columns)].set_axis(self.columns, axis=1)
        frame["label"] = self._parse_labels(frame["label"].str.strip(), path)
        return self._to_dataset(frame)

    def _parse_labels(self, raw: pd.Series, path: Path) -> pd.Series:
        if self.label_names is None:
            parsed, expected, dtype = pd.to_numeric(raw, errors="coerce"), "a number", np.float32
        else:
            spellings = self.tsv_labels or self.label_names
            parsed = raw.map({spelling: label_id for label_id, spelling in enumerate(spellings)})
            expected, dtype = f"one of {list(spellings)}", np.int64
        invalid = parsed.isna()
        if invalid.any():
            row = invalid.idxmax()
            raise ValueError(f"{path}: data row {row} (from 0) has label {raw[row]!r}; expected {expected}")
        return parsed.astype(dtype)

    def _load_hub(self, split: str) -> datasets.Dataset:
        hub = datasets.load_dataset(HUB_DATASET, self.hub_config, split=HUB_SPLITS[split])
        frame = hub.select_columns(list(self.hub_columns or self.columns)).to_pandas()
        return self._to_dataset(frame.set_axis(self.columns, axis=1))

    def _to_dataset(self, frame: pd.DataFrame) -> datasets.Dataset:
        for field in self.text_fields:
            frame[field] = frame[field].str.strip()
        return datasets.Dataset.from_pandas(frame, features=self.features, preserve_index=False)
