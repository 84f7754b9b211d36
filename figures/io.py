"""Read what ``empirics`` wrote: run directories, surrogate runs and sweep tables.

A run directory (DESIGN.md) holds ``config.json``, ``metrics.csv`` (one row per evaluation
step, pair and split), ``losses.csv`` (one row per evaluation step, model and split),
``bounds.csv`` or ``bounds.json`` (the run's own bounds per evaluation step) and
``summary.json``. Readers here are tolerant of extra columns and of absent optional files,
but a missing column a figure needs raises a ``KeyError`` naming the column and the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RUN_MARKER = "config.json"


@dataclass
class RunData:
    """Everything one run directory holds, as pandas tables and dicts."""

    path: Path
    config: dict[str, Any]
    metrics: pd.DataFrame
    losses: pd.DataFrame
    bounds: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def cfg(self, *keys: str, default: Any = None) -> Any:
        """First of ``keys`` found in the config (top level or one section down)."""
        return config_value(self.config, *keys, default=default)

    @property
    def name(self) -> str:
        return self.path.name


def config_value(config: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    """Look ``keys`` up in order, at the top level and then in nested sections."""
    for key in keys:
        if key in config:
            return config[key]
    for key in keys:
        for value in config.values():
            if isinstance(value, Mapping) and key in value:
                return value[key]
    return default


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


def _read_json(path: Path) -> Any:
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _bounds_table(run_dir: Path) -> pd.DataFrame:
    csv = run_dir / "bounds.csv"
    if csv.exists():
        return _read_csv(csv)
    obj = _read_json(run_dir / "bounds.json")
    if obj is None:
        return pd.DataFrame()
    if isinstance(obj, list):
        return pd.DataFrame(obj)
    if isinstance(obj, dict):
        for key in ("rows", "records", "steps", "per_step"):
            if isinstance(obj.get(key), list):
                return pd.DataFrame(obj[key])
        # A single record, or a dict of equal-length lists.
        if all(isinstance(v, list) for v in obj.values()):
            return pd.DataFrame(obj)
        return pd.DataFrame([obj])
    return pd.DataFrame()


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` looks like a run directory (has ``config.json`` and ``metrics.csv``)."""
    p = Path(path)
    return (p / RUN_MARKER).is_file() and (p / "metrics.csv").is_file()


def load_run(path: str | Path) -> RunData:
    """Load one run directory.

    Raises:
        FileNotFoundError: ``path`` is not a run directory.
    """
    p = Path(path)
    if not is_run_dir(p):
        raise FileNotFoundError(
            "Expected `path` to be a run directory with config.json and metrics.csv, "
            f"got {str(p)!r}")
    return RunData(
        path=p,
        config=_read_json(p / RUN_MARKER) or {},
        metrics=_read_csv(p / "metrics.csv"),
        losses=_read_csv(p / "losses.csv"),
        bounds=_bounds_table(p),
        summary=_read_json(p / "summary.json") or {},
    )


def find_runs(root: str | Path) -> list[RunData]:
    """Every run directory at or below ``root`` (sorted by path)."""
    root = Path(root)
    if is_run_dir(root):
        return [load_run(root)]
    return [load_run(p.parent) for p in sorted(root.rglob(RUN_MARKER)) if is_run_dir(p.parent)]


