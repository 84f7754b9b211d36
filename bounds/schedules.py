"""Learning-rate schedules and batch-size rules of the experiments (THEORY.md section 11).

- ``lr_from_rule``: the batch-size rules of [P2] Fig. 5, written as in the paper
  (linear ``lr*B/256``, square-root ``lr*sqrt(B)/256``, fourth-root ``lr*B**(1/4)/256``,
  constant ``lr``); not rescaled to agree at ``B = 256``. [stated]
- ``steps_from_epochs``: ``T = epochs * ceil(N / B)``. [stated]
- ``schedule``: constant, or linear warm-up ``base*(t+1)/W`` for ``t < W`` followed by
  cosine ``base*0.5*(1 + cos(pi*(t-W)/(T-W)))`` for ``W <= t < T``. [stated]
- ``sum_eta``: ``S = sum_{t<T} eta_t`` exactly (closed form, equal to the explicit sum),
  never ``eta*T``.
- ``unit``: the schedule is stepped per step (``"step"``, the default) or per epoch
  (``"epoch"``): the same rule evaluated on the epoch counter and held for the epoch's
  ``P = ceil(N/B)`` steps, as the official code of [P2] steps its scheduler once per epoch
  (THEORY.md s13 [stated]; about 0.7% more ``S`` at the paper's setting).

Closed form of the cosine sum: ``sum_{k=0}^{n-1} cos(pi k / n) = 1`` for ``n >= 1``
(real part of a geometric series), so a cosine phase of ``n = T - W`` steps sums to
``base*(n + 1)/2`` and the warm-up to ``base*(W + 1)/2`` (``W >= 1``). Per epoch, each
epoch's rate counts ``P`` times and the last, partial epoch ``P - (E P - T)`` times.
"""

from __future__ import annotations

import numpy as np

from .validation import check_choice, check_integer, check_nonnegative, raise_first

__all__ = [
    "LR_RULES",
    "SCHEDULES",
    "SCHEDULE_UNITS",
    "epoch_steps",
    "lr_from_rule",
    "schedule",
    "steps_from_epochs",
    "sum_eta",
    "warmup_steps_from_epochs",
]

