"""Tests of bounds.normalisers: O(N d^2) identities against the N x N slow twin, and the
closed forms at the NSCL optimum (simplex ETF)."""

import numpy as np
import pytest

from bounds import normalisers as nm


def _slow(X):
    """The obvious N x N computation of ||H Sigma H||_F and the std of triu(1 - Sigma)."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    Sig = U @ U.T
    N = len(X)
    H = np.eye(N) - np.ones((N, N)) / N
    K = H @ Sig @ H
    iu = np.triu_indices(N, k=1)
    return np.linalg.norm(K), np.std(1 - Sig[iu])


def _etf_features(N, C, d_extra=3, seed=0):
    """N samples in C balanced classes placed on a simplex ETF (plus random rotation)."""
    M = np.eye(C) - np.ones((C, C)) / C                  # class means of a simplex ETF
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(C + d_extra, C + d_extra)))
    M = np.hstack([M, np.zeros((C, d_extra))]) @ Q
    y = np.repeat(np.arange(C), N // C)
    return M[y] * rng.uniform(0.5, 2.0, size=(N, 1))     # scale must not matter


@pytest.mark.parametrize("seed", range(4))
def test_features_match_slow_twin(seed):
    rng = np.random.default_rng(seed)
    N, d = int(rng.integers(2, 120)), int(rng.integers(1, 20))
    X = rng.normal(size=(N, d)) + rng.normal(size=d)
    got = nm.features_normalisers(X)
    K, s = _slow(X)
    assert got["N_ref"] == N
    assert got["K_norm"] == pytest.approx(K, rel=1e-10)
    assert got["sigma_a"] == pytest.approx(s, rel=1e-9)


@pytest.mark.parametrize("N,C", [(20, 2), (60, 3), (100, 10), (90, 30)])
def test_etf_closed_forms_match_features(N, C):
    got = nm.features_normalisers(_etf_features(N, C))
    assert got["K_norm"] == pytest.approx(nm.etf_K_norm(N, C), rel=1e-10)
    assert got["sigma_a"] == pytest.approx(nm.etf_sigma_a(N, C), rel=1e-10)


def test_etf_broadcasting_and_hand_values():
    assert nm.etf_K_norm(100, 5) == 50.0
    assert nm.etf_sigma_a(4, 2) == pytest.approx(2 * np.sqrt(2 / 9))
    assert nm.etf_K_norm(np.array([100, 400])[:, None], np.array([2, 5, 17])).shape == (2, 3)


def test_degenerate_features_warn_and_nan():
    X = np.ones((5, 3))
    with pytest.warns(RuntimeWarning, match="sigma_a is 0"):
        out = nm.features_normalisers(X)
    assert np.isnan(out["sigma_a"])
    assert out["K_norm"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("X,match", [
    (np.ones(5), r"Expected features of shape \(N, d\)"),
    (np.ones((1, 3)), r"Expected features of shape \(N, d\) with N >= 2"),
    (np.array([[1.0, np.nan], [1.0, 2.0]]), "Expected finite features"),
    (np.array([[1.0, 0.0], [0.0, 0.0]]), "zero row at index 1"),
])
def test_feature_errors(X, match):
    with pytest.raises(ValueError, match=match):
        nm.features_normalisers(X)


def test_etf_errors():
    with pytest.raises(ValueError, match="Expected `N_ref` >= `C`, got N_ref=5, C=10"):
        nm.etf_K_norm(5, 10)
    with pytest.raises(ValueError, match="Expected `C` to be an integer >= 2, got 1"):
        nm.etf_sigma_a(5, 1)


def test_load_features(tmp_path):
    X = np.random.default_rng(0).normal(size=(7, 3))
    np.save(tmp_path / "f.npy", X)
    np.testing.assert_array_equal(nm.load_features(tmp_path / "f.npy"), X)
    with pytest.raises(ValueError, match="Expected a readable .npy feature file"):
        nm.load_features(tmp_path / "missing.npy")
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="Expected a readable .npy feature file"):
        nm.load_features(tmp_path / "bad.npy")


def test_rows_of_any_finite_scale_normalise():
    """Rows are scaled by powers of two before normalising: 1e-300 and 1e300 rows give the
    normalisers of unit rows (they used to read as zero rows, or overflow to inf), and
    rows of ordinary scale give bitwise the same values as without the scaling."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    ref = nm.features_normalisers(X)
    K, s = _slow(X)
    assert ref["K_norm"] == pytest.approx(K, rel=1e-10)
    scales = np.where(np.arange(30) % 3 == 0, 1e-300, np.where(np.arange(30) % 3 == 1, 1e300, 1.0))
    wide = nm.features_normalisers(X * scales[:, None])
    assert wide["K_norm"] == pytest.approx(ref["K_norm"], rel=1e-13)
    assert wide["sigma_a"] == pytest.approx(ref["sigma_a"], rel=1e-12)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert nm.features_normalisers(U) == nm.features_normalisers(U * 4.0)  # exact: 2^2


@pytest.mark.parametrize("X,match", [
    (np.array([["a", "b"], ["c", "d"]]), "got dtype <U1"),
    (np.ones((3, 2), complex), "got dtype complex128"),
    (np.ones((3, 2), bool), "got dtype bool"),
])
def test_non_real_features_are_refused(X, match):
    with pytest.raises(ValueError, match=r"^Expected `features` of real numbers .*" + match):
        nm.features_normalisers(X)


def test_unreadable_feature_files(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\(EOFError\)$"):
        nm.load_features(tmp_path / "empty.npy")
    np.savez(tmp_path / "a.npz", x=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\(an .npz archive\)$"):
        nm.load_features(tmp_path / "a.npz")
