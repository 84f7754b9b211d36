"""Tests for empirics.metrics.functional: exact O(N d^2) metrics against brute-force N x N twins."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

import empirics.metrics.functional as functional
from empirics.metrics import (
    SPEARMAN_BYTES_PER_PAIR,
    alignment,
    cka,
    r,
    representation_angle,
    rho,
    rsa,
    similarity_gap,
)


# ----------------------------------------------------------------------------- N x N twins
def _unit(Z):
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def _gram(Z, kind):
    Z = _unit(Z) if kind == "cosine" else Z
    return Z @ Z.T


def _centre(G):
    N = G.shape[0]
    H = np.eye(N) - np.ones((N, N)) / N
    return H @ G @ H


def bf_cka(X, Y, kind="cosine"):
    K, L = _centre(_gram(X, kind)), _centre(_gram(Y, kind))
    return np.sum(K * L) / (np.linalg.norm(K) * np.linalg.norm(L))


def bf_hsic_unbiased(K, L):
    """torch-cka's ``_HSIC`` (Nguyen et al. 2021 Eq. 3) on zero-diagonal Grams, in numpy."""
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    N = K.shape[0]
    ones = np.ones((N, 1))
    result = np.trace(K @ L)
    result += (ones.T @ K @ ones @ ones.T @ L @ ones).item() / ((N - 1) * (N - 2))
    result -= (ones.T @ K @ L @ ones).item() * 2 / (N - 2)
    return result / (N * (N - 3))


def bf_cka_unbiased(X, Y, kind="cosine"):
    K, L = _gram(X, kind), _gram(Y, kind)
    return bf_hsic_unbiased(K, L) / math.sqrt(bf_hsic_unbiased(K, K) * bf_hsic_unbiased(L, L))


def _upper(Z):
    S = _gram(Z, "cosine")
    return 1.0 - S[np.triu_indices(S.shape[0], k=1)]


def bf_rsa(X, Y):
    return np.corrcoef(_upper(X), _upper(Y))[0, 1]


def bf_sim_gap(X, Y):
    return np.linalg.norm(_gram(X, "cosine") - _gram(Y, "cosine"))


def bf_rho(X, Y):
    K1, K2 = _centre(_gram(X, "cosine")), _centre(_gram(Y, "cosine"))
    return np.linalg.norm(K1 - K2) / np.linalg.norm(K1)


def bf_r(X, Y):
    a, b = _upper(X), _upper(Y)
    return np.linalg.norm(b - a) / (math.sqrt(a.size) * a.std())  # population std (ddof=0)


def _pair(seed, N=60, d=7, e=5, noise=1.0, shift=0.0):
    g = np.random.default_rng(seed)
    X = g.normal(size=(N, d)) + shift
    Y = np.tanh(X @ g.normal(size=(d, e))) + noise * g.normal(size=(N, e)) + shift
    return X, Y


CASES = [
    dict(seed=0),
    dict(seed=1, N=200, d=16, e=16, noise=0.1),
    dict(seed=2, N=33, d=3, e=40, noise=2.0),
    dict(seed=3, N=80, d=10, e=6, noise=0.3, shift=3.0),  # large means (ReLU-like features)
]


# ----------------------------------------------------------------------------- fast == brute
@pytest.mark.parametrize("case", CASES)
def test_metrics_equal_bruteforce(case):
    X, Y = _pair(**case)
    rt = dict(rel=1e-10, abs=0)
    assert cka(X, Y) == pytest.approx(bf_cka(X, Y), **rt)
    assert cka(X, Y, "linear") == pytest.approx(bf_cka(X, Y, "linear"), **rt)
    assert cka(X, Y, unbiased=True) == pytest.approx(bf_cka_unbiased(X, Y), **rt)
    assert cka(X, Y, "linear", unbiased=True) == pytest.approx(
        bf_cka_unbiased(X, Y, "linear"), **rt
    )
    assert rsa(X, Y) == pytest.approx(bf_rsa(X, Y), **rt)
    assert rsa(X, Y, "spearman") == pytest.approx(spearmanr(_upper(X), _upper(Y))[0], **rt)
    assert similarity_gap(X, Y) == pytest.approx(bf_sim_gap(X, Y), **rt)
    assert rho(X, Y) == pytest.approx(bf_rho(X, Y), **rt)
    assert r(X, Y) == pytest.approx(bf_r(X, Y), **rt)
    assert representation_angle(X, Y) == pytest.approx(math.degrees(math.acos(bf_cka(X, Y))), **rt)
    S1, S2 = _gram(X, "cosine"), _gram(Y, "cosine")
    uncentred = np.sum(S1 * S2) / (np.linalg.norm(S1) * np.linalg.norm(S2))
    assert representation_angle(X, Y, centered=False) == pytest.approx(
        math.degrees(math.acos(uncentred)), **rt
    )


