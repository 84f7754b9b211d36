"""Accuracy probes on frozen features: nearest class centre, a closed-form ridge probe and a
logistic-regression probe.

All fit on the train features and score on the test features; all are deterministic (no
SGD, no random state), so they can run at every evaluation of a lockstep run without
changing its randomness.

- **Nearest class centre** (``ncc``): features are L2-normalised (the cosine geometry the
  contrastive losses see), class centres ``mu_c`` are the class means, and a test
  sample is assigned ``argmax_c cos(x, mu_c)``.
- **Linear probe** (``linear``): ridge regression onto one-hot targets on standardised
  features, ``W = (X^T X + lambda I)^{-1} X^T Y`` with a bias column, predicting
  ``argmax_c (x W)_c``. A least-squares probe, not logistic; it is the usual cheap stand-in.
- **Logistic probe** (``logistic``): multinomial logistic regression (softmax
  cross-entropy) on the same standardised features with a bias, minimising
  ``(1/n) sum_i CE(softmax(x_i W + b), y_i) + (l2/2) ||W||_F^2`` (the bias is not
  penalised; default ``l2 = 1e-3``, the ridge probe's) by full-batch L-BFGS in float64
  from ``W = 0`` (scipy's ``L-BFGS-B``: it stops when the largest gradient entry is below
  ``1e-6`` or the objective's relative decrease below ``1e-12``, at most 1000 iterations;
  a ``RuntimeWarning`` if the iterations run out first). The objective is strictly
  convex, so the fit is unique; it equals scikit-learn's
  ``LogisticRegression(C=1/(l2 n))`` (tested). This is the probe family of the papers'
  linear evaluation, without their SGD and augmentation.

>>> import torch
>>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
>>> y = torch.tensor([0, 0, 1, 1])
>>> ncc_accuracy(x, y, x, y)
1.0
>>> linear_probe_accuracy(x, y, x, y)
1.0
>>> logistic_probe_accuracy(x, y, x, y)
1.0
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PROBE_KINDS", "fit_logistic", "linear_probe_accuracy", "logistic_probe_accuracy",
           "ncc_accuracy", "probe_accuracy"]

#: The probes of :func:`probe_accuracy`.
PROBE_KINDS = ("ncc", "linear", "logistic")


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


def _standardised(x_train, x_test):
    """Float64 numpy copies standardised by the training mean and std (std floored)."""
    xt, xs = x_train.double().cpu().numpy(), x_test.double().cpu().numpy()
    mean, std = xt.mean(0), xt.std(0, ddof=1) if xt.shape[0] > 1 else np.ones(xt.shape[1])
    std = np.maximum(std, 1e-12)
    return (xt - mean) / std, (xs - mean) / std


def fit_logistic(x, y, classes: int, *, l2: float = 1e-3, max_iter: int = 1000,
                 gtol: float = 1e-6, ftol: float = 1e-12):
    """Weights ``W`` (d, C) and bias ``b`` (C,) of the L2-penalised multinomial logistic
    regression of the module docstring on float64 numpy inputs ``x`` (n, d), ``y`` (n,).

    Returns:
        ``(W, b, converged)``.
    """
    from scipy.optimize import minimize

    n, d = x.shape
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)  # (n, d + 1)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        W = w.reshape(d + 1, classes)
        logits = xb @ W  # (n, C)
        logits -= logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = float((lse[:, 0] - (logits * onehot).sum(1)).mean())
        loss += 0.5 * l2 * float((W[:-1] ** 2).sum())
        grad = xb.T @ (np.exp(logits - lse) - onehot) / n
        grad[:-1] += l2 * W[:-1]
        return loss, grad.ravel()

    res = minimize(objective, np.zeros((d + 1) * classes), jac=True, method="L-BFGS-B",
                   options={"maxiter": int(max_iter), "gtol": float(gtol),
                            "ftol": float(ftol)})
    W = res.x.reshape(d + 1, classes)
    return W[:-1], W[-1], bool(res.success or np.abs(res.jac).max() <= gtol)


def logistic_probe_accuracy(x_train, y_train, x_test, y_test, *, l2: float = 1e-3,
                            max_iter: int = 1000) -> float:
    """Multinomial logistic-regression probe (standardised features, bias, L2 ``l2`` on
    the weights, full-batch L-BFGS in float64; see the module docstring)."""
    import warnings

    _check(x_train, y_train, x_test, y_test)
    if not l2 > 0:
        raise ValueError(f"Expected `l2` > 0, got {l2!r}")
    xt, xs = _standardised(x_train, x_test)
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    W, b, ok = fit_logistic(xt, y_train.long().cpu().numpy(), classes, l2=l2,
                            max_iter=max_iter)
    if not ok:
        warnings.warn(f"logistic probe: L-BFGS stopped after {max_iter} iterations before "
                      "converging", RuntimeWarning, stacklevel=2)
    pred = (xs @ W + b).argmax(axis=1)
    return float((pred == y_test.long().cpu().numpy()).mean())


def probe_accuracy(kind: str, x_train, y_train, x_test, y_test) -> float:
    """Dispatch ``kind`` in :data:`PROBE_KINDS`."""
    if kind == "ncc":
        return ncc_accuracy(x_train, y_train, x_test, y_test)
    if kind == "linear":
        return linear_probe_accuracy(x_train, y_train, x_test, y_test)
    if kind == "logistic":
        return logistic_probe_accuracy(x_train, y_train, x_test, y_test)
    raise ValueError(f"Expected `probe` among {', '.join(PROBE_KINDS)}, got {kind!r}")
