"""Tests for empirics.surrogate.dynamics: the state (labels, initial state, batches, state
alignment), the closed-form gradient vs autograd and a slow loop, masks, the empty NSCL
denominator, input validation, and the Hessian's power iteration against the explicit one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import surrogate as sg
from empirics.surrogate import batch_loss, batch_masks
from empirics.surrogate.dynamics import hessian_top_eigenvalue


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


SMALL = dict(C=3, N=12, B=4, tau=0.7, steps=30, lr=8.0, eval_every=5)


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


def test_state_alignment_degenerate_warns():
    S = np.ones((4, 4))
    with pytest.warns(RuntimeWarning, match="zero"):
        out = sg.state_alignment(S, S)
    assert np.isnan(out["cka"]) and np.isnan(out["rho"])


def test_state_alignment_against_the_formula():
    g = np.random.default_rng(3)
    S1, S2 = g.uniform(-1, 1, (8, 8)), g.uniform(-1, 1, (8, 8))
    H = np.eye(8) - 1 / 8
    K1, K2 = H @ S1 @ H, H @ S2 @ H
    out = sg.state_alignment(S1, S2)
    cka = (K1 * K2).sum() / np.linalg.norm(K1) / np.linalg.norm(K2)
    assert out["cka"] == pytest.approx(cka, rel=1e-12)
    assert out["rho"] == pytest.approx(np.linalg.norm(K1 - K2) / np.linalg.norm(K1), rel=1e-12)
    assert out["sim_gap"] == pytest.approx(np.linalg.norm(S1 - S2), rel=1e-14)


def _explicit_top_eigenvalue(block, den, tau):
    """Slow twin: the block-diagonal Hessian built row by row, then eigvalsh."""
    R = block.shape[0]
    top = 0.0
    for a in range(R):
        idx = np.flatnonzero(den[a])
        if idx.size == 0:
            continue
        x = block[a, idx] / tau
        w = np.exp(x - x.max())
        w /= w.sum()
        H = (np.diag(w) - np.outer(w, w)) / (R * tau * tau)
        top = max(top, float(np.linalg.eigvalsh(H)[-1]))
    return top


def test_power_iteration_finds_the_top_eigenvalue():
    g = np.random.default_rng(0)
    labels = np.arange(12) % 3
    m = batch_masks(np.arange(6), labels)
    block = g.uniform(-1, 1, (12, 12))
    for tau in (0.1, 0.5, 2.0):
        lam = hessian_top_eigenvalue(block, m["cl"], tau, iters=2000)
        assert lam == pytest.approx(_explicit_top_eigenvalue(block, m["cl"], tau), rel=1e-6)


def test_hessian_matches_autograd_of_the_batch_loss():
    # The Hessian of batch_loss w.r.t. the batch block, by autograd, has the same top
    # eigenvalue (the loss's Hessian is the block-diagonal one on the free entries).
    g = np.random.default_rng(1)
    N, tau = 6, 0.7
    labels = np.arange(N) % 2
    batch = np.array([0, 1, 2, 3])
    S = g.uniform(-1, 1, (2 * N, 2 * N))
    A = np.concatenate([batch, batch + N])

    def loss_of_block(block):
        full = torch.tensor(S).clone()
        full[np.ix_(A, A)] = block
        return batch_loss(full, batch, labels, tau)

    block = torch.tensor(S[np.ix_(A, A)])
    H = torch.autograd.functional.hessian(loss_of_block, block).reshape(64, 64).numpy()
    den = batch_masks(batch, labels)["cl"]
    top = hessian_top_eigenvalue(S[np.ix_(A, A)], den, tau, iters=3000)
    assert top == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-6)


def test_default_start_is_fixed_and_an_empty_mask_gives_zero():
    block = np.random.default_rng(2).uniform(-1, 1, (6, 6))
    den = ~np.eye(6, dtype=bool)
    assert hessian_top_eigenvalue(block, den, 1.0) == hessian_top_eigenvalue(block, den, 1.0)
    assert hessian_top_eigenvalue(block, np.zeros((6, 6), dtype=bool), 1.0) == 0.0
