"""Regression (1): on the surrogate, at every step,

    measured <= certificate <= certificate_global <= certificate_lipschitz    (always)
    certificate_lipschitz <= recurrence <= Theorem 1                          (while the event held)

(THEORY.md s5, s6, s9; the certificates' argument is in empirics/certificate.py and
docs/surrogate.md). A fixed grid plus hypothesis-drawn configurations.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empirics.surrogate import SurrogateConfig, simulate

RTOL = 1e-9  # float round-off only; every inequality is exact in real arithmetic


def _le(a, b):
    """Elementwise ``a <= b`` up to round-off (``inf`` on the right always passes)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.all((a <= b * (1 + RTOL) + 1e-12) | np.isposinf(b))


def check_chain(res):
    held = np.concatenate([[True], np.cumprod(res.event_held_step).astype(bool)])
    assert _le(res.measured, res.certificate), "measured > certificate"
    assert _le(res.certificate, res.certificate_global), "row-wise > global certificate"
    assert _le(res.certificate_global, res.certificate_lipschitz), "global > THEORY certificate"
    h = held
    assert _le(res.certificate_lipschitz[h], res.recurrence[h]), "certificate > recurrence"
    assert _le(res.recurrence[h], res.theorem1[h]), "recurrence > Theorem 1"
    # per-step lemma: the realised drive obeys Delta/(tau sqrt B) while the event held
    assert _le(res.drive[held[1:]], np.full(int(held[1:].sum()), res.drive_bound))
    return held


GRID = [
    dict(C=10, N=128, B=32, tau=1.0, lr=64.0),
    dict(C=10, N=128, B=32, tau=0.5, lr=16.0),
    dict(C=4, N=96, B=48, tau=2.0, lr=256.0, schedule="cosine", warmup_steps=5),
    dict(C=20, N=160, B=40, tau=0.2, lr=4.0),
    dict(C=10, N=64, B=16, tau=0.5, lr=200.0),  # eta L_box > 2: kappa > 1 is exercised
    dict(C=5, N=60, B=20, tau=1.0, lr=32.0, positive_in_denominator=True),
]


@pytest.mark.parametrize("kw", GRID, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_chain_on_fixed_grid(kw):
    res = simulate(SurrogateConfig(steps=80, seed=3, **kw))
    held = check_chain(res)
    assert res.measured[-1] > 0
    if kw["C"] < kw["N"] and kw["lr"] >= 16:
        assert held.all()  # these settings are chosen so that the event holds


def test_grid_exercises_expansion_branch():
    res = simulate(SurrogateConfig(steps=40, **GRID[4]))
    assert np.any(res.kappa > 1)
    check_chain(res)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    C=st.integers(2, 12),
    per_class=st.integers(2, 8),
    B_frac=st.floats(0.1, 1.0),
    tau=st.sampled_from([0.1, 0.3, 0.5, 1.0, 2.0, 5.0]),
    lr=st.floats(0.5, 500.0),
    steps=st.integers(1, 40),
    schedule=st.sampled_from(["constant", "cosine"]),
    init=st.sampled_from(["features", "identity"]),
    signal=st.floats(0.0, 3.0),
    pid=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_chain_on_drawn_configs(C, per_class, B_frac, tau, lr, steps, schedule, init, signal,
                                pid, seed):
    N = C * per_class
    B = max(2, int(B_frac * N))
    res = simulate(SurrogateConfig(C=C, N=N, B=B, tau=tau, lr=lr, steps=steps,
                                   schedule=schedule, init=init, init_class_signal=signal,
                                   positive_in_denominator=pid, seed=seed))
    check_chain(res)


def test_chain_detects_a_broken_certificate():
    """The check can fail: halving the certificate of a real run violates measured <= cert."""
    res = simulate(SurrogateConfig(C=10, N=128, B=32, tau=1.0, lr=64.0, steps=60))
    res.certificate = res.certificate * 0.3
    with pytest.raises(AssertionError, match="measured > certificate"):
        check_chain(res)
