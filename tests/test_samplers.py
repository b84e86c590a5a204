"""Samplers: output contract, geometry of knn and jitter, determinism and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import sage.samplers
from sage.samplers.base import nearest_neighbours
from sage.samplers.jitter import JitterSampler
from sage.samplers.knn import KNNSampler

SAMPLERS = [KNNSampler, JitterSampler]


def brute_neighbours(Z: np.ndarray, row: int, k: int) -> set[int]:
    distances = np.linalg.norm(Z - Z[row], axis=1)
    distances[row] = np.inf
    return set(np.argsort(distances)[:k].tolist())


def segment_fraction(start: np.ndarray, end: np.ndarray, point: np.ndarray) -> float | None:
    """Where ``point`` lies on start→end as a fraction, or None if it is off the segment."""
    direction = end - start
    u = float(np.dot(point - start, direction) / np.dot(direction, direction))
    on_line = np.allclose(start + u * direction, point, atol=1e-4)
    return u if on_line and -1e-6 <= u <= 1 + 1e-6 else None


def towards(Z: np.ndarray, parent: int, point: np.ndarray) -> list[int]:
    """Every point j of Z such that ``point`` lies on the segment from Z[parent] to Z[j]."""
    directions = Z - Z[parent]
    lengths = np.square(directions).sum(axis=1)
    lengths[parent] = np.inf
    u = directions @ (point - Z[parent]) / lengths
    off_line = np.linalg.norm(Z[parent] + u[:, None] * directions - point, axis=1)
    return np.flatnonzero((off_line < 1e-4) & (u >= -1e-6) & (u <= 1 + 1e-6)).tolist()


@pytest.fixture
def Z() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)


@pytest.mark.parametrize("name", ["knn", "jitter"])
def test_a_parent_among_its_exact_duplicates_gets_children_on_itself(name: str) -> None:
    # SST-2 has duplicate sentences. Their copies are a parent's nearest neighbours at distance 0
    # (only the parent's own row is left out), so knn interpolates towards the parent itself and
    # jitter's spread is 0; a parent with distinct neighbours gets children off itself.
    Z = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [5, 5], [5, 6], [6, 5], [9, 9]], dtype=np.float32)
    points, parents = sage.samplers.get(name)(k=3).sample(Z, np.array([0, 4]), 40, np.random.default_rng(0))
    np.testing.assert_array_equal(points[parents == 0], np.zeros((20, 2)))
    assert (points[parents == 4] != Z[4]).any(axis=1).all()


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
def test_shapes_dtypes_and_cyclic_parents(sampler_cls: type, Z: np.ndarray) -> None:
    hard = np.array([5, 17, 42], dtype=np.int32)
    points, parents = sampler_cls().sample(Z.astype(np.float64), hard, 8, np.random.default_rng(1))
    assert points.shape == (8, 2) and points.dtype == np.float32
    assert parents.dtype == np.int64
    np.testing.assert_array_equal(parents, [5, 17, 42, 5, 17, 42, 5, 17])
    assert np.isfinite(points).all()


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
def test_same_seed_same_output_different_seed_different(sampler_cls: type, Z: np.ndarray) -> None:
    sampler, hard = sampler_cls(), np.arange(10)
    first = sampler.sample(Z, hard, 50, np.random.default_rng(7))
    again = sampler.sample(Z, hard, 50, np.random.default_rng(7))
    other = sampler.sample(Z, hard, 50, np.random.default_rng(8))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], other[1])
    assert not np.allclose(first[0], other[0])


def test_knn_points_lie_between_parent_and_its_known_neighbour() -> None:
    # With k=1: 0's neighbour is 1, 2's is 3, 4's is 2 (distances 1, 2 and about 15.8).
    Z = np.array([[0, 0], [1, 0], [5, 5], [5, 7], [20, 0]], dtype=np.float32)
    neighbour = {0: 1, 2: 3, 4: 2}
    points, parents = KNNSampler(k=1).sample(Z, np.array([0, 2, 4]), 300, np.random.default_rng(0))
    fractions = []
    for point, parent in zip(points, parents):
        u = segment_fraction(Z[parent], Z[neighbour[int(parent)]], point)
        assert u is not None, f"{point} is not between {Z[parent]} and its neighbour"
        fractions.append(u)
    # u ~ U(0, 1): mean 1/2, both ends of the segment reached.
    assert abs(np.mean(fractions) - 0.5) < 0.06
    assert min(fractions) < 0.05 and max(fractions) > 0.95


def test_knn_neighbour_is_among_the_parents_k_nearest(Z: np.ndarray) -> None:
    k, hard = 5, np.array([3, 100, 250])
    points, parents = KNNSampler(k=k).sample(Z, hard, 300, np.random.default_rng(2))
    used: dict[int, set[int]] = {int(h): set() for h in hard}
    for point, parent in zip(points, parents):
        candidates = towards(Z, int(parent), point)
        assert candidates, f"child of {parent} lies towards no point of Z"
        assert set(candidates) & brute_neighbours(Z, int(parent), k)
        used[int(parent)].update(set(candidates) & brute_neighbours(Z, int(parent), k))
    # All k neighbours get picked, not just the nearest.
    assert all(len(neighbours) == k for neighbours in used.values())


def test_jitter_spread_scales_with_scale_and_local_distance() -> None:
    # Parent 0 has its 4 neighbours at distance 1, parent 5 at distance 10.
    circle = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.float32)
    Z = np.concatenate([[[0, 0]], circle, [[100, 100]], 100 + 10 * circle]).astype(np.float32)
    for scale in (0.25, 0.5):
        points, parents = JitterSampler(scale=scale, k=4).sample(Z, np.array([0, 5]), 20000, np.random.default_rng(3))
        for parent, distance in ((0, 1.0), (5, 10.0)):
            children = points[parents == parent]
            offsets = children - Z[parent]
            np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=0.05 * scale * distance)
            rms_length = np.sqrt(np.square(offsets).sum(axis=1).mean())
            np.testing.assert_allclose(rms_length, scale * distance, rtol=0.03)
            # Isotropic: the same std on every coordinate.
            np.testing.assert_allclose(offsets.std(axis=0), [scale * distance / np.sqrt(2)] * 2, rtol=0.03)


def test_jitter_spread_does_not_grow_with_dimension() -> None:
    rng = np.random.default_rng(5)
    for dim in (2, 384):
        Z = rng.normal(size=(200, dim)).astype(np.float32)
        hard = np.arange(20)
        points, parents = JitterSampler(scale=0.5, k=10).sample(Z, hard, 2000, rng)
        distances, _ = nearest_neighbours(Z, hard, 10)
        expected = 0.5 * distances.mean(axis=1)[np.resize(np.arange(20), 2000)]
        rms_ratio = np.sqrt((np.square(points - Z[parents]).sum(axis=1) / expected**2).mean())
        assert abs(rms_ratio - 1) < 0.05, f"dim {dim}: RMS offset is {rms_ratio:.2f} x the expected length"


def test_nearest_neighbours_exclude_self_even_among_duplicates() -> None:
    Z = np.array([[0, 0], [0, 0], [0, 0], [3, 0]], dtype=np.float32)
    distances, indices = nearest_neighbours(Z, np.array([0, 1, 2, 3]), 2)
    assert indices.shape == distances.shape == (4, 2)
    assert all(row not in indices[row] for row in range(4))
    np.testing.assert_array_equal(distances[:3], 0.0)


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
def test_k_at_least_n_is_clamped_to_the_other_points(sampler_cls: type) -> None:
    Z = np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)
    _, indices = nearest_neighbours(Z, np.array([0]), 10)
    assert sorted(indices[0].tolist()) == [1, 2]
    points, _ = sampler_cls(k=10).sample(Z, np.array([0]), 5, np.random.default_rng(0))
    assert points.shape == (5, 2)


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
def test_count_zero_gives_empty_arrays(sampler_cls: type, Z: np.ndarray) -> None:
    for hard in (np.array([1, 2]), np.array([], dtype=np.int64)):
        points, parents = sampler_cls().sample(Z, hard, 0, np.random.default_rng(0))
        assert points.shape == (0, 2) and points.dtype == np.float32
        assert parents.shape == (0,) and parents.dtype == np.int64


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
@pytest.mark.parametrize(
    ("Z_shape", "hard", "count", "error", "match"),
    [
        ((10, 2), [], 5, ValueError, "empty hard set"),
        ((10, 2), [0, 10], 5, IndexError, r"\[0, 10\).*\[10\]"),
        ((10, 2), [-1], 5, IndexError, r"\[-1\]"),
        ((10, 2), [0.5], 5, ValueError, "integer index"),
        ((10, 2), [0], -1, ValueError, "count must be an int >= 0"),
        ((10,), [0], 5, ValueError, "2-D float array"),
        ((1, 2), [0], 5, ValueError, "at least 2 points"),
    ],
)
def test_bad_inputs_raise_clear_errors(
    sampler_cls: type, Z_shape: tuple, hard: list, count: int, error: type, match: str
) -> None:
    Z = np.zeros(Z_shape, dtype=np.float32)
    with pytest.raises(error, match=match):
        sampler_cls().sample(Z, np.array(hard), count, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: KNNSampler(k=0), "k must be >= 1, got 0"),
        (lambda: JitterSampler(k=-2), "k must be >= 1, got -2"),
        (lambda: KNNSampler(k=2.5), "k must be an int"),
        (lambda: JitterSampler(scale=0.0), "scale must be a finite float > 0, got 0.0"),
        (lambda: JitterSampler(scale=float("nan")), "scale must be a finite float > 0"),
    ],
)
def test_bad_hyper_parameters_raise_clear_errors(make, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("sampler_cls", SAMPLERS)
@pytest.mark.parametrize("shape", [(1000, 2), (200, 384)])
def test_real_shaped_projections(sampler_cls: type, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    Z = rng.normal(size=shape).astype(np.float32)
    hard = rng.choice(shape[0], size=shape[0] // 10, replace=False)
    points, parents = sampler_cls().sample(Z, hard, 500, rng)
    assert points.shape == (500, shape[1]) and points.dtype == np.float32
    np.testing.assert_array_equal(parents, np.resize(hard, 500))
    assert np.isfinite(points).all()
    # New points stay near their parents: closer than the data's overall spread.
    assert np.linalg.norm(points - Z[parents], axis=1).mean() < np.linalg.norm(Z - Z.mean(0), axis=1).mean()
