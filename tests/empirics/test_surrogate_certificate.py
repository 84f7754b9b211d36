"""Tests for empirics.certificate: constants, step expansion, certificate paths."""

from __future__ import annotations

import numpy as np
import pytest

from empirics import certificate as ct


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
