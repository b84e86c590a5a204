"""The synthesiser on real MiniLM vectors: fit once or on a sample, sample, invert, lift, label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.manifold import Isomap

import sage
from sage.neighbour_mean import NeighbourMean
from sage.synthesis import Synthesiser
from sage.vectors import VectorSet


class PooledLinear(torch.nn.Module):
    """A stand-in teacher body: a linear map of the mean real-token vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(dim, 2)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).float()
        return self.linear((vectors * weights).sum(1) / weights.sum(1))


@pytest.fixture(scope="module")
def sequences(real_vectors: np.ndarray) -> VectorSet:
    """Sequences of 3 to 9 tokens whose pooled vectors are the real pooled vectors."""
    vectors = torch.as_tensor(real_vectors[:300])
    lengths = torch.as_tensor(np.random.default_rng(0).integers(3, 10, size=len(vectors)))
    noise = torch.randn(len(vectors), 9, vectors.shape[1], generator=torch.Generator().manual_seed(0))
    real = torch.arange(9) < lengths[:, None]
    noise = noise * real.unsqueeze(-1)
    noise -= (noise.sum(1) / lengths[:, None]).unsqueeze(1) * real.unsqueeze(-1)  # zero-mean over real tokens
    return VectorSet(vectors[:, None, :] * real.unsqueeze(-1) + noise, lengths)


def synthesiser(projector, fit_max=None, seed=0) -> Synthesiser:
    return Synthesiser(projector, sage.samplers.get("knn")(k=5), 0.1, 2, np.random.default_rng(seed), fit_max)


def test_generate_lifts_inverted_points_onto_their_parents(sequences):
    synth = synthesiser(sage.projectors.get("pca")(n_components=2, random_state=0))
    assert synth.fit(sequences)["projector_fit_s"] > 0
    losses = np.linspace(0, 1, len(sequences))
    teacher = PooledLinear(sequences.dim)
    with torch.no_grad():
        teacher_real = teacher(*sequences.batch(torch.arange(len(sequences))))
    result = synth.generate(losses, sequences, teacher, teacher_real, batch_size=64)

    np.testing.assert_array_equal(np.sort(result.hard), np.arange(270, 300))  # the 10% with the largest loss
    assert result.stats["n_hard"] == 30 and result.stats["n_synthetic"] == 60
    np.testing.assert_array_equal(result.vectors.lengths, sequences.lengths[result.parents])
    # Each synthetic sequence pools to the projector's inverse of its sampled point.
    expected = synth.projector.inverse_transform(result.points)
    np.testing.assert_allclose(result.vectors.pooled().numpy(), expected, atol=1e-5)
    # Padding stays zero, so the lift moved real tokens only.
    width = result.vectors.vectors.shape[1]
    padding = torch.arange(width) >= result.vectors.lengths[:, None]
    assert result.vectors.vectors[padding].abs().max() == 0
    with torch.no_grad():
        np.testing.assert_allclose(result.teacher, teacher(*result.vectors.batch(torch.arange(60))), atol=1e-5)

    # Diagnostics: PCA's inverse of the hard examples' own points, checked independently.
    decoded = synth.projector.inverse_transform(synth.embedding[result.hard[:64]])
    pooled = sequences.pooled().numpy()
    original = pooled[result.hard[:64]]
    cosine = (decoded * original).sum(1) / np.linalg.norm(decoded, axis=1) / np.linalg.norm(original, axis=1)
    assert result.stats["inverse_cosine"] == pytest.approx(cosine.mean(), rel=1e-4)
    shift = np.linalg.norm(expected - pooled[result.parents], axis=1).mean()
    assert result.stats["synthetic_shift"] == pytest.approx(shift / np.linalg.norm(pooled - pooled.mean(0), axis=1).mean(), rel=1e-4)
    parent_class = teacher_real[result.parents].argmax(1)
    assert result.stats["teacher_flip"] == pytest.approx(float((result.teacher.argmax(1) != parent_class).float().mean()))
    assert 0.5 <= result.stats["teacher_confidence_synthetic"] <= 1


