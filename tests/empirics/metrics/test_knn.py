"""Mutual k-NN overlap: known points, a Python-loop twin (ties included), statistics, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirics.measures import MEASURES
from empirics.metrics.knn import mutual_knn, neighbour_sets

LD = np.longdouble


def _rng(seed):
    return np.random.default_rng(seed)


def twin_neighbours(X, k: int, metric: str) -> list[set[int]]:
    """Python loops in extended precision: sort the others by (distance, index)."""
    X = np.asarray(X).astype(LD)
    if metric == "cosine":
        X = X / np.sqrt((X * X).sum(axis=1, keepdims=True))
    out = []
    for i in range(len(X)):
        far = []
        for j in range(len(X)):
            if j != i:
                diff = X[i] - X[j]
                # cosine: 1 - cos = |u_i - u_j|^2 / 2, no cancellation against 1
                far.append(((diff * diff).sum(), j))
        out.append({j for _, j in sorted(far)[:k]})
    return out


def twin(X, Y, k: int, metric: str = "cosine") -> float:
    a, b = twin_neighbours(X, k, metric), twin_neighbours(Y, k, metric)
    return sum(len(s & t) for s, t in zip(a, b, strict=True)) / (len(a) * k)


# ----------------------------------------------------------------------------- known points
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_a_rotated_scaled_copy_has_overlap_one(metric):
    g = _rng(0)
    X = g.normal(size=(80, 6))
    Q = np.linalg.qr(g.normal(size=(6, 6)))[0]
    shift = 0.0 if metric == "cosine" else 7.0  # cosine is not translation invariant
    assert mutual_knn(X, 3.0 * X @ Q + shift, k=7, metric=metric) == 1.0


def test_independent_features_overlap_about_k_over_n_minus_1():
    """E = k/(N-1) exactly (exchangeability): 12 seeds of N = 150 within 4 standard errors."""
    N, k = 150, 10
    values = [mutual_knn(_rng(s).normal(size=(N, 8)), _rng(100 + s).normal(size=(N, 8)), k=k)
              for s in range(12)]  # fmt: skip
    se = np.std(values, ddof=1) / math.sqrt(len(values))
    assert 0.0 < se < 0.01
    assert abs(np.mean(values) - k / (N - 1)) < 4 * se
    # a sample counted as its own neighbour would add about 1/k to every overlap
    assert np.mean(values) + 4 * se < 1 / k


def test_the_registry_entry_is_this_measure():
    entry = MEASURES["mutual_knn"]
    assert entry.basis == "rows" and entry.range == (0.0, 1.0) and entry.direction == "higher"


# ----------------------------------------------------------------------------- twin
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [1, 2])
def test_equals_python_loops_for_every_k(metric, seed):
    g = _rng(seed)
    X, Y = g.normal(size=(12, 3)), g.normal(size=(12, 2))
    Y[:6] = X[:6, :2] + 0.1 * Y[:6]  # partly aligned, so overlaps are neither 0 nor 1
    for k in range(1, 11):
        assert mutual_knn(X, Y, k=k, metric=metric) == pytest.approx(twin(X, Y, k, metric),
                                                                     abs=1e-15), k


def test_ties_are_broken_by_the_smaller_index():
    """Points on a line at integer positions: many exact ties, every one by index."""
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [6.0], [8.0], [9.0]])
    for k in range(1, 7):
        got = neighbour_sets(x, k, metric="euclidean")
        want = twin_neighbours(x, k, "euclidean")
        assert [set(np.flatnonzero(r.numpy())) for r in got] == want, k
    dup = np.repeat(_rng(3).normal(size=(5, 3)), 3, axis=0)  # each row three times
    got = neighbour_sets(dup, 2, metric="cosine")
    assert [set(np.flatnonzero(r.numpy())) for r in got] == twin_neighbours(dup, 2, "cosine")


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_blocks_give_the_same_value(block):
    g = _rng(4)
    X, Y = g.normal(size=(40, 5)), g.normal(size=(40, 5))
    Y[:20] += X[:20]
    assert mutual_knn(X, Y, k=4, block=block) == twin(X, Y, 4)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_near_collapse_and_extreme_scales_are_exact(metric):
    g = _rng(5)
    v = g.normal(size=6)
    X, Y = v + 1e-6 * g.normal(size=(30, 6)), v + 1e-6 * g.normal(size=(30, 6))
    Y[:15] = X[:15] + 1e-7 * g.normal(size=(15, 6))
    want = twin(X, Y, 5, metric)
    assert 0.2 < want < 1.0
    assert mutual_knn(X, Y, k=5, metric=metric) == want
    for scale in (1e-150, 1e150):
        assert mutual_knn(scale * X, scale * Y, k=5, metric=metric) == want
    assert mutual_knn(1e200 * X, 1e-150 * Y, k=5, metric=metric) == want


# ----------------------------------------------------------------------------- edges
def test_zero_rows_give_nan_with_a_warning_under_cosine_only():
    X = _rng(6).normal(size=(10, 3))
    X[2] = 0.0
    with pytest.warns(RuntimeWarning, match="zero rows"):
        assert math.isnan(mutual_knn(X, X, k=3))
    assert mutual_knn(X, X, k=3, metric="euclidean") == 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"k": 9}, ValueError, "`k` < N - 1 = 9"),
    ({"k": 20}, ValueError, "`k` < N - 1"),
    ({"k": 0}, ValueError, "`k` >= 1"),
    ({"k": 2.0}, TypeError, "`k` to be an int"),
    ({"k": True}, TypeError, "`k` to be an int"),
    ({"metric": "manhattan"}, ValueError, "`metric`"),
    ({"block": 0}, ValueError, "`block`"),
])  # fmt: skip
def test_bad_arguments_name_the_argument(kwargs, error, match):
    X = _rng(7).normal(size=(10, 3))
    with pytest.raises(error, match=match):
        mutual_knn(X, X, **kwargs)


@pytest.mark.parametrize("X, Y, match", [
    (np.ones((4, 2)), np.ones((5, 2)), "same number of rows"),
    (np.full((6, 2), np.inf), np.ones((6, 2)), "finite"),
    (np.ones((6, 2)), torch.full((6, 2), float("nan")), "finite"),
])
def test_bad_features_are_refused(X, Y, match):
    with pytest.raises(ValueError, match=match):
        mutual_knn(X, Y, k=2)
