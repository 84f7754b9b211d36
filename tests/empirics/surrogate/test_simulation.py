"""Tests for empirics.surrogate.simulation: backends, invariants, seeds, an exact resume."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from empirics import surrogate as sg
from empirics.surrogate import Simulation

SMALL = dict(C=3, N=12, B=4, tau=0.7, steps=30, lr=8.0, eval_every=5)
ARRAYS = ("eta", "sum_eta", "measured", "certificate", "certificate_global",
          "certificate_lipschitz", "recurrence", "theorem1", "drive", "step_mismatch",
          "kappa", "contraction", "q_max", "eval_steps", "cka", "rho", "sigma_cl",
          "sigma_nscl")


def test_backends_agree_and_runs_are_deterministic():
    c = sg.SurrogateConfig(**SMALL)
    a = sg.simulate(c)
    b = sg.simulate(c)
    t = sg.simulate(sg.SurrogateConfig(**{**SMALL, "backend": "torch"}))
    np.testing.assert_array_equal(a.measured, b.measured)
    np.testing.assert_array_equal(a.sigma_cl, b.sigma_cl)
    np.testing.assert_allclose(t.sigma_cl, a.sigma_cl, atol=1e-12)
    np.testing.assert_allclose(t.measured, a.measured, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t.certificate, a.certificate, rtol=1e-9, atol=1e-12)


def test_state_invariants():
    c = sg.SurrogateConfig(**SMALL)
    r = sg.simulate(c)
    for S in (r.sigma_cl, r.sigma_nscl):
        assert np.all(np.diag(S) == 1.0)
        assert S.min() >= -1.0 and S.max() <= 1.0
    # measured gap equals the exact Frobenius norm of the final states' difference
    assert r.measured[-1] == pytest.approx(np.linalg.norm(r.sigma_cl - r.sigma_nscl), rel=1e-9)
    assert r.measured[0] == 0.0 and r.certificate[0] == 0.0
    # the runs differ (NSCL drops same-class negatives) and CKA < 1
    assert r.measured[-1] > 0 and r.cka[-1] < 1


def test_one_sample_per_class_makes_cl_equal_nscl():
    # C = N: no batch holds two samples of a class, so the NSCL and CL denominators coincide.
    r = sg.simulate(sg.SurrogateConfig(C=8, N=8, B=4, steps=10, lr=4.0))
    assert np.all(r.measured == 0) and np.all(r.certificate == 0) and np.all(r.drive == 0)
    assert np.array_equal(r.sigma_cl, r.sigma_nscl)


def test_cosine_schedule_and_explicit_eta():
    c = sg.SurrogateConfig(**{**SMALL, "schedule": "cosine", "warmup_steps": 3})
    r = sg.simulate(c)
    assert r.eta[0] == pytest.approx(SMALL["lr"] / 3) and r.eta[-1] < r.eta[5]
    r2 = sg.simulate(c, eta=r.eta.copy())
    np.testing.assert_array_equal(r.measured, r2.measured)
    with pytest.raises(ValueError, match="`eta`"):
        sg.simulate(c, eta=np.ones(3))


def test_event_flag_and_final_record():
    r = sg.simulate(sg.SurrogateConfig(**SMALL))
    f = r.final()
    assert f["event_held"] == bool(np.all(r.q_max <= r.q_bound))
    assert set(["measured", "certificate", "recurrence", "theorem1", "event_held"]) <= set(f)
    # the smallest valid pi_max (1/C) and a tiny batch: seed 2's one batch of B = 3 is of one
    # class (q = 1 > pi_max + eps = 0.93), so the event failed and the record says so
    c = sg.SurrogateConfig(C=2, N=60, B=3, steps=1, lr=1.0, pi_max=0.5, delta=0.999, seed=2)
    r2 = sg.simulate(c)
    assert r2.q_max.max() == 1.0 and r2.q_bound < 1.0
    assert r2.final()["event_held"] is False


def test_seeds_are_the_streams_of_seed_sequence_spawn_3():
    # empirics.seeds purposes labels / init / batch are SeedSequence(seed).spawn(3): the
    # surrogate's numbers are those of every earlier version.
    c = sg.SurrogateConfig(C=5, N=40, B=8, steps=12, seed=7)
    g_labels, g_init, g_batch = (np.random.default_rng(s)
                                 for s in np.random.SeedSequence(7).spawn(3))
    labels = sg.make_labels(40, 5, g_labels)
    sim = Simulation(c)
    sim.start()
    np.testing.assert_array_equal(sim.labels, labels)
    np.testing.assert_array_equal(sim.batches, sg.make_batches(40, 8, 12, g_batch))
    np.testing.assert_array_equal(sim.S_cl, sg.initial_state(c, labels, g_init))


def _round_trip(state):
    """What a checkpoint file does to a state: torch.save, then a weights-only load."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("stop", [0, 1, 7, 29])
def test_state_dict_resumes_exactly(backend, stop):
    c = sg.SurrogateConfig(**{**SMALL, "backend": backend})
    whole = sg.simulate(c)
    sim = Simulation(c)
    sim.start()
    for _ in range(stop):
        sim.advance()
    again = Simulation(c)
    assert again.load_state_dict(_round_trip(sim.state_dict())) == stop
    while again.t < again.T:
        again.advance()
    res = again.result()
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(res, name), getattr(whole, name), err_msg=name)
    assert res.final() == pytest.approx(whole.final(), nan_ok=True)


def test_a_foreign_state_is_refused_and_the_order_of_calls_is_checked():
    sim = Simulation(sg.SurrogateConfig(**SMALL))
    with pytest.raises(RuntimeError, match="start"):
        sim.advance()
    sim.start()
    state = sim.state_dict()
    other = Simulation(sg.SurrogateConfig(**{**SMALL, "N": 15}))
    with pytest.raises(ValueError, match="`sigma_cl` of shape"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="surrogate checkpoint"):
        other.load_state_dict({**state, "step": 99})
    with pytest.raises(TypeError, match="`config`"):
        Simulation({"C": 3})
