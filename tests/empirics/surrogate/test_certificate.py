"""Tests for empirics.surrogate.certificate: constants, step expansion, certificate paths,
and the row-wise certificate against a hand-unrolled recursion with ``kappa > 1``."""

from __future__ import annotations

import numpy as np
import pytest

from empirics import surrogate as sg
from empirics.surrogate import certificate as ct
from empirics.surrogate.dynamics import hessian_top_eigenvalue

#: A small run in which the step expands (``eta L_box > 2``) on 12 of its 24 steps: the
#: cosine schedule peaks at ``kappa = 3`` and ends at ``kappa = 1``.
KAPPA_RUN = dict(C=4, N=32, B=8, tau=0.5, steps=24, lr=32.0, schedule="cosine",
                 warmup_steps=4)


def test_constants_relations():
    assert ct.lipschitz_theory(0.5, 32) == pytest.approx(2 * ct.lipschitz_anchor(0.5, 32))
    for tau in (0.05, 0.5, 1.0, 5.0):
        assert ct.lipschitz_box(tau, 32, 62) <= ct.lipschitz_anchor(tau, 32)
    # small tau: the box constant reaches the sharp one
    assert ct.lipschitz_box(0.01, 32, 62) == pytest.approx(ct.lipschitz_anchor(0.01, 32))


def test_step_expansion():
    k = ct.step_expansion(np.array([0.0, 10.0, 256.0, 512.0]), 1.0, 32)
    np.testing.assert_allclose(k, [1.0, 1.0, 1.0, 3.0])
    # any kappa is <= THEORY's factor 1 + eta L
    eta = np.linspace(0, 5000, 50)
    assert np.all(ct.step_expansion(eta, 0.7, 16) <= 1 + eta * ct.lipschitz_theory(0.7, 16))


def test_certificate_paths():
    m = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(ct.certificate_path(m, 1.0), [0, 1, 3, 3.5])
    np.testing.assert_allclose(ct.certificate_path(m, [2.0, 2.0, 2.0]), [0, 1, 4, 8.5])
    r = np.zeros(6)
    c1 = ct.rowwise_certificate_step(r, np.array([0, 1]), 1.0, np.array([3.0, 4.0]))
    c2 = ct.rowwise_certificate_step(r, np.array([2, 3]), 1.0, np.array([3.0, 4.0]))
    assert (c1, c2) == (5.0, pytest.approx(np.sqrt(50)))
    assert c2 <= ct.certificate_path([5.0, 5.0], 1.0)[-1]  # Minkowski


def test_rowwise_step_by_hand_with_kappa_above_one():
    r = np.zeros(3)
    ct.rowwise_certificate_step(r, np.array([0, 1]), 2.0, np.array([1.0, 2.0]))
    assert r.tolist() == [1.0, 2.0, 0.0]
    ct.rowwise_certificate_step(r, np.array([1, 2]), 3.0, np.array([1.0, 1.0]))
    assert r.tolist() == [1.0, 7.0, 1.0]  # row 1: 3 * 2 + 1; row 0 untouched
    c = ct.rowwise_certificate_step(r, np.array([0, 2]), 1.5, np.array([0.5, 0.25]))
    assert r.tolist() == [2.0, 7.0, 1.75]
    assert c == pytest.approx(np.sqrt(4.0 + 49.0 + 1.75**2), rel=1e-15)


def _unrolled_rows(steps, n_rows):
    """Slow, obvious twin: ``r_a(T) = sum over visits u of row a of m_{a,u} times the
    product of kappa over the *later* visits of row a`` (rows outside a batch keep theirs)."""
    r = np.zeros(n_rows)
    for a in range(n_rows):
        total = 0.0
        for u, (rows, _, m) in enumerate(steps):
            if a not in rows:
                continue
            factor = 1.0
            for rows_s, kappa_s, _ in steps[u + 1:]:
                if a in rows_s:
                    factor *= kappa_s
            total += m[list(rows).index(a)] * factor
        r[a] = total
    return r


