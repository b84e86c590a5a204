"""GLUE tasks on the real local files (counts from /work/shared/glue/MANIFEST.md), metrics, errors, registry."""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

import catalogue
import datasets
import numpy as np
import pytest

import sage.tasks
from sage.tasks import DataError, metrics
from sage.tasks.glue import GlueTask

NAMES = ["cola", "mrpc", "qnli", "rte", "sst2", "stsb"]

# (task, split) -> (rows, {label id: count}); None for STS-B's regression scores. From MANIFEST.md.
EXPECTED = {
    ("sst2", "train"): (67349, {0: 29780, 1: 37569}),
    ("sst2", "dev"): (872, {0: 428, 1: 444}),
    ("rte", "train"): (2490, {0: 1249, 1: 1241}),
    ("rte", "dev"): (277, {0: 146, 1: 131}),
    ("mrpc", "train"): (3668, {0: 1194, 1: 2474}),
    ("mrpc", "dev"): (408, {0: 129, 1: 279}),
    ("cola", "train"): (8551, {0: 2528, 1: 6023}),
    ("cola", "dev"): (1043, {0: 322, 1: 721}),
    ("stsb", "train"): (5749, None),
    ("stsb", "dev"): (1500, None),
    ("qnli", "dev"): (5463, {0: 2702, 1: 2761}),
}

# (task, split, row) -> the row as loaded, read off the TSV by hand.
KNOWN_ROWS = {
    # Trailing space before the tab in the file; stripped on load.
    ("sst2", "train", 0): {"sentence": "hide new secretions from the parental units", "label": 0},
    # A quote opened and never closed inside the field: kept verbatim.
    ("rte", "train", 2164): {
        "sentence1": "\"That film wasn't too successful, but then 'WarGames,' which was successful, came out right "
        "when I won the Tony for 'Brighton Beach' in 1983.",
        "sentence2": 'The film "WarGames" was shot in 1983.',
        "label": 1,
    },
    # First row after the BOM header; the second sentence opens a quote it never closes.
    ("mrpc", "dev", 0): {
        "sentence1": "He said the foodservice pie business doesn't fit the company's long-term growth strategy.",
        "sentence2": '"The foodservice pie business does not fit our long-term growth strategy.',
        "label": 1,
    },
    # No header: the first line is data.
    ("cola", "train", 0): {
        "sentence": "Our friends won't buy this analysis, let alone the next one we propose.",
        "label": 1,
    },
    # The file's last line has no newline.
    ("cola", "dev", 1042): {"sentence": "John talked to Bill about himself.", "label": 1},
    ("stsb", "train", 0): {
        "sentence1": "A plane is taking off.",
        "sentence2": "An air plane is taking off.",
        "label": 5.0,
    },
    # question/sentence become sentence1/sentence2.
    ("qnli", "dev", 0): {
        "sentence1": "What came into force after the new constitution was herald?",
        "sentence2": "As of that day, the new constitution heralding the Second Republic came into force.",
        "label": 0,
    },
}


@functools.cache
def _load(name: str, split: str, data_dir: Path) -> datasets.Dataset:
    return sage.tasks.get(name).load(split, data_dir)


def test_expected_table_covers_every_local_split() -> None:
    local = {(name, split) for name, task in sage.tasks.get_all().items() if isinstance(task, GlueTask) for split in task.splits}
    assert local == set(EXPECTED)


@pytest.mark.parametrize(("name", "split"), sorted(EXPECTED))
def test_load_matches_manifest(name: str, split: str, data_dir: Path) -> None:
    task = sage.tasks.get(name)
    dataset = _load(name, split, data_dir)
    rows, label_counts = EXPECTED[name, split]

    assert isinstance(dataset, datasets.Dataset)
    assert dataset.num_rows == rows
    assert dataset.column_names == [*task.text_fields, "label"]
    for field in task.text_fields:
        texts = dataset.data.column(field).to_pylist()
        assert all(isinstance(text, str) and text and text == text.strip() for text in texts)

    labels = dataset.data.column("label").to_numpy()
    if label_counts is None:
        assert dataset.features["label"] == datasets.Value("float32")
        assert labels.dtype == np.float32
        assert labels.min() >= 0.0 and labels.max() <= 5.0
    else:
        assert dataset.features["label"].dtype == "int64"
        assert dataset.features["label"].names == list(task.label_names)
        assert labels.dtype == np.int64
        assert dict(zip(*np.unique(labels, return_counts=True), strict=True)) == label_counts


