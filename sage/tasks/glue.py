"""``GlueTask``: the GLUE tasks, read from GLUE's TSV layout or the hub, registered by their hub config names.

Label names and their order follow the hub's ``nyu-mll/glue`` configs, so ids agree whichever source is loaded.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from sage.tasks import register
from sage.tasks.task import DATA_DIR_ENV, DataError, Locate, Task, refuse_first

HUB_DATASET = "nyu-mll/glue"
# Local GLUE file stem -> hub split name. GLUE's test splits carry no labels, so neither is offered.
HUB_SPLITS = {"train": "train", "dev": "validation"}

UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# How much of a file's start is sniffed for UTF-16 without a byte-order mark.
UTF16_SNIFF_BYTES = 4096


def _line_at(data: bytes, offset: int) -> int:
    """The 1-based number of the line holding byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def _utf16_evidence(data: bytes) -> str | None:
    """Why ``data`` looks like UTF-16, or None. Checked before decoding: UTF-16 of ASCII text without
    a byte-order mark is valid UTF-8, NULs and all, and would otherwise surface as a bad header."""
    if data.startswith(UTF16_BOMS):
        return "it starts with a UTF-16 byte-order mark"
    # UTF-16 of mostly ASCII text is about half NUL bytes; a UTF-8 text file has none, or a stray
    # few, which the row checks report where they are.
    head = data[:UTF16_SNIFF_BYTES]
    if head.count(0) * 4 > len(head):
        return "over a quarter of its first bytes are NUL"
    return None


def _source_encoding(byte: int) -> str:
    """The likelier encoding of a file whose first non-UTF-8 byte is ``byte``, as iconv names it:
    bytes 0x80-0x9f are control characters in Latin-1 but punctuation (curly quotes, dashes) in
    Windows-1252, which agrees with Latin-1 on the rest."""
    return "cp1252" if byte < 0xA0 else "latin1"


