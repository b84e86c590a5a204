"""``hub``: a task read from a Hugging Face hub dataset by name, when the hub can be reached.

It reads as ``files`` does (the same columns, labels and checks); only where the rows come from
differs. Offline, it says so in one line and how to point at local files instead.
"""

from __future__ import annotations

from typing import Literal

import datasets

from sage.tasks import register
from sage.tasks.files import FileTask, check_columns
from sage.tasks.task import DataError


@register("hub")
class HubTask(FileTask):
    """Rows of a hub dataset's ``train_split`` and ``dev_split`` (null: hold ``dev_fraction`` of
    train out); ``config`` picks the dataset's configuration."""

    name = "hub"

    def __init__(
        self,
        dataset: str,
        config: str | None = None,
        train_split: str = "train",
        dev_split: str | None = "validation",
        text: str = "text",
        text_pair: str | None = None,
        label: str = "label",
        problem: Literal["classification", "regression"] | None = None,
        metrics: list[str] | None = None,
        dev_fraction: float = 0.1,
    ) -> None:
        super().__init__(train_split, dev_split, text, text_pair, label, problem, metrics, dev_fraction)
        self.dataset, self.config = dataset, config

    @property
    def card_dataset(self) -> tuple[str, str | None]:
        return self.dataset, self.config

    def _table(self, split: str) -> datasets.Dataset:
        name = self.train if split == "train" else self.dev
        where = f"{self.dataset}{f' ({self.config})' if self.config else ''} {name} split"
        try:
            table = datasets.load_dataset(self.dataset, self.config, split=name)
        except Exception as error:  # offline: ConnectionError or OSError, depending on the datasets version
            if datasets.config.HF_HUB_OFFLINE:
                raise DataError(
                    f"cannot load {where} from the Hugging Face hub: no network is available here (HF_HUB_OFFLINE "
                    f"is set). Save it to files while online and use task: {{name: files, train: ..., dev: ...}} "
                    f"(CSV, JSONL, Parquet or a save_to_disk folder)"
                ) from None
            raise DataError(f"cannot load {where} from the Hugging Face hub: {type(error).__name__}: {error}") from None
        check_columns(table, where, self._fields())
        return table
