"""The paper's pipeline on real MiniLM vectors: fit once or on a sample, sample, invert, lift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.manifold import Isomap

import sage
from sage.projectors.neighbour_mean import NeighbourMean
from sage.synthesis.strategies.paper import PaperPipeline


def pipeline(context, **arguments) -> PaperPipeline:
    strategy = PaperPipeline(**{"fit_in_background": False} | arguments)
    strategy.prepare(context)
    return strategy


def test_propose_lifts_inverted_points_onto_their_parents(make_context, sequences):
    context = make_context()
    strategy = pipeline(context)
    anchors = np.arange(270, 300)
    result = strategy.propose(anchors, 60, student=None)
    assert result.stats["projection"] == "fitted" and "projector_fit_s" in result.stats
    assert strategy.propose(anchors, 60, student=None).stats["projection"] == "reused"  # fitted once per run
    np.testing.assert_array_equal(result.parents, np.resize(anchors, 60))
    np.testing.assert_array_equal(result.vectors.lengths, sequences.lengths[result.parents])
    assert result.vectors.dtype == torch.float32
    # Each synthetic sequence pools to the projector's inverse of its sampled point.
    expected = strategy.projector.inverse_transform(result.points)
    np.testing.assert_allclose(result.vectors.pooled().numpy(), expected, atol=1e-5)
    # Batches pad with zeros, so the lift moved real tokens only.
    vectors, mask = result.vectors.batch(torch.arange(len(result.parents)))
    assert vectors[mask == 0].abs().max() == 0 and (mask.sum(1) == result.vectors.lengths).all()
    # The inverse diagnostic: PCA's inverse of the anchors' own points, checked independently.
    decoded = strategy.projector.inverse_transform(strategy.embedding[anchors])
    original = context.pooled[anchors]
    cosine = (decoded * original).sum(1) / np.linalg.norm(decoded, axis=1) / np.linalg.norm(original, axis=1)
    assert result.stats["inverse_cosine"] == pytest.approx(cosine.mean(), rel=1e-4)
    assert strategy.propose(anchors, 60, student=None).stats["projection"] == "reused"


def test_fit_max_fits_a_sample_and_transforms_the_rest(make_context):
    context = make_context()
    strategy = pipeline(context, fit_max=100, place_rest="transform")
    strategy.propose(np.arange(10), 10, None)
    assert strategy.embedding.shape == (300, 2)
    # Every row, fitted or not, is where the fitted projector puts its vector.
    np.testing.assert_allclose(strategy.embedding, strategy.projector.transform(context.pooled), atol=1e-4)
    assert strategy.projector.pca_.n_samples_ == 100


def test_fit_max_places_the_rest_by_their_fitted_neighbours(make_context):
    context = make_context()
    strategy = pipeline(context, fit_max=100)
    strategy.propose(np.arange(10), 10, None)
    exact = strategy.projector.transform(context.pooled)
    fitted = np.isclose(strategy.embedding, exact, atol=1e-4).all(1)
    assert fitted.sum() == 100  # the fitted sample keeps its own coordinates
    # The rest land nearer where the projector itself would put them than the map's centre is.
    error = np.linalg.norm(strategy.embedding[~fitted] - exact[~fitted], axis=1).mean()
    assert error < np.linalg.norm(exact[~fitted] - exact[fitted].mean(0), axis=1).mean()


def test_fit_max_sample_comes_from_the_fit_sample_stream(make_context):
    embeddings = []
    for seed in (0, 0, 1):
        strategy = pipeline(make_context(seed), fit_max=100)
        strategy.propose(np.arange(10), 10, None)
        embeddings.append(strategy.embedding)
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    assert not np.array_equal(embeddings[0], embeddings[2])


def test_a_reducer_with_no_inverse_is_inverted_by_neighbours(make_context):
    context = make_context(projector=Isomap(n_components=2, n_neighbors=10))
    strategy = pipeline(context)
    anchors = np.arange(30)
    result = strategy.propose(anchors, 60, None)
    assert len(result.parents) == 60 and torch.isfinite(result.vectors.tokens).all()
    # The inverse diagnostic leaves each probed example out of its own decoding; in-sample,
    # the neighbour mean would return the example itself and score a cosine of 1.0.
    pooled = context.pooled
    decoded = NeighbourMean().fit(strategy.embedding, pooled).predict(strategy.embedding[anchors], exclude=anchors)
    cosine = (decoded * pooled[anchors]).sum(1) / np.linalg.norm(decoded, axis=1) / np.linalg.norm(pooled[anchors], axis=1)
    assert result.stats["inverse_cosine"] == pytest.approx(cosine.mean(), rel=1e-4) and cosine.mean() < 0.99


def test_a_space_other_than_the_interface_is_decoded_to_interface_vectors(make_context, sequences):
    rng = np.random.default_rng(0)
    space = rng.standard_normal((len(sequences), 16)).astype(np.float32)
    context = make_context(space=space, space_name="teacher")
    strategy = pipeline(context)
    result = strategy.propose(np.arange(20), 20, None)
    # Decoded as neighbour means of pooled interface vectors, not of the 16-D space.
    assert result.vectors.dim == sequences.dim
    decoded = NeighbourMean().fit(strategy.embedding, context.pooled).predict(result.points)
    np.testing.assert_allclose(result.vectors.pooled().numpy(), decoded, atol=1e-5)


def test_a_background_fit_gives_the_same_projection_as_a_fit_here(make_context):
    here = pipeline(make_context(projector=sage.projectors.get("umap")(n_neighbors=15, random_state=0)))
    there = PaperPipeline(fit_in_background=True)
    there.prepare(make_context(projector=sage.projectors.get("umap")(n_neighbors=15, random_state=0)))
    first = there.propose(np.arange(5), 5, None)
    assert first.stats["projection"] == "fitted in background" and "projector_background_s" in first.stats
    here.propose(np.arange(5), 5, None)
    np.testing.assert_array_equal(there.embedding, here.embedding)


def test_a_projector_that_cannot_be_pickled_is_fitted_here(make_context):
    projector = sage.projectors.get("pca")(random_state=0)
    projector.unpicklable = lambda: None
    strategy = PaperPipeline(fit_in_background=True)
    strategy.prepare(make_context(projector=projector))
    assert strategy.propose(np.arange(5), 5, None).stats["projection"] == "fitted"


def test_the_search_space_is_chosen_by_its_name_not_by_identity(make_context):
    """A copy of the pooled interface vectors is still the interface: decoded by the projector's
    own inverse, as the paper's pipeline does there, not by neighbour means."""
    pooled = make_context().pooled
    context = make_context(space=pooled.copy(), space_name="interface")
    strategy = pipeline(context)
    result = strategy.propose(np.arange(20), 20, None)
    decoded = strategy.projector.inverse_transform(result.points)
    np.testing.assert_allclose(result.vectors.pooled().numpy(), decoded, atol=1e-5)


def test_fitting_the_projection_is_reported_to_the_user(make_context):
    messages = []
    strategy = pipeline(make_context(report=messages.append))
    strategy.propose(np.arange(20), 20, None)
    assert messages[0] == "synthesis: fitting the PCAProjector on 300 points"
    assert messages[1].startswith("synthesis: PCAProjector fitted in ")