LR_RULES = ("linear", "sqrt", "fourth-root", "constant")
SCHEDULES = ("constant", "cosine")
#: How often the schedule moves: every step, or once per epoch (the official code of [P2]).
SCHEDULE_UNITS = ("step", "epoch")

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
        ValueError: unknown rule, negative ``lr``, non-integer or non-positive ``B``, a rate
            beyond float range.

    >>> lr_from_rule("linear", 0.3, 1024)
    1.2
    >>> round(lr_from_rule("sqrt", 0.3, 1024), 6)
    0.0375
    """
    check_choice("lr_rule", rule, LR_RULES)
    lr_a = check_nonnegative("lr", lr)
    B_a = check_integer("B", B, 1)
    with np.errstate(over="ignore"):
        out = lr_a * B_a ** RULE_EXPONENT[rule] / (256.0 if rule != "constant" else 1.0)
    raise_first(np.isinf(out), f"Expected the {rule} rule's base rate within float range",
                lr=lr_a, B=B_a)
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


def epoch_steps(N, B):
    """Steps per epoch, ``P = ceil(N / B)`` (THEORY.md section 11 [stated]).

    >>> epoch_steps(50000, 1024)
    49
    """
    n = check_integer("N", N, 1)
    b = check_integer("B", B, 1)
    out = np.ceil(n / b)
    return int(out) if out.ndim == 0 else out.astype(np.int64)


def _check_schedule_args(kind, base_lr, T, warmup_steps, unit="step", steps_per_epoch=1):
    """Checked ``(base, T, W, P)``; ``P = 1`` for the step unit (every step is an "epoch")."""
    check_choice("schedule", kind, SCHEDULES)
    check_choice("schedule_unit", unit, SCHEDULE_UNITS)
    base = check_nonnegative("lr", base_lr)
    T_a = check_integer("T", T, 1)
    W_a = check_integer("warmup_steps", warmup_steps, 0)
    P_a = check_integer("steps_per_epoch", steps_per_epoch, 1)
    if kind == "cosine":
        bad = W_a >= T_a
        if np.any(bad):
            W_b, T_b = np.broadcast_arrays(W_a, T_a)
            raise ValueError(
                f"Expected `warmup_steps` < `T`, got warmup_steps={int(W_b[bad].flat[0])}, "
                f"T={int(T_b[bad].flat[0])}"
            )
        if unit == "epoch":
            bad = np.mod(W_a, P_a) != 0
            if np.any(bad):
                W_b, P_b = np.broadcast_arrays(W_a, P_a)
                raise ValueError(
                    f"Expected `warmup_steps` to be a whole number of epochs (a multiple of "
                    f"the {int(P_b[bad].flat[0])} steps per epoch) for the epoch unit, got "
                    f"{int(W_b[bad].flat[0])}"
                )
    if unit == "step":
        P_a = np.ones_like(P_a)
    return base, T_a, W_a, P_a


def _rule(kind: str, base: float, n: int, warm: int) -> np.ndarray:
    """The rule at counter ``k = 0..n-1``: warm-up ``base*(k+1)/warm`` for ``k < warm``,
    then cosine ``base*0.5*(1+cos(pi*(k-warm)/(n-warm)))``; constant: ``base``."""
    if kind == "constant":
        return np.full(n, base)
    k = np.arange(n, dtype=np.float64)
    up = base * (k + 1.0) / max(warm, 1)
    cos = base * 0.5 * (1.0 + np.cos(np.pi * (k - warm) / (n - warm)))
    return np.where(k < warm, up, cos)


def schedule(kind: str, base_lr: float, T: int, warmup_steps: int = 0, *,
             unit: str = "step", steps_per_epoch: int = 1) -> np.ndarray:
    """The learning rate ``eta_t`` for ``t = 0..T-1``.

    ``constant``: ``eta_t = base`` (warm-up ignored).
    ``cosine``: ``base*(t+1)/W`` for ``t < W``; ``base*0.5*(1+cos(pi*(t-W)/(T-W)))`` for
    ``W <= t < T``. Source: THEORY.md section 11 [stated] (10 warm-up epochs then cosine).

    ``unit="epoch"`` steps the same rule once per epoch (THEORY.md s13 [stated]: the
    official code's convention): with ``P = steps_per_epoch``, ``E = ceil(T/P)`` epochs (the
    last may be partial) and ``W_e = W/P`` warm-up epochs, ``eta_t = rule(floor(t/P))``
    where ``rule(e)`` is the formula above with ``t, W, T`` replaced by ``e, W_e, E``.
    ``W`` must then be a whole number of epochs. With ``P = 1`` both units agree.

    Args:
        kind: ``"constant"`` or ``"cosine"``.
        base_lr: peak learning rate (``>= 0``).
        T: number of steps (integer ``>= 1``).
        warmup_steps: ``W``, integer ``0 <= W < T``.
        unit: ``"step"`` (default) or ``"epoch"``.
        steps_per_epoch: ``P = ceil(N/B)`` (:func:`epoch_steps`); used by the epoch unit.

    Returns:
        ndarray of shape ``(T,)``, float64.

    Raises:
        ValueError: unknown kind or unit, ``W >= T``, ``W`` not a multiple of ``P`` (epoch
            unit, cosine), a bad ``T``, ``W``, ``P`` or ``base_lr``.
        TypeError: an array argument.

    >>> schedule("cosine", 1.0, 4, warmup_steps=2).tolist()
    [0.5, 1.0, 1.0, 0.5]
    >>> schedule("cosine", 1.0, 6, warmup_steps=2, unit="epoch", steps_per_epoch=2).round(12)
    array([1. , 1. , 1. , 1. , 0.5, 0.5])
    """
    base, T_a, W_a, P_a = _check_schedule_args(kind, base_lr, T, warmup_steps, unit,
                                               steps_per_epoch)
    if base.ndim or T_a.ndim or W_a.ndim or P_a.ndim:
        raise TypeError("Expected scalar `base_lr`, `T`, `warmup_steps` and `steps_per_epoch` "
                        "for `schedule`")
    T_i, W_i, P_i, b = int(T_a), int(W_a), int(P_a), float(base)
    if kind == "constant":
        return np.full(T_i, b)
    E = -(-T_i // P_i)
    per_epoch = _rule(kind, b, E, W_i // P_i)  # P = 1: the per-step schedule itself
    return per_epoch if P_i == 1 else np.repeat(per_epoch, P_i)[:T_i]


def sum_eta(kind: str, base_lr, T, warmup_steps=0, *, unit: str = "step",
            steps_per_epoch=1):
    """``S = sum_{t<T} eta_t`` of :func:`schedule`, exactly, broadcasting over arrays.

    ``constant``: ``base*T``. ``cosine``: ``base*((W+1)/2 [W >= 1] + (T-W+1)/2)``, using
    ``sum_{k<n} cos(pi k/n) = 1``; tests check it against ``schedule(...).sum()``. Epoch
    unit: ``P`` times the per-epoch sum over ``E = ceil(T/P)`` epochs with ``W/P`` warm-up
    epochs, less the ``E P - T`` steps the last, partial epoch does not have.

    >>> sum_eta("cosine", 1.0, 4, warmup_steps=2)
    3.0
    >>> round(sum_eta("cosine", 1.0, 6, warmup_steps=2, unit="epoch", steps_per_epoch=2), 12)
    5.0
    """
    base, T_a, W_a, P_a = _check_schedule_args(kind, base_lr, T, warmup_steps, unit,
                                               steps_per_epoch)
    with np.errstate(over="ignore"):  # beyond float range: inf (callers refuse it)
        return _sum(kind, base, T_a, W_a, P_a)


def _sum(kind, base, T_a, W_a, P_a):
    if kind == "constant":
        out = base * T_a
    else:
        E = np.ceil(T_a / P_a)
        We = W_a / P_a  # whole epochs (checked); W itself for the step unit
        per_epoch = base * (np.where(We >= 1, (We + 1.0) / 2.0, 0.0) + (E - We + 1.0) / 2.0)
        last = base * 0.5 * (1.0 + np.cos(np.pi * (E - 1.0 - We) / (E - We)))  # E-1 >= We
        out = P_a * per_epoch - (E * P_a - T_a) * last
    return float(out) if np.ndim(out) == 0 else out
