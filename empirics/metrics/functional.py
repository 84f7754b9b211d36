"""Alignment metrics between two representations (THEORY.md s7), exact in O(N d^2).

``X`` and ``Y`` are features ``(N, d)`` and ``(N, e)`` of the same ``N`` samples (rows),
numpy arrays or torch tensors (any device and real dtype), computed in float64. ``X`` is the
CL model and ``Y`` the NSCL model where the order matters (``rho``, ``r``: normalised by X).

Two CKA conventions (always say which a number uses):

- ``kind="cosine"`` -- the theory's ([P2] Corollary, THEORY.md s7): linear CKA of the
  row-L2-normalised features, i.e. of the centred cosine Gram ``K = H Sigma H``;
- ``kind="linear"`` -- the paper code's: linear CKA of the raw features.

Each function reduces its inputs to shifted moments (:func:`empirics.metrics.moments.
accumulate`) and evaluates one pure function of them (:mod:`empirics.metrics.quantities`);
no N x N matrix is formed, except by RSA-Spearman (:mod:`empirics.metrics.spearman`).
A NaN comes with one ``RuntimeWarning`` saying why.

**Exact gaps between nearly identical representations** (the one-shot fallback,
:func:`exact_gaps`; THEORY.md s7). From Gram moments a gap is a difference of squares, e.g.
``||K_X - K_Y||^2 = ||Cxx||^2 + ||Cyy||^2 - 2 ||Cxy||^2``; when ``K_Y`` is close to ``K_X`` (a
rotation, or the same class geometry with small within-class differences) the rounding of
the moments, about ``1e-16`` of ``||K||^2``, leaves the gap known only to about
``1e-8 ||K||``. Difference moments (``d == e``) remove that floor except where the gap
cancels within the differences themselves (a rotation ``X W``: about
``1e-8 |W - I| ||K||``). A triangular factor has no floor: with ``P = [1, W, Z, g, h]`` (the
centred unit rows of X and Y about one pilot, and ``g = |w|^2``, ``h = |z|^2``) and ``P = Q R``
(Householder, column-wise backward stable, built chunk by chunk as ``qr([R; P_chunk])``):

- ``A_X - A_Y = P Omega P^T`` for the dissimilarities ``a_ij = (g_i + g_j)/2 - w_i.w_j``, with
  ``Omega`` pairing ``1`` with ``(g - h)/2`` and ``-I``, ``+I`` on W, Z; so
  ``||Sigma(X) - Sigma(Y)||_F = ||R Omega R^T||_F``, a norm of a difference formed entry by
  entry;
- the ones column comes first, so ``R[1:, 1:]`` is the factor of the *centred* columns and
  ``||K_X - K_Y||_F = ||R_W R_W^T - R_Z R_Z^T||_F`` with ``R_W = R[1:, W]``, ``R_Z = R[1:, Z]``.

Both are exact to about ``1e-16`` of the scale, so a zero gap comes out as about ``1e-16``,
not ``1e-8``. Cost ``O(N (d + e)^2)`` (about 3x the moments), paid only when the moments say
the gap is poorly conditioned (:data:`GAP_RTOL`) and the features are at hand. With
difference moments (cosine, ``d == e``; :mod:`empirics.metrics.quantities`) that is only a
gap that cancels within the differences (a rotation); without them (``d != e``) every gap
far below the scale of ``Sigma``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from empirics.metrics import quantities
from empirics.metrics._array import as_features, check_pair
from empirics.metrics.moments import Moments, accumulate, centred_unit_rows, checked_norms
from empirics.metrics.spearman import SPEARMAN_MAX_MEMORY, spearman_rsa

__all__ = [
    "GAP_RTOL",
    "alignment",
    "cka",
    "r",
    "representation_angle",
    "rho",
    "rsa",
    "exact_gaps",
    "similarity_gap",
]

GAP_RTOL = 1e-5  # a squared gap below this share of its scale is recomputed from R
_CHUNK_ROWS = 8192


def _factor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``R`` of ``P = [1, W, Z, g, h]`` over all rows (TSQR in chunks), float64."""
    R = px = py = None
    for i in range(0, x.shape[0], _CHUNK_ROWS):
        xc = x[i : i + _CHUNK_ROWS].to(torch.float64)
        yc = y[i : i + _CHUNK_ROWS].to(torch.float64)
        w, px, _ = centred_unit_rows(xc, *checked_norms(xc, "`X` and `Y`"), px)
        z, py, _ = centred_unit_rows(yc, *checked_norms(yc, "`X` and `Y`"), py)
        g = torch.linalg.vector_norm(w, dim=1).square_()[:, None]
        h = torch.linalg.vector_norm(z, dim=1).square_()[:, None]
        P = torch.cat((torch.ones_like(g), w, z, g, h), dim=1)
        R = torch.linalg.qr(P if R is None else torch.cat((R, P)), mode="r").R
    return R


