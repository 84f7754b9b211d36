"""The run's own [P2] bounds after ``t`` steps, beside what was measured (``bounds.csv``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["bounds_rows"]


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

    ``event`` (:meth:`empirics.training.batch_event.BatchEvent.close_window`) adds
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
    measured = [r for r in metric_rows
                if r["pair"] == "cl-nscl" and r["features"] == "z" and r["split"] == "train"]
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
