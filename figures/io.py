"""What the figures read from a run: thin views of :class:`empirics.runs.Run`.

Run directories are read by :func:`empirics.runs.read_run` only (one format for every kind
of run, torch-free; an unreadable file is a :class:`~empirics.runs.RunFileError` naming the
file and the line). The helpers here select what a plot draws: one pair's series from
``metrics.csv`` (:func:`pair_series`), the run's own bounds (:func:`bounds_series`), the
[P1] loss gaps (:func:`loss_gap_table`), a surrogate's per-step trace
(:func:`surrogate_trace`). A column a figure needs and the run lacks is a ``KeyError``
naming the column and the file.

>>> finite([0.0, 2.0, float("inf")], positive=True).tolist()
[nan, 2.0, nan]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from empirics.objectives import OBJECTIVES, THEOREM_PAIR, pair_name
from empirics.runs import reader
from empirics.runs.reader import Run
from empirics.runs.tables import RunFileError

__all__ = [
    "BOUND_FEATURES",
    "PAPER_FEATURES",
    "SETTINGS",
    "SURROGATE_COLUMNS",
    "THEOREM",
    "Run",
    "bounds_series",
    "describe",
    "final_value",
    "find_runs",
    "finite",
    "flag",
    "is_surrogate",
    "load_run",
    "load_table",
    "loss_gap_table",
    "pair_series",
    "pairs_in",
    "pick_features",
    "require",
    "runs_from",
    "seed_note",
    "setting",
    "splits_in",
    "surrogate_trace",
    "time_axis",
]

#: Feature kind of the paper-figure analogues: the backbone ``h`` (what [P2]'s CKA code
#: uses, THEORY.md s12; CE's projector is untrained). Bound comparisons use ``z``, the
#: embedding the losses and Theorem 1 see.
PAPER_FEATURES = "h"
BOUND_FEATURES = "z"

#: A setting and the configuration field that holds it, where a kind names it differently
#: (the surrogate writes the symbols of THEORY.md; the trainer spells them out).
SETTINGS: dict[str, dict[str, str]] = {
    "classes": {"train": "classes", "surrogate": "C"},
    "batch_size": {"train": "batch_size", "surrogate": "B"},
}

#: The pair the theorems are about (``cl-nscl``), as ``metrics.csv`` names it.
THEOREM = pair_name(*THEOREM_PAIR)

#: Per-step bound columns of a surrogate run (``metrics.csv``, else ``bounds.csv``).
SURROGATE_COLUMNS = ("certificate", "certificate_lipschitz", "recurrence", "theorem1")


# ----------------------------------------------------------------------------- runs
def load_run(path: str | os.PathLike) -> Run:
    """One run directory, read by :func:`empirics.runs.read_run`.

    Raises:
        FileNotFoundError: ``path`` holds no run.
        RunFileError: a file of the run is unreadable (names the file and the line).
    """
    return reader.read_run(path)


def find_runs(root: str | os.PathLike) -> list[Run]:
    """Every run directory at or below ``root``, read, in sorted order."""
    return [reader.read_run(p) for p in reader.find_runs(root)]


def runs_from(path: str | os.PathLike) -> list[Run]:
    """The runs of a sweep folder, or every run directory at or below ``path``.

    A sweep folder is one holding ``results.csv`` (or that file itself): its rows with
    ``status`` ``ok`` name their run in ``run_dir`` (as written, relative to the sweep
    folder, or ``runs/<name>`` beside it).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RunFileError: ``results.csv`` has no ``run_dir`` column, is unreadable, or names a
            finished run that is not there (the file and the line); a run's own file is
            unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"Expected `--runs` to be a folder or a results.csv, got "
                                f"{str(p)!r} (no such file or folder)")
    table = p / "results.csv" if p.is_dir() else p
    if not (table.name == "results.csv" and table.is_file()):
        return find_runs(p)
    df = reader.read_table(table)
    if "run_dir" not in df.columns:
        raise RunFileError(table, f"expected a 'run_dir' column naming each run, got columns "
                           f"{list(df.columns)!r}")
    out = []
    for i, row in df.iterrows():
        if "status" in df.columns and str(row["status"]) != "ok":
            continue
        rd = Path(str(row["run_dir"]))
        candidates = [rd, table.parent / rd]
        if "name" in df.columns:
            candidates.append(table.parent / "runs" / str(row["name"]))
        found = next((q for q in candidates if reader.is_run_dir(q)), None)
        if found is None:
            raise RunFileError(table, f"expected a run directory at {str(rd)!r}, got none",
                               line=int(i) + 2)
        out.append(reader.read_run(found))
    return out


