"""Sweeps: one run per point of a grid, launched through :mod:`empirics.runs`; one results table.

    python -m empirics.sweep --grid classes=2,10,50 tau=0.1,0.5,1.0 --kind train \\
        --base base.toml --executor local --workers 2 --out sweeps/c-tau

A sweep is three things: the points of a grid (the Cartesian product of the ``--grid``
values, each over the ``--base`` fields), :func:`empirics.runs.launch` of one
:class:`~empirics.runs.spec.RunSpec` per point, and a results table. Layout of ``DIR``:

    DIR/sweep.json                  the sweep: kind or target, grid, base, every point's name
    DIR/runs/<label>__<key>/        one run directory per point (empirics.runs.layout)
    DIR/runs/<label>__<key>/error.txt   the traceback of a failed point
    DIR/results.csv                 one row per point, in grid order: name, status, error,
                                    seconds, run_dir, the grid's columns, then the run's
                                    summary.json flattened (nested keys joined with '.';
                                    keys that repeat a grid or fixed column are dropped)

``<label>`` is the point's ``key=value`` items (:func:`empirics.runs.spec.label`) and
``<key>`` the run's cache key (every result-deciding field after the base and the
defaults), so a different base never reuses an old result, and two clients asking for one
run find one directory. Everything else is the launcher's: the executors (``serial``, a
``local`` process pool, ``ray``), the done rule (``summary.json`` written and the saved
configuration equal to the point's), resume (an interrupted run continues from its
checkpoint), failures (a failing point is a row with status ``failed``; the others go on).

**Kill safety.** ``results.csv`` is rewritten atomically from the run directories after
each finished run, and every file of a run is written atomically by its runner
(:mod:`empirics.runs.writer`), so a sweep killed at any instant (``kill -9``, Ctrl+C) and
run again ends with the same ``results.csv`` (up to ``seconds``, a wall time) and
byte-identical run tables. Exit status: 0, 1 when a point failed, 130 when interrupted
(Ctrl+C or SIGTERM; rerun the same command to resume), 2 on a usage error.

>>> parse_grid(["classes=2,10", "tau=0.5", "objectives=[cl,nscl],[cl,ce]"])
{'classes': [2, 10], 'tau': [0.5], 'objectives': [['cl', 'nscl'], ['cl', 'ce']]}
>>> [point_name(p, RunSpec("train", p)).rsplit("__", 1)[0]
...  for p in expand_grid({"classes": [2, 10], "tau": [0.5]})]
['classes=2__tau=0.5', 'classes=10__tau=0.5']
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_write_json, atomic_write_text
from cl_nscl_align.cli import ArgumentParser, one_line_warnings, terminate_as_interrupt
from empirics.runs import EXECUTORS, KINDS, RunResult, RunSpec, check_out_dir, is_done, label
from empirics.runs.spec import resolve
from empirics.runs.tables import render_rows
from empirics.studies.grid import expand_grid, parse_grid, parse_value

__all__ = [
    "EXECUTORS",
    "FIXED_COLUMNS",
    "KINDS",
    "SweepResult",
    "expand_grid",
    "load_results",
    "main",
    "parse_grid",
    "parse_value",
    "point_name",
    "run_sweep",
    "sweep_specs",
]

FIXED_COLUMNS = ("name", "status", "error", "seconds", "run_dir")


#: The most pool workers the command line accepts (a larger number is a typo).
MAX_WORKERS = 1024

# --------------------------------------------------------------------------------- points
def point_name(point: Mapping[str, Any], spec: RunSpec) -> str:
    """A point's run directory name: ``<label>__<key>`` (readable items, at most 80
    characters, then the run's cache key)."""
    return spec.dirname(label(point))


def _check_keys(kind: str, grid: Mapping[str, Any], base: Mapping[str, Any]) -> None:
    """Unknown configuration keys, named with where they came from (before any run)."""
    known = set(KINDS[kind].options_class().field_names())
    for where, keys in (("base", base), ("grid", grid)):
        unknown = sorted(set(keys) - known)
        if unknown:
            raise ValueError(f"Expected {kind} configuration keys, got unknown {unknown!r} "
                             f"(in `{where}`)")


def sweep_specs(grid: Mapping[str, Sequence[Any]], *, kind: str = "train",
                target: str | None = None, base: Mapping[str, Any] | None = None
                ) -> tuple[list[dict[str, Any]], list[RunSpec], list[str]]:
    """``(points, specs, names)`` of a grid, every point validated through the kind's
    declared configuration (the user target's config is taken as given).

    Raises:
        ValueError / TypeError: an unknown kind, an unknown key (naming base or grid), a
            value the configuration rejects, or repeated points.
    """
    if target is None and kind not in KINDS:
        raise ValueError(f"Expected `kind` among {', '.join(KINDS)}, got {kind!r}")
    base = dict(base or {})
    points = expand_grid(grid)
    if target is None:
        _check_keys(kind, grid, base)
    specs = [RunSpec("custom" if target else kind, {**base, **p}, target=target)
             for p in points]
    for spec in specs:
        if target is None:
            spec.options()  # one sentence naming the field and the value
    names = [point_name(p, s) for p, s in zip(points, specs, strict=True)]
    if len(set(names)) != len(names):
        raise ValueError(f"Expected distinct grid points, got repeated values in {dict(grid)!r}")
    return points, specs, names


