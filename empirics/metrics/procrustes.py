"""Orthogonal Procrustes shape distance between two representations, from the d x e moments.

For features ``X (N, d)`` and ``Y (N, e)`` of the same ``N`` samples, centre the columns
and scale each set to unit Frobenius norm, ``X~ = H X / ||H X||_F``, ``Y~ = H Y / ||H Y||_F``.
When ``d != e`` the narrower set is padded with zero columns (Williams et al. 2021, s2):
padding changes neither norm nor the nuclear norm below, so nothing is formed. Then

    min_{Q orthogonal} ||X~ - Y~ Q||_F^2 = 2 - 2 ||X~^T Y~||_*                  (1)

(Schoenemann 1966: ``Q = U V^T`` from the SVD ``Y~^T X~ = U S V^T``), and the two
conventions of Williams, Kunz, Kornblith and Linderman, "Generalized Shape Metrics on
Neural Representations" (NeurIPS 2021), eqs. (3)-(4) with ``alpha = 1``:

- ``metric="angular"`` (the default): ``theta = arccos(||X~^T Y~||_*)`` in radians, in
  ``[0, pi/2]``; the angle between the two shapes on the unit sphere, a metric;
- ``metric="euclidean"``: ``sqrt(2 - 2 ||X~^T Y~||_*)``, in ``[0, sqrt(2)]``, the
  minimum of (1) itself, also a metric (``= 2 sin(theta / 2)``).

Both are 0 exactly when ``Y`` is a rotated (or reflected), uniformly scaled and translated
copy of ``X``, and symmetric. Nothing here is specific to the papers [P1]/[P2]: it is the
standard shape metric, reported beside their CKA and RSA.

**From moments.** ``X~^T Y~ = Cxy / sqrt(tr Cxx tr Cyy)`` with ``Cxy = Xc^T Yc`` the centred
cross moment. The raw (``cosine=False``) :class:`~empirics.metrics.moments.Moments` hold it
about their shift, ``Cxy = Gwz - Sw Sz^T / n`` (:mod:`empirics.metrics.quantities`), so the
distance is exact, streamed and mergeable like CKA, in ``O(d^2 + e^2 + d e)`` memory and one
``d x e`` SVD. Rows are centred on a pilot row and scaled by powers of two
(:func:`empirics.metrics.moments.accumulate`), so near-collapsed and extreme-scale inputs
(``1e-150``, ``1e150``) are exact. Resolution: ``||X~^T Y~||_*`` is a float64 number near 1, so a
distance at 0 is resolved to about ``sqrt(2e-16) ~ 1.5e-8`` (a rotated copy gives a few
``1e-8``, never more than ``1e-7``; identical inputs give exactly 0); above ``1e-4`` the
relative error is below ``1e-9``.

Its entry in the registry of similarity measures is ``procrustes``
(:data:`empirics.measures.MEASURES`), computed from the raw moments by
:func:`empirics.metrics.quantities.alignment`. The function is :func:`procrustes_distance`, not
``procrustes``: that name is this module's, and ``empirics.metrics.procrustes`` must stay the
module whatever was imported first.

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> X = g.normal(size=(50, 4))
    >>> Q = np.linalg.qr(g.normal(size=(4, 4)))[0]
    >>> procrustes_distance(X, 3.0 * X @ Q + 1.0) < 1e-7
    True
    >>> d = procrustes_distance
    >>> round(d(X, X[:, :2]), 9) == round(d(X[:, :2], X), 9)  # symmetric
    True
"""

from __future__ import annotations

import math

import torch

from empirics.metrics._array import Value, as_features, check_pair, warn_nan
from empirics.metrics.moments import Moments, accumulate, rescale

__all__ = ["METRICS", "procrustes_distance", "procrustes_from_moments"]

#: The two conventions of Williams et al. (2021): arccos of the nuclear norm, or
#: ``sqrt(2 - 2 ||.||_*)``.
METRICS = ("angular", "euclidean")


def _check_metric(metric: object) -> str:
    if metric not in METRICS:
        raise ValueError(f"Expected `metric` in {METRICS}, got {metric!r}")
    return str(metric)


def _unit_spread(m: Moments) -> Moments:
    """``m`` rescaled by powers of two (exact) so that each side's mean square spread is ~1."""
    ex, ey = m.exponents()
    n = m.n
    for side, G in (("x", m["Gww"]), ("y", m["Gzz"])):
        tr = float(G.diagonal().sum()) / n
        k = math.frexp(tr)[1] // 2 if tr > 0 and math.isfinite(tr) else 0
        ex, ey = (ex + k, ey) if side == "x" else (ex, ey + k)
    return m if m.diff else rescale(m, ex, ey)


