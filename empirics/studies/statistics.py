"""Every statistical helper of the studies: intervals, tests, multiplicity, equivalence,
replication, power, slopes and the growth-shape fit.

One home for the arithmetic that turns per-seed values into reported numbers (the claims
study, the accuracy tables, merging, Fig. 12). Torch-free (numpy and scipy only).

**Intervals over seeds.** ``mean +- t_{(1+level)/2, n-1} s / sqrt(n)`` with ``s`` the
sample standard deviation (``ddof = 1``): :func:`interval` (a tuple, or the percentile
bootstrap of the mean as an option) and :func:`t_interval` (a dict with the ``std``).

**Tests** (the claims study's verdict rule, docs/claims.md):

- :func:`t_test_p`: two-sided one-sample t test of mean 0 on the per-seed values,
  ``t = mean / (s / sqrt(n))``, ``p = 2 P(T_{n-1} >= |t|)``;
- :func:`holm`: Holm's step-down adjustment of a family of p-values (Holm 1979):
  sorted ascending, ``p_(i) * (m - i + 1)``, made monotone by a running maximum, capped at 1;
- :func:`tost_p`: two one-sided t tests of ``|mean| >= delta`` (Schuirmann 1987); the
  equivalence holds at level ``alpha`` iff ``p < alpha`` iff the ``1 - 2 alpha`` t interval
  lies strictly inside ``(-delta, +delta)``;
- :func:`decide`: holds / reversed / absent / inconclusive from one set of values;
  :func:`replicate`: the final verdict of two disjoint seed sets (``unstable`` when they
  disagree); :func:`split_seeds`: the two sets (even seeds discover, odd seeds replicate);
- :func:`seeds_for_power`: seeds per set for a given power (normal approximation, then the
  t-distribution correction by iteration).

>>> est, lo, hi, n = interval([0.1, 0.2, 0.3])
>>> round(est, 3), round(lo, 3), round(hi, 3), n
(0.2, -0.048, 0.448, 3)
>>> [round(p, 3) for p in holm([0.01, 0.04, 0.03, 0.005])]
[0.03, 0.06, 0.06, 0.02]
>>> seeds_for_power(1.0, 1.0, alpha=0.05, power=0.8, sets=1)
10
>>> replicate("holds", "holds"), replicate("holds", "inconclusive")
('holds', 'unstable')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "DIRECTIONS",
    "INTERVALS",
    "VERDICTS",
    "decide",
    "finite",
    "growth_shape",
    "holm",
    "interval",
    "replicate",
    "seeds_for_power",
    "slope",
    "spearman_bootstrap",
    "split_seeds",
    "t_interval",
    "t_test_p",
    "tost_p",
]

#: The two-sided level of every interval, and the test level ``alpha = 1 - CONFIDENCE``.
CONFIDENCE = 0.95
ALPHA = 0.05
#: Verdicts of a tested statistic; ``descriptive`` is the mark of a statistic with no
#: predicted sign (direction ``none``), which gets an interval and no test.
VERDICTS = ("holds", "reversed", "absent", "inconclusive", "unstable")
#: Paper directions: ``+`` / ``-`` a predicted sign, ``none`` a shape without a prediction.
DIRECTIONS = ("+", "-", "none")
INTERVALS = ("t", "bootstrap")


def finite(values: Sequence[float]) -> np.ndarray:
    """The finite entries of ``values`` as a float array (``None`` and NaN left out)."""
    x = np.asarray([np.nan if v is None else float(v) for v in np.ravel(values)], dtype=float)
    return x[np.isfinite(x)]


def _check_level(name: str, level: float) -> None:
    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise ValueError(f"Expected `{name}` in (0, 1), got {level!r}")


# ------------------------------------------------------------------------------ intervals
def interval(values: Sequence[float], *, method: str = "t", level: float = CONFIDENCE,
             rng: np.random.Generator | None = None, resamples: int = 10000
             ) -> tuple[float, float, float, int]:
    """The mean of the finite ``values`` and its two-sided ``level`` interval.

    t: ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` (``s`` the sample standard
    deviation, ``ddof = 1``). bootstrap: the ``(1-level)/2`` and ``(1+level)/2`` quantiles
    of the means of ``resamples`` resamples with replacement, drawn from ``rng`` (with 3-5
    seeds it cannot see beyond the observed values and is too narrow; t is the default).

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
    _check_level("level", level)
    x = finite(values)
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
    lo, hi = np.quantile(x[idx].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi), n


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean, sample std (``ddof = 1``) and Student-t interval of ``values`` as a dict.

    Returns:
        ``{"mean", "std", "ci_low", "ci_high", "n"}``; with one value ``std`` and the
        bounds are NaN, with none everything is NaN and ``n`` is 0 (no warning: the
        studies' tables carry ``n_seeds`` beside every interval).

    Raises:
        ValueError: ``confidence`` outside (0, 1).

    >>> r = t_interval([0.80, 0.82, 0.84])
    >>> round(r["mean"], 3), round(r["std"], 3), round(r["ci_low"], 3), r["n"]
    (0.82, 0.02, 0.77, 3)
    """
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"Expected `confidence` in (0, 1), got {confidence!r}")
    x = finite(values)
    with warnings.catch_warnings():  # one seed: no interval, said by n (every table shows it)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high, n = interval(x, method="t", level=confidence)
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci_low": low, "ci_high": high, "n": n}


# ------------------------------------------------------------------------------ tests
def t_test_p(values: Sequence[float]) -> float:
    """Two-sided p-value of the one-sample t test of mean 0 on the finite ``values``.

    ``t = mean / (s / sqrt(n))`` (``s`` with ``ddof = 1``), ``p = 2 P(T_{n-1} >= |t|)``.
    NaN for fewer than two values; with no spread, 0 for a nonzero mean and 1 for a zero
    one (the limit of the test).

    >>> round(t_test_p([1.0, 2.0, 3.0]), 4)
    0.0742
    """
    from scipy import stats

    x = finite(values)
    n = x.size
    if n < 2:
        return math.nan
    s = float(x.std(ddof=1))
    mean = float(x.mean())
    if s == 0.0:
        return 0.0 if mean != 0.0 else 1.0
    t = mean / (s / math.sqrt(n))
    return float(2.0 * stats.t.sf(abs(t), n - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values of one family (same order as given).

    Sorted ascending, the ``i``-th (1-based) of ``m`` becomes ``min(1, (m - i + 1) p_(i))``
    and then the running maximum. A NaN p-value (a statistic without a value) stays NaN
    and counts in ``m`` as if it were 1, so the others are never adjusted less because a
    member of the family is missing.

    >>> holm([0.01, float("nan")])
    [0.02, nan]
    """
    p = np.array([np.nan if v is None else float(v) for v in pvalues], dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"Expected p-values in [0, 1], got {list(pvalues)!r}")
    m = p.size
    work = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(work, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * work[i]))
        adjusted[i] = running
    adjusted[np.isnan(p)] = np.nan
    return [float(v) for v in adjusted]


def tost_p(values: Sequence[float], delta: float) -> float:
    """p-value of the two one-sided t tests of equivalence to zero within ``+-delta``.

    ``p = max(P(T >= (mean + delta)/se), P(T <= (mean - delta)/se))``, ``T ~ t_{n-1}``,
    ``se = s / sqrt(n)``; ``p < alpha`` iff the ``1 - 2 alpha`` t interval lies strictly
    inside ``(-delta, delta)``. NaN for fewer than two values or a ``delta`` that is not a
    positive number (no equivalence margin: no equivalence test).

    >>> round(tost_p([0.01, -0.01, 0.0, 0.005], 0.1), 6) < 0.001
    True
    """
    from scipy import stats

    x = finite(values)
    n = x.size
    if n < 2 or not (isinstance(delta, (int, float)) and math.isfinite(delta) and delta > 0):
        return math.nan
    mean, s = float(x.mean()), float(x.std(ddof=1))
    if s == 0.0:
        return 0.0 if abs(mean) < delta else 1.0
    se = s / math.sqrt(n)
    lower = float(stats.t.sf((mean + delta) / se, n - 1))
    upper = float(stats.t.cdf((mean - delta) / se, n - 1))
    return max(lower, upper)


def decide(low: float, high: float, p_adjusted: float, direction: str, *,
           p_equivalence: float = math.nan, alpha: float = ALPHA) -> str:
    """The verdict of one tested statistic on one set of seeds (docs/claims.md).

    - ``holds`` / ``reversed``: the interval ``[low, high]`` excludes 0 **and** the
      (Holm-adjusted, for a primary) p-value is below ``alpha``; ``holds`` when on the
      paper's side of 0 (``direction`` ``+`` or ``-``);
    - ``absent``: otherwise, when the equivalence test passes (``p_equivalence < alpha``);
    - ``inconclusive``: otherwise (NaN bounds or p-values included).

    Raises:
        ValueError: an unknown ``direction`` (``none`` has no test: see :data:`DIRECTIONS`).

    >>> decide(0.1, 0.5, 0.01, "+"), decide(0.1, 0.5, 0.01, "-"), decide(0.1, 0.5, 0.2, "+")
    ('holds', 'reversed', 'inconclusive')
    >>> decide(-0.1, 0.1, 0.5, "+", p_equivalence=0.01)
    'absent'
    """
    if direction not in ("+", "-"):
        raise ValueError(f"Expected `direction` among + and -, got {direction!r}")
    _check_level("alpha", alpha)
    if (math.isfinite(low) and math.isfinite(high) and math.isfinite(p_adjusted)
            and p_adjusted < alpha and (low > 0 or high < 0)):
        positive = low > 0
        return "holds" if positive == (direction == "+") else "reversed"
    if math.isfinite(p_equivalence) and p_equivalence < alpha:
        return "absent"
    return "inconclusive"


def replicate(discovery: str, replication: str) -> str:
    """The final verdict of two disjoint seed sets: their common verdict, ``unstable``
    when they differ (a verdict stands only where both sets give it).

    Raises:
        ValueError: a verdict that is not one of a single set's.
    """
    for name, v in (("discovery", discovery), ("replication", replication)):
        if v not in ("holds", "reversed", "absent", "inconclusive"):
            raise ValueError(f"Expected `{name}` among holds, reversed, absent, "
                             f"inconclusive, got {v!r}")
    return discovery if discovery == replication else "unstable"


def split_seeds(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """The two disjoint seed sets: even seeds discover, odd seeds replicate.

    Parity, not halves, so a study that adds seeds keeps every earlier seed in its set.

    >>> split_seeds(range(5))
    ([0, 2, 4], [1, 3])
    """
    s = sorted(int(v) for v in seeds)
    return [v for v in s if v % 2 == 0], [v for v in s if v % 2 == 1]


def seeds_for_power(sd: float, effect: float, *, alpha: float = ALPHA / 6,
                    power: float = 0.8, sets: int = 2, max_n: int = 10000) -> int:
    """Seeds per set for a two-sided one-sample t test at level ``alpha`` to detect a mean
    of ``effect`` with a per-seed standard deviation ``sd``.

    Every one of ``sets`` disjoint seed sets must show the effect, so each set needs power
    ``power ** (1 / sets)`` (the joint power is then ``power``). Normal approximation
    ``n = ((z_{1-alpha/2} + z_{power_1}) sd / effect)^2``, then the t correction by
    iteration: from that ``n`` upwards, the smallest ``n`` (at least 2) that meets its own
    requirement ``n >= ((t_{1-alpha/2, n-1} + t_{power_1, n-1}) sd / effect)^2`` (the
    fixed point of the usual iteration, found without its oscillation at small ``n``).

    Args:
        sd: the per-seed standard deviation (a pilot's).
        effect: the mean to detect (nonzero).
        alpha: the two-sided level (default ``0.05 / 6``: Holm's first step over six
            primaries, its worst case).
        power: the joint power of the ``sets`` sets.
        sets: disjoint seed sets that must each show the effect.

    Returns:
        The seeds of ONE set (the study needs ``sets`` times as many).

    Raises:
        ValueError: a non-positive or non-finite ``sd`` or ``effect``, ``alpha`` or
            ``power`` outside (0, 1), ``sets < 1``.

    >>> seeds_for_power(1.0, 1.0, alpha=0.05, power=0.8, sets=1)  # G*Power: 10
    10
    """
    from scipy import stats

    for name, v in (("sd", sd), ("effect", abs(effect) if isinstance(effect, (int, float))
                                 else effect)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"Expected `{name}` to be a positive finite number, got {v!r}")
    _check_level("alpha", alpha)
    _check_level("power", power)
    if isinstance(sets, bool) or not isinstance(sets, int) or sets < 1:
        raise ValueError(f"Expected `sets` >= 1, got {sets!r}")
    each = power ** (1.0 / sets)
    ratio = sd / abs(effect)

    def needed(n: int) -> float:  # the t-corrected requirement at n seeds
        df = n - 1
        return ((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(each, df)) * ratio) ** 2

    n = max(2, math.ceil(((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(each)) * ratio) ** 2))
    while n < max_n and needed(n) > n:  # the smallest n that meets its own requirement
        n += 1
    return int(n)


# ------------------------------------------------------------------------------ fits
def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` on ``x`` (points with a NaN left out).

    ``sum (x - xbar)(y - ybar) / sum (x - xbar)^2``; NaN with a ``RuntimeWarning`` when
    fewer than two points remain or every ``x`` is equal.

    >>> round(slope([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), 6)
    2.0
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


def growth_shape(S: Sequence[float], y: Sequence[float], *, limit: float = 30.0
                 ) -> dict[str, float]:
    """Shape of a growth curve: fit ``y = c + a (exp(b (S - S_1)) - 1)`` with a free
    intercept ``c``, on the evaluations after the first (``S > S_min``).

    ``k = b (S_T - S_1)`` is the number of e-foldings over the fitted span: ``k > 0``
    convex (exponential-like), ``0`` linear, ``k < 0`` concave (saturating). A shape, not a
    test: [P2] Theorem 2 bounds the weight distance by a multiple of ``exp(beta S) - 1``
    from above, and any shape below the bound is consistent with it. For each ``k`` the
    pair ``(c, a)`` is least squares; ``k`` minimises the residual sum of squares over
    ``[-limit, limit]`` (grid, then bounded refinement).

    Returns:
        ``{"k", "a", "c", "rss", "rss_linear", "points"}``; NaN (with a warning) when
        fewer than three finite points remain after the first evaluation.

    >>> S = np.linspace(0, 2, 9)
    >>> round(growth_shape(S, 5.0 + np.expm1(1.5 * S))["k"], 3)  # b = 1.5 over S 0.25..2
    2.625
    >>> abs(growth_shape(S, 3.0 + 0.7 * S)["k"]) < 1e-3
    True
    """
    Sa, ya = np.asarray(S, dtype=float), np.asarray(y, dtype=float)
    if Sa.shape != ya.shape:
        raise ValueError(f"Expected `S` and `y` of one shape, got {Sa.shape} and {ya.shape}")
    ok = np.isfinite(Sa) & np.isfinite(ya)
    Sa, ya = Sa[ok], ya[ok]
    nan = {"k": math.nan, "a": math.nan, "c": math.nan, "rss": math.nan,
           "rss_linear": math.nan, "points": 0}
    if Sa.size:
        keep = Sa > Sa.min()
        Sa, ya = Sa[keep], ya[keep]
    if Sa.size < 3 or np.ptp(Sa) == 0:
        warnings.warn("growth_shape: fewer than three evaluations after the first; NaN",
                      RuntimeWarning, stacklevel=2)
        return nan
    s = (Sa - Sa.min()) / np.ptp(Sa)

    def fit(k: float) -> tuple[float, float, float]:
        A = np.column_stack([np.ones_like(s), _shape(k, s)])
        coef, *_ = np.linalg.lstsq(A, ya, rcond=None)
        r = ya - A @ coef
        return float(r @ r), float(coef[1]), float(coef[0])

    grid = np.linspace(-limit, limit, 241)
    rss = np.array([fit(k)[0] for k in grid])
    i = int(np.nanargmin(rss))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda k: fit(k)[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    k = float(res.x) if res.fun <= rss[i] else float(grid[i])
    r, a, c = fit(k)
    return {"k": k, "a": a, "c": c, "rss": r, "rss_linear": fit(0.0)[0],
            "points": int(Sa.size)}


def spearman_bootstrap(x: Sequence[float], y: Sequence[float], *, resamples: int = 2000,
                       seed: int = 0, key: str = "spearman",
                       confidence: float = CONFIDENCE) -> dict:
    """Spearman's rho of ``(x_k, y_k)`` over settings ``k`` and its bootstrap interval.

    Percentile interval from ``resamples`` resamples of the settings with replacement,
    drawn from ``rng(seed, "bootstrap", key)`` (:mod:`empirics.seeds`); resamples whose
    ranks are constant have no correlation and are dropped and counted.

    Returns:
        ``{"spearman", "ci_low", "ci_high", "n_settings", "resamples", "dropped"}``.
        ``spearman`` is NaN (with a ``RuntimeWarning``) for fewer than 3 settings or
        constant values; the interval is NaN when fewer than half of the resamples are
        usable.

    >>> out = spearman_bootstrap([0.9, 0.8, 0.7, 0.6], [1.0, 2.0, 3.0, 5.0], resamples=200)
    >>> out["spearman"], out["n_settings"]
    (-1.0, 4)
    """
    from scipy import stats

    from empirics.seeds import rng

    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"Expected `resamples` >= 1, got {resamples!r}")
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"Expected `x` and `y` of one equal length, got shapes {a.shape} "
                         f"and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    out = {"spearman": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_settings": n,
           "resamples": resamples, "dropped": 0}
    if n < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        warnings.warn(f"spearman: {n} settings with finite values (need 3 with varying "
                      "values); returning NaN", RuntimeWarning, stacklevel=2)
        return out
    out["spearman"] = float(stats.spearmanr(a, b).statistic)
    g = rng(seed, "bootstrap", key)
    idx = g.integers(0, n, size=(resamples, n))
    ra = stats.rankdata(a[idx], axis=1)
    rb = stats.rankdata(b[idx], axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    ok = den > 0
    rhos = (ra * rb).sum(1)[ok] / den[ok]
    out["dropped"] = int((~ok).sum())
    if rhos.size >= resamples / 2:
        alpha = (1.0 - confidence) / 2.0
        out["ci_low"], out["ci_high"] = (float(v) for v in np.quantile(rhos, [alpha,
                                                                             1 - alpha]))
    return out
