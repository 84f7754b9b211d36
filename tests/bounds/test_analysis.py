"""Tests of bounds.analysis: derivative signs against finite differences, limits against
numbers, the class-saturation count and the batch-size readings."""

import math

import numpy as np
import pytest

from bounds import analysis, evaluate_bounds
from bounds import numeric as num


@pytest.fixture(scope="module")
def signs():
    return {(d["bound"], d["var"]): d for d in analysis.derivative_signs()}


def test_signs_match_theory_and_finite_differences(signs):
    # THEORY.md: Delta and Theorem 1 decrease in C (pi_max = 1/C) and in tau.
    for b in ("Delta", "theorem1", "theorem2"):
        assert signs[(b, "C")]["sign"] == -1 and signs[(b, "tau")]["sign"] == -1
    assert signs[("loss_gap_balanced", "C")]["sign"] == -1
    assert signs[("loss_gap_balanced", "tau")]["sign"] == -1
    assert signs[("eps", "B")]["sign"] == -1
    assert signs[("theorem1", "tau")]["method"] == "symbolic"
    # the corollary's normaliser shrinks with C: rho is not monotone in C
    assert signs[("rho_bound", "C")]["sign"] is None
    assert signs[("rho_bound", "C")]["method"] == "grid"
    # independent finite-difference check of two symbolic claims at the paper's point
    T, S = 14700, 8821.2
    def f(C, tau, B):
        return num.log_theorem1(S, tau, B, num.log_Delta(B, tau, 0.05, T, 1 / C))
    assert f(101, 0.5, 1024) < f(100, 0.5, 1024)
    assert f(100, 0.5, 1025) < f(100, 0.5, 1024)
    def rho(C):
        return f(C, 0.5, 1024) + 0.5 * math.log(C - 1)
    assert rho(3) < rho(2) and rho(10**4) > rho(10**3)       # down, then up


def test_limits(signs):
    lim = {(d["bound"], d["limit"]): d["value"] for d in analysis.limits()}
    assert lim[("eps", "B -> oo (T fixed)")] == "0"
    assert lim[("theorem1", "S -> 0+")] == "0"
    assert lim[("loss_gap_balanced", "tau -> oo")] == "log(C/(C - 1))"
    assert lim[("theorem1", "tau -> 0+")] == "oo"
    floor = [d for d in analysis.limits() if d["limit"].startswith("C -> oo (the eps")][0]
    # the symbolic floor equals 2 e^{2/tau} eps/(1 - eps) numerically
    import sympy as sp

    from bounds import symbols as y

    val = float(sp.sympify(floor["value"], locals={"B": y.B, "T": y.T, "delta": y.delta,
                                                   "tau": y.tau}).subs(
        {y.B: 1024, y.T: 14700, y.delta: 0.05, y.tau: 0.5}))
    e = num.eps(1024, 0.05, 14700)
    assert val == pytest.approx(2 * math.exp(4) * e / (1 - e), rel=1e-12)


def test_class_saturation_report_and_batch_readings():
    rows = analysis.batch_size_readings(0.5, 10)
    by = {(r["rule"], r["reading"]): r for r in rows}
    assert by[("linear", "fixed steps")]["trend"] == "increasing"      # THEORY.md s11
    assert by[("sqrt", "fixed steps")]["trend"] == "decreasing"
    assert by[("fourth-root", "fixed steps")]["trend"] == "decreasing"
    for rule in ("linear", "sqrt", "fourth-root", "constant"):
        assert by[(rule, "fixed epochs")]["trend"] == "decreasing"
        assert by[(rule, "fixed steps")]["T"] == [14700] * 5
    assert by[("linear", "fixed epochs")]["T"][0] == 300 * 196
    # at B = 1024 both readings coincide
    assert by[("sqrt", "fixed steps")]["log10_sim_gap"][2] == pytest.approx(
        by[("sqrt", "fixed epochs")]["log10_sim_gap"][2])
    exp_lin = np.array(by[("linear", "fixed steps")]["exponent"])
    np.testing.assert_allclose(exp_lin, exp_lin[0], rtol=1e-3)          # alpha = 1: flat


def test_report_text():
    txt = analysis.analysis_report(100, 0.5, 1024)
    assert "C* = (1 + f eps)/(f eps (1 - eps)) = 1136.1" in txt
    assert "Delta(C)/Delta(oo) = " in txt
    out = evaluate_bounds(np.array([1136, 1137]), 0.5)
    floor = float(num.log_Delta(1024, 0.5, 0.05, 14700, 1e-300))
    ratios = np.exp(np.log(out["Delta"]) - floor)
    assert ratios[0] > 1.01 > ratios[1]


def test_latex_statements_cover_registry():
    from bounds.registry import REGISTRY

    tex = analysis.latex_statements()
    for name in REGISTRY:
        assert f"% {name}:" in tex


def test_report_at_the_edges_says_in_words_what_it_cannot_compute(recwarn):
    """eps >= 1 (NaN C*), a C* beyond float range, S = 0, a training set too small for every
    batch size of the readings, and tau whose Theorem 1 is beyond float range even as a
    logarithm: the report says so, with no warning and no error (issue 20)."""
    text = analysis.analysis_report(2, 0.5, 2, T=10**6)
    assert "eps >= 1: Delta is undefined for every C" in text
    assert "beyond float range for f = 1e-310" in analysis.analysis_report(saturation=1e-310)
    assert "| bound 0 (S = 0) |" in analysis.analysis_report(lr=0.0)
    assert "No batch size of 256, 512, 1024, 2048, 4096 fits N=100" in analysis.analysis_report(
        B=2, N=100)
    assert "not defined (beyond float range)" in analysis.analysis_report(tau=1e-300)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert analysis.batch_size_readings(N=1000)[0]["B"] == [256, 512]
