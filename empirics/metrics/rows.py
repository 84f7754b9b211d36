"""Rows of one float64 chunk, made ready for the moments: unit rows or scaled rows, centred.

The moments (:mod:`empirics.metrics.moments`) are taken about a *pilot*, the chunk's first
row, never about zero: for features that nearly collapse onto one direction the rows
about zero differ from each other only in their last digits, and every second moment
built from them cancels (THEORY.md s7 quantities are all centred). About a pilot the
centred rows ``w_i = x_i - x_0`` carry their full precision, and rows equal to the pilot
give exact zeros, so constant features are recognised exactly.

- :func:`centred_unit_rows` -- ``x_i / |x_i| - x_0 / |x_0|`` (the cosine statistics). The
  division rounds each entry once (relative error ``2^-53``), which is the float64
  resolution of a direction: the centred rows are exact to about ``1e-16`` absolute.
- :func:`centred_scaled_rows` -- ``(x_i - x_0) 2^-k`` (the raw statistics of linear CKA).
  The difference of two float64 numbers rounds once *relative to the difference*, so raw
  centred rows are exact to ``2^-53`` relative, at any collapse. ``2^-k`` (exact) keeps the
  chunk's largest row norm near 1 when it lies outside ``[2^-100, 2^100]``, so that fourth
  moments neither overflow nor underflow.

Both accept any finite input (``1e-300`` to ``1e300``): a row norm that would overflow or
underflow is computed on the row scaled by a power of two first.
"""

from __future__ import annotations

import torch

__all__ = ["centred_scaled_rows", "centred_unit_rows", "checked_norms", "scale_exponent"]

_NORM_OK = (2.0**-450, 2.0**450)  # row norms here come from sums of squares without loss
_RAW_OK = (2.0**-100, 2.0**100)  # raw chunks whose largest norm is here are not rescaled


def _finite_or_raise(x: torch.Tensor, names: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"Expected finite values in {names}, got NaN or inf")


def checked_norms(x: torch.Tensor, names: str) -> tuple[torch.Tensor, bool]:
    """Row L2 norms of a float64 chunk and whether all lie in the safe range (no rescaling).

    Raises:
        ValueError: ``x`` holds NaN or inf (``names`` says which arguments, for the message).
    """
    norm = torch.linalg.vector_norm(x, dim=1)
    lo, hi = torch.aminmax(norm)  # NaN, inf, 0 and norms that under/overflowed show here
    ok = bool(lo > _NORM_OK[0]) and bool(hi < _NORM_OK[1])
    if not ok:
        _finite_or_raise(x, names)
    return norm, ok


def _row_exponents(x: torch.Tensor) -> torch.Tensor:
    """Per-row ``k`` with ``max_j |x_ij| 2^-k`` in ``[0.5, 1)`` (0 for a zero row)."""
    amax = torch.linalg.vector_norm(x, ord=float("inf"), dim=1)
    return torch.frexp(amax).exponent


def centred_unit_rows(
    x: torch.Tensor, norm: torch.Tensor, ok: bool, pilot: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``w = x / |x| - pilot`` row by row, the pilot and the zero-row count.

    Args:
        x: float64 chunk ``(c, d)``, finite; norm, ok: from :func:`checked_norms`.
        pilot: the shift ``(d,)``; default the first unit row (then row 0 gives exact zeros).

    Returns:
        ``(w (c, d), pilot (d,), zero_rows)``; zero rows stay zero before centring.

    Example:
        >>> x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
        >>> w, p, z = centred_unit_rows(x, *checked_norms(x, "`x`"))
        >>> p.tolist(), w[2].tolist(), z
        ([0.6, 0.8], [0.0, 0.0], 0)
    """
    zero = 0
    if not ok:  # some norm is 0 or under/overflowed: scale rows by powers of two (exact)
        x = torch.ldexp(x, -_row_exponents(x)[:, None])
        norm = torch.linalg.vector_norm(x, dim=1)
        is_zero = norm == 0
        zero = int(is_zero.sum())
        norm = norm.masked_fill(is_zero, 1.0)  # zero rows stay zero
    if pilot is None:
        pilot = x[0] / norm[0]
    # one pass: -pilot + x / |x|, the quotient rounded first (a row equal to the pilot's gives
    # exact zeros; a fused x * (1/|x|) - pilot would not)
    w = torch.addcdiv(-pilot, x, norm[:, None])
    return w, pilot, zero


def scale_exponent(x: torch.Tensor, norm: torch.Tensor) -> int:
    """``k`` such that ``x 2^-k`` has its largest row norm near 1 (0 for usual scales)."""
    top = norm.max()
    if _RAW_OK[0] < float(top) < _RAW_OK[1]:
        return 0
    if _NORM_OK[0] < float(top) < _NORM_OK[1]:
        return int(torch.frexp(top).exponent)
    # the largest norm under/overflowed: take the largest entry instead
    return int(torch.frexp(torch.linalg.vector_norm(x, ord=float("inf"))).exponent)


def centred_scaled_rows(
    x: torch.Tensor, k: int, pilot: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``w = x 2^-k - pilot`` and the pilot (default ``x_0 2^-k``, the first scaled row).

    Example:
        >>> x = torch.tensor([[1e200, 0.0], [1e200, 1e199]], dtype=torch.float64)
        >>> k = scale_exponent(x, checked_norms(x, "`x`")[0])
        >>> w, p = centred_scaled_rows(x, k)
        >>> k, bool(torch.isfinite(w).all()), float(w[1, 1] * 2.0**k) == 1e199
        (665, True, True)
    """
    if k:
        x = torch.ldexp(x, torch.tensor(-k, dtype=torch.int32))
    if pilot is None:
        pilot = x[0].clone()
    return x - pilot, pilot
