"""Tests of bounds.numeric: hand values, monotonicity, product <= exponential form,
broadcasting, log-space evaluation and error paths."""

import math
import warnings

import numpy as np
import pytest

import bounds
from bounds import growth
from bounds import numeric as num

E2 = math.exp(2.0)


# ------------------------------------------------------------------ one hand value per bound

def test_hand_values():
    assert num.loss_gap_bound(1.0, n_max=5, N=10) == pytest.approx(math.log(1 + E2), rel=1e-14)
    assert num.loss_gap_bound(1.0, n_max=5, N=10, form="tight") == pytest.approx(
        math.log(1 + E2 * 4 / 5), rel=1e-14)
    assert num.loss_gap_bound(2.0, C=3, form="balanced") == pytest.approx(
        math.log(1 + math.e / 2), rel=1e-14)
    assert num.loss_gap_bound(2.0, C=3, form="balanced-linear") == pytest.approx(
        math.e / 2, rel=1e-14)
    eps = math.sqrt(math.log(1 * 2 / 0.5) / 4)
    assert num.eps(2, 0.5, 1) == pytest.approx(eps, rel=1e-14)
    p = 0.1 + eps
    assert num.Delta(2, 1.0, 0.5, 1, 0.1) == pytest.approx(2 * E2 * p / (1 - p), rel=1e-13)
    assert num.theorem1(1.0, 1.0, 2, 1.0) == pytest.approx(math.exp(0.25) / math.sqrt(2))
    # eta = (1, 1), L = 1/(2 * 0.25 * 2) = 1: d_1 = 1, d_2 = 2 * 1 + 1 = 3 (drive 1).
    np.testing.assert_allclose(num.recurrence_path([1.0, 1.0], 0.5, 2, 1.0), [0, 1, 3])
    assert num.product_form([1.0, 1.0], 0.5, 2, 1.0) == pytest.approx(3 / (0.5 * math.sqrt(2)))
    assert num.rho_bound(2.0, 8.0) == pytest.approx(0.25, rel=1e-15)
    assert num.r_bound(3.0, 0.5, 4) == pytest.approx(3.0 / (math.sqrt(6) * 0.5))
    assert num.r_bound(3.0, 0.5, 4, tight=True) == pytest.approx(3.0 / (math.sqrt(12) * 0.5))
    assert num.cka_lower(1 / 3) == pytest.approx(0.5)
    assert num.rsa_lower(0.5) == pytest.approx(1 / 3)
    assert num.theorem2(1.0, 1.0, 1.0, 1.0, 1.0) == pytest.approx(math.e - 1)
    assert num.theorem2(2.0, 0.5, 2.0, 3.0, 4.0) == pytest.approx(2 / 1 * 3 * (math.e**2 - 1))
    assert num.L_const(0.5, 2) == 1.0
    # eps = 1/2 at B = 2, T = 1, delta = 2/e; f = 1: C* = (1 + 1/2)/(1/2 * 1/2) = 6.
    assert num.class_saturation(2, 2 / math.e, 1, 1.0) == pytest.approx(6.0)


def test_class_saturation_definition():
    B, delta, T, f = 1024, 0.05, 14700, 0.01
    Cs = num.class_saturation(B, delta, T, f)
    ratio = math.exp(num.log_Delta(B, 0.5, delta, T, 1 / Cs) - num.log_Delta(B, 0.5, delta, T,
                                                                              1e-300))
    assert ratio == pytest.approx(1 + f, rel=1e-10)
    # independent of tau; more classes than C* stay within 1 + f of the floor
    big = math.exp(num.log_Delta(B, 0.1, delta, T, 1 / (2 * Cs))
                   - num.log_Delta(B, 0.1, delta, T, 1e-300))
    assert 1 < big < 1 + f
    with pytest.warns(RuntimeWarning, match="eps >= 1"):
        assert math.isnan(num.class_saturation(2, 0.999, 10**6, 0.01))


