"""Slow exact twins of the alignment metrics: N x N in extended precision (numpy longdouble).

``1 - cos(x_i, x_j)`` is taken as half the squared distance of the normalised rows, formed
entry by entry, so the reference has no cancellation near collapse; centred Grams are
``-H A H`` (``H 1 1^T H = 0``) and every gap is the norm of a difference formed first. With
80-bit long doubles (unit roundoff 5e-20) the reference is exact to well below 1e-12 for the
inputs of these tests. Shared as fixtures because the tests import in importlib mode.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

LD = np.longdouble


def _ld(X) -> np.ndarray:
    return np.asarray(X).astype(LD)


def _unit(X) -> np.ndarray:
    X = _ld(X)
    return X / np.sqrt((X * X).sum(axis=1, keepdims=True))


def _dissimilarities(U: np.ndarray) -> np.ndarray:
    D = U[:, None, :] - U[None, :, :]
    return (D * D).sum(axis=2) / 2  # 1 - cos, no cancellation against 1


def _centre(A: np.ndarray) -> np.ndarray:
    A = A - A.mean(axis=0, keepdims=True)
    return A - A.mean(axis=1, keepdims=True)


def _fro(A: np.ndarray) -> LD:
    return np.sqrt((A * A).sum())


def _pearson(a: np.ndarray, b: np.ndarray) -> LD:
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def reference(X, Y) -> dict[str, float]:
    """cka (cosine), cka_linear, rsa, sim_gap, rho, r, k_norm, sigma_a of X (CL) and Y."""
    A, B = _dissimilarities(_unit(X)), _dissimilarities(_unit(Y))
    K1, K2 = -_centre(A), -_centre(B)  # H Sigma H = -H A H
    Xc, Yc = _ld(X) - _ld(X).mean(axis=0), _ld(Y) - _ld(Y).mean(axis=0)
    L1, L2 = Xc @ Xc.T, Yc @ Yc.T  # centred raw Grams
    iu = np.triu_indices(A.shape[0], k=1)
    a, b = A[iu], B[iu]
    sd_a = np.sqrt(((a - a.mean()) ** 2).mean()) if a.size > 1 else LD("nan")  # 1 pair: none
    out = {
        "cka": (K1 * K2).sum() / (_fro(K1) * _fro(K2)),
        "cka_linear": (L1 * L2).sum() / (_fro(L1) * _fro(L2)),
        "rsa": _pearson(a, b) if a.size > 1 else LD("nan"),
        "sim_gap": _fro(A - B),
        "rho": _fro(_centre(A - B)) / _fro(K1),
        "r": np.sqrt(((b - a) ** 2).sum()) / (np.sqrt(LD(a.size)) * sd_a),
        "k_norm": _fro(K1),
        "a_norm": _fro(A),  # ||1 - Sigma(X)||_F, the scale of the similarity gap
        "sigma_a": sd_a,
    }
    return {k: float(v) for k, v in out.items()}


def assert_close(got: float, want: float, rel: float = 1e-9, abs_: float = 1e-12, what=""):
    """``|got - want| <= rel |want| + abs_`` (both finite), with a readable message."""
    assert math.isfinite(got), f"{what}: got {got}, want {want}"
    err = abs(got - want)
    assert err <= rel * abs(want) + abs_, (
        f"{what}: got {got!r}, want {want!r}, error {err:.2e} "
        f"(relative {err / abs(want) if want else float('inf'):.2e})"
    )


def one_point_collapse(eps: float, N: int = 200, d: int = 32, seed: int = 0, mix: float = 0.3):
    """Rows ``v + eps * noise``; the second set a small perturbation of the first."""
    g = np.random.default_rng(seed)
    v, n1, n2 = g.normal(size=d), g.normal(size=(N, d)), g.normal(size=(N, d))
    return v + eps * n1, v + eps * (n1 + mix * n2)


def class_collapse(eps: float, shared: bool, C: int = 5, N: int = 200, d: int = 32, seed=1):
    """Rows ``centre[class] + eps * noise``; Y shares X's centres (``shared``) or moves them."""
    g = np.random.default_rng(seed)
    centres, labels = g.normal(size=(C, d)), np.arange(N) % C
    n1, n2 = g.normal(size=(N, d)), g.normal(size=(N, d))
    X = centres[labels] + eps * n1
    if shared:
        return X, centres[labels] + eps * (n1 + 0.3 * n2)
    return X, (centres + 0.3 * g.normal(size=(C, d)))[labels] + eps * n2


@pytest.fixture(scope="session")
def ref():
    """The reference and the case builders, as one namespace."""
    if np.finfo(LD).eps > 1e-18:  # e.g. a platform whose long double is float64
        pytest.skip("numpy.longdouble is not an extended precision type here")
    return SimpleNamespace(
        reference=reference,
        assert_close=assert_close,
        one_point_collapse=one_point_collapse,
        class_collapse=class_collapse,
        dissimilarities=lambda X: _dissimilarities(_unit(X)),
    )
