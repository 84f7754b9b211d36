"""Input checks at the boundary of :mod:`bounds`.

Every check raises ``ValueError`` (bad value) or ``TypeError`` (wrong type) with one
sentence that names the argument and the offending value, e.g.
"Expected `tau` > 0, got -0.5". The CLI prints the same sentence and exits with status 2.
For arrays the first offending element is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: The largest integer argument: float64 holds every integer up to ``2**53`` exactly.
MAX_INTEGER = 2.0**53
_TINY = float(np.finfo(np.float64).tiny)  # the smallest positive normal float64

__all__ = [
    "MAX_INTEGER",
    "as_float_array",
    "check_bool",
    "check_choice",
    "check_class_count",
    "check_integer",
    "check_nonnegative",
    "check_normal",
    "check_open_unit",
    "check_prior",
    "check_positive",
    "check_schedule",
    "check_unit_interval",
    "raise_first",
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
    check_bool("allow_nan", allow_nan)

    def wrong_type() -> TypeError:
        return TypeError(f"Expected `{name}` to be a number or an array of numbers, "
                         f"got {value!r}")

    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise wrong_type()
    try:
        raw = np.asarray(value)
        # real numbers only: no booleans, strings, complex or objects that merely convert
        if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and all(
                isinstance(x, (int, float, np.integer, np.floating))
                and not isinstance(x, (bool, np.bool_)) for x in raw.flat)):
            raise wrong_type()
        arr = raw.astype(np.float64, copy=False)
    except OverflowError:  # a Python int beyond float range
        raise ValueError(f"Expected `{name}` within float range, got {value!r}") from None
    except (TypeError, ValueError):
        raise wrong_type() from None
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"Expected `{name}` to be a number, got nan")
    return arr


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    return _fmt(arr[bad].flat[0])


def check_bool(name: str, value) -> bool:
    """``value`` is a ``bool`` (or ``numpy.bool_``); anything else is a ``TypeError``.

    A flag is never read by truthiness: ``tight="no"`` or ``tight=0`` is an error, not a
    silent ``True`` or ``False``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Expected `{name}` to be a bool, got {value!r}")
    return bool(value)


def _check_flags(**flags) -> None:
    for k, v in flags.items():
        check_bool(k, v)


def _not_finite(name: str, arr: np.ndarray, bad: np.ndarray, condition: str) -> None:
    """Raise for the first bad element; an infinite one is named as such."""
    v = arr[bad].flat[0]
    what = f"finite and {condition}" if np.isinf(v) else condition
    raise ValueError(f"Expected `{name}` {what}, got {_fmt(v)}")


def check_positive(name: str, value, *, allow_inf: bool = False) -> np.ndarray:
    """``value > 0`` elementwise (finite unless ``allow_inf``)."""
    _check_flags(allow_inf=allow_inf)
    arr = as_float_array(name, value)
    bad = ~(arr > 0) | (~np.isfinite(arr) if not allow_inf else np.zeros(arr.shape, bool))
    if bad.any():
        _not_finite(name, arr, bad, "> 0")
    return arr


def check_normal(name: str, value) -> np.ndarray:
    """No subnormal entry: ``0`` or ``|value| >= 2.2250738585072014e-308`` elementwise.

    A subnormal float carries fewer significant digits than it shows (``1e-320`` is stored
    as ``9.99988671826831e-321``), and squaring or inverting it leaves float range; the
    user-facing parameters of :func:`bounds.evaluate_bounds` refuse it.
    """
    arr = as_float_array(name, value, allow_nan=True)
    bad = (arr != 0) & (np.abs(arr) < _TINY)
    if bad.any():
        raise ValueError(f"Expected `{name}` not subnormal (0, or a magnitude of at least "
                         f"{_TINY!r}), got {_first_bad(arr, bad)}")
    return arr


def check_nonnegative(name: str, value, *, allow_inf: bool = False,
                      allow_nan: bool = False) -> np.ndarray:
    """``value >= 0`` elementwise (finite unless ``allow_inf``; NaN passes if ``allow_nan``)."""
    _check_flags(allow_inf=allow_inf, allow_nan=allow_nan)
    arr = as_float_array(name, value, allow_nan=allow_nan)
    ok = (arr >= 0) & (np.isfinite(arr) | allow_inf)
    if allow_nan:
        ok |= np.isnan(arr)
    bad = ~ok
    if bad.any():
        _not_finite(name, arr, bad, ">= 0")
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
    """An integer ``>= minimum`` and ``<= 2**53`` elementwise; returned as float64.

    ``2**53`` (:data:`MAX_INTEGER`) is the largest size float64 holds exactly together with
    every integer below it; a larger count would be rounded silently.
    """
    arr = as_float_array(name, value)
    bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
    bad |= ~(arr >= minimum)
    if bad.any():
        raise ValueError(
            f"Expected `{name}` to be an integer >= {minimum}, got {_first_bad(arr, bad)}"
        )
    big = arr > MAX_INTEGER
    if big.any():
        raise ValueError(f"Expected `{name}` to be an integer <= 2**53 (exact in float64), "
                         f"got {_first_bad(arr, big)}")
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


def raise_first(bad, text: str, **named) -> None:
    """Raise ``ValueError`` ``"<text>, got a=.., b=.."`` at the first ``bad`` grid point
    (``named`` broadcast with ``bad``): one sentence naming every argument involved."""
    bad = np.asarray(bad)
    if bad.any():
        arrs = np.broadcast_arrays(*named.values(), bad)
        got = ", ".join(f"{k}={_fmt(a[arrs[-1]].flat[0])}"
                        for k, a in zip(named, arrs[:-1], strict=True))
        raise ValueError(f"{text}, got {got}")


def check_class_count(n_max, N, C) -> None:
    """``n_max >= ceil(N/C)`` (``n_max C >= N`` for integers): the largest of ``C`` classes of
    ``N`` samples holds at least ``N/C`` of them; a smaller ``n_max`` is impossible (and would
    give a smaller, invalid bound). Nothing to check without ``C``."""
    if C is not None:
        raise_first(n_max * C < N, "Expected `n_max` >= ceil(`N`/`C`) (the largest of C "
                    "classes holds at least N/C samples)", n_max=n_max, N=N, C=C)


def check_prior(pi_max, C) -> None:
    """``pi_max >= 1/C``: the largest of ``C`` class priors is at least ``1/C`` (to a relative
    ``1e-12``, so that ``n_max/N`` of balanced classes passes whatever its rounding)."""
    raise_first(pi_max * C < 1.0 - 1e-12, "Expected `pi_max` >= 1/`C` (the largest of C "
                "class priors is at least 1/C)", pi_max=pi_max, C=C)
