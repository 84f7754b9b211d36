"""Tests for empirics.metrics.rows: unit and scaled rows, centred, at every finite scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics.metrics.rows import (
    centred_scaled_rows,
    centred_unit_rows,
    checked_norms,
    scale_exponent,
)


def _x(scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(20, 5, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-150, 1.0, 1e150, 1e200, 1e300])
def test_unit_rows_at_any_scale_equal_the_long_double_twin(scale):
    x = _x(scale)
    w, pilot, zero = centred_unit_rows(x, *checked_norms(x, "`x`"))
    X = x.numpy().astype(np.longdouble)
    U = X / np.sqrt((X * X).sum(axis=1, keepdims=True))
    np.testing.assert_allclose((w + pilot).numpy(), U.astype(float), rtol=0, atol=4e-16)
    assert zero == 0 and torch.equal(w[0], torch.zeros(5, dtype=torch.float64))


def test_zero_rows_stay_zero_and_are_counted():
    x = _x()
    x[3] = 0.0
    x[7] = 0.0
    norm, ok = checked_norms(x, "`x`")
    assert not ok
    w, pilot, zero = centred_unit_rows(x, norm, ok)
    assert zero == 2 and torch.equal(w[3], -pilot)


def test_a_given_pilot_is_used_and_equal_rows_centre_to_exact_zeros():
    x = _x().repeat(2, 1)  # rows 0..19 twice
    pilot = x[4] / torch.linalg.vector_norm(x[4])
    w, p, _ = centred_unit_rows(x, *checked_norms(x, "`x`"), pilot)
    assert p is pilot and not w[4].any() and not w[24].any()


def test_scaled_rows_keep_differences_exact_and_scale_by_powers_of_two():
    x = _x(1e200)
    k = scale_exponent(x, checked_norms(x, "`x`")[0])
    w, pilot = centred_scaled_rows(x, k)
    assert 0.5 <= float((w + pilot).abs().max()) < 1.0  # the largest entry, its norm overflows
    X = np.ldexp(x.numpy().astype(np.longdouble), -k)
    assert (w.numpy() == (X - X[0]).astype(np.float64)).all()  # the difference, rounded once
    assert scale_exponent(_x(), checked_norms(_x(), "`x`")[0]) == 0  # usual scales: untouched
    tiny = _x(1e-170)  # norms underflow in a plain sum of squares
    assert scale_exponent(tiny, checked_norms(tiny, "`x`")[0]) < -500


def test_non_finite_input_raises_naming_the_arguments():
    x = _x()
    x[2, 1] = float("inf")
    with pytest.raises(ValueError, match="Expected finite values in `X` and `Y`, got NaN or inf"):
        checked_norms(x, "`X` and `Y`")
