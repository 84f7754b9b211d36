"""Corollary 3's batch-composition event, recorded at every step of a lockstep run.

[P2]'s high-probability bounds hold on the event that no anchor of any batch has more than a
``pi_max + eps`` fraction of same-class samples among its negatives (THEORY.md s4, s9:
Hoeffding plus a union bound over the ``T B`` anchors). The surrogate checks it on its own
batches (:func:`empirics.surrogate.dynamics.batch_masks`, ``q``); the trainer checks it on
the batches it really trains on:

    q_max(t) = max_i (n_{y_i}(t) - 1) / (B - 1)          (n_c(t): samples of class c in batch t)
    q_bound  = pi_max + eps(B, delta, T)                  (bounds.eps; the run's B, delta, T)
    event_held(t) = [q_max(s) <= q_bound for every step s < t]

``pi_max`` is the training set's realised largest class share and ``T`` the run's total
number of steps (the horizon of its union bound, as in the surrogate). ``bounds.csv``
carries, at each evaluation, the largest ``q_max`` since the previous evaluation, the bound
and ``event_held``. The state is carried in the checkpoint, so a resumed run writes the same
values (and one resumed from a checkpoint written before this record existed replays the
batch order, which is a pure function of the step).

>>> ev = BatchEvent(pi_max=0.25, eps=0.1)
>>> ev.update(batch_q_max(torch.tensor([0, 0, 1, 2, 3])))   # 1 of 4 negatives shares a class
>>> row = ev.close_window()
>>> row["q_max"], round(row["q_bound"], 2), row["event_held"]
(0.25, 0.35, True)
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["BatchEvent", "batch_q_max"]


def batch_q_max(labels: torch.Tensor) -> float:
    """``max_i (n_{y_i} - 1) / (B - 1)``: the largest same-class fraction of a sample's
    ``B - 1`` negatives in a batch with labels ``labels`` ``(B,)`` (THEORY.md s9; the
    surrogate's ``q``, maximised over the batch).

    >>> batch_q_max(torch.tensor([3, 3, 3, 1]))
    0.6666666666666666
    """
    B = int(labels.numel())
    if B < 2:
        raise ValueError(f"Expected a batch of B >= 2 labels, got B={B}")
    largest = int(torch.bincount(labels.reshape(-1)).max())
    return (largest - 1) / (B - 1)


class BatchEvent:
    """The running record of the event: largest ``q_max`` of the current evaluation window,
    of the whole run, and whether every step so far met ``q_max <= q_bound``.

    Args:
        pi_max: the training set's largest class share.
        eps: ``bounds.eps(B, delta, T)`` of the run.
    """

    def __init__(self, pi_max: float, eps: float) -> None:
        self.q_bound = float(pi_max) + float(eps)
        self.window: float | None = None  # largest q_max since the last evaluation
        self.run_max: float | None = None  # largest q_max of the run so far
        self.held = True

    def update(self, q_max: float) -> None:
        """Record one step's ``q_max``."""
        self.window = q_max if self.window is None else max(self.window, q_max)
        self.run_max = q_max if self.run_max is None else max(self.run_max, q_max)
        self.held = self.held and q_max <= self.q_bound

    def close_window(self) -> dict[str, Any]:
        """The columns of an evaluation's ``bounds.csv`` row; starts the next window.

        ``q_max`` is ``None`` (an empty cell) when no step ran since the last evaluation.
        """
        row = {"q_max": self.window, "q_bound": self.q_bound, "event_held": self.held}
        self.window = None
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window, "run_max": self.run_max, "held": self.held,
                "q_bound": self.q_bound}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = float(state["q_bound"])
        if not math.isclose(saved, self.q_bound, rel_tol=1e-12, abs_tol=0.0):
            raise ValueError(f"Expected the checkpoint's q_bound {self.q_bound!r}, got {saved!r}")
        self.window, self.run_max = state["window"], state["run_max"]
        self.held = bool(state["held"])