def is_surrogate(run: Run) -> bool:
    """Whether ``run`` was written by the similarity-descent surrogate."""
    return run.kind == "surrogate"


def setting(run: Run, name: str, default: Any = None) -> Any:
    """A setting of the run's configuration (``classes``, ``batch_size``, ``tau``, ...),
    under the field name its kind uses (:data:`SETTINGS`)."""
    return run.cfg(SETTINGS.get(name, {}).get(run.kind, name), default)


#: How a title shows each setting (:func:`describe`).
SETTING_TEXT = {"dataset": "{}", "classes": "C = {}", "N": "N = {}", "tau": "τ = {:g}",
                "batch_size": "B = {}", "steps": "{} steps", "seed": "seed {}"}
#: The settings a title names: a training run's (the paper-figure analogues), the
#: bound-vs-measured network's, a surrogate run's.
TRAIN_SETTINGS = ("dataset", "classes", "tau", "batch_size", "steps", "seed")
NETWORK_SETTINGS = ("dataset", "classes", "tau", "batch_size", "seed")
SURROGATE_SETTINGS = ("classes", "N", "batch_size", "tau", "seed")


def describe(runs: Run | Iterable[Run], keys: Iterable[str] = TRAIN_SETTINGS) -> str:
    """The settings ``keys`` of the first run, as a title shows them (``synthetic, C = 10,
    τ = 0.5, B = 32, 12 steps, seed 0``); of several runs (seeds of one setting), how many
    seeds instead of the seed."""
    runs = [runs] if isinstance(runs, Run) else list(runs)
    parts = []
    for key in keys:
        value = setting(runs[0], key)
        if key == "seed" and len(runs) > 1:
            parts.append(seed_note(runs))
        elif value is not None:
            parts.append(SETTING_TEXT.get(key, f"{key} = {{}}").format(value))
    return ", ".join(parts) or runs[0].name


