"""Tests for empirics.surrogate.hessian: power iteration against the explicit Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics.surrogate import batch_loss, batch_masks
from empirics.surrogate.hessian import hessian_top_eigenvalue


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
