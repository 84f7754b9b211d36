"""``bounds.csv``: the run's own [P2] bounds after ``t`` steps, beside what was measured,
and Corollary 3's batch-composition event they hold on.

**The bounds** (:func:`bounds_rows`): :func:`bounds.evaluate_bounds` with the run's ``C``,
``tau``, ``B``, realised ``pi_max``, ``delta`` and the schedule used so far; the measured
gap of the theorem's pair (:data:`empirics.objectives.THEOREM_PAIR`) stands beside it.

**The event** (:class:`BatchEvent`, recorded at every step of a lockstep run). [P2]'s
high-probability bounds hold on the event that no anchor of any batch has more than a
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

import numpy as np
import torch

from empirics.objectives import THEOREM_PAIR, pair_name

__all__ = ["BatchEvent", "batch_q_max", "bounds_rows"]


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


def bounds_rows(trainer, t: int, metric_rows: list[dict[str, Any]],
                cl_features: np.ndarray | None = None,
                event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One ``bounds.csv`` row: :func:`bounds.evaluate_bounds` for this run after ``t`` steps.

    It receives the run's ``C``, ``tau``, ``B``, the realised ``pi_max`` of the training
    set, ``delta`` and the schedule actually used so far, ``eta[:t]`` (so ``T = t`` and
    ``S = sum_eta`` so far, exactly). The corollaries' normalisers ``||K_CL||_F`` and
    ``sigma_a`` come from the CL model's ``z`` on the train reference set when CL is trained
    (``normalisers = cl-features``), else from the NSCL-optimum geometry (``etf``,
    THEORY.md s10). The measured CL-NSCL gap (train split, ``z``) stands beside the bound.

    ``event`` (:meth:`BatchEvent.close_window`) adds
    Corollary 3's batch-composition columns: ``q_max`` (the largest same-class fraction of a
    sample's negatives over the steps since the previous evaluation), ``q_bound`` (``pi_max
    + eps(B, delta, T)`` with the run's total ``T``; the row's own ``eps`` column is that of
    ``T = t``) and ``event_held`` (every step so far met ``q_max <= q_bound``).
    """
    from bounds import evaluate_bounds

    cfg = trainer.config
    res = evaluate_bounds(
        trainer.C, cfg.tau, cfg.batch_size, eta=trainer.eta[:t], delta=cfg.delta,
        pi_max=trainer.pi_max, N_ref=int(trainer.references["train"].x.shape[0]),
        features=cl_features, tight=False,
    )
    row: dict[str, Any] = {
        "step": t,
        "epoch": trainer.epoch_of(t),
        "sum_eta_so_far": float(trainer.cum_eta[t]),
        "normalisers": "etf" if cl_features is None else "cl-features",
        "corollary_form": "paper",
    }
    for key, value in res.items():
        arr = np.asarray(value)
        if arr.ndim == 0 and arr.dtype.kind in "biuf":
            row[key] = arr.item()
    theorem_pair = pair_name(*THEOREM_PAIR)
    measured = [r for r in metric_rows if r["pair"] == theorem_pair and r["features"] == "z"
                and r["split"] == "train"]
    if measured:
        m = measured[0]
        row["measured_sim_gap"] = m["sim_gap"]
        row["measured_cka"] = m["cka"]
        row["measured_rsa"] = m["rsa"]
        bound = row.get("sim_gap")
        ok = isinstance(bound, float) and math.isfinite(bound) and m["sim_gap"] > 0
        row["bound_over_measured"] = bound / m["sim_gap"] if ok else None
    if event is not None:
        row.update(event)
    return [row]
