"""Learning-rate schedules and batch-size rules of the experiments (THEORY.md section 11).

- ``lr_from_rule``: the batch-size rules of [P2] Fig. 5, written as in the paper
  (linear ``lr*B/256``, square-root ``lr*sqrt(B)/256``, fourth-root ``lr*B**(1/4)/256``,
  constant ``lr``); not rescaled to agree at ``B = 256``. [stated]
- ``steps_from_epochs``: ``T = epochs * ceil(N / B)``. [stated]
- ``schedule``: constant, or linear warm-up ``base*(t+1)/W`` for ``t < W`` followed by
  cosine ``base*0.5*(1 + cos(pi*(t-W)/(T-W)))`` for ``W <= t < T``. [stated]
- ``sum_eta``: ``S = sum_{t<T} eta_t`` exactly (closed form, equal to the explicit sum),
  never ``eta*T``.

Closed form of the cosine sum: ``sum_{k=0}^{n-1} cos(pi k / n) = 1`` for ``n >= 1``
(real part of a geometric series), so a cosine phase of ``n = T - W`` steps sums to
``base*(n + 1)/2`` and the warm-up to ``base*(W + 1)/2`` (``W >= 1``).
"""

from __future__ import annotations

import numpy as np

from .validation import check_choice, check_integer, check_nonnegative

__all__ = [
    "LR_RULES",
    "SCHEDULES",
    "lr_from_rule",
    "schedule",
    "steps_from_epochs",
    "sum_eta",
    "warmup_steps_from_epochs",
]

LR_RULES = ("linear", "sqrt", "fourth-root", "constant")
SCHEDULES = ("constant", "cosine")

# The exponent alpha of B in each rule (eta ~ B**alpha); used by the analysis.
RULE_EXPONENT = {"linear": 1.0, "sqrt": 0.5, "fourth-root": 0.25, "constant": 0.0}


def lr_from_rule(rule: str, lr, B):
    """Base learning rate for batch size ``B`` under a batch-size rule.

    ``linear: lr*B/256``, ``sqrt: lr*sqrt(B)/256``, ``fourth-root: lr*B**0.25/256``,
    ``constant: lr``. Source: [P2] Fig. 5, THEORY.md section 11 [stated].

    Args:
        rule: one of ``"linear"``, ``"sqrt"``, ``"fourth-root"``, ``"constant"``.
        lr: base learning rate (``>= 0``), scalar or array.
        B: batch size (integer ``>= 1``), scalar or array; broadcasts with ``lr``.

    Returns:
        float or ndarray of the broadcast shape.

    Raises:
        ValueError: unknown rule, negative ``lr``, non-integer or non-positive ``B``.

    >>> lr_from_rule("linear", 0.3, 1024)
    1.2
    >>> round(lr_from_rule("sqrt", 0.3, 1024), 6)
    0.0375
    """
    check_choice("lr_rule", rule, LR_RULES)
    lr_a = check_nonnegative("lr", lr)
    B_a = check_integer("B", B, 1)
    out = lr_a * B_a ** RULE_EXPONENT[rule] / (256.0 if rule != "constant" else 1.0)
    return float(out) if out.ndim == 0 else out


def steps_from_epochs(epochs, N, B):
    """``T = epochs * ceil(N / B)`` (THEORY.md section 11 [stated]).

    >>> steps_from_epochs(300, 50000, 1024)
    14700
    """
    e = check_integer("epochs", epochs, 1)
    n = check_integer("N", N, 1)
    b = check_integer("B", B, 1)
    out = e * np.ceil(n / b)
    return int(out) if out.ndim == 0 else out.astype(np.int64)


def warmup_steps_from_epochs(warmup_epochs, N, B):
    """Warm-up steps ``W = warmup_epochs * ceil(N / B)``."""
    e = check_integer("warmup_epochs", warmup_epochs, 0)
    n = check_integer("N", N, 1)
    b = check_integer("B", B, 1)
    out = e * np.ceil(n / b)
    return int(out) if out.ndim == 0 else out.astype(np.int64)


def _check_schedule_args(kind, base_lr, T, warmup_steps):
    check_choice("schedule", kind, SCHEDULES)
    base = check_nonnegative("lr", base_lr)
    T_a = check_integer("T", T, 1)
    W_a = check_integer("warmup_steps", warmup_steps, 0)
    if kind == "cosine":
        bad = W_a >= T_a
        if np.any(bad):
            W_b, T_b = np.broadcast_arrays(W_a, T_a)
            raise ValueError(
                f"Expected `warmup_steps` < `T`, got warmup_steps={int(W_b[bad].flat[0])}, "
                f"T={int(T_b[bad].flat[0])}"
            )
    return base, T_a, W_a


def schedule(kind: str, base_lr: float, T: int, warmup_steps: int = 0) -> np.ndarray:
    """The learning rate ``eta_t`` for ``t = 0..T-1``.

    ``constant``: ``eta_t = base`` (warm-up ignored).
    ``cosine``: ``base*(t+1)/W`` for ``t < W``; ``base*0.5*(1+cos(pi*(t-W)/(T-W)))`` for
    ``W <= t < T``. Source: THEORY.md section 11 [stated] (10 warm-up epochs then cosine).

    Args:
        kind: ``"constant"`` or ``"cosine"``.
        base_lr: peak learning rate (``>= 0``).
        T: number of steps (integer ``>= 1``).
        warmup_steps: ``W``, integer ``0 <= W < T``.

    Returns:
        ndarray of shape ``(T,)``, float64.

    >>> schedule("cosine", 1.0, 4, warmup_steps=2).tolist()
    [0.5, 1.0, 1.0, 0.5]
    """
    base, T_a, W_a = _check_schedule_args(kind, base_lr, T, warmup_steps)
    if base.ndim or T_a.ndim or W_a.ndim:
        raise TypeError("Expected scalar `base_lr`, `T` and `warmup_steps` for `schedule`")
    T_i, W_i, b = int(T_a), int(W_a), float(base)
    if kind == "constant":
        return np.full(T_i, b)
    t = np.arange(T_i, dtype=np.float64)
    warm = b * (t + 1.0) / max(W_i, 1)
    cos = b * 0.5 * (1.0 + np.cos(np.pi * (t - W_i) / (T_i - W_i)))
    return np.where(t < W_i, warm, cos)


def sum_eta(kind: str, base_lr, T, warmup_steps=0):
    """``S = sum_{t<T} eta_t`` of :func:`schedule`, exactly, broadcasting over arrays.

    ``constant``: ``base*T``. ``cosine``: ``base*((W+1)/2 [W >= 1] + (T-W+1)/2)``, using
    ``sum_{k<n} cos(pi k/n) = 1``; tests check it against ``schedule(...).sum()``.

    >>> sum_eta("cosine", 1.0, 4, warmup_steps=2)
    3.0
    """
    base, T_a, W_a = _check_schedule_args(kind, base_lr, T, warmup_steps)
    if kind == "constant":
        out = base * T_a
    else:
        out = base * (np.where(W_a >= 1, (W_a + 1.0) / 2.0, 0.0) + (T_a - W_a + 1.0) / 2.0)
    return float(out) if np.ndim(out) == 0 else out
