"""Tests for empirics.metrics.gaps: exact gaps from a Householder factor against the twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import empirics.metrics.gaps as gaps
from empirics.metrics.gaps import exact_gaps, poorly_conditioned


@pytest.mark.parametrize("case", ["rotation", "shared-classes", "far", "d>N"])
def test_exact_gaps_equal_the_long_double_twin(case, ref, monkeypatch):
    g = np.random.default_rng(0)
    if case == "rotation":
        X = g.normal(size=(60, 6))
        Y = X @ np.linalg.qr(g.normal(size=(6, 6)))[0] + 1e-9 * g.normal(size=(60, 6))
    elif case == "shared-classes":
        X, Y = ref.class_collapse(1e-6, shared=True, N=60)
    elif case == "far":
        X, Y = g.normal(size=(60, 6)), g.normal(size=(60, 4))
    else:
        X, Y = g.normal(size=(10, 30)), g.normal(size=(10, 20))
    monkeypatch.setattr(gaps, "_CHUNK_ROWS", 7)  # several QR steps, chunks smaller than P
    sim, k = exact_gaps(torch.from_numpy(X), torch.from_numpy(Y))
    want = ref.reference(X, Y)
    ref.assert_close(sim, want["sim_gap"], abs_=1e-13 * want["a_norm"], what="sim_gap")
    ref.assert_close(k / want["k_norm"], want["rho"], abs_=1e-13, what="rho")


def test_poorly_conditioned_means_far_below_the_scale():
    assert poorly_conditioned(1e-7, 1.0) and not poorly_conditioned(1e-3, 1.0)
    assert not poorly_conditioned(float("nan"), 1.0)