@pytest.mark.parametrize(("name", "split", "row"), sorted(KNOWN_ROWS))
def test_known_rows(name: str, split: str, row: int, data_dir: Path) -> None:
    assert _load(name, split, data_dir)[row] == KNOWN_ROWS[name, split, row]


def test_data_dir_defaults_to_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGE_DATA_DIR", str(data_dir))
    assert sage.tasks.get("sst2").load("dev").num_rows == 872


def test_without_data_dir_loads_from_the_hub(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No network here: stand in for the hub with rows shaped like nyu-mll/glue's qnli config.
    local = _load("qnli", "dev", data_dir).select(range(3))
    hub = datasets.Dataset.from_dict(
        {
            "question": [f"  {text} " for text in local["sentence1"]],
            "sentence": list(local["sentence2"]),
            "label": list(local["label"]),
            "idx": [0, 1, 2],
        },
        features=datasets.Features(
            {
                "question": datasets.Value("string"),
                "sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["entailment", "not_entailment"]),
                "idx": datasets.Value("int32"),
            }
        ),
    )
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append((args, kwargs)) or hub)
    monkeypatch.delenv("SAGE_DATA_DIR")

    loaded = sage.tasks.get("qnli").load("dev")

    assert calls == [(("nyu-mll/glue", "qnli"), {"split": "validation"})]
    assert loaded.features == local.features
    assert loaded.to_list() == local.to_list()


# Label names in id order, as the hub's nyu-mll/glue configs have them (its dataset card).
HUB_LABEL_NAMES = {
    "sst2": ["negative", "positive"],
    "cola": ["unacceptable", "acceptable"],
    "mrpc": ["not_equivalent", "equivalent"],
    "rte": ["entailment", "not_entailment"],
    "qnli": ["entailment", "not_entailment"],
}

# (task, dev row) -> what the row's gold label means, read off its text by hand: one row per class.
MEANINGS = {
    ("sst2", 0): "positive",  # "it 's a charming and often affecting journey ."
    ("sst2", 1): "negative",  # "unflinchingly bleak and desperate"
    ("cola", 0): "acceptable",  # "The sailors rode the breeze clear of the rocks."
    ("cola", 4): "unacceptable",  # "As you eat the most, you want the least."
    ("mrpc", 0): "equivalent",  # the pie business "doesn't fit" / "does not fit" the growth strategy
    ("mrpc", 2): "not_equivalent",  # the dollar at 116.92 yen, flat / at 116.78 yen, down 0.1 percent
    ("rte", 1): "entailment",  # bacteria outpace new antibiotics => "Bacteria is winning the war"
    ("rte", 0): "not_entailment",  # Dana Reeve died of lung cancer =/=> "Christopher Reeve had an accident."
    ("qnli", 0): "entailment",  # the sentence says what came into force
    ("qnli", 1): "not_entailment",  # the sentence names tributaries, not the first city on the Rhine
}


def test_every_classification_task_has_a_row_of_each_class_checked() -> None:
    for name, task in sage.tasks.get_all().items():
        if not task.is_regression:
            assert {MEANINGS[key] for key in MEANINGS if key[0] == name} == set(HUB_LABEL_NAMES[name]), name


@pytest.mark.parametrize(("name", "row"), sorted(MEANINGS))
def test_local_label_ids_mean_what_the_hub_and_the_model_head_call_them(name: str, row: int, data_dir: Path) -> None:
    """Whichever source a task loads from, and whatever the TSV spells its labels as, id i must be the
    hub's class i, and the name a teacher's config gives id i, or a teacher trained on one source
    would be scored against the other's labels."""
    task = sage.tasks.get(name)
    dataset = _load(name, "dev", data_dir)
    label = dataset[row]["label"]
    assert label == HUB_LABEL_NAMES[name].index(MEANINGS[name, row])
    assert dataset.features["label"].int2str(label) == MEANINGS[name, row]
    assert task.head_config()["id2label"][label] == MEANINGS[name, row]


