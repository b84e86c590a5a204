"""Projectors on real MiniLM vectors: shapes, fidelity of the inverse, the UMAP hull, errors."""

import copy
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from scipy.spatial import Delaunay
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from sage import projectors
from sage.projectors.neighbour_mean import NeighbourMean

N_HELD_OUT = 200


@dataclass(frozen=True)
class Case:
    projector: str
    params: dict[str, Any]
    n_train: int
    n_inverted: int  # umap-learn's inverse costs about 0.1 s a point
    min_cosine: float  # measured held-out mean cosine less a margin; the mean vector scores 0.55


CASES = {
    "identity": Case("identity", {}, 1000, N_HELD_OUT, 0.9999),
    "pca": Case("pca", {"random_state": 0}, 1000, N_HELD_OUT, 0.60),  # measured 0.631
    "tsne": Case("tsne", {"random_state": 0}, 1000, N_HELD_OUT, 0.60),  # measured 0.644
    # Small settings keep the fit short. umap-learn's exact inverse measured 0.37, below the
    # mean vector (0.55), as notes/projector-baseline.md found.
    "umap": Case("umap", {"n_neighbors": 15, "random_state": 0}, 500, N_HELD_OUT, 0.50),
    "umap-exact": Case("umap", {"n_neighbors": 15, "random_state": 0, "inverse": "exact"}, 500, 8, 0.30),
}


@dataclass(frozen=True)
class Fitted:
    projector: Any
    train: np.ndarray
    held_out: np.ndarray
    train_embedding: np.ndarray
    held_out_embedding: np.ndarray
    decoded: np.ndarray  # inverse of the first n_inverted held-out embeddings


FitFn = Callable[[str], Fitted]


@pytest.fixture(scope="module")
def fitted(real_vectors: np.ndarray) -> FitFn:
    """Each projector fitted once per module, on first use."""

    @functools.cache
    def fit(name: str) -> Fitted:
        case = CASES[name]
        train, held_out = real_vectors[: case.n_train], real_vectors[-N_HELD_OUT:]
        projector = projectors.get(case.projector)(**case.params)
        train_embedding = projector.fit_transform(train)
        held_out_embedding = projector.transform(held_out)
        decoded = projector.inverse_transform(held_out_embedding[: case.n_inverted])
        return Fitted(projector, train, held_out, train_embedding, held_out_embedding, decoded)

    return fit


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_builtins_are_registered_with_typed_defaulted_hyper_parameters() -> None:
    names = {case.projector for case in CASES.values()}
    assert set(projectors.get_all()) >= names
    for name in names:
        clone(projectors.get(name)())  # scikit-learn's estimator convention holds
        for parameter in inspect.signature(projectors.get(name), eval_str=True).parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, (name, parameter.name)
            assert parameter.default is not inspect.Parameter.empty, (name, parameter.name)


# scikit-learn's own contract checks. t-SNE and UMAP are left out: each takes dozens of fits, far
# too long for a test on two cores (measured: t-SNE about 50 s, UMAP about 130 s), and each fails
# checks by design:
# - tsne: fit_transform returns the training embedding and transform places points anew (see
#   Projector), which check_transformer_general takes for an inconsistency; and one sample gets
#   openTSNE's own error, not scikit-learn's wording (check_fit2d_1sample);
# - umap: __init__ validates its settings so that a spec reports them before the teacher is
#   fine-tuned (check_do_not_raise_errors_in_init_or_set_params), and umap-learn's transform
#   optimises a batch with one random stream and prunes edges against the batch's strongest, so
#   a point lands elsewhere in a reordered or smaller batch (check_methods_sample_order_invariance,
#   check_methods_subset_invariance).
@pytest.mark.parametrize("name", ["identity", "pca"])
def test_follows_scikit_learns_estimator_contract(name: str) -> None:
    check_estimator(projectors.get(name)())