@dataclass(frozen=True)
class GlueTask(Task):
    """One GLUE task, read from GLUE's TSVs or the hub's ``nyu-mll/glue``.

    Reading details are data, so one loader serves every task:
    ``tsv_columns`` names the TSV columns holding ``text_fields`` and then the label, in that order;
    ``tsv_header`` gives column names for a file that has no header row;
    ``tsv_labels`` gives the TSV's spelling of each label id when it is not the label name;
    ``hub_columns`` does for the hub dataset what ``tsv_columns`` does for the TSV (default: same names);
    ``label_range`` bounds a regression task's scores, inclusive, so that a score off the scale is refused.
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
    label_range: tuple[float, float] | None = None
    splits: tuple[str, ...] = ("train", "dev")  # the splits in a local GLUE folder

    def __post_init__(self) -> None:
        self.check_definition()
        for field, columns in (("tsv_columns", self.tsv_columns), ("hub_columns", self.hub_columns)):
            if columns is not None and len(columns) != len(self.columns):
                raise ValueError(
                    f"task {self.name!r}: {field} must name {len(self.columns)} columns "
                    f"(for {', '.join(self.columns)}); got {columns}"
                )
        if self.tsv_labels is not None and len(self.tsv_labels) != len(self.label_names or ()):
            raise ValueError(f"task {self.name!r}: tsv_labels {self.tsv_labels} must pair up with label_names")

    @property
    def card_dataset(self) -> tuple[str, str]:
        return HUB_DATASET, self.hub_config

    def load(self, split: str, data_dir: str | os.PathLike | None = None) -> datasets.Dataset:
        """Load ``split`` ("train" or "dev") from ``data_dir``, else ``$SAGE_DATA_DIR``, else the hub.

        ``data_dir`` is laid out as GLUE's download is: ``<glue_dir>/<split>.tsv``.
        Texts come stripped of surrounding whitespace; labels are int64 ids (float32 for regression).
        A missing or malformed file, a row with an empty text, a NUL byte or a score outside
        ``label_range``, or an unreachable hub, raises a ``DataError``.
        """
        if split not in HUB_SPLITS:
            raise ValueError(f"unknown split {split!r} for task {self.name!r}; valid splits: {', '.join(HUB_SPLITS)}")
        if data_dir is not None:
            return self._load_tsv(split, Path(data_dir), "data_dir")
        if os.environ.get(DATA_DIR_ENV):
            return self._load_tsv(split, Path(os.environ[DATA_DIR_ENV]), DATA_DIR_ENV)
        return self._load_hub(split)

    def _load_tsv(self, split: str, root: Path, source: str) -> datasets.Dataset:
        if split not in self.splits:
            raise DataError(
                f"{self.glue_dir} {split} is not in the local GLUE folder (local splits: {', '.join(self.splits)}); "
                f"to load it from the Hugging Face hub, pass no data_dir and unset {DATA_DIR_ENV}"
            )
        path = root / self.glue_dir / f"{split}.tsv"
        if not path.is_file():
            raise DataError(
                f"{path}: no such file; expected the {self.glue_dir} {split} split there (folder from {source}). "
                f"Point task.data_dir or {DATA_DIR_ENV} at the folder holding GLUE's TSVs, laid out as GLUE's "
                f"download is ({self.glue_dir}/{split}.tsv, ...)"
            )
        data = path.read_bytes()
        self._check_lines(path, data)
        # QUOTE_NONE: GLUE's quotes are text (MRPC and RTE have fields that open a quote and never
        # close it), so every row is one line, which _check_lines relies on. keep_default_na=False:
        # a sentence like "null" is text, not a missing value. utf-8-sig: MRPC's header starts
        # with a byte-order mark.
        frame = pd.read_csv(
            io.BytesIO(data),
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
            raise DataError(
                f"{path}:1: the header has no column(s) {missing}; expected a tab-separated header naming "
                f"{list(self.tsv_columns)}, found {list(frame.columns)}"
            )
        first_line = 1 if self.tsv_header else 2

        def locate(row: int) -> str:
            return f"{path}:{first_line + row}"

        frame = frame[list(self.tsv_columns)]
        label = self.tsv_columns[-1]
        frame[label] = self._parse_labels(frame[label].str.strip(), locate)
        return self.to_dataset(frame, locate)

    def _check_lines(self, path: Path, data: bytes) -> None:
        """Raise a ``DataError`` at the first line pandas would reject or misread.

        pandas reports such lines as a ``UnicodeDecodeError`` without the file, a ``ParserError``
        (an extra field), or not at all: a missing field becomes an empty string and a field
        added to every row shifts the columns. Here every line must be UTF-8 and have the
        header's number of tab-separated fields, so that pandas' row i is the file's data line i.
        Vectorised over the bytes: about 10 ms on SST-2's 67k lines, a tenth of pandas' own time.
        """
        utf16 = _utf16_evidence(data)
        if utf16:
            raise DataError(
                f"{path}:1: the file is UTF-16 ({utf16}); GLUE's TSVs are UTF-8: re-save the file as UTF-8 "
                f"(for example with iconv -f utf-16 -t utf-8)"
            )
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        try:
            data[bom:].decode("utf-8")
        except UnicodeDecodeError as error:
            offset = bom + error.start
            column = offset - data.rfind(b"\n", 0, offset)
            raise DataError(
                f"{path}:{_line_at(data, offset)}: byte 0x{data[offset]:02x} (byte {column} of the line) is not "
                f"UTF-8; GLUE's TSVs are UTF-8: re-save the file as UTF-8 "
                f"(for example with iconv -f {_source_encoding(data[offset])} -t utf-8)"
            ) from None
        if len(data) == bom:
            expected = (
                f"rows of {len(self.tsv_header)} tab-separated fields ({', '.join(self.tsv_header)}), with no header"
                if self.tsv_header
                else f"a tab-separated header naming at least {', '.join(self.tsv_columns)}, then data rows"
            )
            raise DataError(f"{path}:1: the file is empty; expected {expected}")
        names = self.tsv_header or tuple(data[bom:].split(b"\n", 1)[0].decode().rstrip("\r").split("\t"))
        layout = f"{len(names)} tab-separated fields ({', '.join(names)})"
        # pandas ends a row at a lone carriage return, where this count of lines would not.
        lone_return = re.search(rb"\r(?!\n)", data) if b"\r" in data else None
        if lone_return:
            raise DataError(
                f"{path}:{_line_at(data, lone_return.start())}: a carriage return inside the line; "
                f"expected LF or CRLF line endings"
            )
        buffer = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buffer == ord("\n"))
        if not data.endswith(b"\n"):
            ends = np.append(ends, len(data))  # a last line without a newline (as in CoLA's dev file)
        fields = np.diff(np.searchsorted(np.flatnonzero(buffer == ord("\t")), ends), prepend=0) + 1
        if not self.tsv_header and len(fields) == 1:
            raise DataError(f"{path}:1: the header is the only line; expected data rows of {layout} after it")
        bad = np.flatnonzero(fields != len(names))
        if len(bad):
            index = int(bad[0])
            start = int(ends[index - 1]) + 1 if index else 0
            found = "a blank line" if not data[start : ends[index]].strip() else f"{fields[index]} fields"
            others = f" ({len(bad)} lines are malformed; this is the first)" if len(bad) > 1 else ""
            source = f"as {self.glue_dir} files have" if self.tsv_header else "as the header has"
            raise DataError(f"{path}:{index + 1}: {found}{others}; expected {layout}, {source}")

    def _parse_labels(self, raw: pd.Series, locate: Locate) -> pd.Series:
        """Label ids (scores for regression) from their TSV spelling in column ``raw.name``."""
        if self.label_names is None:
            parsed, expected, dtype = pd.to_numeric(raw, errors="coerce"), "a finite number", np.float32
        else:
            spellings = self.tsv_labels or self.label_names
            parsed = raw.map({spelling: label_id for label_id, spelling in enumerate(spellings)})
            meanings = [
                spelling if spelling == name else f"{spelling} ({name})"
                for spelling, name in zip(spellings, self.label_names, strict=True)
            ]
            expected, dtype = f"one of {', '.join(meanings)}", np.int64

        def found(row: int) -> str:
            value = raw.iloc[row]
            return "no label (the field is empty)" if not value else f"label {value!r} is not valid"

        invalid = ~np.isfinite(parsed.to_numpy(dtype=np.float64))
        refuse_first(invalid, locate, found, "have invalid labels", f"{expected} in column {raw.name!r}")
        return parsed.astype(dtype)

    def _load_hub(self, split: str) -> datasets.Dataset:
        try:
            hub = datasets.load_dataset(HUB_DATASET, self.hub_config, split=HUB_SPLITS[split])
        except OSError as error:  # ConnectionError when offline or unreachable
            offline = " (HF_HUB_OFFLINE is set)" if datasets.config.HF_HUB_OFFLINE else ""
            raise DataError(
                f"cannot load {self.name} {split} from the Hugging Face hub ({HUB_DATASET}, {self.hub_config})"
                f"{offline}: {error}. Set task.data_dir or {DATA_DIR_ENV} to a folder holding GLUE's TSVs "
                f"({self.glue_dir}/{split}.tsv, ...) to load from files instead"
            ) from None
        frame = hub.select_columns(list(self.hub_columns or self.columns)).to_pandas()
        return self.to_dataset(frame, lambda row: f"{HUB_DATASET} {self.hub_config} {HUB_SPLITS[split]} split, row {row}")


_BINARY = ("0", "1")  # the TSV spelling of label ids 0 and 1 where GLUE writes digits

GLUE_TASKS = (
    GlueTask(
        name="sst2",
        glue_dir="SST-2",
        hub_config="sst2",
        text_fields=("sentence",),
        label_names=("negative", "positive"),
        metrics=("accuracy",),
        tsv_columns=("sentence", "label"),
        tsv_labels=_BINARY,
    ),
    GlueTask(
        name="cola",
        glue_dir="CoLA",
        hub_config="cola",
        text_fields=("sentence",),
        label_names=("unacceptable", "acceptable"),
        metrics=("mcc",),
        tsv_columns=("sentence", "label"),
        tsv_header=("source", "label", "original_mark", "sentence"),
        tsv_labels=_BINARY,
    ),
    GlueTask(
        name="mrpc",
        glue_dir="MRPC",
        hub_config="mrpc",
        text_fields=("sentence1", "sentence2"),
        label_names=("not_equivalent", "equivalent"),
        metrics=("f1", "accuracy"),
        tsv_columns=("#1 String", "#2 String", "Quality"),
        tsv_labels=_BINARY,
    ),
    GlueTask(
        name="stsb",
        glue_dir="STS-B",
        hub_config="stsb",
        text_fields=("sentence1", "sentence2"),
        label_names=None,
        metrics=("pearson", "spearman"),
        tsv_columns=("sentence1", "sentence2", "score"),
        label_range=(0.0, 5.0),  # STS-B's similarity scale: 0 (unrelated) to 5 (equivalent)
    ),
    GlueTask(
        name="rte",
        glue_dir="RTE",
        hub_config="rte",
        text_fields=("sentence1", "sentence2"),
        label_names=("entailment", "not_entailment"),
        metrics=("accuracy",),
        tsv_columns=("sentence1", "sentence2", "label"),
    ),
    GlueTask(
        name="qnli",
        glue_dir="QNLI",
        hub_config="qnli",
        text_fields=("sentence1", "sentence2"),
        label_names=("entailment", "not_entailment"),
        metrics=("accuracy",),
        tsv_columns=("question", "sentence", "label"),
        hub_columns=("question", "sentence", "label"),
        splits=("dev",),  # GLUE's QNLI train file could not be obtained for the local folder
    ),
)

for task in GLUE_TASKS:
    register(task.name, func=task)
