"""Boundary helpers of the metrics: arrays in, values out.

In: numpy arrays and torch tensors ``(N, d)`` become one torch view (:func:`as_features`);
numpy arrays are wrapped without a copy (``torch.from_numpy``), so numpy and torch inputs
with the same values run the very same float64 arithmetic and give identical results.
Out: a :class:`Value` is a quantity, or NaN with the reason it is undefined, and
:func:`warn_nan` turns the reasons into one ``RuntimeWarning`` each.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Value", "as_features", "check_pair", "warn_nan"]


def as_features(x: object, name: str) -> torch.Tensor:
    """Return ``x`` as a detached 2-D real torch tensor (no copy where possible).

    Raises:
        TypeError: ``x`` is neither a numpy array nor a torch tensor, or is not real-valued.
        ValueError: ``x`` is not 2-D ``(N, d)`` or has no columns.

    Example:
        >>> as_features(np.zeros((3, 2), dtype=np.float32), "x").shape
        torch.Size([3, 2])
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise TypeError(f"Expected a real-valued `{name}`, got dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"Expected a real-valued `{name}`, got dtype {x.dtype}")
        t = x.detach()
    else:
        raise TypeError(
            f"Expected `{name}` to be a numpy array or torch tensor, got {type(x).__name__}"
        )
    if t.dim() != 2:
        raise ValueError(f"Expected `{name}` of shape (N, d), got shape {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise ValueError(
            f"Expected `{name}` to have at least one column, got shape {tuple(t.shape)}"
        )
    return t


def check_pair(x: torch.Tensor, y: torch.Tensor, xname: str = "X", yname: str = "Y") -> None:
    """Raise ``ValueError`` naming both shapes when the row counts differ."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"Expected `{xname}` and `{yname}` to have the same number of rows, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )


class Value(NamedTuple):
    """A quantity and, when it is NaN, why (``None`` otherwise)."""

    value: float
    why: str | None = None


def warn_nan(reasons: Mapping[str, str], stacklevel: int = 3) -> None:
    """One ``RuntimeWarning`` per distinct reason, naming the quantities it makes NaN."""
    by_reason: dict[str, list[str]] = {}
    for key, why in reasons.items():
        by_reason.setdefault(why, []).append(key)
    for why, keys in by_reason.items():
        warnings.warn(
            f"{', '.join(keys)}: {why}; returning NaN", RuntimeWarning, stacklevel=stacklevel
        )
