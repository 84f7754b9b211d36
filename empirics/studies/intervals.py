"""Intervals of the experiment studies: Student t over seeds, a seeded bootstrap over settings.

- :func:`t_interval`: the mean of ``n`` per-seed values and its two-sided 95% interval
  ``mean +- t_{0.975, n-1} s / sqrt(n)`` (Student t, ``s`` the sample standard deviation).
  Undefined for one seed: NaN bounds (never a zero-width interval).
- :func:`spearman_bootstrap`: Spearman's rank correlation of paired values (one pair per
  setting) and its percentile 95% interval from ``B`` bootstrap resamples of the settings
  (with replacement), drawn from ``rng(seed, "bootstrap", key)`` (:mod:`empirics.seeds`).
  Resamples whose ranks are constant (every draw the same setting) have no correlation;
  they are dropped and counted.

Torch-free (numpy and scipy only).

>>> r = t_interval([0.80, 0.82, 0.84])
>>> round(r["mean"], 3), round(r["ci_low"], 3), round(r["ci_high"], 3), r["n"]
(0.82, 0.77, 0.87, 3)
>>> t_interval([0.5])["ci_low"]
nan
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["CONFIDENCE", "spearman_bootstrap", "t_interval"]

CONFIDENCE = 0.95


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean, sample std and Student-t interval of ``values`` (None and NaN are dropped).

    The interval is the claims study's (:func:`empirics.studies.claims.statistics.interval`
    with ``method="t"``), as a dict.

    Returns:
        ``{"mean", "std", "ci_low", "ci_high", "n"}``; with one value ``std`` and the
        bounds are NaN, with none everything is NaN and ``n`` is 0 (no warning: the
        studies' tables carry ``n_seeds`` beside every interval, and a one-seed plan is
        a normal quick look).

    Raises:
        ValueError: ``confidence`` outside (0, 1).
    """
    from empirics.studies.claims.statistics import interval

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Expected `confidence` in (0, 1), got {confidence!r}")
    x = np.asarray([float(v) for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    with warnings.catch_warnings():  # one seed: no interval, said by n (every table shows it)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high, n = interval(x, method="t", level=confidence)
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci_low": low, "ci_high": high, "n": n}


def spearman_bootstrap(x: Sequence[float], y: Sequence[float], *, resamples: int = 2000,
                       seed: int = 0, key: str = "spearman",
                       confidence: float = CONFIDENCE) -> dict:
    """Spearman's rho of ``(x_k, y_k)`` over settings ``k`` and its bootstrap interval.

    Args:
        x, y: one value per setting (pairs with a NaN are dropped first).
        resamples: bootstrap resamples of the settings (with replacement).
        seed, key: the stream ``rng(seed, "bootstrap", key)``.
        confidence: the two-sided level of the percentile interval.

    Returns:
        ``{"spearman", "ci_low", "ci_high", "n_settings", "resamples", "dropped"}``.
        ``spearman`` is NaN (with a ``RuntimeWarning``) for fewer than 3 settings or
        constant values; the interval is NaN when fewer than half of the resamples are
        usable.

    Example:
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
