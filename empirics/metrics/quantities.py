"""Alignment quantities from shifted moments (pure functions; THEORY.md s7).

Each function takes :class:`~empirics.metrics.moments.Moments` and returns a
:class:`Value`: the number, or NaN with the reason it is undefined (``why``). Nothing here
warns: the functional API and the accumulator turn reasons into ``RuntimeWarning``\\ s
(:func:`warn_nan`). Every identity holds for moments about any shift ``c`` (rows
``w_i = x_i - c``, ``g_i = |w_i|^2``, ``Sw = sum w_i``; see :mod:`empirics.metrics.moments`).

Centred Grams ([P2] Corollary; ``K = H X X^T H``, ``Xc`` the centred rows):

- ``Cxy = Xc^T Yc = Gwz - Sw Sz^T / n``, so ``<K_X, K_Y>_F = ||Cxy||_F^2`` and
  ``||K_X||_F = ||Cxx||_F``; ``||K_X - K_Y||_F^2 = ||Cxx||^2 + ||Cyy||^2 - 2 ||Cxy||^2``.

Dissimilarities (cosine moments): with unit rows, ``1 - cos(x_i, x_j) = |x_i - x_j|^2 / 2``
``= a_ij = (g_i + g_j)/2 - w_i.w_j`` -- a small number computed from small numbers, with no
cancellation against 1. Over all ``i, j`` (``a_ii = 0``)::

    sum a_ij        = n Sg - |Sw|^2
    sum a_ij^2      = (n Sgg + Sg^2)/2 - 2 Sw.Wg + ||Gww||_F^2
    sum a_ij b_ij   = (n Sgh + Sg Sh)/2 - Sz.Zg - Sw.Wh + ||Gwz||_F^2

and the pair sums ``i < j`` are half of these. They give RSA (Pearson of ``a`` and ``b``
over the ``M = n(n-1)/2`` pairs), ``||Sigma(X) - Sigma(Y)||_F^2 = 2 sum_{i<j} (a - b)^2``,
``r = ||b - a|| / (sqrt(M) sigma_a)`` and ``sigma_a``.

Gaps from differences (moments with difference moments: cosine, ``d == e``). With unit rows
``x_i = y_i + D_i``, ``Sigma(X) - Sigma(Y) = Y D^T + D Y^T + D D^T``, and for any ``d x d``
``P = Y^T Y``, ``Q = D^T D``, ``R = Y^T D``::

    ||Y D^T + D Y^T + D D^T||_F^2 = 2 <P, Q> + <Q, Q> + 2 tr(R R) + 4 tr(R Q)

Every term is of the size of the gap times the scale, so nothing cancels at the scale of
``||Sigma||^2``: the rounding is ``1e-16`` of ``T = 2 |P| |Q| + |Q|^2 + 2 |R|^2 + 4 |R| |Q|``
(Frobenius norms), not of ``||Sigma||^2``. The rows are taken about the shift, as everywhere
(``z``, ``delta = w - z``): then ``a_ij - b_ij = (z_i - z_j).(delta_i - delta_j) +
|delta_i - delta_j|^2 / 2 = s_i + s_j - F_ij`` with ``s_i = delta_i.(z_i + delta_i / 2)`` and
``F = Z Delta^T + Delta Z^T + Delta Delta^T``, so::

    ||Sigma(X) - Sigma(Y)||_F^2 = 2 n Sss + 2 Ss^2 - 4 (Zs.Sd + Ds.(Sz + Sd)) + ||F||_F^2

with ``||F||^2`` the formula above for ``(Gzz, Gdd, Gzd)`` -- all terms of the size of the
spreads, never of ``|cy|`` (rows about zero would lose ``1e-16 / spread^2`` near collapse).
``K_X - K_Y = -H F H`` (``H`` removes ``s 1^T + 1 s^T``): the same formula with the centred
``Gzz - Sz Sz^T / n``, ``Gdd - Sd Sd^T / n``, ``Gzd - Sz Sd^T / n``. About the means
(``Sz = Sd = 0``) the first sum is ``2 n Sss + 2 Ss^2 + ||K_X - K_Y||^2``: three
non-negative terms, so it is evaluated there. The diagonal of ``A - B`` is 0 (unit rows;
zero rows make every cosine quantity NaN), so ``sum_{i<j} (a - b)^2`` is half the first sum
(``r``'s numerator). What is left is a gap that cancels *within* the differences: a rotation
``Y = X W`` (gap 0) with ``|W - I| = t`` has ``T ~ t^2 ||Sigma||^2`` and keeps about
``sqrt(1e-16 T)``, i.e. ``1e-8 t`` of the scale (:func:`squared_gaps` reports ``T``, so the
one-shot functions fall back to the exact factor of :func:`empirics.metrics.functional.
exact_gaps`).

Unbiased HSIC (Song et al. 2012; torch-cka, Nguyen et al. 2021 Eq. 3) is invariant under the
shift (U-centring removes every ``u 1^T + 1 v^T``), so it uses the same moments:
``tr(K~L~) = ||Gwz||^2 - Sgh``, ``1^T K~ 1 = |Sw|^2 - Sg``,
``1^T K~ L~ 1 = Sw^T Gwz Sz - Sz.Zg - Sw.Wh + Sgh``.

NaN rules (the ``why`` of each :class:`Value`): a zero row under the cosine kinds; a feature
set whose rows are all equal (all the same direction, for cosine) -- exact, since rows equal
to the pilot give exact zeros; a cosine feature set whose directions spread less than
:data:`RESOLUTION` (beyond float64 resolution: every centred coordinate is then mostly
rounding); fewer rows than a quantity needs; dissimilarities without variance.
"""