def test_fit_max_fits_a_sample_and_transforms_the_rest(sequences):
    projector = sage.projectors.get("pca")(n_components=2, random_state=0)
    synth = synthesiser(projector, fit_max=100)
    synth.place_rest = "transform"
    synth.fit(sequences)
    assert synth.embedding.shape == (300, 2)
    # Every row, fitted or not, is where the fitted projector puts its vector.
    np.testing.assert_allclose(synth.embedding, projector.transform(sequences.pooled().numpy()), atol=1e-4)
    assert projector.pca_.n_samples_ == 100


def test_fit_max_places_the_rest_by_their_fitted_neighbours(sequences):
    projector = sage.projectors.get("pca")(n_components=2, random_state=0)
    synth = synthesiser(projector, fit_max=100)
    synth.fit(sequences)
    exact = projector.transform(sequences.pooled().numpy())
    fitted = np.isclose(synth.embedding, exact, atol=1e-4).all(1)
    assert fitted.sum() == 100  # the fitted sample keeps its own coordinates
    # The rest land nearer where the projector itself would put them than the map's centre is.
    # (PCA is global, so a local mean blurs it; UMAP's own transform starts from this mean.)
    error = np.linalg.norm(synth.embedding[~fitted] - exact[~fitted], axis=1).mean()
    assert error < np.linalg.norm(exact[~fitted] - exact[fitted].mean(0), axis=1).mean()


def test_fit_max_sample_is_seeded(sequences):
    first, second, other = (synthesiser(sage.projectors.get("pca")(), fit_max=100, seed=s) for s in (0, 0, 1))
    for synth in (first, second, other):
        synth.fit(sequences)
    np.testing.assert_array_equal(first.embedding, second.embedding)
    assert not np.array_equal(first.embedding, other.embedding)


def test_a_reducer_with_no_inverse_is_inverted_by_neighbours(sequences):
    synth = synthesiser(Isomap(n_components=2, n_neighbors=10))
    synth.fit(sequences)
    teacher = PooledLinear(sequences.dim)
    with torch.no_grad():
        teacher_real = teacher(*sequences.batch(torch.arange(len(sequences))))
    result = synth.generate(np.arange(len(sequences), dtype=float), sequences, teacher, teacher_real, 64)
    assert result.stats["n_synthetic"] == 60
    assert torch.isfinite(result.vectors.vectors).all()
    # The inverse diagnostic leaves each probed example out of its own decoding; in-sample,
    # the neighbour mean would return the example itself and score a cosine of 1.0.
    pooled = sequences.pooled().numpy()
    probe = result.hard
    decoded = NeighbourMean().fit(synth.embedding, pooled).predict(synth.embedding[probe], exclude=probe)
    cosine = (decoded * pooled[probe]).sum(1) / np.linalg.norm(decoded, axis=1) / np.linalg.norm(pooled[probe], axis=1)
    assert result.stats["inverse_cosine"] == pytest.approx(cosine.mean(), rel=1e-4) and cosine.mean() < 0.99


def test_a_background_fit_gives_the_same_projection_as_a_fit_here(sequences):
    here, there = (synthesiser(sage.projectors.get("umap")(n_neighbors=15, random_state=0)) for _ in range(2))
    here.fit(sequences)
    there.start_fit(sequences, background=True)
    report = there.finish_fit()
    assert report["projection"] == "fitted in background" and report["projector_background_s"] > 0
    np.testing.assert_array_equal(there.embedding, here.embedding)
    np.testing.assert_array_equal(there.projector.inverse_transform(there.embedding[:5]), here.projector.inverse_transform(here.embedding[:5]))


def test_a_projector_that_cannot_be_pickled_is_fitted_here(sequences):
    projector = sage.projectors.get("pca")(random_state=0)
    projector.unpicklable = lambda: None
    synth = synthesiser(projector)
    synth.start_fit(sequences, background=True)
    assert synth.finish_fit()["projection"] == "fitted"
