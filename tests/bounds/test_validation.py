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
