"""Tests for empirics.metrics.spearman: ranks of exact dissimilarities, near collapse too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from empirics.metrics.spearman import spearman_rsa


@pytest.mark.parametrize("eps", [1e-1, 1e-4, 1e-6])
def test_spearman_near_collapse_equals_the_long_double_ranks(eps, ref):
    X, Y = ref.one_point_collapse(eps, N=60, d=8)
    iu = np.triu_indices(60, k=1)
    a = ref.dissimilarities(X)[iu].astype(float)  # exact 1 - cos, then rounded
    b = ref.dissimilarities(Y)[iu].astype(float)
    got = spearman_rsa(torch.from_numpy(X), torch.from_numpy(Y), 2**30)
    assert got == pytest.approx(spearmanr(a, b)[0], rel=1e-9)


def test_spearman_is_range_safe_and_rejects_zero_rows():
    g = np.random.default_rng(0)
    X, Y = torch.from_numpy(g.normal(size=(20, 3))), torch.from_numpy(g.normal(size=(20, 3)))
    assert spearman_rsa(X * 1e200, Y, 2**20) == pytest.approx(spearman_rsa(X, Y, 2**20))
    X[4] = 0.0
    with pytest.warns(RuntimeWarning, match="1 zero rows of `X`"):
        assert math.isnan(spearman_rsa(X, Y, 2**20))