def test_cka_rsa_trivial_when_vacuous():
    assert num.cka_lower(1.0) == 0.0 and num.cka_lower(5.0) == 0.0
    assert num.cka_lower(np.inf) == 0.0
    assert num.rsa_lower(1.0) == -1.0 and num.rsa_lower(np.inf) == -1.0
    assert num.cka_lower(0.0) == 1.0 and num.rsa_lower(0.0) == 1.0


def test_delta_vacuous_is_inf_not_nan():
    # B = 2, T = 10^6: eps > 1, so pi_max + eps >= 1.
    assert num.Delta(2, 0.5, 0.05, 10**6, 0.1) == math.inf
    assert num.log_Delta(2, 0.5, 0.05, 10**6, 0.1) == math.inf


# ------------------------------------------------------------------ monotonicity (THEORY.md)

RNG = np.random.default_rng(1)


def test_monotone_in_C_tau_B():
    C = np.array([2, 3, 10, 100, 1000, 10**5])
    d = num.Delta(1024, 0.5, 0.05, 14700, 1 / C)
    assert np.all(np.diff(d) < 0)                       # more classes: smaller Delta
    tau = np.geomspace(0.05, 10, 50)
    assert np.all(np.diff(num.Delta(1024, tau, 0.05, 14700, 0.1)) < 0)
    assert np.all(np.diff(num.theorem1(100.0, tau, 1024, 5.0)) < 0)
    assert np.all(np.diff(num.loss_gap_bound(tau, C=10, form="balanced")) < 0)
    B = np.array([16, 64, 256, 1024, 4096])
    assert np.all(np.diff(num.eps(B, 0.05, 14700)) < 0)
    assert np.all(np.diff(num.loss_gap_bound(1.0, C=C, form="balanced")) < 0)


def test_monotone_in_S_Delta_nmax_rho():
    S = np.geomspace(1e-3, 1e4, 40)
    assert np.all(np.diff(num.theorem1(S, 0.5, 1024, 3.0)) > 0)
    assert np.all(np.diff(num.theorem2(1.0, 0.1, 0.5, 3.0, S)) > 0)
    assert np.all(np.diff(num.theorem1(10.0, 0.5, 1024, np.geomspace(0.1, 1e3, 20))) > 0)
    nmax = np.arange(1, 100)
    assert np.all(np.diff(num.loss_gap_bound(0.5, n_max=nmax, N=100)) > 0)
    rho = np.linspace(0, 0.999, 50)
    assert np.all(np.diff(num.cka_lower(rho)) < 0)
    assert np.all(np.diff(num.rsa_lower(rho)) < 0)
    assert np.all(num.loss_gap_bound(0.5, n_max=nmax, N=100, form="tight")
                  <= num.loss_gap_bound(0.5, n_max=nmax, N=100))
    assert np.all(num.loss_gap_bound(0.5, C=np.arange(2, 50), form="balanced")
                  <= num.loss_gap_bound(0.5, C=np.arange(2, 50), form="balanced-linear"))


# ------------------------------------------------------------------ recurrence

def _loop_path(eta, tau, B, drive):
    L = 1 / (2 * tau * tau * B)
    drive = np.broadcast_to(drive, np.shape(eta))
    d = [0.0]
    for e, dr in zip(eta, drive, strict=True):
        d.append((1 + e * L) * d[-1] + e * dr)
    return np.array(d)


@pytest.mark.parametrize("seed", range(5))
def test_recurrence_path_matches_loop(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 300))
    eta = rng.uniform(0, 3, T)
    eta[rng.uniform(size=T) < 0.1] = 0.0
    drive = rng.uniform(0, 2, T) if seed % 2 else float(rng.uniform(0.1, 2))
    tau, B = float(rng.uniform(0.2, 2)), int(rng.integers(2, 64))
    np.testing.assert_allclose(num.recurrence_path(eta, tau, B, drive),
                               _loop_path(eta, tau, B, drive), rtol=1e-10, atol=0)