# --------------------------------------------------------------------------------- results
@dataclass
class SweepResult:
    """What a sweep did: every finished point's row (grid order) and the counts."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # points found done and not rerun
    ran: int = 0  # points run now (successful or not)
    interrupted: bool = False

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    @property
    def results_path(self) -> Path:
        return self.out / "results.csv"


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to ``a.b.c`` keys; lists as JSON text."""
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(list(obj)) if isinstance(obj, (list, tuple)) else obj}


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _row(name: str, point: Mapping[str, Any], res: RunResult,
         seconds: float | None) -> dict[str, Any]:
    """A results row. The summary is read from the run directory whether the run finished
    now or before, so both give the same row."""
    ok = res.status != "failed"
    summary = _flatten(_read_summary(Path(res.path)) or res.summary) if ok else {}
    flat_point = {k: json.dumps(v) if isinstance(v, (list, tuple)) else v
                  for k, v in point.items()}
    extra = {k: v for k, v in summary.items() if k not in point and k not in FIXED_COLUMNS}
    return {"name": name, "status": "ok" if ok else "failed", "error": res.error,
            "seconds": seconds, "run_dir": f"runs/{name}", **flat_point, **extra}


def _write_results(path: Path, rows: list[dict[str, Any]], grid_keys: Sequence[str]) -> None:
    columns = list(FIXED_COLUMNS) + [k for k in grid_keys if k not in FIXED_COLUMNS]
    for r in rows:
        columns += [k for k in r if k not in columns]
    atomic_write_text(path, render_rows(rows, columns, header=True))


def _previous_seconds(path: Path) -> dict[str, float]:
    """``name -> seconds`` of the finished rows of an earlier ``results.csv`` (the wall time
    of a run found done is the one measured when it ran)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    out = {}
    for r in rows:
        try:
            if r.get("status") == "ok" and r.get("seconds"):
                out[r["name"]] = float(r["seconds"])
        except (TypeError, ValueError):
            continue
    return out


def load_results(out: str | os.PathLike):
    """``DIR/results.csv`` as a :class:`pandas.DataFrame` (``out`` is the sweep's DIR)."""
    import pandas as pd

    path = Path(out)
    return pd.read_csv(path / "results.csv" if path.is_dir() else path)


# --------------------------------------------------------------------------------- driver
def run_sweep(
    grid: Mapping[str, Sequence[Any]],
    *,
    out: str | os.PathLike,
    kind: str = "train",
    target: str | None = None,
    base: Mapping[str, Any] | None = None,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    progress: bool | None = None,
) -> SweepResult:
    """Run every point of ``grid`` once, skipping points already done in ``out``.

    Args:
        grid: ``{key: [values]}``; each point is ``base`` updated with one value per key.
        out: the sweep directory ``DIR``.
        kind: ``"train"`` or ``"surrogate"`` (ignored when ``target`` is given).
        target: ``"module:function"``, a user runner ``fn(config: dict, run_dir: Path)``
            returning a mapping of results, or a directory holding ``summary.json``
            (None = ``run_dir/summary.json``). Must be importable in the workers.
        base: fixed configuration fields under the grid.
        executor: ``"local"`` (process pool), ``"ray"`` or ``"serial"``.
        workers: pool size (local; default ``min(points, cpu_count)``), or the CPUs of a
            local Ray instance (ray without ``ray_address``).
        ray_address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``, ...).
        cpus_per_run, gpus_per_run: Ray resources of one point.
        progress: tqdm bar over the points on stderr; None = only on a TTY.

    Returns:
        A :class:`SweepResult`; ``results.csv`` is rewritten after every finished point.

    Raises:
        ValueError: an unknown ``kind`` / ``executor``, an unknown configuration key or a
            value the configuration rejects, repeated points, ``workers`` < 1, or an
            ``out`` that is not a writable folder.
        ImportError: ``executor="ray"`` without Ray installed.
    """
    from empirics.runs import launch
    from empirics.runs.launcher import check_launch_options, import_ray

    check_launch_options(executor, workers, cpus_per_run, gpus_per_run)
    points, specs, names = sweep_specs(grid, kind=kind, target=target, base=base)
    if executor == "ray":
        import_ray()  # fail before any work when the extra is missing
    out = check_out_dir(out)
    atomic_write_json(out / "sweep.json", {
        "kind": None if target else kind, "target": target, "grid": dict(grid),
        "base": dict(base or {}), "executor": executor,
        "points": dict(zip(names, points, strict=True)),
    })
    results_path = out / "results.csv"
    seconds = _previous_seconds(results_path)
    index = {n: i for i, n in enumerate(names)}
    rows: dict[str, dict[str, Any]] = {}
    result = SweepResult(out=out)
    # the rows of runs found done arrive first; write the table once they are all in
    n_done = sum(is_done(s, out / "runs" / n) for s, n in zip(specs, names, strict=True))

    def flush() -> None:
        result.rows = [rows[n] for n in names if n in rows]
        _write_results(results_path, result.rows, list(grid))

    def on_result(res: RunResult) -> None:
        done = res.status == "done"
        took = seconds.get(res.name) if done else res.seconds
        took = took if took is not None and math.isfinite(took) else None
        rows[res.name] = _row(res.name, points[index[res.name]], res, took)
        if done:
            result.skipped += 1
        else:
            result.ran += 1
        if not done or result.skipped >= n_done:
            flush()

    try:
        launch(specs, out / "runs", names=names, executor=executor, workers=workers,
               progress=progress, ray_address=ray_address, cpus_per_run=cpus_per_run,
               gpus_per_run=gpus_per_run, on_result=on_result, desc="sweep")
    except KeyboardInterrupt:
        result.interrupted = True
        # a point whose worker finished before its result reached this process
        for spec, name in zip(specs, names, strict=True):
            path = out / "runs" / name
            if name not in rows and is_done(spec, path):
                rows[name] = _row(name, points[index[name]],
                                  RunResult(name, path, "done"), seconds.get(name))
    finally:
        flush()
    return result


# --------------------------------------------------------------------------------- CLI
def _load_base(path: str | None, kind: str, target: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    from cl_nscl_align.options import read_toml

    tables = () if target else KINDS[kind].options_class().toml_tables
    return read_toml(path, tables=tables)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m empirics.sweep",
        description="Run one training or surrogate run per point of a grid; results merge "
                    "into DIR/results.csv (one row per point). Rerun the same command to "
                    "resume.")
    p.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                   help="grid axes, KEY=V1,V2,...; lists in brackets, e.g. "
                        "objectives=[cl,nscl],[cl,ce]; a fixed value is a one-value axis "
                        "(required)")
    p.add_argument("--kind", choices=tuple(KINDS), default="train",
                   help="what one point runs: a lockstep training run or a surrogate run "
                        "(default: train)")
    p.add_argument("--target", default=None, metavar="MODULE:FUNCTION",
                   help="a user runner fn(config, run_dir) instead of --kind (default: none)")
    p.add_argument("--base", default=None, metavar="FILE.toml",
                   help="fixed configuration fields under the grid: top level, or one "
                        "[train] / [surrogate] table (default: none, the kind's defaults)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="serial: in this process, one after the other; local: a process "
                        "pool; ray: one Ray task per point (default: local)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local pool size, or the CPUs of a local Ray instance (default: "
                        "min(points, CPUs))")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="Ray cluster address, e.g. auto or ray://head:10001 (default: start "
                        "a local Ray instance)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, metavar="X",
                   help="Ray CPUs per point (default: 1)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, metavar="X",
                   help="Ray GPUs per point (default: 0)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the sweep directory (required)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on a terminal)")
    return p



