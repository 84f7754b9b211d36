"""Orthogonal Procrustes distance: known points, metric axioms, brute-force twins, edges.

Twins: the explicit solution ``Q = U V^T`` of ``min_Q ||X~ - Y~ Q||_F`` (SVD of
``Y~^T X~``, the narrower set padded with zero columns, centring and scaling in extended
precision) and ``scipy.linalg.orthogonal_procrustes``; both measure the distance as the
norm of a difference formed first, ``2 arcsin(||X~ - Y~ Q||_F / 2)``, so near 0 they are
exact where the moment form is resolved to about 1e-8 (module docstring).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes

from empirics.measures import MEASURES
from empirics.metrics import moments
from empirics.metrics.procrustes import procrustes_distance, procrustes_from_moments

LD = np.longdouble


def _shape(X, width):
    """``H X / ||H X||_F`` (longdouble centring and norm), zero-padded to ``width``, float64."""
    Xc = np.asarray(X).astype(LD)
    Xc = Xc - Xc.mean(axis=0)
    Xc = Xc / np.sqrt((Xc * Xc).sum())
    out = np.zeros((Xc.shape[0], width), dtype=np.float64)
    out[:, : Xc.shape[1]] = Xc.astype(np.float64)
    return out


def twin_svd(X, Y) -> tuple[float, float]:
    """(angular, euclidean) from the explicit optimal rotation ``Q = U V^T``."""
    w = max(X.shape[1], Y.shape[1])
    A, B = _shape(X, w), _shape(Y, w)
    U, _, Vt = np.linalg.svd(B.T @ A)
    dist = float(np.linalg.norm(A - B @ (U @ Vt)))
    return 2.0 * math.asin(min(1.0, dist / 2.0)), dist


def twin_scipy(X, Y) -> float:
    w = max(X.shape[1], Y.shape[1])
    A, B = _shape(X, w), _shape(Y, w)
    R, _ = orthogonal_procrustes(B, A)
    return 2.0 * math.asin(min(1.0, float(np.linalg.norm(A - B @ R)) / 2.0))


def _rng(seed):
    return np.random.default_rng(seed)


def _pair(seed, N=40, d=5, e=5, noise=0.5):
    g = _rng(seed)
    X = g.normal(size=(N, d))
    extra = np.hstack([X] + [X**2] * (e // d))[:, :e]  # e columns built from X
    Y = np.tanh(extra) + noise * g.normal(size=(N, e))
    return X, Y


def _rotated_copy(seed, N=60, d=6, scale=3.0, shift=5.0):
    g = _rng(seed)
    X = g.normal(size=(N, d))
    Q = np.linalg.qr(g.normal(size=(d, d)))[0]
    return X, scale * X @ Q + shift


# ----------------------------------------------------------------------------- known points
@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_a_rotated_scaled_translated_copy_is_at_distance_zero(scale, metric):
    X, Y = _rotated_copy(0)
    assert procrustes_distance(scale * X, scale * Y, metric=metric) < 1e-7
    assert procrustes_distance(X, -X, metric=metric) < 1e-7  # a reflection is orthogonal too


def test_identical_inputs_give_exactly_zero():
    X = _rng(1).normal(size=(30, 4))
    assert procrustes_distance(X, X) == 0.0


def test_symmetric_in_range_and_euclidean_is_two_sin_half_angle():
    for seed, (d, e) in enumerate([(5, 5), (3, 7), (8, 2)]):
        X, Y = _pair(seed, d=d, e=e)
        a, b = procrustes_distance(X, Y), procrustes_distance(Y, X)
        assert a == pytest.approx(b, rel=1e-12)
        assert 0.0 < a <= math.pi / 2
        eu = procrustes_distance(X, Y, metric="euclidean")
        assert 0.0 < eu <= math.sqrt(2.0)
        assert eu == pytest.approx(2.0 * math.sin(a / 2.0), rel=1e-12)


def test_orthogonal_column_spaces_are_at_the_largest_distance():
    """``X~^T Y~ = 0`` (uncorrelated centred columns): angle pi/2, Euclidean sqrt(2)."""
    x = np.array([1.0, -1.0, 1.0, -1.0])
    y = np.array([1.0, 1.0, -1.0, -1.0])  # centred, orthogonal to x
    assert procrustes_distance(x[:, None], y[:, None]) == pytest.approx(math.pi / 2, abs=1e-15)
    assert procrustes_distance(x[:, None], y[:, None], metric="euclidean") == pytest.approx(
        math.sqrt(2.0), abs=1e-15)


def test_the_registry_entry_is_this_measure():
    entry = MEASURES["procrustes"]
    assert entry.basis == "moments" and entry.direction == "lower"
    assert entry.range == (0.0, math.pi / 2)


# ----------------------------------------------------------------------------- twins
CASES = {
    "square": lambda: _pair(2),
    "d<e (padded)": lambda: _pair(3, d=3, e=7),
    "d>e (padded)": lambda: _pair(4, d=9, e=2),
    "N=3": lambda: _pair(5, N=3, d=4, e=2),
    "d>N": lambda: _pair(6, N=8, d=20, e=12),
    "one column": lambda: _pair(7, d=1, e=1),
    "near collapse 1e-6": lambda: tuple(_rng(8).normal(size=5) + 1e-6 * z for z in _pair(8)),
    "scale 1e-150": lambda: tuple(1e-150 * z for z in _pair(9)),
    "scale 1e150": lambda: tuple(1e150 * z for z in _pair(10)),
    "scales 1e200 and 1e-150": lambda: (1e200 * _pair(11)[0], 1e-150 * _pair(11)[1]),
    "integers": lambda: (_rng(12).integers(0, 5, size=(30, 4)),
                         _rng(13).integers(0, 5, size=(30, 3))),
    "float32": lambda: tuple(z.astype(np.float32) for z in _pair(14)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_equals_the_explicit_svd_solution_and_scipy(case):
    X, Y = CASES[case]()
    ang, eu = twin_svd(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a defined value warns about nothing
        got_a, got_e = procrustes_distance(X, Y), procrustes_distance(X, Y, metric="euclidean")
    assert got_a == pytest.approx(ang, rel=1e-9, abs=1e-12), case
    assert got_e == pytest.approx(eu, rel=1e-9, abs=1e-12), case
    assert twin_scipy(X, Y) == pytest.approx(ang, rel=1e-9, abs=1e-12), case


@pytest.mark.parametrize("noise", [1e-2, 1e-4])
def test_near_zero_distances_stay_within_the_stated_resolution(noise):
    """A rotated copy plus small noise: the angle ~ noise, resolved to ~1e-8 absolute."""
    X, Y = _rotated_copy(15)
    Y = Y + noise * _rng(16).normal(size=Y.shape)
    assert procrustes_distance(X, Y) == pytest.approx(twin_svd(X, Y)[0], rel=1e-6, abs=2e-8)


# ----------------------------------------------------------------------------- axioms
_widths = st.integers(1, 5)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 12), d=_widths, e=_widths, f=_widths,
       metric=st.sampled_from(["angular", "euclidean"]))
def test_triangle_inequality_on_random_triples(seed, n, d, e, f, metric):
    g = _rng(seed)
    X, Y, Z = g.normal(size=(n, d)), g.normal(size=(n, e)), g.normal(size=(n, f))
    if g.random() < 0.3:  # Y close to X, so the inequality is nearly tight
        Y = np.hstack([X, np.zeros((n, max(0, e - d)))])[:, :e] + 0.05 * Y
    dist = {}
    for name, (A, B) in {"xy": (X, Y), "yz": (Y, Z), "xz": (X, Z)}.items():
        dist[name] = procrustes_distance(A, B, metric=metric)
    assert dist["xz"] <= dist["xy"] + dist["yz"] + 1e-7


# ----------------------------------------------------------------------------- moments
def test_streamed_and_merged_moments_equal_one_shot():
    X, Y = _pair(17, N=203, d=6, e=4)
    want = procrustes_distance(X, Y)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    start = (None, None)
    for i in range(0, 203, 37):
        start = moments.accumulate(Xt[i : i + 37], Yt[i : i + 37], start, cosine=False, raw=True)
    assert procrustes_from_moments(start[1]).value == pytest.approx(want, rel=1e-12)
    parts = [moments.accumulate(Xt[i::3], Yt[i::3], cosine=False, raw=True)[1] for i in range(3)]
    merged = moments.merge(moments.merge(parts[2], parts[0]), parts[1])
    assert procrustes_from_moments(merged).value == pytest.approx(want, rel=1e-12)


def test_cosine_moments_give_the_distance_of_the_unit_rows():
    X, Y = _pair(18, d=4, e=3)
    unit = [Z / np.linalg.norm(Z, axis=1, keepdims=True) for Z in (X, Y)]
    cos, _ = moments.accumulate(torch.from_numpy(X), torch.from_numpy(Y))
    assert procrustes_from_moments(cos).value == pytest.approx(twin_svd(*unit)[0], rel=1e-9)


# ----------------------------------------------------------------------------- undefined, bad
def test_constant_features_give_nan_with_a_warning():
    X = np.ones((10, 3))
    with pytest.warns(RuntimeWarning, match="procrustes: the rows of X are all equal"):
        assert math.isnan(procrustes_distance(X, _rng(19).normal(size=(10, 2))))


def test_zero_rows_under_cosine_moments_are_nan():
    X = _rng(20).normal(size=(10, 3))
    X[4] = 0.0
    cos, _ = moments.accumulate(torch.from_numpy(X), torch.from_numpy(X))
    v = procrustes_from_moments(cos)
    assert math.isnan(v.value) and "zero rows" in v.why


@pytest.mark.parametrize("X, Y, error, match", [
    (np.ones((4, 2)), np.ones((5, 2)), ValueError, "same number of rows"),
    (np.ones((1, 2)), np.ones((1, 2)), ValueError, "at least 2 rows"),
    (np.full((4, 2), np.nan), np.ones((4, 2)), ValueError, "finite"),
    (np.ones(4), np.ones((4, 2)), ValueError, "shape"),
    ([[1.0]], np.ones((1, 1)), TypeError, "numpy array or torch tensor"),
])  # fmt: skip
def test_bad_input_raises(X, Y, error, match):
    with pytest.raises(error, match=match):
        procrustes_distance(X, Y)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="`metric`"):
        procrustes_distance(np.eye(3), np.eye(3), metric="cosine")
