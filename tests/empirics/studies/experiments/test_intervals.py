"""Student-t intervals over seeds and the seeded bootstrap of Spearman's rho."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from empirics.studies.intervals import spearman_bootstrap, t_interval


def test_t_interval_by_hand():
    x = [0.7, 0.75, 0.8, 0.9]
    r = t_interval(x)
    half = stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2.0
    assert r["mean"] == pytest.approx(0.7875)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.7875 - half, 0.7875 + half))
    assert r["n"] == 4


def test_t_interval_degenerate_cases_are_nan_not_plausible():
    one = t_interval([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["ci_low"]) and math.isnan(one["std"])
    none = t_interval([float("nan"), None])
    assert none["n"] == 0 and math.isnan(none["mean"])
    with pytest.raises(ValueError, match="`confidence`"):
        t_interval([1.0, 2.0], confidence=1.5)


def test_spearman_bootstrap_is_seeded_and_brackets_the_estimate():
    g = np.random.default_rng(0)
    x = g.normal(size=12)
    y = -x + 0.5 * g.normal(size=12)
    a = spearman_bootstrap(x, y, resamples=500, seed=3)
    b = spearman_bootstrap(x, y, resamples=500, seed=3)
    c = spearman_bootstrap(x, y, resamples=500, seed=4)
    assert a == b and a["ci_low"] != c["ci_low"]
    assert a["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert a["ci_low"] <= a["spearman"] <= a["ci_high"] < 0


def test_spearman_needs_three_varying_settings():
    with pytest.warns(RuntimeWarning, match="3"):
        out = spearman_bootstrap([1.0, 2.0], [2.0, 1.0])
    assert math.isnan(out["spearman"]) and out["n_settings"] == 2
    with pytest.warns(RuntimeWarning):
        assert math.isnan(spearman_bootstrap([1, 1, 1], [1, 2, 3])["spearman"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = spearman_bootstrap([1, 2, np.nan, 3], [3, 2, 1, 1])  # NaN pair dropped
    assert out["n_settings"] == 3


def test_spearman_bad_arguments():
    with pytest.raises(ValueError, match="`resamples`"):
        spearman_bootstrap([1, 2, 3], [1, 2, 3], resamples=0)
    with pytest.raises(ValueError, match="equal length"):
        spearman_bootstrap([1, 2, 3], [1, 2])
