"""The verdict rule on per-seed values: known answers for Holm, equivalence and replication,
and a brute-force twin of the whole rule written from its statement (scipy's tests, an
explicit Holm loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from empirics.studies.claims.catalog import lookup, primaries
from empirics.studies.claims.verdicts import VERDICT_RULE, verdict_table

KEYS = [(s.claim, s.setting) for s in primaries()]


def test_known_answers_of_the_six_primaries():
    v = {
        # both sets clearly positive (paper +): holds in both
        KEYS[0]: {0: 0.30, 1: 0.31, 2: 0.29, 3: 0.32, 4: 0.30, 5: 0.31},
        # even seeds clearly positive, odd seeds spread around 0: unstable
        KEYS[1]: {0: 0.10, 1: 0.20, 2: 0.11, 3: -0.25, 4: 0.12, 5: 0.02},
        # both sets tight around 0, far inside +-delta (0.0289): absent
        KEYS[2]: {0: 0.001, 1: -0.001, 2: -0.001, 3: 0.0005, 4: 0.0, 5: 0.0},
        # C4's paper direction is -, the values are positive: reversed in both
        KEYS[3]: {0: 0.05, 1: 0.051, 2: 0.049, 3: 0.052, 4: 0.05, 5: 0.05},
        # wide spread: inconclusive in both
        KEYS[4]: {0: 1.0, 1: -2.0, 2: -1.0, 3: 2.0, 4: 0.5, 5: -0.4},
        # a missing seed (NaN) is left out of its set
        KEYS[5]: {0: -0.1, 1: -0.1, 2: float("nan"), 3: -0.1, 4: -0.1, 5: -0.1},
    }
    t = verdict_table(v)
    assert [t[k]["verdict"] for k in KEYS] == ["holds", "unstable", "absent", "reversed",
                                              "inconclusive", "holds"]
    assert t[KEYS[1]]["replication"] == ("discovery holds (3 seeds), replication "
                                         "inconclusive (3 seeds)")
    assert t[KEYS[5]]["sets"]["discovery"]["seeds"] == [0, 2, 4]
    assert t[KEYS[5]]["sets"]["discovery"]["n_seeds"] == 2 and t[KEYS[5]]["n_seeds"] == 5
    # the reported interval is that of all seeds: C1 mean 0.305, s = 0.010488, t_{.975,5}
    # = 2.570582: half 0.011006
    assert t[KEYS[0]]["estimate"] == pytest.approx(0.305)
    assert t[KEYS[0]]["ci_low"] == pytest.approx(0.305 - 0.011006, abs=1e-5)


def test_holm_turns_a_set_verdict():
    # one set's unadjusted p is 0.0108 < 0.05, but six primaries adjust it: C1's
    # discovery seeds 0, 2 give p = 2 P(T_1 > 59.0) = 0.0108; with five other primaries at
    # p = 1 Holm multiplies it by 6: 0.065 -> not below 0.05
    v = {k: {0: 1.0, 1: -1.0, 2: -1.0, 3: 1.0} for k in KEYS}
    v[KEYS[0]] = {0: 0.30, 1: 0.31, 2: 0.29, 3: 0.32}
    t = verdict_table(v)
    d = t[KEYS[0]]["sets"]["discovery"]
    assert d["p_value"] == pytest.approx(stats.ttest_1samp([0.30, 0.29], 0).pvalue)
    assert d["p_value"] < 0.05 and d["p_holm"] == pytest.approx(6 * d["p_value"])
    assert d["verdict"] == "inconclusive"
    alone = verdict_table({KEYS[0]: v[KEYS[0]]})[KEYS[0]]  # one primary: no adjustment
    assert alone["sets"]["discovery"]["verdict"] == "holds" and alone["verdict"] == "holds"


def test_secondaries_are_unadjusted_and_not_replicated():
    v = {KEYS[0]: {0: 1.0, 1: -1.0, 2: 0.5, 3: -0.2},
         ("C1", "base/test/z/cka"): {0: 0.30, 1: 0.29, 2: 0.31, 3: 0.30},
         ("C5", "long/shape"): {0: -3.0, 1: -2.0, 2: -4.0, 3: -3.0}}
    t = verdict_table(v)
    sec = t[("C1", "base/test/z/cka")]
    assert sec["role"] == "secondary" and sec["verdict"] == "holds"
    assert math.isnan(sec["p_holm"]) and sec["replication"] == "" and "sets" not in sec
    shape = t[("C5", "long/shape")]
    assert shape["verdict"] == "descriptive" and shape["direction"] == "none"


def _twin(values: dict, level: float = 0.95) -> dict:
    """The rule as stated in docs/claims.md, from scipy's tests and an explicit Holm."""
    alpha = 1 - level

    def holm_loop(ps):
        m = len(ps)
        order = sorted(range(m), key=lambda i: (1.0 if math.isnan(ps[i]) else ps[i]))
        adj, running = [math.nan] * m, 0.0
        for rank, i in enumerate(order):
            p = 1.0 if math.isnan(ps[i]) else ps[i]
            running = max(running, min(1.0, (m - rank) * p))
            adj[i] = math.nan if math.isnan(ps[i]) else running
        return adj

    def one(x, p_adj, direction, delta):
        x = np.asarray([v for v in x if math.isfinite(v)])
        lo, hi = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
        if p_adj < alpha and (lo > 0 or hi < 0):
            return "holds" if (lo > 0) == (direction == "+") else "reversed"
        p_lo = stats.ttest_1samp(x + delta, 0, alternative="greater").pvalue
        p_hi = stats.ttest_1samp(x - delta, 0, alternative="less").pvalue
        return "absent" if max(p_lo, p_hi) < alpha else "inconclusive"

    out = {}
    keys = list(values)
    for part in (0, 1):
        xs = [[values[k][s] for s in sorted(values[k]) if s % 2 == part] for k in keys]
        ps = [stats.ttest_1samp(x, 0).pvalue for x in xs]
        for k, x, p in zip(keys, xs, holm_loop(ps), strict=True):
            meta = lookup(*k)
            out.setdefault(k, []).append(one(x, p, meta.direction, meta.delta))
    return {k: v[0] if v[0] == v[1] else "unstable" for k, v in out.items()}


@pytest.mark.parametrize("seed", range(8))
def test_the_rule_against_its_twin(seed):
    g = np.random.default_rng(seed)
    values = {}
    for k in KEYS:
        delta = lookup(*k).delta
        centre = g.choice([-3.0, -0.3, 0.0, 0.3, 3.0]) * delta
        n = int(g.integers(4, 13))
        values[k] = {s: float(centre + g.normal(0, delta * g.choice([0.05, 0.5, 2.0])))
                     for s in range(n)}
    t = verdict_table(values)
    twin = _twin(values)
    assert {k: t[k]["verdict"] for k in KEYS} == twin


def test_the_rule_text_names_every_verdict():
    for word in ("holds", "reversed", "absent", "inconclusive", "unstable", "Holm", "TOST",
                 "even seeds"):
        assert word in VERDICT_RULE
