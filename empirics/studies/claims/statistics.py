"""Intervals over seeds, the verdict rule, and the fits the claims' statistics use.

One statistic of one claim and setting has one value per seed (a difference of CKAs, a
slope, a growth rate, ...), chosen so that its sign is the paper's direction. Over the
seeds it gets an interval (:func:`interval`) and a verdict (:func:`verdict`), by the rule
stated before any run (:data:`VERDICT_RULE`, also in every protocol file and claims.md):

- ``holds`` when the interval excludes zero in the paper's direction;
- ``reversed`` when it excludes zero in the other direction;
- ``inconclusive`` otherwise (zero inside, or no interval: fewer than two seeds).

Intervals: Student t on the seed values (the default): ``mean +- t_{(1+level)/2, n-1}
s / sqrt(n)``; or the percentile bootstrap of the mean (``resamples`` draws from the
``bootstrap`` stream of :mod:`empirics.seeds`). With 3-5 seeds the bootstrap interval is
too narrow (it cannot see beyond the observed values), which is why t is the default.

>>> est, lo, hi, n = interval([0.1, 0.2, 0.3])
>>> round(est, 3), round(lo, 3), round(hi, 3), n
(0.2, -0.048, 0.448, 3)
>>> verdict(0.02, 0.3, "+"), verdict(0.02, 0.3, "-"), verdict(-0.1, 0.3, "+")
('holds', 'reversed', 'inconclusive')
>>> round(slope([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), 6)
2.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "DIRECTIONS",
    "INTERVALS",
    "VERDICTS",
    "VERDICT_RULE",
    "exp_rate",
    "interval",
    "slope",
    "verdict",
]

VERDICTS = ("holds", "reversed", "inconclusive")
DIRECTIONS = ("+", "-")
INTERVALS = ("t", "bootstrap")

#: The verdict rule, as the protocol files and claims.md state it.
VERDICT_RULE = (
    "Each statistic is computed once per seed, with its sign chosen so that the paper's "
    "direction is the stated one (+ or -). Over the seeds it gets a two-sided interval at "
    "the protocol's level (95%): Student t on the seed values by default (mean +- "
    "t_{0.975, n-1} s / sqrt(n)), or the percentile bootstrap of the mean. The verdict is "
    "'holds' when the interval excludes zero in the paper's direction, 'reversed' when it "
    "excludes zero in the other direction, and 'inconclusive' otherwise (zero inside the "
    "interval, or fewer than two seeds with a value). Every verdict is reported, reversed "
    "ones too; the protocol was committed before any result was seen, and nothing is "
    "re-run or re-tuned to change a verdict."
)


def _values(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def interval(values: Sequence[float], *, method: str = "t", level: float = 0.95,
             rng: np.random.Generator | None = None, resamples: int = 10000
             ) -> tuple[float, float, float, int]:
    """The mean of the finite ``values`` and its two-sided ``level`` interval.

    t: ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` (``s`` the sample standard
    deviation). bootstrap: the ``(1-level)/2`` and ``(1+level)/2`` quantiles of the means
    of ``resamples`` resamples with replacement, drawn from ``rng``.

    Args:
        values: one value per seed; NaN and infinities are left out (``n`` counts the rest).
        method: ``"t"`` or ``"bootstrap"``.
        level: coverage, in (0, 1).
        rng: the bootstrap's generator (default: the ``bootstrap`` stream of root seed 0).
        resamples: bootstrap resamples.

    Returns:
        ``(estimate, low, high, n)``; the bounds are NaN, with a ``RuntimeWarning``, when
        fewer than two values are finite (no interval without a spread to estimate).

    Raises:
        ValueError: an unknown ``method`` or ``level`` outside (0, 1).

    >>> interval([1.0, 1.0, 1.0])[1:3]
    (1.0, 1.0)
    """
    if method not in INTERVALS:
        raise ValueError(f"Expected `method` among {', '.join(INTERVALS)}, got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"Expected `level` in (0, 1), got {level!r}")
    x = _values(values)
    n = int(x.size)
    if n == 0:
        warnings.warn("interval: no finite value; estimate and interval are NaN",
                      RuntimeWarning, stacklevel=2)
        return math.nan, math.nan, math.nan, 0
    est = float(x.mean())
    if n < 2:
        warnings.warn("interval: one finite value gives no interval (NaN)", RuntimeWarning,
                      stacklevel=2)
        return est, math.nan, math.nan, n
    if method == "t":
        from scipy import stats

        half = float(stats.t.ppf((1 + level) / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
        return est, est - half, est + half, n
    if rng is None:
        from empirics.seeds import rng as stream

        rng = stream(0, "bootstrap")
    idx = rng.integers(0, n, size=(int(resamples), n))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi), n


def verdict(low: float, high: float, direction: str) -> str:
    """The verdict of an interval ``[low, high]`` for a paper direction ``"+"`` or ``"-"``.

    ``holds`` when the interval excludes zero on the paper's side, ``reversed`` when it
    excludes zero on the other side, ``inconclusive`` otherwise (NaN bounds included).

    Raises:
        ValueError: an unknown ``direction``.

    >>> verdict(-0.3, -0.1, "-"), verdict(0.0, 0.2, "+"), verdict(float("nan"), 1.0, "+")
    ('holds', 'inconclusive', 'inconclusive')
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"Expected `direction` among + and -, got {direction!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    sign = 1.0 if direction == "+" else -1.0
    lo, hi = sorted((sign * low, sign * high))
    if lo > 0:
        return "holds"
    if hi < 0:
        return "reversed"
    return "inconclusive"


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` on ``x`` (points with a NaN left out).

    ``sum (x - xbar)(y - ybar) / sum (x - xbar)^2``; NaN with a ``RuntimeWarning`` when
    fewer than two points remain or every ``x`` is equal.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError(f"Expected `x` and `y` of one shape, got {xa.shape} and {ya.shape}")
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    dx = xa - xa.mean() if xa.size else xa
    if xa.size < 2 or not np.any(dx != 0):
        warnings.warn("slope: fewer than two distinct points; NaN", RuntimeWarning,
                      stacklevel=2)
        return math.nan
    return float((dx * (ya - ya.mean())).sum() / (dx * dx).sum())


