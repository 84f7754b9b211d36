"""Alignment metrics between two representations (THEORY.md s7), exact in O(N d^2).

``X`` and ``Y`` are features ``(N, d)`` and ``(N, e)`` of the same ``N`` samples (rows),
numpy arrays or torch tensors (any device), accumulated in float64. ``X`` is the CL model and
``Y`` the NSCL model where the order matters (``rho``, ``r``: normalised by ``X``).

Two CKA conventions (always say which a number uses):

- ``kind="cosine"`` -- the theory's ([P2] Corollary, THEORY.md s7): linear CKA of the
  row-L2-normalised features, i.e. of the centred cosine Gram ``K = H Sigma H``;
- ``kind="linear"`` -- the paper code's: linear CKA of the raw features.

CKA, RSA-Pearson, the similarity gap, ``rho``, ``r`` and the representation angle use the
d x d Gram identities of :mod:`empirics.accumulator` (never an N x N matrix); RSA-Spearman
needs global ranks, so it materialises the ``N(N-1)/2`` pairs in chunks under a memory guard.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.stats import rankdata

from empirics._array import as_features, check_pair
from empirics.accumulator import (
    AlignmentAccumulator,
    _cosine_ok,
    cka_from_moments,
    compute_from_moments,
)

__all__ = [
    "AlignmentAccumulator",
    "alignment",
    "cka",
    "rsa",
    "similarity_gap",
    "rho",
    "r",
    "representation_angle",
    "SPEARMAN_MAX_MEMORY",
    "SPEARMAN_BYTES_PER_PAIR",
]

SPEARMAN_MAX_MEMORY = 2**30  # default guard for rsa(method="spearman"): 1 GiB
SPEARMAN_BYTES_PER_PAIR = 48  # a and b (float64) + the ranking's temporaries, per pair
_SPEARMAN_BLOCK = 1 << 22  # entries per materialised block of cosines


def _pair(X, Y, min_rows: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    X, Y = as_features(X, "X"), as_features(Y, "Y")
    check_pair(X, Y)
    if X.shape[0] < min_rows:
        raise ValueError(f"Expected at least {min_rows} rows in `X` and `Y`, got N={X.shape[0]}")
    return X, Y


def _moments(X, Y, *, linear: bool = False, min_rows: int = 2) -> AlignmentAccumulator:
    X, Y = _pair(X, Y, min_rows)
    return AlignmentAccumulator(linear=linear).update(X, Y)


def _check_kind(kind: object) -> str:
    if kind not in ("cosine", "linear"):
        raise ValueError(f"Expected `kind` in ('cosine', 'linear'), got {kind!r}")
    return str(kind)


def cka(X, Y, kind: str = "cosine", unbiased: bool = False) -> float:
    """Linear CKA ``<K_X, K_Y>_F / (||K_X||_F ||K_Y||_F)``, ``K = H Z Z^T H``.

    [P2] Corollary (THEORY.md s7) [stated] for ``kind="cosine"`` (``Z`` = row-normalised
    features, so ``K = H Sigma H``); ``kind="linear"`` uses raw ``Z`` as the paper's code.
    Computed as ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` in ``O(N d^2)``.
    ``unbiased=True`` uses the unbiased HSIC estimator of Song et al. (2012) on the zero-
    diagonal Gram matrices, as torch-cka does (Nguyen et al. 2021, Eq. 3); it needs N >= 4
    and may leave [0, 1] slightly.

    Args:
        X: ``(N, d)``; Y: ``(N, e)``; kind: ``"cosine"`` or ``"linear"``; unbiased: bool.

    Returns:
        float in [0, 1] (biased); NaN plus ``RuntimeWarning`` for a zero row (cosine) or a
        constant feature set.

    Raises:
        ValueError: different row counts (naming both shapes), N < 2 (N < 4 unbiased), bad
            ``kind``. TypeError: not an array/tensor.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> round(cka(X, 3.0 * X), 12), round(cka(X, X @ np.linalg.qr(X[:4])[0], "linear"), 12)
        (1.0, 1.0)
    """
    kind = _check_kind(kind)
    acc = _moments(X, Y, linear=kind == "linear", min_rows=4 if unbiased else 2)
    m = acc._raw if kind == "linear" else acc._cos
    if kind == "cosine" and not _cosine_ok(m, "cka"):
        return float("nan")
    return cka_from_moments(m, unbiased=bool(unbiased))


_WARNING_PREFIX = {"sim_gap": "\0", "rho": "rho:", "r": "r:", "rsa": "RSA:"}


def _cosine_metric(X, Y, key: str) -> float:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute_from_moments(_moments(X, Y)._cos)
    # re-emit only the warnings that explain this quantity's NaN
    for w in caught:
        msg = str(w.message)
        if "zero rows" in msg or msg.startswith(_WARNING_PREFIX[key]):
            warnings.warn(msg.replace("alignment metrics", key), RuntimeWarning, stacklevel=3)
    return out[key]


def alignment(X, Y, *, kind: str = "cosine", unbiased: bool = False) -> dict:
    """Every alignment quantity at once (one pass): the dict of ``AlignmentAccumulator.compute``.

    Example:
        >>> X = np.random.default_rng(1).normal(size=(30, 3))
        >>> sorted(k for k in alignment(X, X) if k in ("cka", "rsa", "sim_gap", "rho", "r"))
        ['cka', 'r', 'rho', 'rsa', 'sim_gap']
    """
    kind = _check_kind(kind)
    X, Y = _pair(X, Y, 4 if unbiased else 2)
    return AlignmentAccumulator(kind, unbiased=bool(unbiased)).update(X, Y).compute()


def similarity_gap(X, Y) -> float:
    """``||Sigma(X) - Sigma(Y)||_F`` over all ``N x N`` cosine entries ([P2] Theorem 1's LHS).

    ``= sqrt(||Xn^T Xn||_F^2 + ||Yn^T Yn||_F^2 - 2 ||Xn^T Yn||_F^2)`` (THEORY.md s6-7), ``Xn``
    row-normalised; ``O(N d^2)``.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> similarity_gap(X, 2.0 * X) < 1e-6
        True
    """
    return _cosine_metric(X, Y, "sim_gap")


def rho(X_cl, Y_nscl) -> float:
    """``rho = ||K_CL - K_NSCL||_F / ||K_CL||_F``, ``K = H Sigma H`` ([P2] Corollary, THEORY.md s7).

    If ``rho < 1`` then ``cka(X_cl, Y_nscl) >= (1 - rho)/(1 + rho)`` (for any features).

    Example:
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> rho(X, X)
        0.0
    """
    return _cosine_metric(X_cl, Y_nscl, "rho")


def r(X_cl, Y_nscl) -> float:
    """``r = ||b - a||_2 / (sqrt(M) sigma_a)`` ([P2] Corollary, THEORY.md s7).

    ``a``, ``b``: strictly upper-triangular entries of ``1 - Sigma`` for CL and NSCL,
    ``M = N(N-1)/2``, ``sigma_a`` the population standard deviation of ``a``. If ``r < 1``
    then ``rsa(X_cl, Y_nscl) >= (1 - r)/(1 + r)``.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> r(X, X)
        0.0
    """
    return _cosine_metric(X_cl, Y_nscl, "r")


def representation_angle(X, Y, *, kind: str = "cosine", centered: bool = True) -> float:
    """Angle in degrees between two representations' Gram matrices ([P2] Fig. 1 analogue).

    Definition (the paper does not give its formula; THEORY.md s12 reports about 28 degrees
    next to CKA about 0.87, and ``arccos(0.87) = 29.5`` degrees): the angle between the
    centred cosine Gram matrices seen as vectors of ``R^{N x N}``,
    ``theta = arccos(<K_X, K_Y>_F / (||K_X||_F ||K_Y||_F)) = arccos(CKA_cosine)``.
    ``kind="linear"`` uses the raw-feature Grams (``arccos`` of the paper code's CKA);
    ``centered=False`` uses the uncentred cosine Grams ``Sigma`` (no ``H``):
    ``arccos(||Xn^T Yn||_F^2 / (||Xn^T Xn||_F ||Yn^T Yn||_F))``. All ``O(N d^2)``.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(40, 5))
        >>> representation_angle(X, X) < 1e-5
        True
    """
    kind = _check_kind(kind)
    if centered:
        value = cka(X, Y, kind)
    else:
        acc = _moments(X, Y, linear=kind == "linear")
        m = acc._raw if kind == "linear" else acc._cos
        if kind == "cosine" and not _cosine_ok(m, "representation_angle"):
            return float("nan")
        gxx, gyy, gxy = (float((m[k] * m[k]).sum()) for k in ("Gxx", "Gyy", "Gxy"))
        value = gxy / math.sqrt(gxx * gyy)
    if not math.isfinite(value):
        return float("nan")
    return math.degrees(math.acos(min(1.0, max(-1.0, value))))


# ----------------------------------------------------------------------------- RSA
def _spearman_pairs(Xn: np.ndarray) -> np.ndarray:
    """The strictly upper-triangular entries of ``1 - Xn Xn^T``, row-major, in blocks."""
    N = Xn.shape[0]
    out = np.empty(N * (N - 1) // 2, dtype=np.float64)
    pos, i = 0, 0
    while i < N - 1:
        rows = max(1, min(N - 1 - i, _SPEARMAN_BLOCK // max(1, N - i)))
        block = 1.0 - Xn[i : i + rows] @ Xn[i:].T  # (rows, N - i)
        iu = np.triu_indices(rows, k=1, m=N - i)
        vals = block[iu]
        out[pos : pos + vals.size] = vals
        pos, i = pos + vals.size, i + rows
    return out


def _normalised_rows(Z: torch.Tensor, name: str) -> np.ndarray | None:
    z = Z.to("cpu", torch.float64).numpy()
    norms = np.linalg.norm(z, axis=1)
    if not np.isfinite(z).all():
        raise ValueError(f"Expected finite values in `{name}`, got NaN or inf")
    if (norms == 0).any():
        warnings.warn(
            f"rsa: cosine similarity is undefined for the {int((norms == 0).sum())} zero rows "
            f"of `{name}`; returning NaN",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    return z / norms[:, None]


def _spearman(X: torch.Tensor, Y: torch.Tensor, max_memory: int) -> float:
    N = X.shape[0]
    M = N * (N - 1) // 2
    need = SPEARMAN_BYTES_PER_PAIR * M
    if need > max_memory:
        raise ValueError(
            f"rsa(method='spearman') on N={N} rows ranks M={M} pairs and needs about "
            f"{need / 2**20:.0f} MiB, over the limit max_memory={max_memory} bytes "
            f"({max_memory / 2**20:.0f} MiB); pass subsample=n with a seed, or raise max_memory"
        )
    Xn, Yn = _normalised_rows(X, "X"), _normalised_rows(Y, "Y")
    if Xn is None or Yn is None:
        return float("nan")
    ra = rankdata(_spearman_pairs(Xn))  # average ranks for ties
    rb = rankdata(_spearman_pairs(Yn))
    mean = (M + 1) / 2.0  # the mean of average ranks is exact
    ra -= mean
    rb -= mean
    va, vb = float(ra @ ra), float(rb @ rb)
    if not (va > 0 and vb > 0):
        warnings.warn(
            "rsa: the dissimilarities of X or Y are constant; returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(ra @ rb) / math.sqrt(va * vb)


def rsa(
    X,
    Y,
    method: str = "pearson",
    *,
    subsample: int | None = None,
    seed: int = 0,
    max_memory: int = SPEARMAN_MAX_MEMORY,
) -> float:
    """Representational similarity: correlation of the upper triangles of ``1 - Sigma``.

    ``method="pearson"`` is the theory's RSA ([P2] Corollary, THEORY.md s7 [stated]), exact in
    ``O(N d^2)`` from Gram moments: with ``s_ij`` the cosines,
    ``sum_{i<j} s_ij = (|sum_i x_i|^2 - N)/2``, ``sum_{i<j} s_ij^2 = (||Xn^T Xn||_F^2 - N)/2``,
    ``sum_{i<j} s_ij t_ij = (||Xn^T Yn||_F^2 - N)/2``. ``method="spearman"`` (tie-averaged
    ranks) must materialise all ``M = N(N-1)/2`` pairs: it does so in blocks and refuses, with a
    ``ValueError`` naming the limit, when ``48 M`` bytes exceed ``max_memory``.

    Args:
        X, Y: ``(N, d)``, ``(N, e)``.
        method: ``"pearson"`` or ``"spearman"``.
        subsample: if given, use this many rows drawn without replacement with ``seed``
            (explicit only; never applied silently).
        seed: seed of ``numpy.random.default_rng`` for ``subsample``.
        max_memory: the Spearman memory guard, in bytes (default 1 GiB).

    Example:
        >>> X = np.random.default_rng(0).normal(size=(30, 4))
        >>> round(rsa(X, 5 * X), 12), round(rsa(X, 5 * X, "spearman"), 12)
        (1.0, 1.0)
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"Expected `method` in ('pearson', 'spearman'), got {method!r}")
    if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory <= 0:
        raise ValueError(f"Expected `max_memory` > 0 (bytes, int), got {max_memory!r}")
    X, Y = _pair(X, Y)
    if subsample is not None:
        N = X.shape[0]
        if isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer)):
            raise TypeError(f"Expected `subsample` to be an int, got {type(subsample).__name__}")
        if not 2 <= subsample <= N:
            raise ValueError(f"Expected 2 <= `subsample` <= N={N}, got {subsample!r}")
        idx = np.sort(np.random.default_rng(seed).choice(N, size=int(subsample), replace=False))
        t = torch.from_numpy(idx)
        X, Y = X[t.to(X.device)], Y[t.to(Y.device)]
    if method == "spearman":
        return _spearman(X, Y, max_memory)
    return _cosine_metric(X, Y, "rsa")
