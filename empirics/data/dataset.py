"""The in-memory data set every loader returns, and index-based views of it.

A :class:`Dataset` is a pair of tensors (inputs ``x``, integer labels ``y``) plus the
metadata the trainer needs (number of classes, vector or image inputs, class names). It is
frozen: subsets and relabellings return new objects and never modify tensors in place.
Equality is identity (comparing tensors field by field has no single truth value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

KINDS = ("vector", "image")


def index_meta(meta: dict[str, Any], idx: torch.Tensor, n: int) -> dict[str, Any]:
    """Copy of ``meta`` whose per-sample tensors (first dim ``n``) are indexed by ``idx``."""
    return {k: (v[idx] if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == n
                else v) for k, v in meta.items()}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set held in memory.

    Args:
        x: inputs, float32, shape ``(n, D)`` for ``kind="vector"`` or ``(n, C_in, H, W)`` for
            ``kind="image"`` (images in ``[0, 1]``).
        y: labels, int64, shape ``(n,)``, values in ``0 .. num_classes - 1``.
        num_classes: number of classes ``C`` (classes may be absent from a small split).
        kind: ``"vector"`` or ``"image"``.
        name: a short human-readable name, e.g. ``"cifar10"`` or ``"synthetic"``.
        class_names: one name per class, or ``None``.
        meta: free-form provenance (generator parameters, chosen original classes, ...).

    Raises:
        TypeError: when ``x`` or ``y`` is not a tensor.
        ValueError: when shapes, dtypes, labels or ``kind`` are inconsistent.

    Example:
        >>> ds = Dataset(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]), 2, "vector", "toy")
        >>> len(ds), ds.input_shape
        (4, (3,))
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    kind: str
    name: str
    class_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor):
            raise TypeError(f"Expected `x` to be a torch.Tensor, got {type(self.x).__name__}")
        if not isinstance(self.y, torch.Tensor):
            raise TypeError(f"Expected `y` to be a torch.Tensor, got {type(self.y).__name__}")
        if self.x.dtype != torch.float32:
            raise ValueError(f"Expected `x` of dtype float32, got {self.x.dtype}")
        if self.y.dtype != torch.int64:
            raise ValueError(f"Expected `y` of dtype int64, got {self.y.dtype}")
        if self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Expected `x` with n rows and `y` of shape (n,), got {tuple(self.x.shape)} "
                f"and {tuple(self.y.shape)}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"Expected `kind` in {KINDS}, got {self.kind!r}")
        want_ndim = 2 if self.kind == "vector" else 4
        if self.x.ndim != want_ndim:
            raise ValueError(
                f"Expected `x` with {want_ndim} dims for kind={self.kind!r}, "
                f"got shape {tuple(self.x.shape)}"
            )
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"Expected `num_classes` >= 1, got {self.num_classes!r}")
        if self.y.numel() and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(
                f"Expected labels in [0, {self.num_classes - 1}], "
                f"got range [{int(self.y.min())}, {int(self.y.max())}]"
            )
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(
                f"Expected {self.num_classes} `class_names`, got {len(self.class_names)}"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input: ``(D,)`` or ``(C_in, H, W)``."""
        return tuple(int(s) for s in self.x.shape[1:])

    def class_counts(self) -> torch.Tensor:
        """Number of samples of each class, shape ``(num_classes,)``."""
        return torch.bincount(self.y, minlength=self.num_classes)

    def select(self, idx: torch.Tensor | np.ndarray | Sequence[int], *, name: str | None = None
               ) -> Dataset:
        """The samples at integer positions ``idx`` (same classes, same labels)."""
        idx_t = torch.as_tensor(np.asarray(idx), dtype=torch.int64).reshape(-1)
        return replace(self, x=self.x[idx_t], y=self.y[idx_t], name=name or self.name,
                       meta=index_meta(self.meta, idx_t, len(self)))

    def to(self, device: torch.device | str) -> Dataset:
        """The same data set with its tensors (and per-sample ``meta`` tensors) on ``device``."""
        meta = {k: (v.to(device) if isinstance(v, torch.Tensor) and v.ndim >= 1
                    and v.shape[0] == len(self) else v) for k, v in self.meta.items()}
        return replace(self, x=self.x.to(device), y=self.y.to(device), meta=meta)
