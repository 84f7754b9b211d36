"""Tests of bounds.growth: every closed form of the recurrence's growth
``Lambda = sum_t log(1 + eta_t L)`` against its slow twin (the per-step sum, ``math.fsum``)
at moderate T, over extreme L; against high-precision sums (mpmath) where float64 per-step
sums lose digits; and at huge T, in O(1) time and memory."""

import math
import time

import mpmath as mp
import numpy as np
import pytest

from bounds import growth
from bounds import numeric as num
from bounds import schedules as sch
from bounds.grid import evaluate_bounds

#: (T, warm-up W, steps per rate P): empty and one-step phases, the warm-up head/tail
#: boundary (15, 16, 17 terms), a cosine phase of one epoch, a partial last epoch, the
#: paper's setting per step and per epoch.
SHAPES = [(1, 0, 1), (2, 1, 1), (5, 4, 1), (16, 15, 1), (17, 16, 1), (18, 17, 1),
          (40, 17, 1), (1000, 999, 1), (14700, 490, 1), (100_000, 3333, 1), (1, 0, 4),
          (7, 2, 2), (9, 3, 3), (100, 10, 5), (3000, 2000, 100), (14700, 490, 49)]
#: log L from an L that underflows every product (1e-87) to one that overflows them (1e608).
LOG_L = [-200.0, -41.0, -20.0, -3.0, 0.0, 3.0, 40.0, 700.0, 1400.0]


def _per_step(eta, L, log_L):
    """The slow twin: ``math.fsum`` of ``log1p(eta_t L)``, one term per step."""
    with np.errstate(over="ignore", divide="ignore"):
        if 1e-300 < L < 1e300:
            return math.fsum(np.log1p(eta * L))
        return math.fsum(np.logaddexp(0.0, np.log(eta) + log_L))


@pytest.mark.parametrize("kind", ["constant", "cosine"])
@pytest.mark.parametrize("T,W,P", SHAPES)
def test_closed_form_equals_the_per_step_sum(kind, T, W, P):
    eta = sch.schedule(kind, 1.3, T, W, unit="epoch", steps_per_epoch=P)
    log_L = np.array(LOG_L)
    L = np.exp(np.minimum(log_L, 709.0)) * np.where(log_L > 709.0, np.inf, 1.0)
    got = growth.growth_schedule(kind, 1.3, T, W, P, L, log_L)
    assert got.shape == log_L.shape
    for g, lL, Lv in zip(got, log_L, L, strict=True):
        assert g == pytest.approx(_per_step(eta, Lv, lL), rel=1e-12, abs=1e-300), (lL, g)


def test_explicit_and_constant_growth_equal_their_per_step_sums():
    rng = np.random.default_rng(5)
    eta = rng.uniform(0.0, 3.0, 257)
    log_L = np.array([[-60.0, -5.0], [0.0, 650.0]])
    L = np.exp(log_L)
    got = growth.growth_explicit(eta, L, log_L)
    for idx in np.ndindex(log_L.shape):
        assert got[idx] == pytest.approx(_per_step(eta, L[idx], log_L[idx]), rel=1e-13)
    S, T = eta.sum(), eta.size
    for lL in (-60.0, 0.0, 650.0):
        want = _per_step(np.full(T, S / T), math.exp(lL), lL)
        assert growth.growth_constant(S, T, math.exp(lL), lL) == pytest.approx(want, rel=1e-13)
        # AM-GM: the constant schedule with the same T and S grows the most
        assert growth.growth_constant(S, T, math.exp(lL), lL) >= growth.growth_explicit(
            eta, math.exp(lL), lL)


@pytest.mark.parametrize("log_a", [-40.0, -1.0, 2.0, 30.0, 41.0, 100.0, 1500.0])
@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_cosine_phase_against_mpmath(log_a, n):
    """Where ``x = (s-1)/(s+1)`` rounds to 0 or 1 in float64, the closed form keeps its
    digits through ``log(-log x)``; a 50-digit sum is the reference."""
    mp.mp.dps = 50
    a = mp.e ** log_a
    want = mp.fsum(mp.log1p(a * mp.cos(mp.pi * k / (2 * n)) ** 2) for k in range(n))
    L, lL = (math.exp(log_a) if log_a < 700 else math.inf), log_a
    got = float(growth.growth_schedule("cosine", 1.0, n, 0, 1, L, lL))
    assert got == pytest.approx(float(want), rel=1e-14)


