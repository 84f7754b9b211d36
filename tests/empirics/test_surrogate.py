"""Tests for empirics.surrogate: closed-form gradient vs autograd, backends, invariants, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from empirics import surrogate as sg
from empirics.certificate import lipschitz_anchor, lipschitz_box

SMALL = dict(C=3, N=12, B=4, tau=0.7, steps=30, lr=8.0, eval_every=5)


def _random_state(N, rng):
    S = rng.uniform(-1, 1, size=(2 * N, 2 * N))
    np.fill_diagonal(S, 1.0)
    return S


def _loop_gradient(S, batch, labels, tau, objective, pid):
    """Slow, obvious twin: per anchor, per entry, straight from THEORY.md s2/s9."""
    N = labels.size
    B = batch.size
    G = np.zeros_like(S)
    anchors = [(v, i) for v in range(2) for i in batch]
    for v, i in anchors:
        a = v * N + i
        p = (1 - v) * N + i
        den = []
        for j in batch:
            if j == i:
                continue
            if objective == "nscl" and labels[j] == labels[i]:
                continue
            den += [j, N + j]
        if pid:
            den.append(p)
        G[a, p] -= 1.0 / (2 * B * tau)
        if den:
            x = np.array([S[a, b] for b in den]) / tau
            w = np.exp(x - x.max())
            w /= w.sum()
            for b, wb in zip(den, w, strict=True):
                G[a, b] += wb / (2 * B * tau)
    return G


@pytest.mark.parametrize("objective", ["cl", "nscl"])
@pytest.mark.parametrize("pid", [False, True])
def test_closed_form_gradient_matches_autograd_and_loop(objective, pid):
    rng = np.random.default_rng(1)
    N, tau = 9, 0.6
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1])
    batch = np.array([0, 3, 4, 6, 8])
    S = _random_state(N, rng)
    St = torch.tensor(S, requires_grad=True)
    loss = sg.batch_loss(St, batch, labels, tau, objective=objective,
                         positive_in_denominator=pid)
    (auto,) = torch.autograd.grad(loss, St)
    G_t = sg.batch_gradient(torch.tensor(S), batch, labels, tau, objective=objective,
                            positive_in_denominator=pid)
    G_np = sg.batch_gradient(S, batch, labels, tau, objective=objective,
                             positive_in_denominator=pid)
    np.testing.assert_allclose(G_t.numpy(), auto.numpy(), atol=1e-14)
    np.testing.assert_allclose(G_np, auto.numpy(), atol=1e-14)
    np.testing.assert_allclose(G_np, _loop_gradient(S, batch, labels, tau, objective, pid),
                               atol=1e-14)
    # numpy loss equals torch loss
    assert sg.batch_loss(S, batch, labels, tau, objective=objective,
                         positive_in_denominator=pid) == pytest.approx(loss.item(), abs=1e-12)


def test_gradient_is_zero_outside_batch_rows_and_diagonal():
    rng = np.random.default_rng(2)
    labels = np.arange(10) % 3
    batch = np.array([1, 5, 7])
    G = sg.batch_gradient(_random_state(10, rng), batch, labels, 0.5)
    rows = np.concatenate([batch, batch + 10])
    outside = np.ones(20, dtype=bool)
    outside[rows] = False
    assert np.all(G[outside] == 0)
    assert np.all(np.diag(G) == 0)
    assert np.any(G[rows] != 0)


def test_empty_nscl_denominator_keeps_only_positive_term():
    labels = np.zeros(6, dtype=int)
    labels[5] = 1
    batch = np.array([0, 1, 2])  # all class 0: NSCL has no negatives
    S = _random_state(6, np.random.default_rng(3))
    G = sg.batch_gradient(S, batch, labels, 1.0, objective="nscl")
    expected = np.zeros_like(G)
    for i in batch:
        expected[i, i + 6] = expected[i + 6, i] = -1.0 / (2 * 3 * 1.0)
    np.testing.assert_array_equal(G, expected)
    assert np.isfinite(sg.batch_loss(S, batch, labels, 1.0, objective="nscl"))


def test_lipschitz_constants_hold_and_anchor_constant_is_sharp():
    rng = np.random.default_rng(4)
    N, tau = 16, 0.5
    labels = np.arange(N) % 4
    batch = rng.choice(N, 6, replace=False)
    L_a, L_b = lipschitz_anchor(tau, 6), lipschitz_box(tau, 6, 10)
    for _ in range(20):
        S1, S2 = _random_state(N, rng), _random_state(N, rng)
        g = sg.batch_gradient(S1, batch, labels, tau) - sg.batch_gradient(S2, batch, labels, tau)
        ratio = np.linalg.norm(g) / np.linalg.norm(S1 - S2)
        assert ratio <= L_b <= L_a
    # Sharpness: two equal dominant logits per row give the eigenvalue 1/2 of diag(w) - w w^T.
    R, tau = 4, 0.01
    block = np.full((R, R), -1.0)
    block[:, :2] = 1.0
    den = np.ones((R, R), dtype=bool)
    lam = sg._hessian_top_eigenvalue(block, den, tau, iters=200)
    assert lam == pytest.approx(1.0 / (4 * tau**2 * (R // 2)), rel=1e-6)


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


def test_identity_init_and_class_signal():
    r = sg.simulate(sg.SurrogateConfig(**{**SMALL, "init": "identity"}))
    assert r.measured[-1] > 0
    labels = sg.make_labels(40, 4, np.random.default_rng(0))
    c = sg.SurrogateConfig(C=4, N=40, B=8, init_class_signal=3.0)
    S = sg.initial_state(c, labels, np.random.default_rng(1))
    same = labels[:, None] == labels[None, :]
    block = S[:40, :40]
    assert block[same & ~np.eye(40, dtype=bool)].mean() > block[~same].mean() + 0.3


def test_batches_are_epoch_permutations():
    b = sg.make_batches(10, 3, 7, np.random.default_rng(0))
    assert b.shape == (7, 3)
    for e in range(2):
        ep = b[3 * e: 3 * e + 3].ravel()
        assert np.unique(ep).size == 9


def test_event_flag_and_final_record():
    r = sg.simulate(sg.SurrogateConfig(**SMALL))
    f = r.final()
    assert f["event_held"] == bool(np.all(r.q_max <= r.q_bound))
    assert set(["measured", "certificate", "recurrence", "theorem1", "event_held"]) <= set(f)
    # a pi_max small enough that eps alone decides: q_max > pi_max + eps must flag failure
    c = sg.SurrogateConfig(C=2, N=64, B=48, steps=5, lr=1.0, pi_max=0.01, delta=0.9)
    r2 = sg.simulate(c)
    assert r2.q_bound < r2.q_max.max()
    assert r2.final()["event_held"] is False


def test_state_alignment_degenerate_warns():
    S = np.ones((4, 4))
    with pytest.warns(RuntimeWarning, match="zero"):
        out = sg.state_alignment(S, S)
    assert np.isnan(out["cka"]) and np.isnan(out["rho"])


def test_write_run_and_cli_json(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--C", "8", "--N", "48", "--B", "16", "--steps", "12", "--lr", "16",
            "--format", "json", "--no-progress", "--out", str(out)]
    rc = sg.main(args)
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    for k in ("measured", "certificate", "recurrence", "theorem1", "event_held"):
        assert k in rec
    assert rec["measured"] <= rec["certificate"] <= rec["recurrence"] <= rec["theorem1"]
    assert {p.name for p in out.iterdir()} >= {"config.json", "metrics.csv", "summary.json",
                                                "bounds.json"}
    lines = (out / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["step", "epoch", "pair", "split", "features"] and "sim_gap" in header
    assert "theorem1" in header and len(lines) == 1 + 13
    assert json.loads((out / "summary.json").read_text())["measured"] == rec["measured"]
    # rerun into the same directory replaces metrics.csv
    sg.main(args)
    assert len((out / "metrics.csv").read_text().splitlines()) == 14


def test_vacuous_delta_is_reported_as_null(capsys):
    # B = 4, C = 3: pi_max + eps >= 1, Delta is vacuous; the certificate still bounds the gap.
    sg.main(["--C", "3", "--N", "12", "--B", "4", "--steps", "12", "--lr", "4",
             "--format", "json", "--no-progress"])
    rec = json.loads(capsys.readouterr().out)
    assert rec["Delta"] is None and rec["theorem1"] is None and rec["recurrence"] is None
    assert rec["event_held"] is True and rec["measured"] <= rec["certificate"]


def test_cli_table_and_usage_error(capsys):
    assert sg.main(["--C", "3", "--N", "12", "--B", "4", "--steps", "3", "--no-progress"]) == 0
    assert "theorem1" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        sg.main(["--B", "1"])
    assert e.value.code == 2
    assert "`B`" in capsys.readouterr().err


BAD = [
    ({"C": 1}, ValueError, "`C`"),
    ({"N": 5, "C": 10}, ValueError, "`N`"),
    ({"B": 1}, ValueError, "`B`"),
    ({"B": 300}, ValueError, "`B`"),
    ({"tau": 0.0}, ValueError, "`tau`"),
    ({"tau": float("nan")}, ValueError, "`tau`"),
    ({"steps": 0}, ValueError, "`steps`"),
    ({"lr": -1.0}, ValueError, "`lr`"),
    ({"schedule": "step"}, ValueError, "`schedule`"),
    ({"warmup_steps": 200}, ValueError, "`warmup_steps`"),
    ({"seed": -1}, ValueError, "`seed`"),
    ({"init": "zeros"}, ValueError, "`init`"),
    ({"init_dim": 0}, ValueError, "`init_dim`"),
    ({"init_view_noise": -0.1}, ValueError, "`init_view_noise`"),
    ({"init_class_signal": -0.1}, ValueError, "`init_class_signal`"),
    ({"delta": 1.0}, ValueError, "`delta`"),
    ({"pi_max": 0.0}, ValueError, "`pi_max`"),
    ({"backend": "jax"}, ValueError, "`backend`"),
    ({"eval_every": -1}, ValueError, "`eval_every`"),
    ({"C": 2.5}, TypeError, "`C`"),
    ({"tau": "1"}, TypeError, "`tau`"),
    ({"tau": True}, TypeError, "`tau`"),
    ({"device": 0}, TypeError, "`device`"),
]


@pytest.mark.parametrize("kw,exc,match", BAD)
def test_config_validation(kw, exc, match):
    with pytest.raises(exc, match=match):
        sg.SurrogateConfig(**kw)


def test_from_dict_rejects_unknown_and_round_trips():
    c = sg.SurrogateConfig(C=4)
    assert sg.SurrogateConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown"):
        sg.SurrogateConfig.from_dict({"C": 4, "foo": 1})


def test_gradient_input_validation():
    S = np.eye(8)
    labels = np.arange(4) % 2
    with pytest.raises(ValueError, match="`objective`"):
        sg.batch_gradient(S, [0, 1], labels, 1.0, objective="scl")
    with pytest.raises(ValueError, match="`tau`"):
        sg.batch_gradient(S, [0, 1], labels, 0.0)
    with pytest.raises(ValueError, match="`Sigma`"):
        sg.batch_gradient(np.eye(6), [0, 1], labels, 1.0)
    with pytest.raises(ValueError, match="`batch`"):
        sg.batch_gradient(S, [0, 0], labels, 1.0)
    with pytest.raises(ValueError, match="`batch`"):
        sg.batch_gradient(S, [0.5, 1.5], labels, 1.0)
