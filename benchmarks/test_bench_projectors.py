"""Each projector's fit, transform and (fast where it has one) inverse at a few sizes, on real vectors."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import sage

SIZES = [1_000, 4_000]
INVERTED = 1_024
SETTINGS = {
    "umap": {"n_neighbors": 100, "random_state": 0},
    "pca": {"n_components": 2, "random_state": 0},
    "tsne": {"random_state": 0},
    "identity": {},
}


def make(name: str):
    return sage.projectors.get(name)(**SETTINGS[name])


@pytest.fixture(scope="module")
def fitted(pooled):
    """Projectors fitted once per (name, size), after a small fit has compiled numba's kernels."""
    make("umap").fit(pooled[0][:300])

    @functools.cache
    def fit(name: str, size: int):
        projector = make(name)
        return projector, projector.fit_transform(pooled[0][:size])

    return fit


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", SETTINGS)
def test_fit(benchmark, fitted, pooled, name, size):
    fitted(name, 300)  # warm: compiled kernels stay out of the timing
    benchmark.pedantic(make(name).fit, args=(pooled[0][:size],), rounds=1, iterations=1)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", SETTINGS)
def test_transform(benchmark, fitted, pooled, name, size):
    projector, _ = fitted(name, size)
    projector.transform(pooled[1][:8])  # builds search indexes once
    benchmark.pedantic(projector.transform, args=(pooled[1][:INVERTED],), rounds=3, iterations=1)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", SETTINGS)
def test_inverse(benchmark, fitted, pooled, name, size):
    projector, embedding = fitted(name, size)
    points = embedding[np.random.default_rng(0).choice(size, INVERTED)]
    decoded = benchmark(projector.inverse_transform, points)
    assert decoded.shape == (INVERTED, 384)