def test_rowwise_certificate_equals_the_unrolled_recursion_with_kappa_above_one():
    g = np.random.default_rng(5)
    n_rows, steps = 10, []
    for _ in range(12):
        rows = g.choice(n_rows, 4, replace=False)
        steps.append((rows, float(g.uniform(1.0, 3.0)), g.uniform(0.0, 1.0, 4)))
    r = np.zeros(n_rows)
    for rows, kappa, m in steps:
        c = ct.rowwise_certificate_step(r, rows, kappa, m)
    expected = _unrolled_rows(steps, n_rows)
    np.testing.assert_allclose(r, expected, rtol=1e-13)
    assert c == pytest.approx(np.linalg.norm(expected), rel=1e-13)
    assert c > np.linalg.norm(_unrolled_rows([(a, 1.0, m) for a, _, m in steps], n_rows))


def _spied_run(monkeypatch, **kw):
    """A run whose row-wise certificate steps are recorded as they happen."""
    import sys

    module = sys.modules["empirics.surrogate.simulation"]
    steps, real = [], module.rowwise_certificate_step

    def spy(r, rows, kappa, m):
        steps.append((np.array(rows), kappa, np.array(m)))
        return real(r, rows, kappa, m)

    monkeypatch.setattr(module, "rowwise_certificate_step", spy)
    return sg.simulate(sg.SurrogateConfig(**kw)), steps


def test_run_with_kappa_above_one_matches_the_unrolled_rows(monkeypatch):
    res, steps = _spied_run(monkeypatch, **KAPPA_RUN)
    c = res.config
    # kappa recomputed independently: max(1, eta L_box - 1) with CL's 2(B - 1) denominator
    L_box = ct.lipschitz_box(c.tau, c.B, 2 * (c.B - 1))
    kappa = np.maximum(1.0, res.eta * L_box - 1.0)
    np.testing.assert_allclose(res.kappa, kappa, rtol=1e-15)
    assert (res.kappa > 1).sum() == 12 and res.kappa.max() == pytest.approx(3.0)
    assert [k for _, k, _ in steps] == res.kappa.tolist()
    for t in (1, 5, 13, 24):  # before, during and after the expanding steps
        expected = np.linalg.norm(_unrolled_rows(steps[:t], 2 * c.N))
        assert res.certificate[t] == pytest.approx(expected, rel=1e-12)
    # the step mismatch is the norm of the recorded rows, and the global path its recursion
    np.testing.assert_allclose(res.step_mismatch, [np.linalg.norm(m) for *_, m in steps],
                               rtol=1e-14)
    np.testing.assert_array_equal(res.certificate_global,
                                  ct.certificate_path(res.step_mismatch, res.kappa))


def check_chain_two_sided(res):
    """Every certificate and bound of a run between what the math puts on either side.

    Upper sides as in tests/regression/test_surrogate_bounds.py; lower sides [derived]:
    the row-wise certificate is the norm of a sum of non-negative row vectors, each scaled
    by factors >= 1, so it is at least ``sqrt(sum_t m_t^2)``; ``certificate_global`` and
    ``certificate_lipschitz`` are recomputed exactly from their recorded drives; the
    recurrence is at least ``S_t`` times its drive (every factor ``1 + eta L >= 1``) and
    Theorem 1 is at most ``exp(S_t L)`` times that.
    """
    rtol = 1e-9
    held = np.concatenate([[True], np.cumprod(res.event_held_step).astype(bool)])
    lower = np.sqrt(np.concatenate([[0.0], np.cumsum(res.step_mismatch**2)]))
    assert np.all(res.measured <= res.certificate * (1 + rtol) + 1e-12)
    assert np.all(lower <= res.certificate * (1 + rtol) + 1e-12), "row-wise < its lower bound"
    assert np.all(res.certificate <= res.certificate_global * (1 + rtol) + 1e-12)
    np.testing.assert_array_equal(res.certificate_global,
                                  ct.certificate_path(res.step_mismatch, res.kappa))
    import bounds

    with np.errstate(over="ignore"):
        lip = bounds.recurrence_path(res.eta, res.config.tau, res.config.B, res.drive)
    np.testing.assert_array_equal(res.certificate_lipschitz, lip)
    driven = np.concatenate([[0.0], np.cumsum(res.eta * res.drive)])
    assert np.all(driven <= res.certificate_lipschitz * (1 + rtol) + 1e-12)
    assert np.all(res.certificate_global <= res.certificate_lipschitz * (1 + rtol) + 1e-12)
    if np.isfinite(res.drive_bound):
        L = ct.lipschitz_theory(res.config.tau, res.config.B)
        S = res.sum_eta[held]
        assert np.all(S * res.drive_bound <= res.recurrence[held] * (1 + rtol) + 1e-12)
        assert np.all(res.recurrence[held] <= res.theorem1[held] * (1 + rtol) + 1e-12)
        with np.errstate(over="ignore"):
            top = np.exp(S * L) * S * res.drive_bound
        assert np.all(res.theorem1[held] <= top * (1 + rtol) + 1e-12)
        assert np.all(res.certificate_lipschitz[held] <= res.recurrence[held] * (1 + rtol)
                      + 1e-12)


