"""Accuracy probes on frozen features: nearest class centre and a closed-form linear probe.

Both fit on the train reference set and score on the test reference set; both are exact,
vectorised, and deterministic (no SGD, no random state), so they can run at every
evaluation of a lockstep run without changing its randomness.

- **Nearest class centre** (``ncc``): features are L2-normalised (the cosine geometry the
  contrastive losses see), class centres ``mu_c`` are the class means, and a test
  sample is assigned ``argmax_c cos(x, mu_c)``.
- **Linear probe** (``linear``): ridge regression onto one-hot targets on standardised
  features, ``W = (X^T X + lambda I)^{-1} X^T Y`` with a bias column, predicting
  ``argmax_c (x W)_c``. A least-squares probe, not logistic; it is the usual cheap stand-in.

>>> import torch
>>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
>>> y = torch.tensor([0, 0, 1, 1])
>>> ncc_accuracy(x, y, x, y)
1.0
>>> linear_probe_accuracy(x, y, x, y)
1.0
"""

from __future__ import annotations

import torch

__all__ = ["linear_probe_accuracy", "ncc_accuracy", "probe_accuracy"]


def _check(x_train, y_train, x_test, y_test) -> None:
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2:
            raise ValueError(f"Expected `{name}` to be a 2-D tensor (N, d), got {type(x)!r}")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"Expected `x_test` with {x_train.shape[1]} columns, got {x_test.shape[1]}"
        )
    for name, y, x in (("y_train", y_train, x_train), ("y_test", y_test, x_test)):
        if y.shape != (x.shape[0],):
            raise ValueError(f"Expected `{name}` of shape ({x.shape[0]},), got {tuple(y.shape)}")


def ncc_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Nearest-class-centre accuracy in cosine geometry (fraction of ``x_test`` correct)."""
    _check(x_train, y_train, x_test, y_test)
    xt = torch.nn.functional.normalize(x_train.double(), dim=1)
    xs = torch.nn.functional.normalize(x_test.double(), dim=1)
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    onehot = torch.nn.functional.one_hot(y_train.long(), classes).double()  # (N, C)
    counts = onehot.sum(0)
    centres = (onehot.T @ xt) / counts.clamp_min(1)[:, None]  # (C, d)
    centres = torch.nn.functional.normalize(centres, dim=1)
    scores = xs @ centres.T  # (N_test, C)
    scores[:, counts == 0] = -torch.inf  # a class absent from train cannot be predicted
    return float((scores.argmax(1) == y_test.long()).double().mean())


def linear_probe_accuracy(x_train, y_train, x_test, y_test, *, l2: float = 1e-3) -> float:
    """Closed-form ridge probe onto one-hot targets (standardised features, bias column)."""
    _check(x_train, y_train, x_test, y_test)
    if not l2 > 0:
        raise ValueError(f"Expected `l2` > 0, got {l2!r}")
    xt, xs = x_train.double(), x_test.double()
    mean, std = xt.mean(0), xt.std(0).clamp_min(1e-12)
    xt, xs = (xt - mean) / std, (xs - mean) / std
    ones_t = torch.ones(xt.shape[0], 1, dtype=xt.dtype, device=xt.device)
    ones_s = torch.ones(xs.shape[0], 1, dtype=xs.dtype, device=xs.device)
    xt, xs = torch.cat([xt, ones_t], 1), torch.cat([xs, ones_s], 1)
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    targets = torch.nn.functional.one_hot(y_train.long(), classes).double()
    gram = xt.T @ xt + l2 * xt.shape[0] * torch.eye(xt.shape[1], dtype=xt.dtype, device=xt.device)
    w = torch.linalg.solve(gram, xt.T @ targets)  # (d + 1, C)
    return float(((xs @ w).argmax(1) == y_test.long()).double().mean())


def probe_accuracy(kind: str, x_train, y_train, x_test, y_test) -> float:
    """Dispatch ``kind`` in {"ncc", "linear"}."""
    if kind == "ncc":
        return ncc_accuracy(x_train, y_train, x_test, y_test)
    if kind == "linear":
        return linear_probe_accuracy(x_train, y_train, x_test, y_test)
    raise ValueError(f"Expected `probe` among ncc, linear, got {kind!r}")
