"""The numpy / torch switch of the surrogate, written once.

The state of the surrogate lives in numpy (the default) or in torch (``backend="torch"``,
which also runs on a GPU). The formulas of :mod:`empirics.surrogate.dynamics` are written
once against the few operations below; :func:`ops` picks the library of an array. torch is
imported only when a torch array is met, so the numpy path never pays for it.

>>> import numpy as np
>>> x = np.array([[1.0, -3.0], [2.0, 0.5]])
>>> ops(x).name, ops(x).row_max(x).ravel().tolist(), float(ops(x).clip(x).min())
('numpy', [1.0, 2.0], -1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Ops", "is_torch", "ops", "sqnorm", "to_numpy", "torch_device"]


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch")


def torch_device(name: str):
    """The torch device ``name`` (``cpu``, ``cuda``, ``cuda:<index>``), checked to exist here.

    The config checks the spelling (:data:`~empirics.surrogate.config.DEVICE_PATTERN`);
    this checks the machine, once, before a run allocates anything, so that a bad device
    is one sentence naming ``device`` rather than torch's error from deep in a step.

    Raises:
        ValueError: not one of those spellings; ``cuda`` without a CUDA device, or an
            index at or beyond the number of CUDA devices.

    >>> torch_device("cpu")
    device(type='cpu')
    >>> torch_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: Expected `device` to be cpu, cuda or cuda:<index>, got 'tpu'
    """
    from empirics.surrogate.config import DEVICE_PATTERN

    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"Expected `device` to be cpu, cuda or cuda:<index>, got {name!r}")
    import torch

    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"Expected a CUDA device for `device` = {name!r}, got none "
                             "(torch.cuda.is_available() is False; use --device cpu)")
        if device.index is not None and device.index >= count:
            raise ValueError(f"Expected `device` = 'cuda:<index>' with index < {count} (the "
                             f"CUDA devices here), got {name!r}")
    return device


def sqnorm(x: Any) -> float:
    """``sum(x * x)`` as a Python float (plain reductions, no BLAS start-up cost)."""
    return float((x * x).sum())


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a numpy array (a torch tensor is detached and copied to the CPU)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class Ops:
    """The operations the surrogate's formulas use, for one array library."""

    name = "numpy"

    @staticmethod
    def exp(x):
        return np.exp(x)

    @staticmethod
    def log(x):
        return np.log(x)

    @staticmethod
    def where(c, a, b):
        return np.where(c, a, b)

    @staticmethod
    def clip(x):
        """Projection onto the box ``[-1, 1]``."""
        return np.clip(x, -1.0, 1.0)

    @staticmethod
    def row_max(x):
        return x.max(axis=1, keepdims=True)

    @staticmethod
    def row_sum(x):
        return x.sum(axis=1, keepdims=True)

    @staticmethod
    def like(ref, x, dtype=None):
        """``x`` (numpy) as an array of ``ref``'s library (and device, for torch)."""
        return np.asarray(x)

    @staticmethod
    def as_float(mask, ref):
        """A boolean mask as numbers of ``ref``'s dtype (numpy: bool arithmetic is exact)."""
        return mask


class _TorchOps(Ops):
    name = "torch"

    @staticmethod
    def exp(x):
        import torch

        return torch.exp(x)

    @staticmethod
    def log(x):
        import torch

        return torch.log(x)

    @staticmethod
    def where(c, a, b):
        import torch

        return torch.where(c, a, b)

    @staticmethod
    def clip(x):
        import torch

        return torch.clamp(x, -1.0, 1.0)

    @staticmethod
    def row_max(x):
        return x.amax(dim=1, keepdim=True)

    @staticmethod
    def row_sum(x):
        return x.sum(dim=1, keepdim=True)

    @staticmethod
    def like(ref, x, dtype=None):
        import torch

        return torch.as_tensor(np.asarray(x), device=ref.device, dtype=dtype)

    @staticmethod
    def as_float(mask, ref):
        return mask.to(ref.dtype)


_NUMPY, _TORCH = Ops(), _TorchOps()


def ops(x: Any) -> Ops:
    """The operations of ``x``'s array library (numpy arrays and anything else: numpy)."""
    return _TORCH if is_torch(x) else _NUMPY