# --- errors ---------------------------------------------------------------------------------


def test_unknown_split(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown split 'test' for task 'sst2'; valid splits: train, dev"):
        sage.tasks.get("sst2").load("test", data_dir)


def test_missing_file_names_path(tmp_path: Path) -> None:
    expected = tmp_path / "SST-2" / "train.tsv"
    message = rf"^{re.escape(str(expected))}: no such file; expected the SST-2 train split"
    with pytest.raises(DataError, match=message) as error:
        sage.tasks.get("sst2").load("train", tmp_path)
    assert "Point task.data_dir or SAGE_DATA_DIR at the folder holding GLUE's TSVs" in str(error.value)


def test_missing_file_under_env_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"from SAGE_DATA_DIR"):
        sage.tasks.get("rte").load("dev")


def test_offline_hub_says_data_dir_is_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("SAGE_DATA_DIR")
    message = r"cannot load rte dev from the Hugging Face hub .*HF_HUB_OFFLINE is set"
    with pytest.raises(DataError, match=message) as error:
        sage.tasks.get("rte").load("dev")
    assert "Set task.data_dir or SAGE_DATA_DIR to a folder holding GLUE's TSVs (RTE/dev.tsv, ...)" in str(error.value)


def test_qnli_train_is_not_local(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"QNLI train is not in the local GLUE folder \(local splits: dev\)"):
        sage.tasks.get("qnli").load("train", data_dir)


def _write(root: Path, glue_dir: str, text: str | bytes) -> Path:
    (root / glue_dir).mkdir()
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    (root / glue_dir / "dev.tsv").write_bytes(data)
    return root


SST2_HEADER = "sentence\tlabel\n"
RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
STSB_ROW = "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA man is playing a flute.\tA man plays a flute.\t"
SST2_LAYOUT = r"expected 2 tab-separated fields \(sentence, label\), as the header has"

