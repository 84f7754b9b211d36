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


# -- issue 20 -------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["no", 0, 1, None, 1.0, "True"])
def test_check_bool_refuses_everything_but_bools(flag):
    with pytest.raises(TypeError, match=r"^Expected `tight` to be a bool, got "):
        v.check_bool("tight", flag)
    assert v.check_bool("tight", np.bool_(True)) is True and v.check_bool("t", False) is False
    with pytest.raises(TypeError, match="`allow_inf`"):
        v.check_positive("tau", 1.0, allow_inf="yes")


def test_non_real_arrays_are_type_errors():
    for bad in ([1j], np.array([1.0 + 0j]), np.array(["0.5"]), np.array([True, False]),
                [1.0, None]):
        with pytest.raises(TypeError, match="Expected `x` to be a number"):
            v.as_float_array("x", bad)
    with pytest.raises(ValueError, match="^Expected `x` within float range, got 1000"):
        v.as_float_array("x", 10**400)
    np.testing.assert_array_equal(v.as_float_array("x", np.array([1, 2], np.int8)), [1.0, 2.0])


def test_subnormal_counts_beyond_2_53_and_infinite_values():
    with pytest.raises(ValueError, match=r"^Expected `tau` not subnormal \(0, or a magnitude "
                                         r"of at least 2.2250738585072014e-308\), got 1e-320$"):
        v.check_normal("tau", [0.5, 1e-320])
    np.testing.assert_array_equal(v.check_normal("lr", [0.0, 2.3e-308, -1e300]),
                                  [0.0, 2.3e-308, -1e300])
    with pytest.raises(ValueError, match=r"^Expected `T` to be an integer <= 2\*\*53 \(exact "
                                         r"in float64\), got 9007199254740994$"):
        v.check_integer("T", 2**53 + 2, 1)
    assert v.check_integer("T", 2**53, 1) == 2.0**53
    with pytest.raises(ValueError, match="^Expected `tau` finite and > 0, got inf$"):
        v.check_positive("tau", np.inf)
    with pytest.raises(ValueError, match="^Expected `lr` finite and >= 0, got -inf$"):
        v.check_nonnegative("lr", -np.inf)


def test_class_count_and_prior_checks():
    v.check_prior(0.1, 10)
    v.check_prior(1 / 3, 3)
    v.check_class_count(5001, 50001, 10)
    v.check_class_count(1, 10**6, None)  # nothing to check without C
    with pytest.raises(ValueError, match=r"got pi_max=0.3, C=2$"):
        v.check_prior(0.3, np.array([10, 2]))
    with pytest.raises(ValueError, match=r"got n_max=5000, N=50001, C=10$"):
        v.check_class_count(5000, 50001, 10)
