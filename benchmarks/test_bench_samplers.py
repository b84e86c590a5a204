"""Samplers at full-SST-2 scale in a 2-D projection: 67,349 points, a tenth of them hard."""

from __future__ import annotations

import numpy as np
import pytest

import sage

N, HARD = 67_349, 6_735


@pytest.fixture(scope="module")
def embedding(pooled) -> np.ndarray:
    """A real 2-D PCA map of the pooled vectors, tiled with jitter up to SST-2's size."""
    base = sage.projectors.get("pca")(random_state=0).fit_transform(pooled[0])
    rng = np.random.default_rng(0)
    tiled = base[rng.integers(len(base), size=N)]
    return (tiled + rng.normal(scale=0.01 * base.std(), size=tiled.shape)).astype(np.float32)


@pytest.mark.parametrize("name", ["knn", "jitter"])
def test_sample(benchmark, embedding, name):
    sampler = sage.samplers.get(name)()
    hard = np.random.default_rng(1).choice(N, HARD, replace=False)
    points, parents = benchmark(lambda: sampler.sample(embedding, hard, HARD, np.random.default_rng(0)))
    assert points.shape == (HARD, 2) and len(parents) == HARD
