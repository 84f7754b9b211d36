"""Tests of bounds.validation: one sentence naming the argument and the value."""

import numpy as np
import pytest

from bounds import validation as v


def test_messages_name_argument_and_value():
    with pytest.raises(ValueError, match=r"^Expected `tau` > 0, got -0.5$"):
        v.check_positive("tau", -0.5)
    with pytest.raises(ValueError, match=r"^Expected `C` to be an integer >= 2, got 2.5$"):
        v.check_integer("C", np.array([3, 2.5]), 2)
    with pytest.raises(ValueError, match=r"^Expected `delta` in \(0, 1\), got 1$"):
        v.check_open_unit("delta", 1.0)
    with pytest.raises(ValueError, match=r"^Expected `pi_max` in \(0, 1\], got 0$"):
        v.check_unit_interval("pi_max", 0.0)
    with pytest.raises(ValueError, match=r"^Expected `lr` >= 0, got -1$"):
        v.check_nonnegative("lr", -1)
    with pytest.raises(ValueError, match=r"^Expected `form` in \{a, b\}, got 'c'$"):
        v.check_choice("form", "c", ("a", "b"))


def test_nan_inf_and_types():
    with pytest.raises(ValueError, match="got nan"):
        v.check_positive("tau", float("nan"))
    with pytest.raises(ValueError, match="got inf"):
        v.check_positive("tau", float("inf"))
    assert np.isinf(v.check_positive("Delta", float("inf"), allow_inf=True))
    with pytest.raises(TypeError, match="Expected `tau` to be a number"):
        v.check_positive("tau", "0.5")
    with pytest.raises(TypeError, match="Expected `tau` to be a number"):
        v.check_positive("tau", True)
    with pytest.raises(TypeError, match="Expected `tau` to be a number"):
        v.check_positive("tau", [object()])
    with pytest.raises(ValueError, match="got inf"):
        v.check_integer("B", float("inf"), 2)


def test_valid_values_pass_through():
    np.testing.assert_array_equal(v.check_integer("B", [2, 4], 2), [2.0, 4.0])
    assert v.check_unit_interval("pi_max", 1.0) == 1.0


def test_allow_nan_only_where_asked():
    with pytest.raises(ValueError, match="Expected `rho` to be a number, got nan"):
        v.check_nonnegative("rho", float("nan"))
    assert np.isnan(v.check_nonnegative("rho", float("nan"), allow_nan=True))
    out = v.check_nonnegative("rho", [0.5, np.nan, np.inf], allow_inf=True, allow_nan=True)
    assert out[0] == 0.5 and np.isnan(out[1]) and np.isinf(out[2])
    with pytest.raises(ValueError, match=r"^Expected `rho` >= 0, got -1$"):
        v.check_nonnegative("rho", [np.nan, -1.0], allow_nan=True)
    with pytest.raises(ValueError, match="got inf"):
        v.check_nonnegative("rho", [np.nan, np.inf], allow_nan=True)


def test_check_schedule():
    np.testing.assert_array_equal(v.check_schedule("eta", [0.0, 1.5]), [0.0, 1.5])
    with pytest.raises(ValueError, match=r"^Expected `eta` of shape \(T,\) with T >= 1, got "
                                         r"shape \(0,\)$"):
        v.check_schedule("eta", [])
    with pytest.raises(ValueError, match=r"got shape \(1, 1\)$"):
        v.check_schedule("eta", [[1.0]])
    with pytest.raises(ValueError, match=r"^Expected `eta` >= 0, got -1$"):
        v.check_schedule("eta", [1.0, -1.0])