def _shape(k: float, s: np.ndarray) -> np.ndarray:
    """``(exp(k s) - 1) / k`` on ``s`` in [0, 1] (``s`` at ``k = 0``): linear at 0."""
    if abs(k) < 1e-9:
        return s.copy()
    return np.expm1(k * s) / k


def exp_rate(S: Sequence[float], y: Sequence[float], *, limit: float = 30.0
             ) -> dict[str, float]:
    """Fit ``y = a (exp(b S) - 1)`` against the linear ``y = a S``; the rate as ``k = b S_T``.

    Theorem 2 ([P2], THEORY.md s8) bounds the weight gap by a multiple of
    ``exp(beta S) - 1``. This fit asks which shape the measured growth has: ``k > 0`` is
    convex (exponential-like) growth, ``k = 0`` linear, ``k < 0`` concave (saturating).
    ``k = b S_T`` is the number of e-foldings over the run, so it does not depend on the
    units of ``S``. For each ``k`` the scale ``a`` is the least-squares one; ``k`` is the
    minimiser of the residual sum of squares over ``[-limit, limit]`` (grid, then bounded
    refinement).

    Args:
        S: the sum of learning rates at each evaluation (``S_0 = 0``).
        y: the measured gap at each evaluation.
        limit: the range of ``k`` searched.

    Returns:
        ``{"k": ..., "rss_exp": ..., "rss_linear": ..., "a": ...}``; NaN (with a warning)
        when fewer than three points with ``S > 0`` are finite.

    >>> S = np.linspace(0, 2, 9)
    >>> round(exp_rate(S, np.expm1(1.5 * S))["k"], 3)  # b = 1.5, S_T = 2
    3.0
    >>> abs(exp_rate(S, 0.7 * S)["k"]) < 1e-3
    True
    """
    Sa, ya = np.asarray(S, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(Sa) & np.isfinite(ya)
    Sa, ya = Sa[ok], ya[ok]
    if int((Sa > 0).sum()) < 3:
        warnings.warn("exp_rate: fewer than three evaluations after S = 0; NaN",
                      RuntimeWarning, stacklevel=2)
        return {"k": math.nan, "rss_exp": math.nan, "rss_linear": math.nan, "a": math.nan}
    s = Sa / Sa.max()

    def fit(k: float) -> tuple[float, float]:
        g = _shape(k, s)
        gg = float(g @ g)
        a = float(g @ ya) / gg if gg > 0 else 0.0
        r = ya - a * g
        return float(r @ r), a

    grid = np.linspace(-limit, limit, 241)
    rss = np.array([fit(k)[0] for k in grid])
    i = int(np.nanargmin(rss))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda k: fit(k)[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    k = float(res.x) if res.fun <= rss[i] else float(grid[i])
    rss_exp, a = fit(k)
    return {"k": k, "rss_exp": rss_exp, "rss_linear": fit(0.0)[0], "a": a}