from __future__ import annotations

import math

import torch

from empirics.metrics._array import Value, warn_nan
from empirics.metrics.moments import Moments, rescale, s_moments
from empirics.metrics.procrustes import procrustes_from_moments

__all__ = [
    "RESOLUTION",
    "Value",
    "alignment",
    "cka",
    "corollary_lower",
    "k_norm",
    "r",
    "rho",
    "rsa",
    "sim_gap",
    "squared_gaps",
    "uncentred_cka",
    "warn_nan",
]

RESOLUTION = 1e-9  # cosine sets whose RMS direction spread is below this are not resolved
_VAR_RTOL = 1e-10  # dissimilarity variance below this share of their mean square is zero


def _nan(why: str) -> Value:
    return Value(float("nan"), why)


def _fro2(a: torch.Tensor) -> float:
    return float((a * a).sum())  # not a BLAS dot: its thread start-up costs milliseconds


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def _clip(v: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, v))


# ----------------------------------------------------------------------------- conditions
def _zero_rows(m: Moments) -> str | None:
    zx, zy = int(m["zero_x"]), int(m["zero_y"])
    if m.cosine and (zx or zy):
        return f"cosine similarity is undefined for zero rows ({zx} in X, {zy} in Y)"
    return None


def _status(m: Moments, side: str) -> tuple[str, str | None]:
    """``("ok", None)``, ``("zero", why)`` (rows all equal) or ``("unresolved", why)``."""
    name, G, S = ("X", m["Gww"], m["Sw"]) if side == "x" else ("Y", m["Gzz"], m["Sz"])
    tr = float(G.diagonal().sum())
    if tr == 0.0:
        what = "all point the same way" if m.cosine else "are all equal"
        return "zero", f"the rows of {name} {what} (zero variance)"
    if m.cosine:  # unit rows: the RMS distance to their mean is a relative spread
        spread = math.sqrt(max(tr - _dot(S, S) / m.n, 0.0) / m.n)
        if spread < RESOLUTION:
            return "unresolved", (
                f"the rows of {name} are beyond float64 resolution: their directions spread "
                f"by {spread:.1e} < {RESOLUTION:.0e} (zero variance to float64 resolution)"
            )
    return "ok", None


def _normalised(m: Moments) -> Moments:
    """Raw moments rescaled (by powers of two) to a unit RMS spread per side."""
    ex, ey = m.exponents()
    for side, G in (("x", m["Gww"]), ("y", m["Gzz"])):
        tr = float(G.diagonal().sum()) / m.n
        k = math.frexp(tr)[1] // 2 if tr > 0 else 0
        ex, ey = (ex + k, ey) if side == "x" else (ex, ey + k)
    return rescale(m, ex, ey)


def _centred(m: Moments) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, Sw, Sz = m.n, m["Sw"], m["Sz"]
    return (
        m["Gww"] - torch.outer(Sw, Sw) / n,
        m["Gzz"] - torch.outer(Sz, Sz) / n,
        m["Gwz"] - torch.outer(Sw, Sz) / n,
    )


