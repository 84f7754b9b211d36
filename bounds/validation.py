"""Input checks at the boundary of :mod:`bounds`.

Every check raises ``ValueError`` (bad value) or ``TypeError`` (wrong type) with one
sentence that names the argument and the offending value, e.g.
"Expected `tau` > 0, got -0.5". The CLI prints the same sentence and exits with status 2.
For arrays the first offending element is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "as_float_array",
    "check_choice",
    "check_integer",
    "check_nonnegative",
    "check_open_unit",
    "check_positive",
    "check_schedule",
    "check_unit_interval",
]


def _fmt(value: float) -> str:
    """Format a scalar the way the user most likely typed it (2.0 -> 2, 0.5 -> 0.5)."""
    v = float(value)
    if np.isfinite(v) and v == int(v) and abs(v) < 1e16:
        return repr(int(v))
    return repr(v)


def as_float_array(name: str, value, *, allow_nan: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array, or raise ``TypeError`` naming ``name``.

    Booleans and strings are rejected: they are never a meaningful number here. NaN is a
    ``ValueError`` unless ``allow_nan`` (an undefined measured ratio, where the caller knows
    what NaN means).
    """
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"Expected `{name}` to be a number or an array of numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"Expected `{name}` to be a number or an array of numbers, got {value!r}"
        ) from None
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"Expected `{name}` to be a number, got nan")
    return arr


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    return _fmt(arr[bad].flat[0])


def check_positive(name: str, value, *, allow_inf: bool = False) -> np.ndarray:
    """``value > 0`` elementwise (finite unless ``allow_inf``)."""
    arr = as_float_array(name, value)
    bad = ~(arr > 0) | (~np.isfinite(arr) if not allow_inf else np.zeros(arr.shape, bool))
    if bad.any():
        raise ValueError(f"Expected `{name}` > 0, got {_first_bad(arr, bad)}")
    return arr


def check_nonnegative(name: str, value, *, allow_inf: bool = False,
                      allow_nan: bool = False) -> np.ndarray:
    """``value >= 0`` elementwise (finite unless ``allow_inf``; NaN passes if ``allow_nan``)."""
    arr = as_float_array(name, value, allow_nan=allow_nan)
    ok = (arr >= 0) & (np.isfinite(arr) | allow_inf)
    if allow_nan:
        ok |= np.isnan(arr)
    bad = ~ok
    if bad.any():
        raise ValueError(f"Expected `{name}` >= 0, got {_first_bad(arr, bad)}")
    return arr


def check_open_unit(name: str, value) -> np.ndarray:
    """``0 < value < 1`` elementwise."""
    arr = as_float_array(name, value)
    bad = ~((arr > 0) & (arr < 1))
    if bad.any():
        raise ValueError(f"Expected `{name}` in (0, 1), got {_first_bad(arr, bad)}")
    return arr


def check_unit_interval(name: str, value) -> np.ndarray:
    """``0 < value <= 1`` elementwise (a probability that may be 1, e.g. ``pi_max``)."""
    arr = as_float_array(name, value)
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        raise ValueError(f"Expected `{name}` in (0, 1], got {_first_bad(arr, bad)}")
    return arr


def check_integer(name: str, value, minimum: int) -> np.ndarray:
    """An integer ``>= minimum`` elementwise; returned as float64 (exact below 2**53)."""
    arr = as_float_array(name, value)
    bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
    bad |= ~(arr >= minimum)
    if bad.any():
        raise ValueError(
            f"Expected `{name}` to be an integer >= {minimum}, got {_first_bad(arr, bad)}"
        )
    return arr


def check_schedule(name: str, value) -> np.ndarray:
    """A learning-rate schedule: shape ``(T,)`` with ``T >= 1``, entries ``>= 0``."""
    arr = check_nonnegative(name, value)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"Expected `{name}` of shape (T,) with T >= 1, got shape {arr.shape}")
    return arr


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Expected `{name}` in {{{', '.join(choices)}}}, got {value!r}")
    return value
