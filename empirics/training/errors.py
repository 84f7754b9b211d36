"""How a lockstep run ends early: stopped on purpose, or diverged."""

from __future__ import annotations

__all__ = ["RunInterrupted", "TrainingDiverged"]


class RunInterrupted(RuntimeError):
    """Raised when ``stop_after`` steps were run (a simulated kill; resume continues it)."""


class TrainingDiverged(FloatingPointError):
    """A model's loss or features stopped being finite; the message names the model and
    the step (the run itself failed: exit status 1, not a usage error)."""