@pytest.mark.parametrize("kw", [
    KAPPA_RUN,
    dict(C=10, N=64, B=16, tau=0.5, lr=200.0, steps=40, seed=3),  # kappa = 11.5 throughout
    dict(C=10, N=128, B=32, tau=1.0, lr=64.0, steps=60),
    dict(C=5, N=60, B=20, tau=1.0, lr=32.0, steps=40, positive_in_denominator=True),
    dict(C=3, N=12, B=4, steps=12, lr=4.0),  # vacuous Delta
], ids=["kappa-cosine", "kappa-constant", "default-like", "ntxent", "vacuous"])
def test_chain_is_two_sided(kw):
    check_chain_two_sided(sg.simulate(sg.SurrogateConfig(**kw)))


def test_lipschitz_constants_hold_and_anchor_constant_is_sharp():
    rng = np.random.default_rng(4)
    N, tau = 16, 0.5
    labels = np.arange(N) % 4
    batch = rng.choice(N, 6, replace=False)
    L_a, L_b = ct.lipschitz_anchor(tau, 6), ct.lipschitz_box(tau, 6, 10)

    def state():
        S = rng.uniform(-1, 1, size=(2 * N, 2 * N))
        np.fill_diagonal(S, 1.0)
        return S

    for _ in range(20):
        S1, S2 = state(), state()
        g = sg.batch_gradient(S1, batch, labels, tau) - sg.batch_gradient(S2, batch, labels, tau)
        ratio = np.linalg.norm(g) / np.linalg.norm(S1 - S2)
        assert ratio <= L_b <= L_a
    # Sharpness: two equal dominant logits per row give the eigenvalue 1/2 of diag(w) - w w^T.
    R, tau = 4, 0.01
    block = np.full((R, R), -1.0)
    block[:, :2] = 1.0
    den = np.ones((R, R), dtype=bool)
    lam = hessian_top_eigenvalue(block, den, tau, iters=200)
    assert lam == pytest.approx(1.0 / (4 * tau**2 * (R // 2)), rel=1e-6)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: ct.lipschitz_anchor(0.0, 4), ValueError, "`tau`"),
        (lambda: ct.lipschitz_anchor(1.0, -4), ValueError, "`B`"),
        (lambda: ct.lipschitz_theory("1", 4), TypeError, "`tau`"),
        (lambda: ct.lipschitz_box(1.0, 4, 0), ValueError, "`n_den`"),
        (lambda: ct.step_expansion([-1.0], 1.0, 4), ValueError, "`eta`"),
        (lambda: ct.step_expansion([1.0], 1.0, 4, L=0.0), ValueError, "`L`"),
        (lambda: ct.certificate_path([-1.0], 1.0), ValueError, "`step_mismatch`"),
        (lambda: ct.certificate_path([1.0], 0.5), ValueError, "`kappa`"),
    ],
)
def test_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
