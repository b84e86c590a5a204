"""The GLUE tasks that have local files in GLUE's layout, registered by their hub config names.

Label names and their order follow the hub's ``nyu-mll/glue`` configs, so ids agree whichever source is loaded.
"""

from sage.tasks import register
from sage.tasks.task import Task

_BINARY = ("0", "1")  # the TSV spelling of label ids 0 and 1 where GLUE writes digits

GLUE_TASKS = (
    Task(
        name="sst2",
        glue_dir="SST-2",
        hub_config="sst2",
        text_fields=("sentence",),
        label_names=("negative", "positive"),
        metrics=("accuracy",),
        tsv_columns=("sentence", "label"),
        tsv_labels=_BINARY,
    ),
    Task(
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
    Task(
        name="mrpc",
        glue_dir="MRPC",
        hub_config="mrpc",
        text_fields=("sentence1", "sentence2"),
        label_names=("not_equivalent", "equivalent"),
        metrics=("f1", "accuracy"),
        tsv_columns=("#1 String", "#2 String", "Quality"),
        tsv_labels=_BINARY,
    ),
    Task(
        name="stsb",
        glue_dir="STS-B",
        hub_config="stsb",
        text_fields=("sentence1", "sentence2"),
        label_names=None,
        metrics=("pearson", "spearman"),
        tsv_columns=("sentence1", "sentence2", "score"),
        label_range=(0.0, 5.0),  # STS-B's similarity scale: 0 (unrelated) to 5 (equivalent)
    ),
    Task(
        name="rte",
        glue_dir="RTE",
        hub_config="rte",
        text_fields=("sentence1", "sentence2"),
        label_names=("entailment", "not_entailment"),
        metrics=("accuracy",),
        tsv_columns=("sentence1", "sentence2", "label"),
    ),
    Task(
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