def test_alignment_dict_matches_the_functions():
    X, Y = _pair(5)
    out = alignment(X, Y)
    assert out["cka"] == out["cka_cosine"] == pytest.approx(cka(X, Y), rel=1e-13)
    assert out["cka_linear"] == pytest.approx(cka(X, Y, "linear"), rel=1e-13)
    assert out["cka_kind"] == "cosine"
    assert alignment(X, Y, kind="linear")["cka"] == out["cka_linear"]
    for key, fn in (("rsa", rsa), ("sim_gap", similarity_gap), ("rho", rho), ("r", r)):
        assert out[key] == pytest.approx(fn(X, Y), rel=1e-13)
    a = _upper(X)
    assert out["sigma_a"] == pytest.approx(a.std(), rel=1e-10)
    assert out["k_norm"] == pytest.approx(np.linalg.norm(_centre(_gram(X, "cosine"))), rel=1e-10)
    assert out["M"] == 60 * 59 // 2 and out["n"] == 60
    assert out["cka_lower_from_rho"] == (0.0 if out["rho"] >= 1 else pytest.approx(
        (1 - out["rho"]) / (1 + out["rho"])))  # fmt: skip


# ----------------------------------------------------------------------------- invariances
def test_invariances_rotation_scaling_symmetry_range():
    g = np.random.default_rng(4)
    X = g.normal(size=(50, 6))
    Q = np.linalg.qr(g.normal(size=(6, 6)))[0]
    for Z in (X @ Q, 7.5 * X, 0.01 * X @ Q):
        assert cka(X, Z) == pytest.approx(1.0, abs=1e-12)
        assert cka(X, Z, "linear") == pytest.approx(1.0, abs=1e-12)
        assert rsa(X, Z) == pytest.approx(1.0, abs=1e-12)
        assert similarity_gap(X, Z) == pytest.approx(0.0, abs=1e-6)
        assert rho(X, Z) == pytest.approx(0.0, abs=1e-6)
        assert representation_angle(X, Z) == pytest.approx(0.0, abs=1e-4)
    # linear CKA is also invariant to translating the features; cosine CKA is not
    assert cka(X, X + 3.0, "linear") == pytest.approx(1.0, abs=1e-12)
    assert cka(X, X + 3.0) < 0.99
    # per-row positive scaling changes nothing under the cosine kinds
    s = g.uniform(0.1, 10, size=(50, 1))
    assert cka(X, s * X) == pytest.approx(1.0, abs=1e-12)
    for seed in range(3):
        A, B = _pair(seed + 10, N=40, noise=3.0)
        for fn in (cka, rsa, similarity_gap, representation_angle):
            assert fn(A, B) == pytest.approx(fn(B, A), rel=1e-12)
        assert 0.0 <= cka(A, B) <= 1.0 and 0.0 <= cka(A, B, "linear") <= 1.0
        assert -1.0 <= rsa(A, B) <= 1.0 and -1.0 <= rsa(A, B, "spearman") <= 1.0
        assert 0.0 <= representation_angle(A, B) <= 90.0
    # rho and r are normalised by the FIRST argument (CL): not symmetric in general
    A, B = _pair(20, noise=2.0)
    assert rho(A, B) != pytest.approx(rho(B, A), rel=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    N=st.integers(4, 30),
    d=st.integers(1, 6),
    noise=st.floats(0.0, 3.0),
)
def test_corollary_inequalities_hold_for_any_features(seed, N, d, noise):
    """THEORY.md s7: CKA >= (1-rho)/(1+rho) and RSA >= (1-r)/(1+r) for ANY two feature sets."""
    g = np.random.default_rng(seed)
    X = g.normal(size=(N, d))
    Y = X @ g.normal(size=(d, d)) + noise * g.normal(size=(N, d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate draws give NaN: skipped
        out = alignment(X, Y)
    if math.isfinite(out["rho"]) and math.isfinite(out["cka"]) and out["rho"] < 1:
        assert out["cka"] >= (1 - out["rho"]) / (1 + out["rho"]) - 1e-12
    if math.isfinite(out["r"]) and math.isfinite(out["rsa"]) and out["r"] < 1:
        assert out["rsa"] >= (1 - out["r"]) / (1 + out["r"]) - 1e-12


def test_corollary_bounds_are_tight_enough_to_bite():
    # near-identical representations: rho, r small, the lower bounds close to the truth
    X, _ = _pair(6, N=100)
    Y = X + 0.01 * np.random.default_rng(0).normal(size=X.shape)
    out = alignment(X, Y)
    assert out["rho"] < 0.05 and out["r"] < 0.05
    assert 0.9 < out["cka_lower_from_rho"] <= out["cka"] <= 1.0
    assert 0.9 < out["rsa_lower_from_r"] <= out["rsa"] <= 1.0


# ----------------------------------------------------------------------------- inputs
def test_numpy_and_torch_inputs_give_identical_results():
    X, Y = _pair(7, N=70)
    Xt, Yt = torch.from_numpy(X.copy()), torch.from_numpy(Y.copy())
    for fn in (cka, rsa, similarity_gap, rho, r, representation_angle):
        assert fn(X, Y) == fn(Xt, Yt)
    assert cka(X, Y, "linear", unbiased=True) == cka(Xt, Yt, "linear", unbiased=True)
    assert rsa(X, Y, "spearman") == rsa(Xt, Yt, "spearman")
    # float32 inputs are accumulated in float64: equal to the float64 run on the same values
    X32 = X.astype(np.float32)
    assert cka(X32, Y) == cka(X32.astype(np.float64), Y)
    assert cka(torch.from_numpy(X32), Y) == cka(X32, Y)


def test_spearman_memory_guard_and_seeded_subsample():
    X, Y = _pair(8, N=300)
    M = 300 * 299 // 2
    with pytest.raises(ValueError, match=r"max_memory=1000000 bytes"):
        rsa(X, Y, "spearman", max_memory=1_000_000)
    assert SPEARMAN_BYTES_PER_PAIR * M > 1_000_000
    a = rsa(X, Y, "spearman", subsample=40, seed=3)
    assert a == rsa(X, Y, "spearman", subsample=40, seed=3, max_memory=1_000_000)
    assert a != rsa(X, Y, "spearman", subsample=40, seed=4)
    idx = np.sort(np.random.default_rng(3).choice(300, size=40, replace=False))
    assert a == pytest.approx(spearmanr(_upper(X[idx]), _upper(Y[idx]))[0], rel=1e-10)
    assert rsa(X, Y, subsample=40, seed=3) == pytest.approx(bf_rsa(X[idx], Y[idx]), rel=1e-10)


def test_spearman_blocks_cover_all_pairs(monkeypatch):
    import empirics.metrics.spearman as spearman

    X, Y = _pair(9, N=41)
    want = rsa(X, Y, "spearman")
    monkeypatch.setattr(spearman, "_SPEARMAN_BLOCK", 50)  # many small blocks
    assert rsa(X, Y, "spearman") == pytest.approx(want, rel=1e-14)


# ----------------------------------------------------------------------------- degenerate
def test_zero_row_gives_nan_and_warning_under_cosine_kinds():
    X, Y = _pair(10, N=20)
    X[3] = 0.0
    for fn in (cka, rsa, similarity_gap, rho, r, representation_angle):
        with pytest.warns(RuntimeWarning, match="zero rows"):
            assert math.isnan(fn(X, Y))
    with pytest.warns(RuntimeWarning, match="zero rows"):
        assert math.isnan(rsa(X, Y, "spearman"))
    assert math.isfinite(cka(X, Y, "linear"))  # raw features: a zero row is fine


def test_constant_features_give_nan_and_warning():
    X, Y = _pair(11, N=20)
    C = np.tile(np.array([[1.0, 2.0, 3.0]]), (20, 1))
    with pytest.warns(RuntimeWarning, match="zero variance"):
        assert math.isnan(cka(C, Y))
    with pytest.warns(RuntimeWarning, match="zero variance"):
        assert math.isnan(cka(C, Y, "linear"))
    with pytest.warns(RuntimeWarning, match="zero variance"):
        assert math.isnan(rsa(C, Y))
    with pytest.warns(RuntimeWarning, match="constant"):
        assert math.isnan(rsa(C, Y, "spearman"))
    with pytest.warns(RuntimeWarning, match="K_CL = 0"):
        assert math.isnan(rho(C, Y))
    with pytest.warns(RuntimeWarning, match="zero variance"):
        assert math.isnan(r(C, Y))
    assert math.isfinite(rho(Y, C)) and math.isfinite(similarity_gap(C, Y))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda X, Y: cka(X, Y[:-1]), ValueError, r"\(20, 4\) and \(19, 3\)"),
        (lambda X, Y: rsa(X[:-1], Y), ValueError, r"\(19, 4\) and \(20, 3\)"),
        (lambda X, Y: similarity_gap(X, Y[:5]), ValueError, "same number of rows"),
        (lambda X, Y: cka(X.tolist(), Y), TypeError, "numpy array or torch tensor"),
        (lambda X, Y: cka(X[:, 0], Y), ValueError, r"shape \(N, d\)"),
        (lambda X, Y: cka(X[:, :0], Y), ValueError, "at least one column"),
        (lambda X, Y: cka(X.astype(complex), Y), TypeError, "real-valued"),
        (lambda X, Y: cka(X[:1], Y[:1]), ValueError, "at least 2 rows"),
        (lambda X, Y: cka(X[:3], Y[:3], unbiased=True), ValueError, "at least 4 rows"),
        (lambda X, Y: cka(X, Y, "rbf"), ValueError, "kind"),
        (lambda X, Y: rsa(X, Y, "kendall"), ValueError, "method"),
        (lambda X, Y: rsa(X, Y, "spearman", max_memory=0), ValueError, "max_memory"),
        (lambda X, Y: rsa(X, Y, subsample=1), ValueError, "subsample"),
        (lambda X, Y: rsa(X, Y, subsample=2.5), TypeError, "subsample"),
        (lambda X, Y: representation_angle(X, Y, kind="x"), ValueError, "kind"),
        (lambda X, Y: cka(np.where(X > 1, np.nan, X), Y), ValueError, "finite"),
        (lambda X, Y: rsa(np.where(X > 1, np.inf, X), Y, "spearman"), ValueError, "finite"),
    ],
)
def test_invalid_inputs_raise(call, exc, match):
    X, Y = _pair(12, N=20, d=4, e=3)
    with pytest.raises(exc, match=match):
        call(X, Y)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inputs_equal_cpu():
    X, Y = _pair(13, N=100)
    Xc, Yc = torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda()
    for fn in (cka, rsa, similarity_gap, rho, r):
        assert fn(Xc, Yc) == pytest.approx(fn(X, Y), rel=1e-10)