def _pairs(m: Moments) -> tuple[float, ...]:
    """``M`` and the pair sums ``i < j`` of ``a, b, a^2, b^2, a b`` (module docstring)."""
    n = float(m.n)
    Sw, Sz = m["Sw"], m["Sz"]
    Sg, Sh, Sgg, Shh, Sgh = (float(m[k]) for k in ("Sg", "Sh", "Sgg", "Shh", "Sgh"))
    sa = (n * Sg - _dot(Sw, Sw)) / 2.0
    sb = (n * Sh - _dot(Sz, Sz)) / 2.0
    saa = ((n * Sgg + Sg * Sg) / 2.0 - 2.0 * _dot(Sw, m["Wg"]) + _fro2(m["Gww"])) / 2.0
    sbb = ((n * Shh + Sh * Sh) / 2.0 - 2.0 * _dot(Sz, m["Zh"]) + _fro2(m["Gzz"])) / 2.0
    sab = (
        (n * Sgh + Sg * Sh) / 2.0 - _dot(Sz, m["Zg"]) - _dot(Sw, m["Wh"]) + _fro2(m["Gwz"])
    ) / 2.0
    return n * (n - 1.0) / 2.0, sa, sb, saa, sbb, sab


def _gap2(P: torch.Tensor, Q: torch.Tensor, R: torch.Tensor) -> tuple[float, float]:
    """``||Y D^T + D Y^T + D D^T||_F^2`` from ``P = Y^T Y``, ``Q = D^T D``, ``R = Y^T D``, and
    the scale ``T`` its rounding is relative to (module docstring). ``tr(R Q) = <R, Q>``:
    ``Q`` is symmetric."""
    PQ, QQ, RR, RQ = _dot(P, Q), _fro2(Q), _dot(R, R.T), _dot(R, Q)
    p, q, r2 = math.sqrt(_fro2(P)), math.sqrt(QQ), _fro2(R)
    T = 2.0 * p * q + QQ + 2.0 * r2 + 4.0 * math.sqrt(r2) * q
    return 2.0 * PQ + QQ + 2.0 * RR + 4.0 * RQ, T


