"""The studies' statistics against known answers: t intervals (sample std, ddof = 1), the
one-sample t test, Holm, TOST, the verdict and replication rules, the power calculation,
slopes, the growth-shape fit and the seeded Spearman bootstrap."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from empirics.seeds import rng
from empirics.studies.statistics import (
    decide,
    growth_shape,
    holm,
    interval,
    replicate,
    seeds_for_power,
    slope,
    spearman_bootstrap,
    split_seeds,
    t_interval,
    t_test_p,
    tost_p,
)


# ------------------------------------------------------------------- intervals, t test
def test_t_interval_known_answer():
    # x = 1, 2, 3, 4: mean 2.5; sample std sqrt(5/3) = 1.2909944 (ddof = 1; ddof = 0 would
    # give 1.1180340); t_{0.975, 3} = 3.1824463 (tables); half = t s / 2 = 2.0542603
    r = t_interval([1.0, 2.0, 3.0, 4.0])
    assert r["mean"] == 2.5 and r["n"] == 4
    assert r["std"] == pytest.approx(1.2909944487, abs=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.4457397, 4.5542603), abs=1e-6)
    assert interval([1.0, 2.0, 3.0, 4.0])[1:3] == pytest.approx((0.4457397, 4.5542603),
                                                                 abs=1e-6)


def test_t_interval_degenerate_cases_are_nan_not_plausible():
    one = t_interval([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["ci_low"]) and math.isnan(one["std"])
    none = t_interval([float("nan"), None])
    assert none["n"] == 0 and math.isnan(none["mean"])
    with pytest.raises(ValueError, match="`confidence`"):
        t_interval([1.0, 2.0], confidence=1.5)
    with pytest.warns(RuntimeWarning, match="no interval"):
        est, lo, hi, n = interval([0.3, float("nan")])
    assert est == 0.3 and math.isnan(lo) and n == 1


@pytest.mark.parametrize("values", [[0.1, 0.25, 0.2], [1.0, -2.0, 0.5, 3.0, 0.0]])
def test_t_interval_is_scipys(values):
    _, lo, hi, _ = interval(values)
    x = np.asarray(values)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, len(x) - 1, loc=x.mean(),
                                                      scale=stats.sem(x)))


def test_bootstrap_is_seeded_and_within_the_data():
    x = [0.1, 0.4, 0.2, 0.35, 0.3]
    a = interval(x, method="bootstrap", rng=rng(0, "bootstrap", "C1"), resamples=500)
    b = interval(x, method="bootstrap", rng=rng(0, "bootstrap", "C1"), resamples=500)
    assert a == b and min(x) <= a[1] <= a[0] <= a[2] <= max(x)


def test_t_test_known_answer_and_scipy_twin():
    # x = 1, 2, 3: t = 2 / (1 / sqrt 3) = 3.4641, df 2: two-sided p = 0.0741799
    assert t_test_p([1.0, 2.0, 3.0]) == pytest.approx(0.0741799, abs=1e-6)
    g = np.random.default_rng(1)
    for _ in range(5):
        x = g.normal(0.3, 1.0, size=7)
        assert t_test_p(x) == pytest.approx(stats.ttest_1samp(x, 0.0).pvalue, rel=1e-10)
    assert math.isnan(t_test_p([1.0]))
    assert t_test_p([0.25, 0.25, 0.25]) == 0.0 and t_test_p([0.0, 0.0]) == 1.0


# ------------------------------------------------------------------- Holm, TOST
def test_holm_known_answer():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04, then the
    # running maximum: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.01, float("nan"), 0.02])  # NaN counts in m as 1
    assert out[0] == pytest.approx(0.03) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    with pytest.raises(ValueError, match="p-values in"):
        holm([1.5])


def test_holm_brute_force_twin():
    g = np.random.default_rng(4)
    for _ in range(20):
        p = g.uniform(0, 0.2, size=6)
        m = p.size
        order = np.argsort(p)
        want = np.empty(m)
        for rank, i in enumerate(order):  # max over the earlier steps of (m - j) p_(j)
            want[i] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
        assert holm(p) == pytest.approx(want.tolist())


def test_tost_is_the_90_percent_interval_inside_delta():
    x = [0.1, -0.1, 0.05, -0.05]  # mean 0, s = 0.0912871, se = 0.0456435
    se = np.std(x, ddof=1) / 2
    assert tost_p(x, 0.2) == pytest.approx(stats.t.sf(0.2 / se, 3))  # 0.2/se = 4.3818
    g = np.random.default_rng(2)
    for _ in range(50):
        v = g.normal(g.uniform(-0.3, 0.3), 0.2, size=int(g.integers(3, 9)))
        delta = float(g.uniform(0.05, 0.5))
        _, lo, hi, _ = interval(v, level=0.90)
        assert (tost_p(v, delta) < 0.05) == (-delta < lo and hi < delta)
    assert math.isnan(tost_p(x, math.nan)) and math.isnan(tost_p([0.1], 0.2))


# ------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("low,high,p,direction,p_eq,want", [
    (0.1, 0.5, 0.01, "+", math.nan, "holds"),
    (0.1, 0.5, 0.01, "-", math.nan, "reversed"),
    (-0.5, -0.1, 0.01, "-", math.nan, "holds"),
    (0.1, 0.5, 0.06, "+", math.nan, "inconclusive"),     # interval excludes 0, Holm p does not
    (-0.1, 0.5, 0.01, "+", math.nan, "inconclusive"),    # Holm p small, interval holds 0
    (0.0, 0.5, 0.01, "+", math.nan, "inconclusive"),     # 0 on the boundary is not excluded
    (-0.1, 0.1, 0.5, "+", 0.01, "absent"),
    (-0.1, 0.1, 0.5, "+", 0.2, "inconclusive"),
    (0.01, 0.02, 0.001, "+", 0.001, "holds"),            # significant and small: holds
    (math.nan, 0.5, 0.01, "+", math.nan, "inconclusive"),
])
def test_decide(low, high, p, direction, p_eq, want):
    assert decide(low, high, p, direction, p_equivalence=p_eq) == want


def test_decide_rejects_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        decide(0.1, 0.2, 0.01, "none")
    with pytest.raises(ValueError, match="alpha"):
        decide(0.1, 0.2, 0.01, "+", alpha=2.0)


@pytest.mark.parametrize("a,b,want", [
    ("holds", "holds", "holds"), ("absent", "absent", "absent"),
    ("inconclusive", "inconclusive", "inconclusive"), ("holds", "inconclusive", "unstable"),
    ("holds", "reversed", "unstable"), ("absent", "holds", "unstable"),
])
def test_replicate(a, b, want):
    assert replicate(a, b) == want


def test_replicate_rejects_a_final_verdict():
    with pytest.raises(ValueError, match="`discovery`"):
        replicate("unstable", "holds")


def test_split_seeds_by_parity():
    assert split_seeds([5, 0, 3, 2, 1, 4]) == ([0, 2, 4], [1, 3, 5])
    a, b = split_seeds(range(8))
    assert not set(a) & set(b) and split_seeds(range(10))[0][:4] == a


# ------------------------------------------------------------------- power
@pytest.mark.parametrize("d,n", [(1.0, 10), (0.8, 15), (0.5, 34), (0.3, 90)])
def test_power_matches_gpower(d, n):
    # G*Power, one-sample t test, two-tailed, alpha 0.05, power 0.8 (Cohen's d)
    assert seeds_for_power(1.0, d, alpha=0.05, power=0.8, sets=1) == n
    assert seeds_for_power(2.0, 2 * d, alpha=0.05, power=0.8, sets=1) == n  # scale-free


def test_power_exact_twin_and_two_sets():
    # the noncentral t's exact power at the returned n reaches the per-set target
    for sd, effect in ((1.0, 0.7), (0.05, 0.03), (0.2, 0.37)):
        alpha, each = 0.05 / 6, 0.8 ** 0.5
        n = seeds_for_power(sd, effect, alpha=alpha, power=0.8, sets=2)
        crit = stats.t.ppf(1 - alpha / 2, n - 1)
        nc = effect / (sd / math.sqrt(n))
        exact = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
        assert exact >= each - 0.01
        assert n >= seeds_for_power(sd, effect, alpha=alpha, power=0.8, sets=1)


@pytest.mark.parametrize("kw", [dict(sd=0.0, effect=1.0), dict(sd=1.0, effect=0.0),
                                dict(sd=math.nan, effect=1.0), dict(sd=1.0, effect=1.0,
                                                                   power=1.0),
                                dict(sd=1.0, effect=1.0, sets=0)])
def test_power_rejects_bad_arguments(kw):
    with pytest.raises(ValueError, match="Expected"):
        seeds_for_power(**kw)


# ------------------------------------------------------------------- fits
def test_slope_is_least_squares():
    x, y = np.log([2, 5, 10, 20]), np.array([0.5, 0.6, 0.72, 0.8])
    assert slope(x, y) == pytest.approx(np.polyfit(x, y, 1)[0])
    assert slope([1, 2, float("nan")], [1.0, 3.0, 7.0]) == pytest.approx(2.0)
    with pytest.warns(RuntimeWarning):
        assert math.isnan(slope([1.0, 1.0], [0.0, 1.0]))


@pytest.mark.parametrize("shape,k", [
    (lambda S: 3.0 + np.expm1(2.0 * S), 2.0 * 4.5),   # convex: b = 2 over S 0.5..5
    (lambda S: 7.0 + 0.4 * S, 0.0),                    # linear with an intercept: k = 0
])
def test_growth_shape_known_answers(shape, k):
    S = np.linspace(0.0, 5.0, 11)
    fit = growth_shape(S, shape(S))
    assert fit["k"] == pytest.approx(k, abs=1e-3) and fit["points"] == 10
    assert fit["rss"] <= fit["rss_linear"] + 1e-12


def test_growth_shape_concave_and_too_few_points():
    S = np.linspace(0.0, 5.0, 11)
    assert growth_shape(S, 1 - np.exp(-S))["k"] < -1
    with pytest.warns(RuntimeWarning, match="three"):
        assert math.isnan(growth_shape([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])["k"])


def test_spearman_bootstrap_is_seeded_and_brackets_the_estimate():
    g = np.random.default_rng(0)
    x = g.normal(size=12)
    y = -x + 0.5 * g.normal(size=12)
    a = spearman_bootstrap(x, y, resamples=500, seed=3)
    assert a == spearman_bootstrap(x, y, resamples=500, seed=3)
    assert a["ci_low"] != spearman_bootstrap(x, y, resamples=500, seed=4)["ci_low"]
    assert a["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert a["ci_low"] <= a["spearman"] <= a["ci_high"] < 0


def test_spearman_degenerate_and_bad_arguments():
    with pytest.warns(RuntimeWarning, match="3"):
        assert math.isnan(spearman_bootstrap([1.0, 2.0], [2.0, 1.0])["spearman"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spearman_bootstrap([1, 2, np.nan, 3], [3, 2, 1, 1])["n_settings"] == 3
    with pytest.raises(ValueError, match="`resamples`"):
        spearman_bootstrap([1, 2, 3], [1, 2, 3], resamples=0)
