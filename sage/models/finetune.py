"""Fine-tuning a backbone into a teacher for a task, cached by everything that shapes it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, get_linear_schedule_with_warmup

from sage.models.backbone import default_backbone
from sage.models.family import attention_implementation
from sage.models.teacher import RECORD_FILE, TASK_KEY
from sage.progress import Progress
from sage.run.provenance import folder_fingerprint, results_identity
from sage.spec import FinetuneSpec
from sage.tasks.task import Task
from sage.training import autocast, bucketed_batches, width_multiple


def cache_root() -> Path:
    """Where fine-tuned teachers are kept: ``$SAGE_CACHE_DIR``, else ``~/.cache/sage``."""
    return Path(os.environ.get("SAGE_CACHE_DIR", Path.home() / ".cache" / "sage"))


def data_fingerprint(task: Task, train: datasets.Dataset) -> str:
    digest = hashlib.sha256()
    for column in task.texts(train):
        digest.update("\x1f".join(column).encode())
    digest.update(task.labels(train).tobytes())
    return digest.hexdigest()


def teacher_cache_dir(task: Task, train: datasets.Dataset, settings: FinetuneSpec, max_length: int) -> Path:
    identity = {
        # By contents, not path: a backbone replaced in place must not find the old teacher.
        "backbone": folder_fingerprint(Path(settings.backbone or default_backbone())),
        "versions": results_identity(),
        "task": task.name,
        "data": data_fingerprint(task, train),
        "max_length": max_length,
        # full_train only chooses the rows, which the data fingerprint already covers.
        **settings.model_dump(exclude={"backbone", "full_train"}),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / "teachers" / f"{task.name}-{key}"


def finetune_teacher(
    task: Task, train: datasets.Dataset, settings: FinetuneSpec, max_length: int, device: torch.device
) -> Path:
    """A fine-tuned model folder for ``task``; reused when the same settings and data were seen before."""
    target = teacher_cache_dir(task, train, settings, max_length)
    if (target / RECORD_FILE).exists():
        return target
    backbone = settings.backbone or default_backbone()
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    with _load_report_held() as held:
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            backbone,
            **task.head_config(),
            dtype=torch.float32,  # weights may be stored in half precision; train in full
            attn_implementation=attention_implementation(AutoConfig.from_pretrained(backbone)),
            output_loading_info=True,
        )
    _report_loading(model, loading, held, task)
    model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    encoded = tokenizer(*task.texts(train), truncation=True, max_length=max_length)
    labels = torch.as_tensor(task.labels(train))
    lengths = torch.tensor([len(ids) for ids in encoded["input_ids"]])

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    steps = settings.epochs * -(-len(labels) // settings.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    with Progress(desc=f"fine-tuning the {task.name} teacher", total=steps) as progress:
        for _ in range(settings.epochs):
            for batch in bucketed_batches(lengths, settings.batch_size, generator):
                features = tokenizer.pad(
                    {key: [encoded[key][i] for i in batch.tolist()] for key in encoded.keys()},
                    pad_to_multiple_of=width_multiple(device),
                    return_tensors="pt",
                ).to(device)
                with autocast(device):
                    loss = model(**features, labels=labels[batch].to(device)).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                progress.set_postfix(loss=f"{loss.item():.3f}")  # first, so that a log line shows this step's loss
                progress.update()

    # Write beside the target and rename, so an interrupted run never leaves a half-saved teacher.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    setattr(model.config, TASK_KEY, task.name)  # check_teacher refuses this teacher for another task
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    record = {
        "backbone": backbone,
        "task": task.name,
        "train_examples": len(labels),
        "max_length": max_length,
        "settings": settings.model_dump(),
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 1),
        "mean_train_tokens": float(np.mean(lengths.numpy())),
    }
    (staging / RECORD_FILE).write_text(json.dumps(record, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


# transformers 5 logs a "LOAD REPORT" table through this logger after from_pretrained.
_LOADING_LOGGER = logging.getLogger("transformers.modeling_utils")


class _HeldRecords(logging.Filter):
    """Keeps transformers' load report back instead of letting it print."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in record.getMessage():
            self.records.append(record)
            return False
        return True


@contextmanager
def _load_report_held() -> Iterator[_HeldRecords]:
    held = _HeldRecords()
    _LOADING_LOGGER.addFilter(held)
    try:
        yield held
    finally:
        _LOADING_LOGGER.removeFilter(held)


def _report_loading(model: PreTrainedModel, loading: Mapping[str, Collection[Any]], held: _HeldRecords, task: Task) -> None:
    """Say in one line that the classification head is new, as it is by design when fine-tuning a
    bare backbone; transformers' report of it reads like an error ("MISSING", in red). A report of
    anything else (weights of the backbone itself missing, unused or mis-shaped) is shown as it is."""
    prefix = f"{model.base_model_prefix}."
    new_head = sorted(key for key in loading["missing_keys"] if not key.startswith(prefix))
    others = len(loading["missing_keys"]) - len(new_head) + len(loading["unexpected_keys"]) + len(loading["mismatched_keys"])
    if others:
        for record in held.records:
            _LOADING_LOGGER.handle(record)
    elif new_head:
        outputs = "1 output, regression" if task.is_regression else f"{task.num_labels} labels"
        print(f"new classification head for fine-tuning: {', '.join(new_head)} ({outputs})", file=sys.stderr)