# case -> (task, file contents, what the message says after "<path>:"); the line number counts the header as 1.
MALFORMED = {
    "header only": ("sst2", SST2_HEADER, r"1: the header is the only line; expected data rows of 2 tab-separated"),
    "empty file, no header": ("cola", "", r"1: the file is empty; expected rows of 4 tab-separated fields \(source,"),
    "extra column": ("sst2", SST2_HEADER + "good .\t1\nbad .\t0\textra\nfine .\t1\n", rf"3: 3 fields; {SST2_LAYOUT}"),
    "extra column on every row": (
        "sst2", SST2_HEADER + "good .\t1\tx\nbad .\t0\tx\n", r"2: 3 fields \(2 lines are malformed; this is the first\)"
    ),
    "missing column": (
        "rte",
        RTE_HEADER + "0\tA cat sat.\tA cat is sitting.\tentailment\n1\tA dog ran.\tentailment\n",
        r"3: 3 fields; expected 4 tab-separated fields \(index, sentence1, sentence2, label\)",
    ),
    "missing column, no header": (
        "cola", "gj04\t1\t\tOk .\ngj04\t1\t\n", r"2: 3 fields; expected 4 .* as CoLA files have"
    ),
    "blank line": ("sst2", SST2_HEADER + "good .\t1\n\nbad .\t0\n", rf"3: a blank line; {SST2_LAYOUT}"),
    "lone carriage return": ("sst2", SST2_HEADER + "good .\t1\nbad\r.\t0\n", r"3: a carriage return inside the line"),
    "latin-1 byte": (
        "sst2",
        (SST2_HEADER + "good .\t1\ncaf\xe9 .\t0\n").encode("latin-1"),
        r"3: byte 0xe9 \(byte 4 of the line\) is not UTF-8; GLUE's TSVs are UTF-8: .*iconv -f latin1 -t utf-8",
    ),
    # Curly quotes: 0x93 is a control character in Latin-1, so latin1 would be the wrong advice.
    "windows-1252 byte": (
        "sst2",
        (SST2_HEADER + "good .\t1\n\u201cbad\u201d .\t0\n").encode("cp1252"),
        r"3: byte 0x93 \(byte 1 of the line\) is not UTF-8; .*iconv -f cp1252 -t utf-8",
    ),
    "utf-16 with a byte-order mark": (
        "sst2",
        (SST2_HEADER + "good .\t1\n").encode("utf-16"),
        r"1: the file is UTF-16 \(it starts with a UTF-16 byte-order mark\); GLUE's TSVs are UTF-8: "
        r"re-save the file as UTF-8 \(for example with iconv -f utf-16 -t utf-8\)$",
    ),
    # Valid UTF-8, NULs and all: without the sniffing it would read as a header lacking its columns.
    "utf-16 without a byte-order mark": (
        "sst2",
        (SST2_HEADER + "good .\t1\n").encode("utf-16-be"),
        r"1: the file is UTF-16 \(over a quarter of its first bytes are NUL\);.*iconv -f utf-16 -t utf-8",
    ),
    "empty text": (
        "sst2",
        SST2_HEADER + "good .\t1\n\t0\n",
        r"3: no text in column 'sentence' \(the field is empty or only whitespace\); "
        r"expected a text in every row's 'sentence': fill the field in or remove the row",
    ),
    "whitespace-only texts, named as the file names the column": (
        "mrpc",
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA cat sat .\t \n0\t3\t4\tA dog .\t  \n",
        r"2: no text in column '#2 String' \(the field is empty or only whitespace\) "
        r"\(2 rows have no text there; this is the first\)",
    ),
    "empty text, no header": ("cola", "gj04\t1\t\tOk .\ngj04\t0\t*\t \n", r"2: no text in column 'sentence'"),
    "NUL byte in a text": (
        "rte",
        RTE_HEADER + "0\tA cat sat.\tA cat is\x00 sitting.\tentailment\n",
        r"2: a NUL byte \(\\x00\) in column 'sentence2'; expected text without NUL bytes",
    ),
    "score above the scale": (
        "stsb",
        STSB_HEADER + STSB_ROW + "4.2\n" + STSB_ROW + "47\n",
        r"3: score 47 is outside the task's range; expected a score from 0 to 5 in column 'score'$",
    ),
    "score below the scale": (
        "stsb",
        STSB_HEADER + STSB_ROW + "-3\n" + STSB_ROW + "5.5\n",
        r"2: score -3 is outside the task's range \(2 rows have scores outside it; this is the first\)",
    ),
    "empty label": (
        "sst2", SST2_HEADER + "good .\t1\nbad .\t\n", r"3: no label \(the field is empty\); expected one of 0"
    ),
    "label not a class": (
        "sst2",
        SST2_HEADER + "good .\t1\nbad .\t7\nworse .\t9\n",
        r"3: label '7' is not valid \(2 rows have invalid labels; this is the first\); "
        r"expected one of 0 \(negative\), 1 \(positive\) in column 'label'",
    ),
    "label name not a class": (
        "rte",
        RTE_HEADER + "0\tA cat sat.\tA cat is sitting.\tneutral\n",
        r"2: label 'neutral' is not valid; expected one of entailment, not_entailment",
    ),
    "score not a number": (
        "stsb", STSB_HEADER + STSB_ROW + "high\n", r"2: label 'high' is not valid; expected a finite number in column 'sc"
    ),
    "score not finite": ("stsb", STSB_HEADER + STSB_ROW + "inf\n", r"2: label 'inf' is not valid; expected a finite"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_gives_path_and_line(case: str, tmp_path: Path) -> None:
    name, contents, message = MALFORMED[case]
    task = sage.tasks.get(name)
    root = _write(tmp_path, task.glue_dir, contents)
    with pytest.raises(DataError, match=rf"^{re.escape(str(root / task.glue_dir / 'dev.tsv'))}:{message}"):
        task.load("dev", root)


def _hub_stsb(rows: list[tuple[str | None, str | None, float]]) -> datasets.Dataset:
    """Rows shaped like nyu-mll/glue's stsb config, which names the score ``label``."""
    sentence1, sentence2, label = map(list, zip(*rows, strict=True))
    features = {"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"), "label": datasets.Value("float32")}
    return datasets.Dataset.from_dict(
        {"sentence1": sentence1, "sentence2": sentence2, "label": label}, features=datasets.Features(features)
    )


HUB_FAULTS = {
    "score above the scale": (
        [("A cat sits.", "A cat is sitting.", 4.5), ("A dog runs.", "A dog is running.", 47.0)],
        r"row 1: score 47 is outside the task's range; expected a score from 0 to 5 in column 'label'$",
    ),
    "whitespace-only text": (
        [("A cat sits.", "   ", 4.5)],
        r"row 0: no text in column 'sentence2' \(the field is empty or only whitespace\)",
    ),
    "missing text": ([("A cat sits.", "A cat.", 4.5), (None, "A dog.", 1.0)], r"row 1: no text in column 'sentence1'"),
    "NUL byte": ([("A cat\x00 sits.", "A cat.", 4.5)], r"row 0: a NUL byte \(\\x00\) in column 'sentence1'"),
}


@pytest.mark.parametrize("case", sorted(HUB_FAULTS))
def test_bad_hub_rows_give_split_and_row(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, message = HUB_FAULTS[case]
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: _hub_stsb(rows))
    monkeypatch.delenv("SAGE_DATA_DIR")
    with pytest.raises(DataError, match=rf"^nyu-mll/glue stsb validation split, {message}"):
        sage.tasks.get("stsb").load("dev")


def test_wrong_columns_in_file(tmp_path: Path) -> None:
    root = _write(tmp_path, "SST-2", "text\tlabel\ngood .\t1\n")
    message = r"dev.tsv:1: the header has no column\(s\) \['sentence'\]; expected .*\['sentence', 'label'\]"
    with pytest.raises(DataError, match=message):
        sage.tasks.get("sst2").load("dev", root)


def test_task_definition_is_checked() -> None:
    with pytest.raises(ValueError, match=r"unknown metrics \['bleu'\]"):
        GlueTask("x", "X", "x", ("sentence",), ("a", "b"), ("bleu",), ("sentence", "label"))
    with pytest.raises(ValueError, match=r"tsv_columns must name 2 columns"):
        GlueTask("x", "X", "x", ("sentence",), ("a", "b"), ("accuracy",), ("sentence",))
    with pytest.raises(ValueError, match=r"label_range \(0, 1\) must be \(low, high\) of a regression task"):
        GlueTask("x", "X", "x", ("sentence",), ("a", "b"), ("accuracy",), ("sentence", "label"), label_range=(0, 1))
    with pytest.raises(ValueError, match=r"label_range \(5, 0\) must be \(low, high\)"):
        GlueTask("x", "X", "x", ("sentence",), None, ("pearson",), ("sentence", "score"), label_range=(5, 0))


# --- metrics --------------------------------------------------------------------------------


def test_accuracy() -> None:
    assert metrics.accuracy([1, 0, 1, 1], [1, 0, 0, 1]) == 0.75


def test_f1_is_on_the_positive_class() -> None:
    # TP=2, FP=1, FN=0 for class 1 -> 4/5; class 0 would give 2/3.
    assert metrics.f1([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.8)
    assert metrics.f1([0, 0, 0], [0, 0, 0]) == 0.0


def test_matthews() -> None:
    # TP=2, TN=1, FP=1, FN=0 -> (2*1 - 1*0) / sqrt(3*2*2*1) = 1/sqrt(3).
    assert metrics.matthews([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx(1 / np.sqrt(3))
    assert metrics.matthews([0, 1, 1, 0], [1, 0, 0, 1]) == pytest.approx(-1.0)
    assert metrics.matthews([1, 1, 1, 1], [1, 0, 1, 0]) == 0.0


def test_pearson() -> None:
    # Deviations (-1, 0, 1) and (-1, 1, 0): covariance 1 over variance 2 -> 0.5.
    assert metrics.pearson([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(0.5)
    assert metrics.pearson(np.float32([1, 2, 3]), np.float32([3, 2, 1])) == pytest.approx(-1.0)


def test_spearman_uses_ranks() -> None:
    predictions, labels = [10.0, 20.0, 30.0, 40.0], [1.0, 4.0, 9.0, 16.0]
    assert metrics.spearman(predictions, labels) == pytest.approx(1.0)
    assert metrics.pearson(predictions, labels) < 0.99
    assert metrics.spearman([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(0.5)


def test_correlations_of_a_constant_are_zero_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.pearson([2.5, 2.5, 2.5], [1.0, 2.0, 3.0]) == 0.0
        assert metrics.spearman([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]) == 0.0


@pytest.mark.parametrize("metric", sorted(metrics.METRICS))
def test_metrics_return_plain_floats(metric: str) -> None:
    value = metrics.METRICS[metric](np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]))
    assert type(value) is float


def test_metric_input_errors() -> None:
    with pytest.raises(ValueError, match=r"got shape \(2, 2\).*argmax"):
        metrics.accuracy(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match=r"got 3 predictions for 2 labels"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"zero examples"):
        metrics.accuracy([], [])


# --- evaluate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("sst2", {"accuracy"}),
        ("rte", {"accuracy"}),
        ("qnli", {"accuracy"}),
        ("mrpc", {"f1", "accuracy"}),
        ("cola", {"mcc"}),
        ("stsb", {"pearson", "spearman"}),
    ],
)
def test_evaluate_keys(name: str, keys: set[str]) -> None:
    result = sage.tasks.get(name).evaluate(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]))
    assert set(result) == keys | {"score"}
    assert all(type(value) is float for value in result.values())


def test_evaluate_score_is_the_mean_of_two_metrics() -> None:
    mrpc = sage.tasks.get("mrpc").evaluate(np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0]))
    assert mrpc == pytest.approx({"f1": 0.8, "accuracy": 0.75, "score": 0.775})
    stsb = sage.tasks.get("stsb").evaluate(np.array([10.0, 20.0, 30.0, 40.0]), np.array([1.0, 4.0, 9.0, 16.0]))
    assert stsb["spearman"] == pytest.approx(1.0)
    assert stsb["score"] == pytest.approx((stsb["pearson"] + stsb["spearman"]) / 2)


