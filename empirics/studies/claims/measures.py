"""What the claims read from a finished run: final values, series over training, [P1] margins.

Torch-free: runs are read with :func:`empirics.runs.read_run` (``metrics.csv``,
``losses.csv``, ``bounds.csv``). A pair, split or feature kind the run did not record is a
``KeyError`` naming it and the file.

>>> import pandas as pd
>>> m = pd.DataFrame({"step": [0, 10], "pair": ["cl-nscl"] * 2, "split": ["test"] * 2,
...                   "features": ["h"] * 2, "cka": [1.0, 0.9]})
>>> float(select(m, "cl-nscl", "test", "h")["cka"].iloc[-1])
0.9
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from empirics.runs import Run

__all__ = ["final", "mid_step", "p1_margins", "select", "series", "sum_eta_by_step"]


def select(metrics: pd.DataFrame, pair: str, split: str | None, features: str | None,
           where: str = "metrics.csv") -> pd.DataFrame:
    """Rows of ``metrics`` for one pair, split and feature kind, sorted by step."""
    sel = metrics["pair"] == pair
    if split is not None:
        sel &= metrics["split"] == split
    if features is not None:
        sel &= metrics["features"] == features
    rows = metrics.loc[sel].sort_values("step", kind="stable")
    if rows.empty:
        raise KeyError(f"Expected rows of pair {pair!r}, split {split!r}, features "
                       f"{features!r} in {where}, got none")
    return rows


def series(run: Run, pair: str, column: str, *, split: str | None = "test",
           features: str | None = "h") -> pd.DataFrame:
    """``step`` and ``value`` of ``column`` for one pair, split and feature kind."""
    where = str(run.path / "metrics.csv")
    if column not in run.metrics.columns:
        raise KeyError(f"Expected column {column!r} in {where}, got "
                       f"{list(run.metrics.columns)!r}")
    rows = select(run.metrics, pair, split, features, where)
    return pd.DataFrame({"step": rows["step"].to_numpy(),
                         "value": pd.to_numeric(rows[column], errors="coerce").to_numpy(float)})


def final(run: Run, pair: str, column: str, *, split: str | None = "test",
          features: str | None = "h") -> float:
    """``column`` at the run's last evaluation."""
    return float(series(run, pair, column, split=split, features=features)["value"].iloc[-1])


def sum_eta_by_step(run: Run) -> dict[int, float]:
    """``S`` (sum of learning rates so far) at every evaluation step (``S_0 = 0``), from the
    run's own ``bounds.csv`` (``sum_eta_so_far``, exact: the schedule the run used)."""
    out = {0: 0.0}
    b = run.bounds
    if not b.empty and "sum_eta_so_far" in b.columns:
        for step, s in zip(b["step"], b["sum_eta_so_far"], strict=True):
            out[int(step)] = float(s)
    return out


def mid_step(steps: np.ndarray) -> int:
    """The evaluation step closest to half of the last one (ties: the earlier)."""
    steps = np.asarray(steps)
    last = steps.max()
    return int(steps[np.argmin(np.abs(steps - last / 2))])


def p1_margins(run: Run) -> dict[str, float]:
    """[P1] at every evaluation of every model and split of ``run`` (``losses.csv``).

    A row is one evaluation step, model and split; its ``loss_gap`` is the mean over the
    evaluation batches of ``L_CL - L_NSCL`` and ``loss_gap_bound`` the mean of the batches'
    bounds. A row whose bound is 0 has no same-class negative in any batch, so its gap is
    0 by construction (the theorem holds with equality); it is counted in ``rows_empty``
    and left out of the ratios, which would otherwise be 0 / 0. Where the bound is
    positive some batch holds a same-class negative, and then the gap is strictly positive
    and strictly below the bound (THEORY.md s3).

    Returns:
        ``lower`` = min of ``loss_gap / loss_gap_bound`` (> 0: the gap is positive),
        ``slack`` = min of ``1 - loss_gap / loss_gap_bound`` (> 0: under the bound),
        ``rows``, ``rows_empty`` and ``rows_held`` (rows whose every batch had
        ``0 <= gap <= bound``, the trainer's per-batch check).
    """
    lg = run.losses
    where = str(run.path / "losses.csv")
    for c in ("loss_gap", "loss_gap_bound", "p1_holds"):
        if c not in lg.columns:
            raise KeyError(f"Expected column {c!r} in {where}, got {list(lg.columns)!r}")
    held = lg["p1_holds"]
    if held.dtype != bool:
        held = held.astype(str).str.lower().eq("true")
    bound = pd.to_numeric(lg["loss_gap_bound"]).to_numpy(float)
    gap = pd.to_numeric(lg["loss_gap"]).to_numpy(float)
    pos = bound > 0
    ratio = gap[pos] / bound[pos]
    return {"lower": float(ratio.min()) if ratio.size else math.nan,
            "slack": float((1.0 - ratio).min()) if ratio.size else math.nan,
            "rows": int(len(lg)), "rows_empty": int((~pos).sum()),
            "rows_held": int(held.sum())}
