"""The registry is the single source of truth: numeric twins agree with the sympy
expressions at random in-domain points (rtol 1e-10), also far beyond float range."""

import math

import numpy as np
import pytest

from bounds import numeric as num
from bounds.registry import REGISTRY, TAGS, get

NAMES = list(REGISTRY)


def test_registry_covers_every_bound_of_the_issue():
    expected = {"loss_gap_paper", "loss_gap_tight", "loss_gap_balanced",
                "loss_gap_balanced_linear", "eps", "Delta", "theorem1", "recurrence_product",
                "rho_bound", "cka_lower", "r_bound", "r_bound_tight", "rsa_lower",
                "K_norm_etf", "sigma_a_etf", "theorem2"}
    assert expected <= set(NAMES)
    for e in REGISTRY.values():
        assert e.tag in TAGS
        assert e.source and e.caveat and e.title and e.params
        assert e.source.startswith(("[P1]", "[P2]", "THEORY", "this toolkit"))
    assert REGISTRY["r_bound_tight"].tag == "open"
    assert REGISTRY["theorem1"].tag == "stated"
    assert "vacuous" in REGISTRY["theorem1"].caveat


@pytest.mark.parametrize("name", NAMES)
def test_numeric_matches_symbolic(name):
    e = REGISTRY[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(4):
        point = e.sample(rng)
        got = e.numeric(**point)
        want = float(e.symbolic_value(point))
        assert got == pytest.approx(want, rel=1e-10), point
    # the expression's free symbols are exactly the declared parameters
    free = {str(s) for s in e.expr.free_symbols if "[" not in str(s)} - {"t", "s"}
    declared = {{"sim_gap": "s_T", "K_norm": "K_F"}.get(p, p) for p in e.params}
    if name == "recurrence_product":
        declared |= {"T"}  # the summation range
    assert free == declared


@pytest.mark.parametrize("name", NAMES)
def test_latex_renders(name):
    tex = REGISTRY[name].latex()
    assert REGISTRY[name].lhs in tex and REGISTRY[name].relation in tex


def test_log_space_matches_sympy_beyond_float_range():
    import sympy as sp

    from bounds import symbols as y

    S, tau, B, T, delta, pi = 1e6, 1e-3, 1024, 10**6, 0.05, 0.01
    Dexpr = REGISTRY["Delta"].expr
    th1 = REGISTRY["theorem1"].expr.subs(y.Delta, Dexpr)
    vals = {y.S: S, y.tau: sp.Rational(1, 1000), y.B: B, y.T: T, y.delta: sp.Rational(1, 20),
            y.pi_max: sp.Rational(1, 100)}
    want_D = float(sp.log(Dexpr.subs(vals), 10).evalf(40))
    want_T1 = float(sp.log(th1.subs(vals), 10).evalf(40))
    ld = num.log_Delta(B, tau, delta, T, pi)
    assert ld / math.log(10) == pytest.approx(want_D, rel=1e-10)
    assert num.log_theorem1(S, tau, B, ld) / math.log(10) == pytest.approx(want_T1, rel=1e-10)
    lg = REGISTRY["loss_gap_balanced_linear"].expr.subs({y.tau: vals[y.tau], y.C: 10})
    assert float(sp.log(lg, 10).evalf(30)) == pytest.approx(
        (2000 - math.log(9)) / math.log(10), rel=1e-12)


def test_get():
    assert get("theorem1") is REGISTRY["theorem1"]
    with pytest.raises(ValueError, match="Expected `name` in .*got 'theorem3'"):
        get("theorem3")