@pytest.mark.parametrize("name", CASES)
def test_shapes_dtypes_and_finite_inverse(name: str, fitted: FitFn) -> None:
    result, case = fitted(name), CASES[name]
    k = result.projector.n_components_
    assert result.train_embedding.shape == (case.n_train, k)
    assert result.held_out_embedding.shape == (N_HELD_OUT, k)
    assert result.decoded.shape == (case.n_inverted, 384)
    for array in (result.train_embedding, result.held_out_embedding, result.decoded):
        assert array.dtype == np.float32
    assert np.isfinite(result.decoded).all()
    assert result.projector.n_rejected_ == 0


@pytest.mark.parametrize("name", CASES)
def test_inverse_of_held_out_points_is_close_to_them(name: str, fitted: FitFn) -> None:
    result = fitted(name)
    original = result.held_out[: len(result.decoded)]
    assert mean_cosine(result.decoded, original) > CASES[name].min_cosine


def test_identity_returns_its_input_exactly(fitted: FitFn) -> None:
    result = fitted("identity")
    np.testing.assert_array_equal(result.held_out_embedding, result.held_out)
    np.testing.assert_array_equal(result.decoded, result.held_out)
    assert result.decoded is not result.held_out


def test_pca_never_clips(fitted: FitFn) -> None:
    result = fitted("pca")
    far = result.train_embedding.mean(0) + 10 * np.ptp(result.train_embedding, axis=0)
    assert np.isfinite(result.projector.inverse_transform(far[None])).all()
    assert (result.projector.n_clipped_, result.projector.n_rejected_) == (0, 0)


def test_tsne_training_embedding_survives_transform(fitted: FitFn) -> None:
    # openTSNE's transform re-centres its embedding in place; after the fixture's transform the
    # embedding must not have moved, and training points must still decode to their own vectors.
    result = fitted("tsne")
    np.testing.assert_allclose(result.projector.embedding_, result.train_embedding, atol=1e-5)
    decoded = result.projector.inverse_transform(result.train_embedding[:50])
    assert mean_cosine(decoded, result.train[:50]) > 0.9999


def far_outside(embedding: np.ndarray) -> np.ndarray:
    """One point ten extents away from the centre of ``embedding``: [1, k]."""
    centre = (embedding.max(0) + embedding.min(0)) / 2
    return (centre + 10 * np.ptp(embedding, axis=0))[None]


def test_umap_clips_a_far_point_into_the_hull(fitted: FitFn) -> None:
    result = fitted("umap-exact")
    projector, embedding = result.projector, result.train_embedding
    far = far_outside(embedding)
    clipped = projector.clip(far)
    triangulation = Delaunay(embedding)
    assert triangulation.find_simplex(clipped)[0] >= 0
    # As far out as the hull allows: a step further along towards the far point leaves it.
    assert triangulation.find_simplex(clipped + 1e-3 * (far - clipped))[0] < 0
    np.testing.assert_array_equal(projector.clip(embedding[:5]), embedding[:5])

    decoded = projector.inverse_transform(far)
    assert np.isfinite(decoded).all()
    assert (projector.n_clipped_, projector.n_rejected_) == (1, 0)
    np.testing.assert_array_equal(decoded, projector.umap_.inverse_transform(clipped))


@pytest.mark.parametrize("case", ["umap-exact", "umap"])
def test_umap_rejects_a_far_point(case: str, fitted: FitFn) -> None:
    result = fitted(case)
    # `outside` only matters at inverse time, so a shallow copy shares the fitted model.
    rejecting = copy.copy(result.projector).set_params(outside="reject")
    points = np.vstack([far_outside(result.train_embedding), result.train_embedding[:1]])
    decoded = rejecting.inverse_transform(points)
    assert np.isnan(decoded[0]).all()
    assert np.isfinite(decoded[1]).all()
    assert (rejecting.n_clipped_, rejecting.n_rejected_) == (0, 1)


