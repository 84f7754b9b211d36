"""Intervals, the verdict rule on synthetic numbers, slopes and the growth-shape fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from empirics.seeds import rng
from empirics.studies.claims.statistics import (
    VERDICT_RULE,
    exp_rate,
    interval,
    slope,
    verdict,
)


@pytest.mark.parametrize("values", [[0.1, 0.25, 0.2], [1.0, -2.0, 0.5, 3.0, 0.0],
                                    [5.0, 5.5]])
def test_t_interval_is_scipys(values):
    est, lo, hi, n = interval(values, method="t", level=0.95)
    x = np.asarray(values)
    want = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert n == len(x) and est == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(want)


def test_interval_leaves_out_nan_and_needs_two_values():
    assert interval([1.0, float("nan"), 3.0])[3] == 2
    with pytest.warns(RuntimeWarning, match="no interval"):
        est, lo, hi, n = interval([0.3, float("nan")])
    assert est == 0.3 and math.isnan(lo) and math.isnan(hi) and n == 1
    with pytest.warns(RuntimeWarning, match="no finite value"):
        assert interval([])[3] == 0


def test_wider_level_gives_wider_interval():
    x = [0.1, 0.3, 0.2, 0.5]
    _, lo90, hi90, _ = interval(x, level=0.90)
    _, lo99, hi99, _ = interval(x, level=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_bootstrap_is_seeded_and_within_the_data():
    x = [0.1, 0.4, 0.2, 0.35, 0.3]
    a = interval(x, method="bootstrap", rng=rng(0, "bootstrap", "C1", "s"), resamples=500)
    b = interval(x, method="bootstrap", rng=rng(0, "bootstrap", "C1", "s"), resamples=500)
    assert a == b
    assert min(x) <= a[1] <= a[0] <= a[2] <= max(x)


@pytest.mark.parametrize("bad", [dict(method="z"), dict(level=1.0), dict(level=0)])
def test_interval_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="Expected"):
        interval([1.0, 2.0], **bad)


@pytest.mark.parametrize("low,high,direction,want", [
    (0.1, 0.5, "+", "holds"), (0.1, 0.5, "-", "reversed"),
    (-0.5, -0.1, "-", "holds"), (-0.5, -0.1, "+", "reversed"),
    (-0.1, 0.5, "+", "inconclusive"), (-0.1, 0.5, "-", "inconclusive"),
    (0.0, 0.5, "+", "inconclusive"),  # zero on the boundary is not excluded
    (-0.5, 0.0, "-", "inconclusive"),
    (float("nan"), 0.5, "+", "inconclusive"), (0.1, float("inf"), "+", "inconclusive"),
])
def test_verdict_rule_on_synthetic_intervals(low, high, direction, want):
    assert verdict(low, high, direction) == want


@pytest.mark.parametrize("values,direction,want", [
    ([0.9, 1.1, 1.0], "+", "holds"),       # every seed positive, tight: excludes zero
    ([0.9, 1.1, 1.0], "-", "reversed"),
    ([-0.2, -0.3, -0.25, -0.2, -0.22], "-", "holds"),
    ([-1.0, 1.2, 0.1], "+", "inconclusive"),
    ([0.5, 0.5, 0.5], "+", "holds"),       # no spread: the interval is the point
    ([0.0, 0.0, 0.0], "+", "inconclusive"),
    ([2.0], "+", "inconclusive"),          # one seed: no interval
])
def test_verdict_rule_on_synthetic_seed_values(values, direction, want):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, lo, hi, _ = interval(values)
    assert verdict(lo, hi, direction) == want


def test_verdict_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        verdict(0.1, 0.2, "up")


def test_the_rule_text_states_the_three_verdicts():
    for word in ("holds", "reversed", "inconclusive", "Student t", "bootstrap"):
        assert word in VERDICT_RULE


def test_slope_is_least_squares():
    x, y = np.log([2, 5, 10, 20]), np.array([0.5, 0.6, 0.72, 0.8])
    assert slope(x, y) == pytest.approx(np.polyfit(x, y, 1)[0])
    assert slope([1, 2, float("nan")], [1.0, 3.0, 7.0]) == pytest.approx(2.0)
    with pytest.warns(RuntimeWarning):
        assert math.isnan(slope([1.0, 1.0], [0.0, 1.0]))
    with pytest.raises(ValueError, match="one shape"):
        slope([1.0, 2.0], [1.0])


@pytest.mark.parametrize("shape,sign", [(lambda s: np.expm1(2.0 * s), 1),
                                        (lambda s: 1 - np.exp(-3.0 * s), -1),
                                        (lambda s: 0.4 * s, 0)])
def test_growth_shape_sign(shape, sign):
    S = np.linspace(0.0, 5.0, 11)
    fit = exp_rate(S, shape(S))
    if sign == 0:
        assert abs(fit["k"]) < 1e-3
    else:
        assert np.sign(fit["k"]) == sign and abs(fit["k"]) > 1
    assert fit["rss_exp"] <= fit["rss_linear"] + 1e-12


def test_growth_shape_needs_three_points():
    with pytest.warns(RuntimeWarning, match="three"):
        assert math.isnan(exp_rate([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])["k"])