def _diff_gaps(m: Moments) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(gap^2, T)`` of ``Sigma(X) - Sigma(Y)`` and of ``K_X - K_Y`` from difference moments.

    About the means (``Sz = Sd = 0``; ``s`` moved there by
    :func:`~empirics.metrics.moments.s_moments`) ``||A - B||^2 = 2 n Sss + 2 Ss^2 +
    ||K_X - K_Y||^2``: three non-negative terms (module docstring).
    """
    n, Sz, Sd = float(m.n), m["Sz"], m["Sd"]
    k = _gap2(torch.addr(m["Gzz"], Sz, Sz, alpha=-1.0 / n),
              torch.addr(m["Gdd"], Sd, Sd, alpha=-1.0 / n),
              torch.addr(m["Gzd"], Sz, Sd, alpha=-1.0 / n))  # fmt: skip
    Ss, Sss, _, _ = s_moments(m, Sd / n, Sz / n, vectors=False)
    G2 = 2.0 * n * Sss + 2.0 * Ss * Ss  # ||s 1^T + 1 s^T||^2 about the means
    return (G2 + k[0], abs(G2) + k[1]), k


def _unbiased_hsic(m: Moments) -> tuple[float, float, float]:
    """Unbiased HSIC_1 of (X, X), (Y, Y), (X, Y) (module docstring)."""
    n = float(m.n)
    Sw, Sz, Gww, Gzz, Gwz = m["Sw"], m["Sz"], m["Gww"], m["Gzz"], m["Gwz"]
    Sg, Sh, Sgg, Shh, Sgh = (float(m[k]) for k in ("Sg", "Sh", "Sgg", "Shh", "Sgh"))
    kx, ky = _dot(Sw, Sw) - Sg, _dot(Sz, Sz) - Sh  # 1^T K~ 1

    def hsic(tr, k1, k2, k1l1):
        return (tr + k1 * k2 / ((n - 1) * (n - 2)) - 2.0 * k1l1 / (n - 2)) / (n * (n - 3))

    xx = hsic(_fro2(Gww) - Sgg, kx, kx, _dot(Sw, Gww @ Sw) - 2.0 * _dot(Sw, m["Wg"]) + Sgg)
    yy = hsic(_fro2(Gzz) - Shh, ky, ky, _dot(Sz, Gzz @ Sz) - 2.0 * _dot(Sz, m["Zh"]) + Shh)
    xy = hsic(
        _fro2(Gwz) - Sgh, kx, ky,
        _dot(Sw, Gwz @ Sz) - _dot(Sz, m["Zg"]) - _dot(Sw, m["Wh"]) + Sgh,
    )  # fmt: skip
    return xx, yy, xy


class _Derived:
    """Moments with their shared intermediates computed once (for :func:`alignment`)."""

    def __init__(self, m: Moments):
        self.m = m
        self._cache: dict[str, object] = {}

    def _get(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn(self.m)
        return self._cache[key]

    def status(self, side: str) -> tuple[str, str | None]:
        return self._get("status_" + side, lambda m: _status(m, side))

    def zero_rows(self) -> str | None:
        return self._get("zero_rows", _zero_rows)

    def centred_fro2(self) -> tuple[float, float, float]:
        """``||Cxx||_F^2, ||Cyy||_F^2, ||Cxy||_F^2``."""
        return self._get("centred", lambda m: tuple(_fro2(c) for c in _centred(m)))

    def pairs(self) -> tuple[float, ...]:
        return self._get("pairs", _pairs)

    def squared_gaps(self) -> dict[str, tuple[float, float]]:
        return self._get("squared_gaps", _squared_gaps)


def _derived(m: Moments | _Derived) -> _Derived:
    return m if isinstance(m, _Derived) else _Derived(m)


# ----------------------------------------------------------------------------- quantities
def cka(m: Moments, *, unbiased: bool = False) -> Value:
    """Linear CKA ``||Cxy||_F^2 / (||Cxx||_F ||Cyy||_F)`` of the rows the moments hold.

    [P2] Corollary (THEORY.md s7) [stated] on cosine moments (``K = H Sigma H``); the paper
    code's linear CKA on raw moments. Clipped to [0, 1] (rounding only: Cauchy-Schwarz).
    ``unbiased=True``: ``HSIC_1(X, Y) / sqrt(HSIC_1(X, X) HSIC_1(Y, Y))`` (n >= 4; not clipped,
    it may leave [0, 1] slightly).

    Example:
        >>> from empirics.metrics.moments import accumulate
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
        >>> cos, raw = accumulate(x, 3.0 * x, raw=True)
        >>> round(cka(cos).value, 12), round(cka(raw).value, 12), cka(cos).why
        (1.0, 1.0, None)
    """
    st = _derived(m)
    m = st.m
    why = st.zero_rows()
    if why:
        return _nan(why)
    if unbiased and m.n < 4:
        return _nan(f"unbiased CKA needs at least 4 rows, got n={m.n}")
    for side in ("x", "y"):
        _, why = st.status(side)
        if why:
            return _nan(why)
    if not m.cosine:
        st = _Derived(_normalised(m))
    if unbiased:
        xx, yy, xy = _unbiased_hsic(st.m)
        if not (xx > 0.0 and yy > 0.0):
            return _nan("the unbiased HSIC of X or Y is not positive (too few distinct rows)")
        return Value(xy / math.sqrt(xx * yy))
    xx, yy, xy = st.centred_fro2()
    return Value(_clip(xy / math.sqrt(xx * yy), 0.0, 1.0))


def rsa(m: Moments) -> Value:
    """Pearson correlation of the dissimilarities ``a_ij = 1 - cos`` of X and Y over ``i < j``.

    [P2] Corollary (THEORY.md s7) [stated]; cosine moments. Clipped to [-1, 1].

    Example:
        >>> from empirics.metrics.moments import accumulate
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
        >>> round(rsa(accumulate(x, x)[0]).value, 12)
        1.0
        >>> rsa(accumulate(x[:2], x[:2])[0]).why
        'RSA needs at least 3 rows, got n=2 (one pair has no variance)'
    """
    st = _derived(m)
    m = st.m
    why = st.zero_rows()
    if why:
        return _nan(why)
    if m.n < 3:
        return _nan(f"RSA needs at least 3 rows, got n={m.n} (one pair has no variance)")
    for side in ("x", "y"):
        _, why = st.status(side)
        if why:
            return _nan(why)
    M, sa, sb, saa, sbb, sab = st.pairs()
    var_a, var_b = saa - sa * sa / M, sbb - sb * sb / M  # M times the variances
    for name, var, sq in (("X", var_a, saa), ("Y", var_b, sbb)):
        if not var > _VAR_RTOL * sq:
            return _nan(f"the dissimilarities of {name} have zero variance (all pairs equally "
                        f"far apart, to float64 resolution)")  # fmt: skip
    return Value(_clip((sab - sa * sb / M) / math.sqrt(var_a * var_b), -1.0, 1.0))


def sim_gap(m: Moments) -> Value:
    """``||Sigma(X) - Sigma(Y)||_F = sqrt(2 sum_{i<j} (a_ij - b_ij)^2)`` ([P2] Theorem 1's LHS).

    From the difference moments where the set has them (``d == e``), else from the pair sums
    (module docstring). Defined for every input without zero rows; NaN when neither set is
    resolved in float64.
    """
    st = _derived(m)
    why = st.zero_rows()
    if why:
        return _nan(why)
    status = [st.status(side) for side in ("x", "y")]
    if all(s == "zero" for s, _ in status):
        return Value(0.0)  # Sigma(X) = Sigma(Y) = 1 1^T
    if not any(s == "ok" for s, _ in status):
        return _nan(next(w for s, w in status if s == "unresolved"))
    return Value(math.sqrt(max(st.squared_gaps()["sim_gap"][0], 0.0)))


def rho(m: Moments) -> Value:
    """``rho = ||K_X - K_Y||_F / ||K_X||_F``, normalised by X (the CL model; THEORY.md s7)."""
    st = _derived(m)
    why = st.zero_rows()
    if why:
        return _nan(why)
    status, why = st.status("x")
    if status == "zero":
        return _nan(f"K_CL = 0, so rho has no normaliser: {why}")
    if why:
        return _nan(f"K_CL is zero to float64 resolution, so rho has no normaliser: {why}")
    xx = st.centred_fro2()[0]
    return Value(math.sqrt(max(st.squared_gaps()["rho"][0], 0.0) / xx))


def r(m: Moments) -> tuple[Value, float]:
    """``r = ||b - a||_2 / (sqrt(M) sigma_a)`` (THEORY.md s7) and ``sigma_a`` (NaN if undefined).

    ``a``, ``b``: the dissimilarities of X (CL) and Y over ``i < j``; ``sigma_a`` their
    population standard deviation.
    """
    st = _derived(m)
    nan = float("nan")
    why = st.zero_rows()
    if why:
        return _nan(why), nan
    if st.m.n < 3:
        return _nan(f"r needs at least 3 rows, got n={st.m.n} (one pair has no variance)"), nan
    _, why = st.status("x")
    if why:
        return _nan(f"the dissimilarities of X have zero variance: {why}"), nan
    M, sa, _, saa, _, _ = st.pairs()
    var_a = saa - sa * sa / M
    if not var_a > _VAR_RTOL * saa:
        return _nan("the dissimilarities of X have zero variance (all pairs equally far "
                    "apart, to float64 resolution)"), nan  # fmt: skip
    ba2 = max(st.squared_gaps()["sim_gap"][0], 0.0) / 2.0  # ||b - a||^2 over i < j
    return Value(math.sqrt(ba2 / var_a)), math.sqrt(var_a / M)


def squared_gaps(m: Moments) -> dict[str, tuple[float, float]]:
    """``{"sim_gap": (gap^2, scale^2), "rho": (gap^2, scale^2)}`` as the moments give them.

    ``scale^2`` is what the rounding of the squared gap is relative to: a gap far below it
    is a difference of nearly equal numbers. From difference moments (cosine, ``d == e``) it
    is ``T`` of the module docstring (about the gap times the scale, far below the scale
    itself for nearly identical representations; only a gap that cancels *within* the
    differences, as under a rotation, stays far below it). Otherwise it is
    ``2 (sum a^2 + sum b^2)`` and ``||K_X||^2 + ||K_Y||^2``: the gap is a difference of
    squares at the scale of ``Sigma``.
    """
    return _derived(m).squared_gaps()


def _squared_gaps(m: Moments) -> dict[str, tuple[float, float]]:
    if m.diff:
        sim, k = _diff_gaps(m)
        return {"sim_gap": sim, "rho": k}
    st = _derived(m)
    _, _, _, saa, sbb, sab = st.pairs()
    xx, yy, xy = st.centred_fro2()
    return {
        "sim_gap": (2.0 * (saa + sbb - 2.0 * sab), 2.0 * (saa + sbb)),
        "rho": (xx + yy - 2.0 * xy, xx + yy),
    }


def k_norm(m: Moments) -> float:
    """``||K_X||_F = ||Cxx||_F`` of cosine moments (NaN if undefined or unresolved)."""
    st = _derived(m)
    if st.zero_rows() or st.status("x")[0] == "unresolved":
        return float("nan")
    return math.sqrt(st.centred_fro2()[0])


def uncentred_cka(m: Moments) -> Value:
    """``||Gxy||_F^2 / (||Gxx||_F ||Gyy||_F)`` of the *uncentred* rows (``Gxy = X^T Y``).

    The cosine of the angle between ``X X^T`` and ``Y Y^T`` without ``H``; from the shifted
    moments by ``X^T Y = Gwz + Sw cy^T + cx Sz^T + n cx cy^T``.
    """
    why = _zero_rows(m)
    if why:
        return _nan(why)
    n, cx, cy, Sw, Sz = m.n, m["cx"], m["cy"], m["Sw"], m["Sz"]
    Gxx = m["Gww"] + torch.outer(Sw, cx) + torch.outer(cx, Sw) + n * torch.outer(cx, cx)
    Gyy = m["Gzz"] + torch.outer(Sz, cy) + torch.outer(cy, Sz) + n * torch.outer(cy, cy)
    Gxy = m["Gwz"] + torch.outer(Sw, cy) + torch.outer(cx, Sz) + n * torch.outer(cx, cy)
    xx, yy = _fro2(Gxx), _fro2(Gyy)
    if not (xx > 0.0 and yy > 0.0):
        return _nan("X or Y is all zeros")
    return Value(_clip(_fro2(Gxy) / math.sqrt(xx * yy), 0.0, 1.0))


def corollary_lower(v: float, trivial: float) -> float:
    """``(1 - v)/(1 + v)`` if ``v < 1``, else the trivial bound (NaN stays NaN; THEORY.md s7)."""
    if not math.isfinite(v):
        return float("nan")
    return (1.0 - v) / (1.0 + v) if v < 1.0 else trivial


def _angle(v: float) -> float:
    return math.degrees(math.acos(_clip(v, -1.0, 1.0))) if math.isfinite(v) else float("nan")


def alignment(
    cos: Moments, raw: Moments | None = None, *, kind: str = "cosine", unbiased: bool = False
) -> tuple[dict, dict[str, str]]:
    """Every quantity of THEORY.md s7 at once, and the reasons of its NaNs.

    Returns ``(values, reasons)``: ``values`` has ``n``, ``M``, ``cka`` (of ``kind``),
    ``cka_kind``, ``cka_cosine``, ``cka_linear`` (NaN without ``raw``), ``rsa``, ``sim_gap``,
    ``rho``, ``r``, ``cka_lower_from_rho`` and ``rsa_lower_from_r`` (the corollaries' bounds;
    0 and -1 when vacuous), ``repr_angle`` (degrees, ``arccos`` of the biased cosine CKA),
    ``k_norm``, ``sigma_a`` and ``procrustes`` (the angular Procrustes distance of the raw
    features, :func:`empirics.metrics.procrustes.procrustes_from_moments`; NaN without
    ``raw``); ``reasons`` maps each NaN quantity to why. Every moment measure of
    :data:`empirics.measures.MEASURES` is a key.
    """
    values: dict = {"n": cos.n, "M": cos.n * (cos.n - 1) // 2}
    reasons: dict[str, str] = {}
    st = _Derived(cos)

    def put(key: str, v: Value) -> float:
        values[key] = v.value
        if v.why:
            reasons[key] = v.why
        return v.value

    put("cka_cosine", cka(st, unbiased=unbiased))
    values["cka_linear"] = float("nan")
    if raw is not None:
        put("cka_linear", cka(raw, unbiased=unbiased))
    source = "cka_linear" if kind == "linear" else "cka_cosine"
    values["cka"] = values[source]
    if source in reasons:
        reasons["cka"] = reasons[source]
    values["cka_kind"] = kind + ("-unbiased" if unbiased else "")
    put("rsa", rsa(st))
    put("sim_gap", sim_gap(st))
    rho_ = put("rho", rho(st))
    r_, values["sigma_a"] = r(st)
    put("r", r_)
    values["cka_lower_from_rho"] = corollary_lower(rho_, 0.0)
    values["rsa_lower_from_r"] = corollary_lower(r_.value, -1.0)
    biased = cka(st).value if unbiased else values["cka_cosine"]
    values["repr_angle"] = _angle(biased)
    values["k_norm"] = k_norm(st)
    values["procrustes"] = float("nan")
    if raw is not None:  # Williams et al. 2021, of the raw features (its module)
        put("procrustes", procrustes_from_moments(raw))
    return values, reasons
