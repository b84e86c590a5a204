"""Unlabelled transfer text from a user's file: rows a teacher labels and a student trains on.

A ``.txt`` file holds one example per line (blank lines are skipped); a CSV, TSV, JSONL or
Parquet file, or a ``save_to_disk`` folder, holds the task's text column(s). Both are read by
``datasets``, and their rows pass the checks labelled rows pass (no empty text, no NUL bytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pandas as pd

from sage.tasks.files import check_columns, locate_row, quiet_datasets, read_table
from sage.tasks.task import DataError, Task


def load_unlabelled(path: str | os.PathLike, task: Task) -> datasets.Dataset:
    """The rows of ``path`` in the task's layout, their labels missing (``Task.unlabelled``)."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        if len(task.text_fields) != 1:
            raise DataError(
                f"{path}: a .txt file gives one text per line, but task {task.name!r} reads pairs "
                f"({', '.join(task.text_fields)}); give a CSV, JSONL or Parquet file with those columns (task.unlabelled)"
            )
        if not path.is_file():
            raise DataError(f"{path}: no such file (task.unlabelled); expected a text file of one example per line")
        with quiet_datasets():
            lines = datasets.load_dataset("text", data_files=str(path.resolve()), split="train")["text"]
        texts = [line for line in lines if line.strip()]
        if not texts:
            raise DataError(f"{path}: no text (task.unlabelled); expected one example per line")
        frame = pd.DataFrame({task.text_fields[0]: texts})
        locate = lambda row: f"{path}, example {row + 1}"  # noqa: E731  (blank lines are not counted)
    else:
        table = read_table(path, "unlabelled")
        check_columns(table, path, {f"text ({field})": field for field in task.text_fields})
        frame = table.select_columns(list(task.text_fields)).to_pandas()
        locate = locate_row(path)
    if not len(frame):
        raise DataError(f"{path}: no rows (task.unlabelled)")
    frame["label"] = float("nan") if task.is_regression else -1
    return task.to_dataset(frame, locate, labelled=False)