@pytest.mark.parametrize("seed", range(5))
def test_product_form_at_most_exponential_form(seed):
    rng = np.random.default_rng(100 + seed)
    T = int(rng.integers(1, 2000))
    eta = rng.uniform(0, 2, T)
    tau = rng.uniform(0.05, 2, 7)
    B = rng.integers(2, 4096, 7)
    log_D = rng.uniform(-2, 10, 7)
    lp = num.log_product_form(eta, tau, B, log_D)
    le = num.log_theorem1(eta.sum(), tau, B, log_D)
    assert np.all(lp <= le)
    # the product form equals the last entry of the path with drive Delta/(tau sqrt B)
    D = math.exp(log_D[0])
    path = num.recurrence_path(eta, tau[0], int(B[0]), D / (tau[0] * math.sqrt(B[0])))
    if np.isfinite(path[-1]):
        assert path[-1] == pytest.approx(math.exp(lp[0]), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e-3, 1.0, 1e3, 1e150, 1e300])
def test_product_form_at_most_exponential_form_at_extremes(scale):
    """Product form <= Theorem 1 at extreme tau (1e-300 .. 1e300: L from 1e-600 to 1e600),
    extreme rates (``eta`` scaled by ``scale``: tiny and huge S), and it is never NaN: the
    product form was NaN from tau = 1e154 on (issue 20), where L underflows."""
    rng = np.random.default_rng(int(-math.log10(scale)) + 400)
    eta = rng.uniform(0, 2, 300) * scale
    tau = np.geomspace(1e-300, 1e300, 25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lp = num.log_product_form(eta, tau, 1024, 1.0)
        le = num.log_theorem1(eta.sum(), tau, 1024, 1.0)
    assert not np.isnan(lp).any() and not np.isnan(le).any()
    assert np.all(lp <= le)
    # where every eta L is tiny the two meet: Delta S/(tau sqrt B) (1 + O(S L))
    tiny = math.log(eta.max()) + num.log_L_const(tau, 1024) < math.log(1e-12)  # eta L
    assert tiny.any()
    np.testing.assert_allclose(
        lp[tiny], np.log(eta.sum()) + 1.0 - np.log(tau[tiny]) - np.log(32.0), rtol=1e-12)
    # where it is within float range, the product form is the explicit recurrence (a loop)
    moderate = (tau > 1e-100) & (tau < 1e100) & (np.abs(lp) < 700)
    checked = 0
    for i in np.flatnonzero(moderate):
        d = _loop_path(eta, tau[i], 1024, math.exp(1.0) / (tau[i] * 32.0))[-1]
        if np.isfinite(d) and d > 0:
            assert lp[i] == pytest.approx(math.log(d), rel=1e-9, abs=1e-9)
            checked += 1
    assert checked >= 3 or scale > 1e3  # huge rates: every d_T is beyond float range


def test_constant_schedule_maximises_product_form():
    rng = np.random.default_rng(7)
    eta = rng.uniform(0, 2, 50)
    const = np.full(50, eta.mean())
    assert num.product_form(eta, 0.3, 8, 1.0) <= num.product_form(const, 0.3, 8, 1.0)


def test_recurrence_errors():
    with pytest.raises(ValueError, match=r"Expected `eta` of shape \(T,\)"):
        num.recurrence_path(np.ones((2, 2)), 0.5, 2, 1.0)
    with pytest.raises(ValueError, match="Expected `drive` scalar or of shape"):
        num.recurrence_path(np.ones(3), 0.5, 2, np.ones(4))
    with pytest.raises(ValueError, match="Expected scalar `tau` and `B`"):
        num.recurrence_path(np.ones(3), [0.5, 1.0], 2, 1.0)
    with pytest.raises(ValueError, match="Expected `eta` >= 0, got -1"):
        num.recurrence_path([1.0, -1.0], 0.5, 2, 1.0)
    with pytest.raises(ValueError, match=r"Expected `eta` of shape \(T,\)"):
        num.log_product_form(np.ones(0), 0.5, 2, 0.0)


# ------------------------------------------------------------------ log space, broadcasting

def test_no_overflow_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ld = num.log_Delta(1024, 1e-3, 0.05, 10**6, 0.01)
        assert np.isfinite(ld) and ld / math.log(10) > 800
        assert num.Delta(1024, 1e-3, 0.05, 10**6, 0.01) == math.inf
        lt = num.log_theorem1(1e6, 1e-3, 1024, ld)
        assert np.isfinite(lt)
        assert lt == pytest.approx(1e6 / (2e-6 * 1024) + math.log(1e6) - math.log(1e-3)
                                   - 0.5 * math.log(1024) + ld, rel=1e-12)
        assert num.theorem1(1e6, 1e-3, 1024, math.inf) == math.inf
        eta = np.full(1000, 1000.0)
        lp = num.log_product_form(eta, 1e-3, 1024, ld)
        assert np.isfinite(lp) and lp <= num.log_theorem1(1e6, 1e-3, 1024, ld)
        path = num.recurrence_path(eta, 1e-3, 1024, 1.0)
        fin = path[np.isfinite(path)]
        assert path[-1] == math.inf and np.all(np.diff(fin) >= 0) and fin.size > 1
        assert np.isfinite(num.loss_gap_bound(1e-3, C=10, form="balanced"))
        assert num.loss_gap_bound(1e-3, C=10, form="balanced") == pytest.approx(
            2000 - math.log(9), rel=1e-12)
        assert num.log_theorem2(1.0, 1.0, 1e-3, ld, 1e6) == pytest.approx(
            -math.log(1e-3) + ld + 1e6, rel=1e-12)


def test_broadcasting_shapes():
    tau = np.geomspace(0.1, 1, 4)[None, :]
    B = np.array([256, 1024, 4096])[:, None]
    assert num.theorem1(10.0, tau, B, 2.0).shape == (3, 4)
    assert num.Delta(B, tau, 0.05, 1000, 0.1).shape == (3, 4)
    assert num.eps(B, np.array([0.01, 0.1]), 1000).shape == (3, 2)
    assert num.log_product_form(np.ones(5), tau, B, 0.0).shape == (3, 4)
    assert num.loss_gap_bound(tau, C=B, form="balanced").shape == (3, 4)
    assert num.theorem2(1.0, 0.1, tau, 2.0, B).shape == (3, 4)
    assert isinstance(num.theorem1(10.0, 0.5, 1024, 2.0), float)
    assert bounds.eps is num.eps and bounds.recurrence_path is num.recurrence_path


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("call,exc,match", [
    (lambda: num.eps(1, 0.05, 10), ValueError, "Expected `B` to be an integer >= 2, got 1"),
    (lambda: num.eps(64, 1.0, 10), ValueError, r"Expected `delta` in \(0, 1\), got 1"),
    (lambda: num.eps(64, 0.0, 10), ValueError, r"Expected `delta` in \(0, 1\), got 0"),
    (lambda: num.Delta(64, 0.0, 0.05, 10, 0.1), ValueError, "Expected `tau` > 0, got 0"),
    (lambda: num.Delta(64, 0.5, 0.05, 10, 1.5), ValueError, r"Expected `pi_max` in \(0, 1\]"),
    (lambda: num.theorem1(-1.0, 0.5, 64, 1.0), ValueError, "Expected `sum_eta` >= 0, got -1"),
    (lambda: num.theorem1(1.0, 0.5, 64, 0.0), ValueError, "Expected `Delta` > 0, got 0"),
    (lambda: num.loss_gap_bound(-0.5, C=10, form="balanced"), ValueError,
     "Expected `tau` > 0, got -0.5"),
    (lambda: num.loss_gap_bound(0.5, C=1, form="balanced"), ValueError,
     "Expected `C` to be an integer >= 2, got 1"),
    (lambda: num.loss_gap_bound(0.5, C=2.5, form="balanced"), ValueError,
     "Expected `C` to be an integer >= 2, got 2.5"),
    (lambda: num.loss_gap_bound(0.5, n_max=10, N=10), ValueError,
     "Expected `n_max` < `N`, got n_max=10, N=10"),
    (lambda: num.loss_gap_bound(0.5, n_max=0.5, N=10), ValueError,
     "Expected `n_max` to be an integer >= 1, got 0.5"),
    (lambda: num.loss_gap_bound(0.5, n_max=10, N=50000, C=10), ValueError,
     r"^Expected `n_max` >= ceil\(`N`/`C`\) \(the largest of C classes holds at least N/C "
     r"samples\), got n_max=10, N=50000, C=10$"),
    (lambda: num.loss_gap_bound(0.5, C=10, N=5, form="tight"), ValueError,
     r"^Expected `N` >= `C` \(balanced classes of N/C >= 1 samples\), got N=5, C=10$"),
    (lambda: num.r_bound(1.0, 1.0, 10, tight="no"), TypeError,
     "^Expected `tight` to be a bool, got 'no'$"),
    (lambda: num.log_r_bound(0.0, 1.0, 10, tight=1), TypeError,
     "^Expected `tight` to be a bool, got 1$"),
    (lambda: num.loss_gap_bound(0.5, n_max=3), ValueError, "Expected `N` together with"),
    (lambda: num.loss_gap_bound(0.5), ValueError, "Expected `n_max` and `N`"),
    (lambda: num.loss_gap_bound(0.5, form="balanced"), ValueError, "Expected `C` for form"),
    (lambda: num.loss_gap_bound(0.5, C=4, form="tight"), ValueError, "Expected `N` for form"),
    (lambda: num.loss_gap_bound(0.5, C=4, form="square"), ValueError, "Expected `form` in"),
    (lambda: num.rho_bound(1.0, 0.0), ValueError, "Expected `K_norm` > 0, got 0"),
    (lambda: num.rho_bound(-1.0, 1.0), ValueError, "Expected `sim_gap` >= 0, got -1"),
    (lambda: num.r_bound(1.0, 0.0, 10), ValueError, "Expected `sigma_a` > 0, got 0"),
    (lambda: num.r_bound(1.0, 1.0, 1), ValueError, "Expected `N_ref` to be an integer >= 2"),
    (lambda: num.cka_lower(-0.1), ValueError, "Expected `rho` >= 0, got -0.1"),
    (lambda: num.rsa_lower(-0.1), ValueError, "Expected `r` >= 0, got -0.1"),
    (lambda: num.theorem2(0.0, 1.0, 1.0, 1.0, 1.0), ValueError, "Expected `G` > 0, got 0"),
    (lambda: num.theorem2(1.0, -1.0, 1.0, 1.0, 1.0), ValueError, "Expected `beta` > 0"),
    (lambda: num.class_saturation(1024, 0.05, 10, 0.0), ValueError, "Expected `f` > 0, got 0"),
    (lambda: num.L_const(0.5, 1), ValueError, "Expected `B` to be an integer >= 2, got 1"),
    (lambda: num.theorem1("1", 0.5, 64, 1.0), TypeError, "Expected `sum_eta` to be a number"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_paper_form_with_C_alone_is_balanced_and_with_N_uses_N_over_C():
    assert num.loss_gap_bound(0.5, C=10) == num.loss_gap_bound(0.5, C=10, form="balanced")
    assert num.loss_gap_bound(0.5, C=10, N=100, form="tight") == pytest.approx(
        num.loss_gap_bound(0.5, n_max=10, N=100, form="tight"))


# ------------------------------------------------------------------ the pieces the grid composes

def test_product_form_pieces_match_the_explicit_product():
    rng = np.random.default_rng(3)
    eta = rng.uniform(0, 2, 37)
    tau, B, ld = 0.5, 8, 1.5
    L = num.L_const(tau, B)
    assert num.log_L_const(tau, B) == pytest.approx(math.log(L), rel=1e-15)
    want = math.log(math.exp(ld) / (tau * math.sqrt(B)) * (np.prod(1 + eta * L) - 1) / L)
    lam = growth.growth_explicit(eta, L, num.log_L_const(tau, B))
    assert lam == pytest.approx(np.log1p(eta * L).sum(), rel=1e-13)
    got = float(num.log_product_from_growth(lam, eta.sum(), tau, B, ld))
    assert got == pytest.approx(want, rel=1e-13)
    assert got == float(num.log_product_form(eta, tau, B, ld))
    with pytest.raises(ValueError, match=r"Expected `eta` of shape \(T,\)"):
        num.log_product_form(np.ones((2, 2)), 0.5, 8, 0.0)


def test_vacuous_delta_keeps_the_product_form_vacuous_even_at_zero_steps():
    assert float(num.log_product_from_growth(0.0, 0.0, 0.5, 8, np.inf)) == math.inf
    assert num.product_form([0.0, 0.0], 0.5, 8, math.inf) == math.inf
    assert num.product_form([0.0, 0.0], 0.5, 8, 1.0) == 0.0  # no step, no gap


def test_drive_exponent_and_largest_gap():
    assert num.recurrence_drive(0.5, 4, 3.0) == pytest.approx(3.0 / (0.5 * 2.0), rel=1e-14)
    assert num.recurrence_drive(0.5, 4, math.inf) == math.inf
    assert math.exp(num.log_recurrence_drive(0.5, 4, 0.0)) == pytest.approx(1.0, rel=1e-15)
    assert num.theorem1_exponent(8821.2, 0.5, 1024) == pytest.approx(8821.2 / 512, rel=1e-15)
    assert num.theorem1_exponent(3.0, 0.5, 2) == 3.0 * num.L_const(0.5, 2)
    N = np.array([2.0, 10.0, 1e4])
    np.testing.assert_allclose(np.exp(num.log_largest_sim_gap(N)), 2 * np.sqrt(N * (N - 1)),
                               rtol=1e-14)
    with pytest.raises(ValueError, match="Expected `N_ref` to be an integer >= 2, got 1"):
        num.log_largest_sim_gap(1)


def test_log_corollaries_from_the_log_gap():
    assert math.exp(num.log_rho_bound(math.log(2.0), 8.0)) == pytest.approx(0.25, rel=1e-15)
    assert float(num.log_rho_bound(1e4, 8.0)) == pytest.approx(1e4 - math.log(8.0))  # beyond
    assert float(num.log_rho_bound(0.0, 0.0)) == math.inf                 # K = 0: vacuous
    assert float(num.log_r_bound(0.0, 0.0, 10)) == math.inf               # sigma_a = 0
    assert math.isnan(float(num.log_r_bound(0.0, np.nan, 10)))            # degenerate features
    assert float(num.log_r_bound(0.0, 1.0, 4, tight=True)) == pytest.approx(
        -0.5 * math.log(12.0), rel=1e-15)


def test_corollary_lower_bounds_of_an_undefined_ratio_are_trivial():
    # a NaN rho or r (measured on degenerate features) gives the trivial bound, which holds
    assert num.cka_lower(float("nan")) == 0.0 and num.rsa_lower(float("nan")) == -1.0
    np.testing.assert_array_equal(num.cka_lower(np.array([np.nan, 0.0, 3.0])), [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="Expected `rho` >= 0, got -0.1"):
        num.cka_lower(-0.1)


EXTREMES = [1e-320, 2.3e-308, 1e-300, 1e-154, 1e-3, 1.0, 1e154, 1e300, 1.7e308]


@pytest.mark.parametrize("x", EXTREMES)
def test_no_floating_point_warning_at_any_scale(x):
    """Log space throughout: no numpy RuntimeWarning (overflow in exp, divide by zero, ...)
    for any positive float as tau, rate or sum; beyond float range is inf, never NaN
    (issue 20: two such warnings came before the CLI's error for --tau 1e-320)."""
    eta = np.full(20, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = [num.log_Delta(1024, x, 0.05, 14700, 0.1), num.loss_gap_bound(x, C=10),
               num.loss_gap_bound(x, C=10, form="balanced-linear"), num.L_const(x, 1024),
               num.theorem1_exponent(8821.2, x, 1024), num.theorem1_exponent(0.0, x, 1024),
               num.log_theorem1(x, x, 1024, 3.0), num.log_product_form(eta, x, 1024, 3.0),
               num.recurrence_path(eta, x, 1024, 1.0)[-1], num.log_theorem2(x, x, x, 3.0, x),
               num.fewshot_bound(10, 5, x, x, x), num.class_saturation(1024, 0.05, 14700, x),
               num.rho_bound(x, x), num.r_bound(x, x, 10), num.cka_lower(x)]
    assert not np.isnan(np.asarray(got, dtype=float)).any()
    assert np.isfinite(num.log_L_const(x, 1024))