def _same_rows(m: Moments) -> bool:
    """Whether both sides hold bitwise the same moments (then ``Gww - Gwz - Gwz^T + Gzz = 0``,
    i.e. the same rows up to rounding)."""
    if m.d != m.e or m.exponents()[0] != m.exponents()[1]:
        return False
    pairs = (("cx", "cy"), ("Sw", "Sz"), ("Gww", "Gzz"), ("Gww", "Gwz"))
    return all(torch.equal(m[a], m[b]) for a, b in pairs)


def procrustes_from_moments(m: Moments, *, metric: str = "angular") -> Value:
    """The Procrustes distance of the rows the moments hold (module docstring, eq. (1)).

    ``theta = arccos(||Cxy||_* / sqrt(tr Cxx tr Cyy))`` (``metric="angular"``) or
    ``sqrt(2 - 2 ||Cxy||_* / sqrt(tr Cxx tr Cyy))`` (``"euclidean"``), with
    ``Cxy = Gwz - Sw Sz^T / n``, ``tr Cxx = tr Gww - |Sw|^2 / n`` about the shift.
    Williams et al. (NeurIPS 2021), eqs. (3)-(4). Raw moments give the standard distance;
    cosine moments (unit rows) give it for the row-normalised features.

    Args:
        m: moments of ``n`` paired rows (:func:`empirics.metrics.moments.accumulate`).
        metric: ``"angular"`` (radians) or ``"euclidean"``.

    Returns:
        :class:`~empirics.metrics._array.Value`: NaN with the reason when ``n < 2``, a
        set has zero variance (no unit-Frobenius scaling exists), or a zero row meets
        cosine moments.

    Raises:
        ValueError: an unknown ``metric``.

    Example:
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
        >>> _, raw = accumulate(x, -x, cosine=False, raw=True)   # a reflection: same shape
        >>> procrustes_from_moments(raw).value < 1e-7
        True
    """
    metric = _check_metric(metric)
    if m.n < 2:
        return Value(float("nan"), f"Procrustes needs at least 2 rows, got n={m.n}")
    if m.cosine and (int(m["zero_x"]) or int(m["zero_y"])):
        return Value(float("nan"), "cosine rows are undefined for zero rows")
    m = _unit_spread(m)
    if _same_rows(m):  # sum (w - z)(w - z)^T = 0: the same rows, the distance is exactly 0
        return Value(0.0)
    n = float(m.n)
    Sw, Sz = m["Sw"], m["Sz"]
    txx = float(m["Gww"].diagonal().sum()) - float((Sw * Sw).sum()) / n
    tyy = float(m["Gzz"].diagonal().sum()) - float((Sz * Sz).sum()) / n
    for name, t in (("X", txx), ("Y", tyy)):
        if not t > 0.0:
            return Value(float("nan"), f"the rows of {name} are all equal (zero "
                                                  "variance): no unit-Frobenius scaling")
    Cxy = m["Gwz"] - torch.outer(Sw, Sz) / n
    nuc = float(torch.linalg.svdvals(Cxy).sum()) / math.sqrt(txx * tyy)
    nuc = min(1.0, max(0.0, nuc))  # rounding only: ||A^T B||_* <= ||A||_F ||B||_F = 1
    if metric == "angular":
        return Value(math.acos(nuc))
    return Value(math.sqrt(max(0.0, 2.0 - 2.0 * nuc)))


def procrustes_distance(X, Y, *, metric: str = "angular") -> float:
    """Orthogonal Procrustes distance of the centred, unit-Frobenius ``X`` and ``Y``.

    ``arccos(||X~^T Y~||_*)`` (default, radians) or ``sqrt(2 - 2 ||X~^T Y~||_*)``
    (``metric="euclidean"``), ``X~ = H X / ||H X||_F``; the narrower set padded with zero
    columns. Williams, Kunz, Kornblith, Linderman (NeurIPS 2021), eqs. (3)-(4). Computed
    from the raw shifted moments (:func:`procrustes_from_moments`), ``O(N (d + e)^2)``.

    Args:
        X: ``(N, d)``; Y: ``(N, e)``: numpy arrays or torch tensors, any real dtype.
        metric: ``"angular"`` or ``"euclidean"``.

    Returns:
        float; NaN plus a ``RuntimeWarning`` when undefined (zero variance, N < 2).

    Raises:
        ValueError: different row counts, NaN or inf, unknown ``metric``.
        TypeError: not an array or tensor.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(1).normal(size=(30, 3))
        >>> bool(0.0 < procrustes_distance(X, np.tanh(X)) < math.pi / 2)
        True
    """
    metric = _check_metric(metric)
    X, Y = as_features(X, "X"), as_features(Y, "Y")
    check_pair(X, Y)
    if X.shape[0] < 2:
        raise ValueError(f"Expected at least 2 rows in `X` and `Y`, got N={X.shape[0]}")
    _, raw = accumulate(X, Y, cosine=False, raw=True, names="`X` and `Y`")
    v = procrustes_from_moments(raw, metric=metric)
    if v.why:
        warn_nan({"procrustes": v.why})
    return v.value
