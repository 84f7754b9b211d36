"""Tests for empirics.metrics.quantities: each identity against its N x N twin, at any shift."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from empirics.metrics import moments as mo
from empirics.metrics import quantities as q


def _twins(X, Y):
    """float64 N x N twins: cosine Gram, dissimilarities, unbiased HSIC CKA (torch-cka)."""
    def unit(Z):
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    def hsic(K, L):
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0.0)
        np.fill_diagonal(L, 0.0)
        n, one = K.shape[0], np.ones(K.shape[0])
        t = np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
        return (t - 2.0 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))

    S1, S2 = unit(X) @ unit(X).T, unit(Y) @ unit(Y).T
    return {"cka_unbiased": hsic(S1, S2) / math.sqrt(hsic(S1, S1) * hsic(S2, S2)),
            "uncentred": np.sum(S1 * S2) / (np.linalg.norm(S1) * np.linalg.norm(S2))}  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), shift=st.floats(-2.0, 2.0))
def test_every_quantity_is_invariant_under_the_shift(seed, shift):
    """The same rows about another shift (moments.shift) give the same quantities."""
    g = np.random.default_rng(seed)
    X, Y = g.normal(size=(25, 4)) + 1.0, g.normal(size=(25, 3))
    cos = mo.accumulate(torch.from_numpy(X), torch.from_numpy(Y))[0]
    moved = mo.shift(cos, cos["cx"] + shift, cos["cy"] - shift / 2)
    a, _ = q.alignment(cos, unbiased=True)
    b, _ = q.alignment(moved, unbiased=True)
    for k in ("cka", "rsa", "sim_gap", "rho", "r", "k_norm", "sigma_a"):
        assert b[k] == pytest.approx(a[k], rel=1e-9), k
    twin = _twins(X, Y)
    assert a["cka"] == pytest.approx(twin["cka_unbiased"], rel=1e-9)
    assert q.uncentred_cka(moved).value == pytest.approx(twin["uncentred"], rel=1e-12)


def test_reasons_name_the_cause_and_warn_once_per_cause():
    X = np.random.default_rng(0).normal(size=(10, 3))
    Y = X.copy()
    Y[2] = 0.0
    cos = mo.accumulate(torch.from_numpy(X), torch.from_numpy(Y))[0]
    values, reasons = q.alignment(cos)
    assert set(reasons) == {"cka_cosine", "cka", "rsa", "sim_gap", "rho", "r"}
    assert len(set(reasons.values())) == 1 and "(0 in X, 1 in Y)" in reasons["rsa"]
    assert reasons["cka"] == reasons["cka_cosine"]  # the reported cka carries its reason
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q.warn_nan(reasons)
    assert len(caught) == 1 and str(caught[0].message).startswith("cka_cosine, cka, rsa")
    assert all(math.isnan(values[k]) for k in ("k_norm", "sigma_a", "repr_angle"))
    two = mo.accumulate(torch.from_numpy(X[:2]), torch.from_numpy(X[:2] + 1.0))[0]
    assert "at least 3 rows" in q.rsa(two).why and "at least 3 rows" in q.r(two)[0].why
    three = mo.accumulate(torch.from_numpy(X[:3]), torch.from_numpy(X[:3]))[0]
    assert "at least 4 rows" in q.cka(three, unbiased=True).why


def test_equidistant_points_have_no_dissimilarity_variance():
    X = np.eye(4)  # a regular simplex: every pair equally far apart
    Y = np.random.default_rng(1).normal(size=(4, 3))
    cos = mo.accumulate(torch.from_numpy(X), torch.from_numpy(Y))[0]
    assert "dissimilarities of X have zero variance" in q.rsa(cos).why
    assert math.isnan(q.r(cos)[0].value) and math.isfinite(q.rho(cos).value)
    assert math.isfinite(q.cka(cos).value)


def test_corollary_lower_and_its_trivial_values():
    assert q.corollary_lower(0.25, 0.0) == pytest.approx(0.6)
    assert q.corollary_lower(1.0, 0.0) == 0.0 and q.corollary_lower(3.0, -1.0) == -1.0
    assert math.isnan(q.corollary_lower(float("nan"), 0.0))


def test_squared_gaps_give_the_gaps_and_their_scales():
    g = np.random.default_rng(2)
    X, Y = g.normal(size=(30, 4)), g.normal(size=(30, 4))
    cos = mo.accumulate(torch.from_numpy(X), torch.from_numpy(Y))[0]
    sq = q.squared_gaps(cos)
    assert math.sqrt(sq["sim_gap"][0]) == pytest.approx(q.sim_gap(cos).value, rel=1e-12)
    assert math.sqrt(sq["rho"][0]) / q.k_norm(cos) == pytest.approx(q.rho(cos).value, rel=1e-12)
    assert 0 < sq["sim_gap"][0] < sq["sim_gap"][1] and 0 < sq["rho"][0] < 2 * sq["rho"][1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), N=st.integers(3, 40), d=st.integers(2, 6),
       shift=st.floats(-2.0, 2.0))  # fmt: skip
def test_gaps_from_differences_equal_gaps_from_grams(seed, N, d, shift):
    """d == e gaps come from the difference moments; with one zero column more in Y (the
    same unit rows, d != e) from the Gram moments: the same numbers where both are exact."""
    g = np.random.default_rng(seed)
    X, Y = g.normal(size=(N, d)) + 0.5, g.normal(size=(N, d))
    diff = mo.accumulate(torch.from_numpy(X), torch.from_numpy(Y))[0]
    grams = mo.accumulate(torch.from_numpy(X), torch.from_numpy(np.hstack([Y, 0 * Y[:, :1]])))[0]
    assert diff.diff and not grams.diff
    moved = mo.shift(diff, diff["cx"] + shift, diff["cy"] - shift / 2, diff["cd"] + shift / 3)
    a, why = q.alignment(grams)
    assume(not why)  # degenerate draws (equal rows) are exact only about a pilot in the data
    for m in (diff, moved):  # and invariant under the shift of all three blocks
        b, _ = q.alignment(m)
        for k in ("sim_gap", "rho", "r"):
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-12, nan_ok=True), k
    sq = q.squared_gaps(diff)
    for gap2, T in sq.values():  # T bounds the terms, so the gap with its rounding
        assert -1e-12 * T <= gap2 <= T * (1 + 1e-12)