def exact_gaps(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``||Sigma(X) - Sigma(Y)||_F`` and ``||K_X - K_Y||_F`` from a Householder factor.

    Args:
        x, y: ``(N, d)``, ``(N, e)`` features without zero rows (checked by the caller).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(40, 5, generator=g, dtype=torch.float64)
        >>> Q = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64)).Q
        >>> [v < 1e-13 for v in exact_gaps(X, X @ Q)]  # a rotation: both gaps are 0
        [True, True]
    """
    d, e = x.shape[1], y.shape[1]
    R = _factor(x, y)
    W, Z, g, h = slice(1, 1 + d), slice(1 + d, 1 + d + e), 1 + d + e, 2 + d + e
    RO = torch.zeros_like(R)  # R Omega, column by column
    RO[:, 0] = (R[:, g] - R[:, h]) / 2.0
    RO[:, W] = -R[:, W]
    RO[:, Z] = R[:, Z]
    RO[:, g] = R[:, 0] / 2.0
    RO[:, h] = -R[:, 0] / 2.0
    sim_gap = float(torch.linalg.matrix_norm(RO @ R.T))
    Rw, Rz = R[1:, W], R[1:, Z]
    k_gap = float(torch.linalg.matrix_norm(Rw @ Rw.T - Rz @ Rz.T))
    return sim_gap, k_gap


def poorly_conditioned(gap2: float, scale2: float) -> bool:
    """Whether a squared gap from moments is too close to its rounding to be trusted."""
    return math.isfinite(gap2) and gap2 < GAP_RTOL * scale2


def _pair(X, Y, min_rows: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    X, Y = as_features(X, "X"), as_features(Y, "Y")
    check_pair(X, Y)
    if X.shape[0] < min_rows:
        raise ValueError(f"Expected at least {min_rows} rows in `X` and `Y`, got N={X.shape[0]}")
    return X, Y


def _moments(X, Y, *, kind: str = "cosine", min_rows: int = 2) -> Moments:
    X, Y = _pair(X, Y, min_rows)
    cos, raw = accumulate(
        X, Y, cosine=kind == "cosine", raw=kind == "linear", names="`X` and `Y`"
    )
    return cos if kind == "cosine" else raw


def _refine_gaps(X: torch.Tensor, Y: torch.Tensor, m: Moments, values: dict) -> dict:
    """Recompute ``sim_gap``, ``rho``, ``r`` in ``values`` exactly where the moments cannot.

    The exact fallback (:func:`exact_gaps`): only when a finite gap is far below the
    scale its rounding is relative to (:func:`~empirics.metrics.quantities.squared_gaps`: the
    scale of ``Sigma`` for Gram moments, about the gap itself for difference moments, except
    under a rotation); identical inputs have exact zero gaps.
    """
    sq = quantities.squared_gaps(m)
    todo = [
        k
        for k, key in (("sim_gap", "sim_gap"), ("rho", "rho"), ("r", "sim_gap"))
        if k in values and math.isfinite(values[k]) and poorly_conditioned(*sq[key])
    ]
    if not todo:
        return values
    if X.shape == Y.shape and bool(torch.equal(X, Y)):
        sim, k_gap = 0.0, 0.0
    else:
        sim, k_gap = exact_gaps(X, Y)
    exact = {"sim_gap": sim, "rho": k_gap / quantities.k_norm(m)}
    if "r" in todo:
        _, sigma_a = quantities.r(m)
        exact["r"] = sim / math.sqrt(2.0) / (math.sqrt(values.get("M", m.n * (m.n - 1) / 2))
                                             * sigma_a)  # fmt: skip
    return {**values, **{k: exact[k] for k in todo}}


def _check_kind(kind: object) -> str:
    if kind not in ("cosine", "linear"):
        raise ValueError(f"Expected `kind` in ('cosine', 'linear'), got {kind!r}")
    return str(kind)


def _value(name: str, v: quantities.Value) -> float:
    if v.why:
        quantities.warn_nan({name: v.why}, stacklevel=4)
    return v.value


def cka(X, Y, kind: str = "cosine", unbiased: bool = False) -> float:
    """Linear CKA ``<K_X, K_Y>_F / (||K_X||_F ||K_Y||_F)``, ``K = H Z Z^T H``.

    [P2] Corollary (THEORY.md s7) [stated] for ``kind="cosine"`` (``Z`` = row-normalised
    features, so ``K = H Sigma H``); ``kind="linear"`` uses raw ``Z`` as the paper's code.
    Computed as ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` in ``O(N d^2)`` from
    shifted moments (exact near collapse; docs/metrics.md). ``unbiased=True`` uses the unbiased
    HSIC estimator of Song et al. (2012) on the zero-diagonal Gram matrices, as torch-cka does
    (Nguyen et al. 2021, Eq. 3); it needs N >= 4 and may leave [0, 1] slightly.

    Args:
        X: ``(N, d)``; Y: ``(N, e)``; kind: ``"cosine"`` or ``"linear"``; unbiased: bool.

    Returns:
        float in [0, 1] (biased); NaN plus ``RuntimeWarning`` for a zero row (cosine), a
        constant feature set, or directions closer than float64 resolves (cosine).

    Raises:
        ValueError: different row counts (naming both shapes), N < 2 (N < 4 unbiased), bad
            ``kind``, NaN or inf. TypeError: not an array/tensor.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> round(cka(X, 3.0 * X), 12), round(cka(X, X @ np.linalg.qr(X[:4])[0], "linear"), 12)
        (1.0, 1.0)
    """
    kind = _check_kind(kind)
    m = _moments(X, Y, kind=kind, min_rows=4 if unbiased else 2)
    return _value("cka", quantities.cka(m, unbiased=bool(unbiased)))


def alignment(X, Y, *, kind: str = "cosine", unbiased: bool = False) -> dict:
    """Every alignment quantity at once (one pass): the dict of ``AlignmentAccumulator.compute``.

    Example:
        >>> X = np.random.default_rng(1).normal(size=(30, 3))
        >>> sorted(k for k in alignment(X, X) if k in ("cka", "rsa", "sim_gap", "rho", "r"))
        ['cka', 'r', 'rho', 'rsa', 'sim_gap']
    """
    kind = _check_kind(kind)
    X, Y = _pair(X, Y, 4 if unbiased else 2)
    cos, raw = accumulate(X, Y, cosine=True, raw=True, names="`X` and `Y`")
    values, reasons = quantities.alignment(cos, raw, kind=kind, unbiased=bool(unbiased))
    quantities.warn_nan(reasons)
    values = _refine_gaps(X, Y, cos, values)
    values["cka_lower_from_rho"] = quantities.corollary_lower(values["rho"], 0.0)
    values["rsa_lower_from_r"] = quantities.corollary_lower(values["r"], -1.0)
    return values


def similarity_gap(X, Y) -> float:
    """``||Sigma(X) - Sigma(Y)||_F`` over all ``N x N`` cosine entries ([P2] Theorem 1's LHS).

    ``= sqrt(2 sum_{i<j} (a_ij - b_ij)^2)`` with ``a_ij = 1 - cos(x_i, x_j)`` taken as half the
    squared distance of the unit rows (THEORY.md s6-7); ``O(N d^2)`` from shifted moments.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> similarity_gap(X, 2.0 * X) < 1e-6
        True
    """
    X, Y = _pair(X, Y)
    m = _moments(X, Y)
    value = _value("sim_gap", quantities.sim_gap(m))
    return _refine_gaps(X, Y, m, {"sim_gap": value})["sim_gap"]


def rho(X_cl, Y_nscl) -> float:
    """``rho = ||K_CL - K_NSCL||_F / ||K_CL||_F``, ``K = H Sigma H`` ([P2] Corollary, THEORY.md s7).

    If ``rho < 1`` then ``cka(X_cl, Y_nscl) >= (1 - rho)/(1 + rho)`` (for any features).

    Example:
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> rho(X, X)
        0.0
    """
    X, Y = _pair(X_cl, Y_nscl)
    m = _moments(X, Y)
    return _refine_gaps(X, Y, m, {"rho": _value("rho", quantities.rho(m))})["rho"]


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
    X, Y = _pair(X_cl, Y_nscl)
    m = _moments(X, Y)
    return _refine_gaps(X, Y, m, {"r": _value("r", quantities.r(m)[0])})["r"]


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
    m = _moments(X, Y, kind=kind)
    name = "representation_angle"
    value = _value(name, quantities.cka(m) if centered else quantities.uncentred_cka(m))
    if not math.isfinite(value):
        return float("nan")
    return math.degrees(math.acos(min(1.0, max(-1.0, value))))


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
    ``O(N d^2)`` from shifted moments: with ``a_ij = 1 - cos = (g_i + g_j)/2 - w_i.w_j``
    (``w`` the centred unit rows, ``g = |w|^2``), ``sum_{i<j} a = (n Sg - |Sw|^2)/2``,
    ``sum_{i<j} a^2 = ((n Sgg + Sg^2)/2 - 2 Sw.Wg + ||Gww||_F^2)/2`` and the cross sum alike
    (:mod:`empirics.metrics.quantities`). ``method="spearman"`` (tie-averaged ranks) must
    materialise all ``M = N(N-1)/2`` pairs: it does so in blocks and refuses, with a
    ``ValueError`` naming the limit, when ``48 M`` bytes exceed ``max_memory``.

    Args:
        X, Y: ``(N, d)``, ``(N, e)``.
        method: ``"pearson"`` or ``"spearman"``.
        subsample: if given, use this many rows drawn without replacement with ``seed``
            (explicit only; never applied silently).
        seed: seed of ``numpy.random.default_rng`` for ``subsample``.
        max_memory: the Spearman memory guard, in bytes (default 1 GiB).

    Returns:
        float in [-1, 1]; NaN plus ``RuntimeWarning`` when undefined (N = 2, a zero row,
        constant dissimilarities, directions beyond float64 resolution).

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
        return spearman_rsa(X, Y, max_memory)
    return _value("rsa", quantities.rsa(_moments(X, Y)))
