"""Tests for empirics.surrogate.dynamics: closed-form gradient vs autograd and a slow loop,
masks, the empty NSCL denominator, input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import surrogate as sg


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
