"""Read run directories without torch: one reader for every kind and every version.

:func:`read_run` returns a :class:`Run`: the kind, the saved configuration, the tables as
pandas frames and the summary. It reads the current format (:mod:`empirics.runs.layout`)
and the directories written before it: a trainer ``config.json`` without ``kind``, a
surrogate's ``bounds.json`` (final values only) in place of ``bounds.csv``, and a trainer
``metrics.csv`` without the column of a similarity measure registered since
(:data:`empirics.measures.MEASURES`: a later built-in, or a plugin installed after the run),
whose column then reads as NaN.

Every problem is a :class:`~empirics.runs.tables.RunFileError` that names the file and,
for a table, the line.

>>> import json, pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "config.json").write_text(json.dumps({"kind": "surrogate", "C": 4}))
>>> _ = (d / "metrics.csv").write_text("step,sim_gap\\n0,0.0\\n10,1.5\\n")
>>> run = read_run(d)
>>> run.kind, run.config, run.metrics["sim_gap"].tolist(), run.done
('surrogate', {'C': 4}, [0.0, 1.5], False)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from empirics.measures import MEASURES
from empirics.runs.layout import CONFIG, RunDir
from empirics.runs.tables import RunFileError, read_rows

__all__ = ["Run", "find_runs", "is_run_dir", "read_run", "read_table"]


@dataclass
class Run:
    """Everything one run directory holds."""

    path: Path
    kind: str  # "train" or "surrogate"
    config: dict[str, Any]  # the saved configuration (without "kind")
    metrics: pd.DataFrame
    losses: pd.DataFrame
    bounds: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    #: Appendix D measurements (trainer with ``linearization_every``; else empty)
    linearization: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def done(self) -> bool:
        return bool(self.summary)

    def cfg(self, key: str, default: Any = None) -> Any:
        """A saved configuration value (``default`` when the run predates the field)."""
        return self.config.get(key, default)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A run table as a frame (empty when the file is absent), every row checked first.

    Types are pandas' own inference (numbers, ``true``/``false`` as booleans, empty cells
    as NaN), as any reader of the CSV would get.

    Raises:
        RunFileError: binary data, a ragged or cut row, or a non-integer ``step``, naming
            the file and the line.
    """
    header, rows = read_rows(path)
    if not header:
        return pd.DataFrame()
    df = pd.read_csv(path)  # exact round trip of repr-written floats (tested)
    if "step" in df.columns:
        steps = pd.to_numeric(df["step"], errors="coerce")
        bad = steps.isna() | (steps != steps.round())
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise RunFileError(path, f"expected an integer step, got {rows[i]['step']!r}",
                               line=i + 2)
        df["step"] = steps.astype("int64")
    return df


def _read_json(path: Path, *, required: bool) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise RunFileError(path, "expected a file, got none") from None
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFileError(path, f"expected JSON, got {exc}") from None
    if not isinstance(data, dict):
        raise RunFileError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run (``config.json`` and ``metrics.csv``)."""
    p = Path(path)
    return (p / CONFIG).is_file() and (p / "metrics.csv").is_file()


def read_run(path: str | os.PathLike) -> Run:
    """Read one run directory (any kind, current or earlier format).

    Raises:
        FileNotFoundError: ``path`` holds no run (no ``config.json`` or ``metrics.csv``).
        RunFileError: a file of the run cannot be read (names the file and the line).
    """
    run = RunDir(path)
    if not is_run_dir(run.path):
        raise FileNotFoundError(
            f"Expected a run directory with config.json and metrics.csv, got {str(run.path)!r}")
    config = _read_json(run.config, required=True)
    kind = config.pop("kind", "train")  # trainer directories before the common format
    bounds = read_table(run.bounds)
    if bounds.empty:
        legacy = _read_json(run.path / "bounds.json", required=False)  # surrogate, earlier
        if legacy is not None:
            bounds = pd.DataFrame([{"step": legacy.get("T"), **legacy}])
    metrics = read_table(run.metrics)
    if kind == "train" and "pair" in metrics.columns:  # every registered measure is a column
        missing = [name for name in MEASURES.names() if name not in metrics.columns]
        metrics = metrics.assign(**{name: float("nan") for name in missing})
    return Run(
        path=run.path,
        kind=str(kind),
        config=config,
        metrics=metrics,
        losses=read_table(run.losses),
        bounds=bounds,
        summary=_read_json(run.summary, required=False) or {},
        linearization=read_table(run.table("linearization")),
    )


def find_runs(root: str | os.PathLike) -> Iterator[Path]:
    """Every run directory at or below ``root``, in sorted order."""
    root = Path(root)
    if is_run_dir(root):
        yield root
        return
    for p in sorted(root.rglob(CONFIG)):
        if is_run_dir(p.parent):
            yield p.parent
