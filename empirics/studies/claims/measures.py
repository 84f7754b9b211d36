"""What the claims read from a finished run: final values, series over training, ``S``.

Torch-free: runs are read with :func:`empirics.runs.read_run` (``metrics.csv``,
``losses.csv``, ``bounds.csv``). A pair, split or feature kind the run did not record is a
``KeyError`` naming it and the file; a column it did not record (a measure added after the
run was written) a ``KeyError`` naming the column, the same text for every run.

>>> import pandas as pd
>>> m = pd.DataFrame({"step": [0, 10], "pair": ["cl-nscl"] * 2, "split": ["test"] * 2,
...                   "features": ["h"] * 2, "cka": [1.0, 0.9]})
>>> float(select(m, "cl-nscl", "test", "h")["cka"].iloc[-1])
0.9
"""

from __future__ import annotations

import pandas as pd

from empirics.runs import Run

__all__ = ["final", "select", "series", "sum_eta_by_step"]


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
    if column not in run.metrics.columns:
        raise KeyError(f"Expected a {column!r} column in metrics.csv, got none (a run written "
                       "before it was recorded)")
    rows = select(run.metrics, pair, split, features, str(run.path / "metrics.csv"))
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