def test_fast_umap_decodes_a_far_point_from_its_nearest_training_points(fitted: FitFn) -> None:
    result = fitted("umap")
    projector, embedding = result.projector, result.train_embedding
    far = far_outside(embedding)
    nearest = np.argsort(((embedding - far) ** 2).sum(1))[: projector.inverse_neighbors]
    decoded = projector.inverse_transform(far)
    assert (projector.n_clipped_, projector.n_rejected_) == (0, 0)
    # A weighted mean of the nearest training points' vectors: inside their bounding box.
    assert (decoded[0] >= result.train[nearest].min(0) - 1e-6).all()
    assert (decoded[0] <= result.train[nearest].max(0) + 1e-6).all()


def test_fast_umap_beats_umap_learns_inverse_on_the_same_fit(fitted: FitFn) -> None:
    fast, exact = fitted("umap"), fitted("umap-exact")
    np.testing.assert_array_equal(fast.train_embedding, exact.train_embedding)
    n = len(exact.decoded)
    assert mean_cosine(fast.decoded[:n], fast.held_out[:n]) > mean_cosine(exact.decoded, exact.held_out[:n])


@pytest.mark.parametrize("name", ["umap", "pca"])
def test_same_random_state_gives_the_same_embedding(name: str, fitted: FitFn) -> None:
    result = fitted(name)
    again = projectors.get(CASES[name].projector)(**CASES[name].params).fit_transform(result.train)
    np.testing.assert_array_equal(again, result.train_embedding)


def test_umap_builds_umap_learns_own_graph_from_exact_neighbours_and_still_transforms(real_vectors: np.ndarray) -> None:
    """Below 4,096 points the projector hands umap-learn exact neighbours from one BLAS search
    instead of its Python call per pair; the fuzzy graph must be the one umap-learn builds itself,
    a duplicate sentence included (SST-2 has some: distance 0, not the BLAS expansion's 1e-7)."""
    import umap

    train = np.concatenate([real_vectors[:300], real_vectors[:1]])  # an exact duplicate
    projector = projectors.get("umap")(n_neighbors=15, random_state=0).fit(train)
    own = umap.UMAP(n_neighbors=15, random_state=0, transform_seed=0, n_jobs=1).fit(train)
    assert abs(projector.umap_.graph_ - own.graph_).max() < 1e-4
    placed = projector.transform(real_vectors[1000:1010])
    assert placed.shape == (10, 2) and np.isfinite(placed).all()


def test_umap_with_fewer_points_than_neighbours_warns_and_inverts(real_vectors: np.ndarray) -> None:
    projector = projectors.get("umap")(random_state=0)  # n_neighbors=100 > 40 points
    with pytest.warns(UserWarning, match="n_neighbors is larger than the dataset size"):
        embedding = projector.fit_transform(real_vectors[:40])
    assert np.isfinite(projector.inverse_transform(embedding[:1])).all()


@pytest.mark.parametrize(
    "arguments",
    [
        {"n_components": 1, "inverse": "exact"},
        {"n_components": 8, "inverse": "exact"},
        {"n_components": 8, "outside": "reject"},
        {"metric": "jaccard", "inverse": "exact"},
    ],
)
def test_umap_refuses_settings_it_cannot_invert_before_fitting(
    arguments: dict[str, Any], real_vectors: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="n_components|jaccard"):
        projectors.get("umap")(**arguments).fit(real_vectors[:50])


@pytest.mark.parametrize("name", CASES)
def test_use_before_fit_raises_not_fitted(name: str, real_vectors: np.ndarray) -> None:
    projector = projectors.get(CASES[name].projector)(**CASES[name].params)
    with pytest.raises(NotFittedError):
        projector.transform(real_vectors[:2])
    with pytest.raises(NotFittedError):
        projector.inverse_transform(np.zeros((2, 2), dtype=np.float32))


@pytest.mark.parametrize("name", CASES)
def test_wrong_number_of_columns_is_an_error(name: str, fitted: FitFn) -> None:
    result = fitted(name)
    k = result.projector.n_components_
    with pytest.raises(ValueError, match=f"Z has {k + 1} columns.*{k} components"):
        result.projector.inverse_transform(np.zeros((2, k + 1), dtype=np.float32))
    # transform refuses with scikit-learn's own message, as every scikit-learn transformer does.
    with pytest.raises(ValueError, match=f"X has 383 features, but {type(result.projector).__name__} is expecting 384"):
        result.projector.transform(result.held_out[:2, :383])