# ----------------------------------------------------------------------------- exact gaps
# the factor fallback: exact gaps from a Householder factor against the long-double twin
@pytest.mark.parametrize("case", ["rotation", "shared-classes", "far", "d>N"])
def test_exact_gaps_equal_the_long_double_twin(case, ref, monkeypatch):
    g = np.random.default_rng(0)
    if case == "rotation":
        X = g.normal(size=(60, 6))
        Y = X @ np.linalg.qr(g.normal(size=(6, 6)))[0] + 1e-9 * g.normal(size=(60, 6))
    elif case == "shared-classes":
        X, Y = ref.class_collapse(1e-6, shared=True, N=60)
    elif case == "far":
        X, Y = g.normal(size=(60, 6)), g.normal(size=(60, 4))
    else:
        X, Y = g.normal(size=(10, 30)), g.normal(size=(10, 20))
    monkeypatch.setattr(functional, "_CHUNK_ROWS", 7)  # several QR steps, chunks smaller than P
    sim, k = functional.exact_gaps(torch.from_numpy(X), torch.from_numpy(Y))
    want = ref.reference(X, Y)
    ref.assert_close(sim, want["sim_gap"], abs_=1e-13 * want["a_norm"], what="sim_gap")
    ref.assert_close(k / want["k_norm"], want["rho"], abs_=1e-13, what="rho")


def test_poorly_conditioned_means_far_below_the_scale():
    poorly = functional.poorly_conditioned
    assert poorly(1e-7, 1.0) and not poorly(1e-3, 1.0) and not poorly(float("nan"), 1.0)