def test_evaluate_single_metric_score_is_that_metric() -> None:
    result = sage.tasks.get("cola").evaluate(np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0]))
    assert result["score"] == result["mcc"]


def test_evaluate_majority_baseline_on_real_dev(data_dir: Path) -> None:
    sst2 = _load("sst2", "dev", data_dir)
    assert sage.tasks.get("sst2").evaluate(np.ones(sst2.num_rows, dtype=np.int64), np.asarray(sst2["label"])) == {
        "accuracy": pytest.approx(444 / 872),
        "score": pytest.approx(444 / 872),
    }
    cola = _load("cola", "dev", data_dir)
    assert sage.tasks.get("cola").evaluate(np.ones(cola.num_rows), np.asarray(cola["label"]))["mcc"] == 0.0


# --- registry -------------------------------------------------------------------------------


def test_registry_holds_the_glue_tasks_and_the_file_and_hub_tasks() -> None:
    tasks = sage.tasks.get_all()
    assert sorted(name for name, task in tasks.items() if isinstance(task, GlueTask)) == NAMES
    assert sorted(name for name, task in tasks.items() if not isinstance(task, GlueTask)) == ["files", "hub"]


def test_a_task_registered_from_outside_loads_its_own_layout_and_serves_a_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a plugin's task declares (columns, label spellings, score range) is all the loader needs."""
    monkeypatch.setattr(catalogue, "REGISTRY", dict(catalogue.REGISTRY))  # forget the task afterwards
    reviews = GlueTask(
        "test_reviews", "REVIEWS", "unused", ("review",), ("bad", "good"), ("accuracy",), ("text", "stars"),
        tsv_labels=("1", "5"),
    )
    sage.tasks.register("test_reviews", func=reviews)
    root = _write(tmp_path, "REVIEWS", "id\ttext\tstars\n0\t Loved it . \t5\n1\tNo .\t1\n")

    loaded = sage.tasks.get("test_reviews").load("dev", root)

    assert loaded.to_list() == [{"review": "Loved it .", "label": 1}, {"review": "No .", "label": 0}]
    assert loaded.features["label"].names == ["bad", "good"]
    assert sage.load_spec({"task": {"name": "test_reviews"}}).task.name == "test_reviews"
    (root / "REVIEWS" / "dev.tsv").write_text("id\ttext\tstars\n0\tMeh .\t3\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: label '3' is not valid; expected one of 1 \(bad\), 5 \(good\) in column 'stars'"):
        sage.tasks.get("test_reviews").load("dev", root)