def seed_note(runs: Iterable[Run], what: str = "mean") -> str:
    """``"1 seed"`` or ``"mean over 3 seeds"``: how many seeds a point averages."""
    n = len({json.dumps(r.cfg("seed"), sort_keys=True, default=str) for r in runs})
    return "1 seed" if n <= 1 else f"{what} over {n} seeds"


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """A sweep's ``results.csv`` (or its folder), read with the run tables' checks.

    Raises:
        FileNotFoundError: no such file.
        RunFileError: unreadable (names the file and the line).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.csv"
    if not p.is_file():
        raise FileNotFoundError(
            f"Expected `path` to be a results.csv or its folder, got {str(p)!r}")
    return reader.read_table(p)


# ----------------------------------------------------------------------------- tables
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


def flag(values: pd.Series) -> np.ndarray:
    """A boolean column as written (``true`` / ``false``) as a boolean array."""
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.lower().eq("true").to_numpy()


def pick_features(df: pd.DataFrame, features: str | None) -> str | None:
    """The feature kind to select: ``features`` if recorded, else the first one recorded."""
    if features is None or "features" not in df.columns:
        return None
    found = list(dict.fromkeys(df["features"].dropna().astype(str)))
    if features in found:
        return features
    return found[0] if found else None


def pair_series(run: Run, pair: str, column: str, *, split: str | None = "test",
                features: str | None = BOUND_FEATURES) -> pd.DataFrame:
    """Rows of ``metrics.csv`` for one pair, split and feature kind, sorted by step.

    Returns:
        A frame with columns ``step``, ``t`` (epoch or step) and ``value``.

    Raises:
        KeyError: ``metrics.csv`` lacks ``step``, ``pair`` or ``column`` (names the file).
    """
    m = run.metrics
    require(m, ["step", "pair", column], str(run.path / "metrics.csv"))
    sel = m["pair"] == pair
    if split is not None and "split" in m.columns:
        sel &= m["split"] == split
    kind = pick_features(m, features)
    if kind is not None:
        sel &= m["features"] == kind
    rows = m.loc[sel].sort_values("step", kind="stable")
    tcol, _ = time_axis(m)
    return pd.DataFrame({"step": rows["step"].to_numpy(), "t": rows[tcol].to_numpy(dtype=float),
                         "value": pd.to_numeric(rows[column], errors="coerce").to_numpy(float)})


def pairs_in(run: Run, *, anchor: str | None = THEOREM_PAIR[0]) -> list[str]:
    """The pairs recorded in ``metrics.csv`` that involve ``anchor`` (all if None): the
    theorem pair (:data:`THEOREM`) first, then the others in the canonical order of their
    partners (:data:`empirics.objectives.OBJECTIVES`), unknown ones last."""
    if "pair" not in run.metrics.columns:
        return []
    found = list(dict.fromkeys(run.metrics["pair"].astype(str)))
    if anchor is not None:
        found = [p for p in found if p.split("-")[0] == anchor]
    rank = {name: i for i, name in enumerate(OBJECTIVES.names())}
    return sorted(found, key=lambda p: (p != THEOREM, rank.get(p.partition("-")[2],
                                                                len(rank))))


def splits_in(run: Run) -> list[str | None]:
    """The splits recorded in ``metrics.csv``, train first (``[None]`` when unsplit)."""
    if "split" not in run.metrics.columns:
        return [None]
    found = list(dict.fromkeys(run.metrics["split"].astype(str)))
    return [s for s in ("train", "test") if s in found] + [s for s in found
                                                            if s not in ("train", "test")]


def final_value(run: Run, pair: str, column: str, *, split: str | None = "test",
                features: str | None = BOUND_FEATURES) -> float:
    """Value of ``column`` at the last evaluation step (NaN if the pair was never evaluated)."""
    s = pair_series(run, pair, column, split=split, features=features)
    return float(s["value"].iloc[-1]) if len(s) else float("nan")


def loss_gap_table(run: Run, *, split: str | None = None) -> pd.DataFrame:
    """``losses.csv`` (optionally one split), sorted by step.

    ``loss_gap = loss_cl - loss_nscl`` is filled in where the run predates that column.
    """
    df = run.losses.copy()
    require(df, ["step", "model", "loss_cl", "loss_nscl"], str(run.path / "losses.csv"))
    if "loss_gap" not in df.columns:
        df["loss_gap"] = df["loss_cl"] - df["loss_nscl"]
    if split is not None and "split" in df.columns:
        df = df[df["split"] == split]
    return df.sort_values("step", kind="stable")


def bounds_series(run: Run, column: str) -> pd.DataFrame:
    """The run's own bound ``column`` per evaluation step (``step``, ``t``, ``value``).

    ``t`` is on the time axis of ``metrics.csv`` (epochs when recorded).
    """
    b = run.bounds
    require(b, ["step", column], str(run.path / "bounds.csv"))
    b = b.sort_values("step", kind="stable")
    tcol, _ = time_axis(run.metrics)
    if tcol in b.columns:
        t = b[tcol].to_numpy(dtype=float)
    else:  # map steps to the metrics' time axis
        m = run.metrics.drop_duplicates("step").set_index("step")[tcol]
        t = m.reindex(b["step"]).to_numpy(dtype=float)
    return pd.DataFrame({"step": b["step"].to_numpy(), "t": t,
                         "value": pd.to_numeric(b[column], errors="coerce").to_numpy(float)})


def surrogate_trace(run: Run) -> pd.DataFrame:
    """Per-step trace of a surrogate run: ``step``, ``measured``, each bound it holds, and
    ``event_held``.

    ``measured`` is the surrogate's ``sim_gap`` (``||Sigma^CL_t - Sigma^NSCL_t||_F``, pair
    :data:`THEOREM` of ``metrics.csv``); a bound of :data:`SURROGATE_COLUMNS` comes from
    ``metrics.csv`` or, per step, from ``bounds.csv``.
    """
    m = run.metrics
    require(m, ["step", "sim_gap"], str(run.path / "metrics.csv"))
    if "pair" in m.columns:
        m = m[m["pair"] == THEOREM]
    m = m.sort_values("step", kind="stable")
    steps = m["step"].to_numpy()
    out = pd.DataFrame({"step": steps,
                        "measured": pd.to_numeric(m["sim_gap"], errors="coerce").to_numpy()})
    b = run.bounds
    for c in SURROGATE_COLUMNS:
        if c in m.columns:
            out[c] = pd.to_numeric(m[c], errors="coerce").to_numpy()
        elif c in b.columns and "step" in b.columns:
            per_step = b.drop_duplicates("step", keep="last").set_index("step")[c]
            out[c] = pd.to_numeric(per_step.reindex(steps), errors="coerce").to_numpy()
    if "event_held" in m.columns:
        out["event_held"] = flag(m["event_held"])
    return out


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