def require(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise ``KeyError`` naming the first of ``columns`` missing from ``df``."""
    for c in columns:
        if c not in df.columns:
            raise KeyError(f"Expected column {c!r} in {where}, got columns {list(df.columns)!r}")


def time_axis(df: pd.DataFrame) -> tuple[str, str]:
    """The column to plot against and its axis label: epochs when recorded, else steps."""
    if "epoch" in df.columns and df["epoch"].notna().any():
        return "epoch", "epoch"
    return "step", "training step"


#: Feature kind of the paper-figure analogues: the backbone ``h`` (what [P2]'s CKA code
#: uses, THEORY.md s12; CE's projector is untrained). Bound comparisons use ``z``, the
#: embedding the losses and Theorem 1 see.
PAPER_FEATURES = "h"
BOUND_FEATURES = "z"


def pick_features(df: pd.DataFrame, features: str | None) -> str | None:
    """The feature kind to select: ``features`` if recorded, else the first one recorded."""
    if features is None or "features" not in df.columns:
        return None
    found = list(dict.fromkeys(df["features"].dropna().astype(str)))
    if features in found:
        return features
    return found[0] if found else None


def pair_series(run: RunData, pair: str, column: str, *, split: str | None = "test",
                features: str | None = BOUND_FEATURES) -> pd.DataFrame:
    """Rows of ``metrics.csv`` for one pair, split and feature kind, sorted by step.

    Returns a frame with columns ``step``, ``t`` (epoch or step) and ``value``.
    """
    m = run.metrics
    require(m, ["step", "pair", column], f"{run.path / 'metrics.csv'}")
    sel = m["pair"] == pair
    if split is not None and "split" in m.columns:
        sel &= m["split"] == split
    kind = pick_features(m, features)
    if kind is not None:
        sel &= m["features"] == kind
    rows = m.loc[sel].sort_values("step")
    tcol, _ = time_axis(m)
    return pd.DataFrame({"step": rows["step"].to_numpy(), "t": rows[tcol].to_numpy(dtype=float),
                         "value": rows[column].to_numpy(dtype=float)})


def pairs_in(run: RunData, *, anchor: str | None = "cl") -> list[str]:
    """The pairs recorded in ``metrics.csv`` that involve ``anchor`` (all if None), CL-NSCL
    first."""
    if "pair" not in run.metrics.columns:
        return []
    order = ["cl-nscl", "cl-scl", "cl-ce", "cl-ntxent"]
    found = list(dict.fromkeys(run.metrics["pair"].astype(str)))
    if anchor is not None:
        found = [p for p in found if p.split("-")[0] == anchor]
    return [p for p in order if p in found] + [p for p in found if p not in order]


def splits_in(run: RunData) -> list[str]:
    if "split" not in run.metrics.columns:
        return [None]  # type: ignore[list-item]
    found = list(dict.fromkeys(run.metrics["split"].astype(str)))
    return [s for s in ("train", "test") if s in found] + [s for s in found
                                                            if s not in ("train", "test")]


def final_value(run: RunData, pair: str, column: str, *, split: str | None = "test",
                features: str | None = BOUND_FEATURES) -> float:
    """Value of ``column`` at the last evaluation step (NaN if the pair was never evaluated)."""
    s = pair_series(run, pair, column, split=split, features=features)
    return float(s["value"].iloc[-1]) if len(s) else float("nan")


def loss_gap_table(run: RunData, *, split: str | None = None) -> pd.DataFrame:
    """``losses.csv`` with ``loss_gap = loss_cl - loss_nscl`` filled in when absent."""
    df = run.losses.copy()
    require(df, ["step", "model", "loss_cl", "loss_nscl"], f"{run.path / 'losses.csv'}")
    if "loss_gap" not in df.columns:
        df["loss_gap"] = df["loss_cl"] - df["loss_nscl"]
    if split is not None and "split" in df.columns:
        df = df[df["split"] == split]
    return df.sort_values("step")


def bounds_series(run: RunData, column: str) -> pd.DataFrame:
    """The run's own bound ``column`` per evaluation step (``step``, ``t``, ``value``)."""
    b = run.bounds
    require(b, ["step", column], f"{run.path} bounds file")
    b = b.sort_values("step")
    tcol, _ = time_axis(b) if "epoch" in b.columns else time_axis(run.metrics)
    if tcol in b.columns:
        t = b[tcol].to_numpy(dtype=float)
    else:  # map steps to the metrics' time axis
        m = run.metrics.drop_duplicates("step").set_index("step")[tcol]
        t = m.reindex(b["step"]).to_numpy(dtype=float)
    return pd.DataFrame({"step": b["step"].to_numpy(), "t": t,
                         "value": pd.to_numeric(b[column], errors="coerce").to_numpy(float)})


def load_table(path: str | Path) -> pd.DataFrame:
    """A sweep's ``results.csv`` (or any CSV of one row per configuration)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.csv"
    if not p.is_file():
        raise FileNotFoundError(
            f"Expected `path` to be a results.csv or its folder, got {str(p)!r}")
    return pd.read_csv(p)


def finite(a, *, positive: bool = False) -> np.ndarray:
    """Float array with +-inf (and, if ``positive``, values <= 0) turned into NaN.

    For plotting: log axes cannot show 0 (e.g. the gap at step 0) and inf is off the chart.
    """
    x = np.asarray(a, dtype=float).copy()
    bad = ~np.isfinite(x)
    if positive:
        bad |= ~(x > 0)
    x[bad] = np.nan
    return x


#: Columns of a surrogate run's ``metrics.csv`` (empirics.surrogate) the figures read.
SURROGATE_COLUMNS = ("certificate", "certificate_lipschitz", "recurrence", "theorem1")


def surrogate_trace(run: RunData) -> pd.DataFrame:
    """Per-step trace of a surrogate run: ``step``, ``measured`` and each bound present.

    ``measured`` is the surrogate's ``sim_gap`` (``||Sigma^CL_t - Sigma^NSCL_t||_F``).
    """
    m = run.metrics
    require(m, ["step", "sim_gap"], f"{run.path / 'metrics.csv'}")
    if "pair" in m.columns:
        m = m[m["pair"] == "cl-nscl"]
    m = m.sort_values("step")
    out = pd.DataFrame({"step": m["step"].to_numpy(),
                        "measured": pd.to_numeric(m["sim_gap"], errors="coerce").to_numpy()})
    for c in SURROGATE_COLUMNS:
        if c in m.columns:
            out[c] = pd.to_numeric(m[c], errors="coerce").to_numpy()
    if "event_held" in m.columns:
        out["event_held"] = m["event_held"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    return out


def runs_from(path: str | Path) -> list[RunData]:
    """Runs of a sweep folder (its ``results.csv``: rows with status ``ok``, via
    ``run_dir``) or every run directory at or below ``path``."""
    p = Path(path)
    table = p / "results.csv" if p.is_dir() else p
    if table.name == "results.csv" and table.is_file():
        df = pd.read_csv(table)
        require(df, ["run_dir"], str(table))
        ok = df["status"].astype(str) == "ok" if "status" in df.columns else True
        out = []
        for _, row in df.loc[ok].iterrows():
            rd = Path(str(row["run_dir"]))
            # run_dir as written, relative to the sweep folder, or DIR/runs/<name>.
            candidates = [rd, table.parent / rd]
            if "name" in df.columns:
                candidates.append(table.parent / "runs" / str(row["name"]))
            found = next((q for q in candidates if is_run_dir(q)), None)
            if found is not None:
                out.append(load_run(found))
        return out
    return find_runs(p)


def is_surrogate(run: RunData) -> bool:
    """Whether ``run`` was written by the surrogate simulator (``config.json`` kind)."""
    return run.config.get("kind") == "surrogate"