def test_bad_input_is_an_error(real_vectors: np.ndarray) -> None:
    projector = projectors.get("pca")()
    with pytest.raises(ValueError, match="2D array"):
        projector.fit(real_vectors[0])
    with_nan = real_vectors[:10].copy()
    with_nan[3, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        projector.fit(with_nan)


def test_neighbour_mean_weights_by_inverse_distance(real_vectors: np.ndarray) -> None:
    vectors = real_vectors[:3]
    embedding = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    inverse = NeighbourMean(n_neighbors=2).fit(embedding, vectors)
    decoded = inverse.predict(np.array([[0.0, 0.0], [0.5, 0.0], [0.25, 0.0]]))
    np.testing.assert_allclose(decoded[0], vectors[0])  # an exact hit is that point's vector
    np.testing.assert_allclose(decoded[1], (vectors[0] + vectors[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(decoded[2], (3 * vectors[0] + vectors[1]) / 4, rtol=1e-6)
    with pytest.raises(ValueError, match="same training points"):
        inverse.fit(np.zeros((3, 2)), vectors[:2])


def test_neighbour_mean_can_leave_a_training_row_out_of_its_own_decoding(real_vectors: np.ndarray) -> None:
    vectors = real_vectors[:3]
    embedding = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    inverse = NeighbourMean(n_neighbors=2).fit(embedding, vectors)
    decoded = inverse.predict(embedding[:2], exclude=np.array([0, 1]))
    # Row 0 decodes from rows 1 and 2 (distances 1 and 3), row 1 from rows 0 and 2 (1 and 2).
    np.testing.assert_allclose(decoded[0], (3 * vectors[1] + vectors[2]) / 4, rtol=1e-5)
    np.testing.assert_allclose(decoded[1], (2 * vectors[0] + vectors[2]) / 3, rtol=1e-5)
    with pytest.raises(ValueError, match="one training row per query"):
        inverse.predict(embedding[:2], exclude=np.array([0]))


@pytest.mark.parametrize("name", ["identity", "pca", "tsne", "umap"])
def test_held_out_inverse_of_training_points_is_no_self_lookup(name: str, fitted: FitFn) -> None:
    result, case = fitted(name), CASES[name]
    rows = np.arange(16)
    decoded = result.projector.inverse_transform_held_out(result.train_embedding[rows], rows)
    cosine = mean_cosine(decoded, result.train[rows])
    if name == "identity":
        assert cosine > 0.9999  # nothing to leave out: the identity's inverse is exact
    else:
        # A neighbour-mean inverse would score 1.0 on its own training points; left out, it
        # interpolates like on held-out points.
        assert case.min_cosine < cosine < 0.99


def test_refinement_keeps_exact_hits_and_moves_towards_the_densest_neighbours(real_vectors: np.ndarray) -> None:
    vectors = np.stack([real_vectors[0], real_vectors[0] + 0.01, real_vectors[5]])
    embedding = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    plain = NeighbourMean(n_neighbors=3).fit(embedding, vectors)
    refined = NeighbourMean(n_neighbors=3, refine_steps=3).fit(embedding, vectors)
    np.testing.assert_allclose(refined.predict(embedding[:1])[0], vectors[0])
    query = np.array([[0.5, 0.5]])
    distance = lambda decoded: np.linalg.norm(decoded[0] - vectors[0])  # noqa: E731
    # Two of three neighbours nearly coincide: mean-shift pulls the estimate onto them.
    assert distance(refined.predict(query)) < distance(plain.predict(query)) / 2


def test_fast_umap_inverts_a_16_dimensional_map(real_vectors: np.ndarray) -> None:
    projector = projectors.get("umap")(n_components=16, n_neighbors=15, random_state=0)
    embedding = projector.fit_transform(real_vectors[:300])
    decoded = projector.inverse_transform(embedding[:10])
    assert embedding.shape == (300, 16) and decoded.shape == (10, 384) and np.isfinite(decoded).all()