def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 a point failed, 130 interrupted)."""
    one_line_warnings("python -m empirics.sweep")
    p = _parser()
    a = p.parse_args(argv)
    if a.workers is not None and not 1 <= a.workers <= MAX_WORKERS:
        p.error(f"Expected `--workers` in [1, {MAX_WORKERS}], got {a.workers}")
    for flag in ("cpus_per_run", "gpus_per_run"):
        value = getattr(a, flag)
        if not (math.isfinite(value) and value >= 0):
            p.error(f"Expected `--{flag.replace('_', '-')}` to be a finite number >= 0, got "
                    f"{value}")
    if not a.out.strip():
        p.error(f"Expected `--out` to be a folder, got {a.out!r}")
    try:
        if a.target is not None:
            fn = resolve(a.target)  # fail now, not once per point
            if not callable(fn):
                raise TypeError(f"Expected `target` {a.target!r} to be callable, got "
                                f"{type(fn).__name__}")
        grid = parse_grid(a.grid)
        try:
            base = _load_base(a.base, a.kind, a.target)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError(f"`--base` {a.base!r}: {' '.join(str(exc).split())}") from None
        sweep_specs(grid, kind=a.kind, target=a.target, base=base)  # every point valid
        check_out_dir(a.out)
        if a.executor == "ray":
            from empirics.runs.launcher import import_ray

            import_ray()
    except (ValueError, TypeError, ImportError, OSError) as exc:
        p.error(str(exc))
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, terminate_as_interrupt)  # a scheduler's stop = Ctrl+C
    try:
        result = run_sweep(grid, out=a.out, kind=a.kind, target=a.target, base=base,
                           executor=a.executor, workers=a.workers, ray_address=a.ray_address,
                           cpus_per_run=a.cpus_per_run, gpus_per_run=a.gpus_per_run,
                           progress=False if a.no_progress else None)
    except (ValueError, TypeError) as exc:
        p.error(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    n = len(result.rows)
    print(f"sweep: {n} point(s) in {result.results_path} ({result.skipped} already done, "
          f"{result.ran} run now, {len(result.failed)} failed)", file=sys.stderr)
    for row in result.failed:
        print(f"  failed {row['name']}: {row['error']}", file=sys.stderr)
    if result.interrupted:
        print("sweep: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 1 if result.failed else 0
