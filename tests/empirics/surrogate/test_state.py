"""Tests for empirics.surrogate.state: labels, initial state, batches, state alignment."""

from __future__ import annotations

import numpy as np
import pytest

from empirics import surrogate as sg

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
