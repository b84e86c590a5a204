"""umap-learn's exact inverse against sage's fast inverse: speed and fidelity side by side.

UMAP (n_neighbors=100) fitted on 16,000 pooled SST-2 vectors; 1,024 held-out vectors are
placed with ``transform`` and mapped back. Fidelity is measured against the originals and
set beside predicting the training mean. The exact inverse takes minutes: it runs once.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sage
from sage.synthesis.fidelity import reconstruction_fidelity

VARIANTS = {
    "exact (umap-learn)": {"inverse": "exact"},
    "fast, k=10": {"inverse": "fast", "inverse_neighbors": 10},
    "fast, k=10, 2 refine steps": {"inverse": "fast", "inverse_neighbors": 10, "refine_steps": 2},
}


@pytest.fixture(scope="module")
def fitted_umap(pooled):
    train, held_out = pooled
    projector = sage.projectors.get("umap")(n_neighbors=100, random_state=0)
    projector.fit(train)
    return projector, projector.transform(held_out)


def test_predict_the_mean(benchmark, pooled):
    train, held_out = pooled
    decoded = benchmark(lambda: np.broadcast_to(train.mean(0), held_out.shape))
    benchmark.extra_info.update(reconstruction_fidelity(decoded, held_out, train.mean(0)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_umap_inverse(benchmark, fitted_umap, pooled, variant):
    train, held_out = pooled
    projector, embedding = fitted_umap
    projector = copy.copy(projector).set_params(**VARIANTS[variant])
    rounds = 1 if projector.inverse == "exact" else 5
    projector.inverse_transform(embedding[:2])  # builds the triangulation / neighbour index
    decoded = benchmark.pedantic(projector.inverse_transform, args=(embedding,), rounds=rounds, iterations=1)
    benchmark.extra_info.update(reconstruction_fidelity(decoded, held_out, train.mean(0)))
    benchmark.extra_info["clipped"] = projector.n_clipped_
