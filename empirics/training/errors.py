"""How a lockstep run ends early: stopped on purpose, or diverged."""

from __future__ import annotations

import math

__all__ = ["RunInterrupted", "TrainingDiverged", "check_finite"]


class RunInterrupted(RuntimeError):
    """Raised when ``stop_after`` steps were run (a simulated kill; resume continues it)."""


class TrainingDiverged(FloatingPointError):
    """A model's loss or features stopped being finite; the message names the model and
    the step (the run itself failed: exit status 1, not a usage error)."""


def check_finite(value: float, name: str, t: int) -> None:
    """Raise :class:`TrainingDiverged` when model ``name``'s loss at step ``t`` is not finite.

    >>> check_finite(float("nan"), "cl", 3)
    Traceback (most recent call last):
    ...
    empirics.training.errors.TrainingDiverged: training diverged at step 3: model 'cl' ...
    """
    if not math.isfinite(value):
        raise TrainingDiverged(f"training diverged at step {t}: model {name!r} has loss {value} "
                               "(lower `lr` or change `optimizer`)")