@pytest.mark.parametrize("log_c", [-30.0, -3.0, 0.0, 5.0, 800.0])
@pytest.mark.parametrize("W", [16, 17, 40, 1000])
def test_warm_up_against_mpmath(log_c, W):
    """The Euler-Maclaurin tail of the warm-up, against a 40-digit sum (``eta_j = base j/W``,
    here with the whole run in warm-up but its last step: T = W + 1)."""
    mp.mp.dps = 40
    a = mp.e ** log_c * W
    want = mp.fsum(mp.log1p(a * j / W) for j in range(1, W + 1)) + mp.log1p(a)
    lL = log_c + math.log(W)
    L = math.exp(lL) if lL < 700 else math.inf
    got = float(growth.growth_schedule("cosine", 1.0, W + 1, W, 1, L, lL))
    assert got == pytest.approx(float(want), rel=1e-13)


def test_huge_T_is_o1_in_time_and_memory_and_continues_the_moderate_values():
    """T = 10^12 and 2^53 (the largest exact count) cost what T = 10 costs; the cosine sum
    over n steps tends to n * 2 log((1 + s)/2) (the integral), as the closed form says."""
    L = num.L_const(0.5, 1024)
    lL = math.log(L)
    t0 = time.perf_counter()
    for T in (10**12, 2**53):
        for P in (1, 49):
            W = P * (T // P // 30)
            lam = float(growth.growth_schedule("cosine", 1.2, T, W, P, L, lL))
            assert math.isfinite(lam) and lam > 0
    assert time.perf_counter() - t0 < 0.5
    n = 10**12
    a = 1.2 * L
    per_step = float(growth.growth_schedule("cosine", 1.2, n, 0, 1, L, lL)) / n
    assert per_step == pytest.approx(2 * math.log((1 + math.sqrt(1 + a)) / 2), rel=1e-12)
    # the constant schedule is T log(1 + eta L) exactly, whatever T
    assert float(growth.growth_schedule("constant", 1.2, 2**53, 0, 1, L, lL)) == (
        2.0**53 * math.log1p(a))


def test_evaluate_bounds_at_a_trillion_steps_is_fast_and_agrees_with_moderate_T():
    """Issue 20: ``--steps 1000000000000`` tried to allocate 7.28 TiB. The product form at
    T = 10^12 now comes from the closed forms; at moderate T the same code path equals the
    explicit per-step schedule (``eta=``)."""
    t0 = time.perf_counter()
    big = evaluate_bounds(10, 0.5, T=10**12, schedule_unit="epoch")
    assert time.perf_counter() - t0 < 1.0
    assert np.isfinite(big["log10_sim_gap_product"])
    assert big["log10_sim_gap_product"] <= big["log10_sim_gap"]
    for unit in ("step", "epoch"):
        T, P = 5000, 49
        out = evaluate_bounds(10, 0.5, T=T, N=50000, schedule_unit=unit)
        W, base = int(out["warmup_steps"]), float(out["lr"])
        eta = sch.schedule("cosine", base, T, W, unit=unit, steps_per_epoch=P)
        explicit = evaluate_bounds(10, 0.5, eta=eta)
        assert float(out["log10_sim_gap_product"]) == pytest.approx(
            float(explicit["log10_sim_gap_product"]), rel=1e-13)


def test_tiny_L_uses_lambda_over_L_equal_to_S():
    """Where every ``eta L`` is below 2^-61, Lambda underflows but Lambda/L = S: the
    product form is the drive times S, exactly Theorem 1's limit."""
    for tau in (1e154, 1e200, 1e300):
        S = 8821.2
        lp = float(num.log_product_from_growth(0.0, S, tau, 1024, 0.0))
        assert lp == pytest.approx(math.log(S / (tau * 32.0)), rel=1e-15)
