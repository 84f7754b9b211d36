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

The grid: each ``--grid`` word is ``key=v1,v2,...`` (:func:`parse_grid`; a value is an
int, float, bool, ``none``, a bracketed list or a string, :func:`parse_value`), and the
points are their Cartesian product, the last key varying fastest (:func:`expand_grid`).

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
>>> expand_grid({"C": [2, 10], "tau": [0.5]})
[{'C': 2, 'tau': 0.5}, {'C': 10, 'tau': 0.5}]
>>> [point_name(p, RunSpec("train", p)).rsplit("__", 1)[0]
...  for p in expand_grid({"classes": [2, 10], "tau": [0.5]})]
['classes=2__tau=0.5', 'classes=10__tau=0.5']
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import re
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_write_json, atomic_write_text
from cl_nscl_align.cli import command, one_line_warnings, terminate_as_interrupt
from cl_nscl_align.options import Options, nonnegative, option, path_text
from empirics.runs import EXECUTORS, KINDS, RunResult, RunSpec, check_out_dir, is_done, label
from empirics.runs.launcher import LaunchOptions
from empirics.runs.spec import resolve
from empirics.runs.tables import render_rows

__all__ = [
    "EXECUTORS",
    "FIXED_COLUMNS",
    "KINDS",
    "RayOptions",
    "SweepOptions",
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


# --------------------------------------------------------------------------------- grid
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside square brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Expected balanced brackets in a grid value, got {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError(f"Expected balanced brackets in a grid value, got {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """One grid value: int, float, bool (``true``/``false``), None (``none``), a
    bracketed list ``[a,b]`` of values, or otherwise the string itself.

    >>> [parse_value(s) for s in ("3", "0.5", "1e-3", "true", "none", "cosine", "[cl,ce]")]
    [3, 0.5, 0.001, True, None, 'cosine', ['cl', 'ce']]
    """
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [parse_value(p) for p in _split_top(inner)] if inner else []
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["key=v1,v2", ...]`` to ``{key: [v1, v2]}`` in the order given.

    Raises:
        ValueError: a spec without ``=``, a key that is not an identifier, a repeated
            key, or an empty value.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"Expected a grid spec `key=v1,v2,...`, got {spec!r}")
        key, _, values = spec.partition("=")
        key = key.strip()
        if not _KEY.match(key):
            raise ValueError(f"Expected a grid key that is an identifier, got {key!r}")
        if key in grid:
            raise ValueError(f"Expected each grid key once, got {key!r} twice")
        items = _split_top(values)
        if any(item == "" for item in items):
            raise ValueError(f"Expected non-empty values for grid key {key!r}, got {values!r}")
        grid[key] = [parse_value(item) for item in items]
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of ``grid`` in a stable order (the last key varies fastest)."""
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Sequence) \
                or len(grid[k]) == 0:
            raise ValueError(f"Expected a non-empty list of values for {k!r}, got {grid[k]!r}")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


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
    device: str | None = None,
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
        device: the device of every point that takes one (``None``: its configuration's).
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
               device=device, progress=progress, ray_address=ray_address, cpus_per_run=cpus_per_run,
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


PROG = "python -m empirics.sweep"


@dataclass(frozen=True)
class SweepOptions(Options):
    """the sweep"""

    grid: tuple[str, ...] = option((), "grid axes, KEY=V1,V2,...; lists in brackets, e.g. "
                                   "objectives=[cl,nscl],[cl,ce]; a fixed value is a "
                                   "one-value axis (required)", metavar="KEY=V1,V2", words=True,
                                   default_text="none")
    kind: str = option("train", "what one point runs: a lockstep training run or a surrogate "
                       "run", choices=lambda: tuple(KINDS))
    target: str | None = option(None, "a user runner fn(config, run_dir) instead of --kind",
                                metavar="MODULE:FUNCTION")
    base: str | None = option(None, "fixed configuration fields under the grid: top level, "
                              "or one [train] / [surrogate] table (none: the kind's "
                              "defaults)", metavar="FILE.toml", check=path_text)
    out: str | None = option(None, "the sweep directory (required)", metavar="DIR",
                             check=path_text, result=False)
    no_progress: bool = option(False, "no progress bar", switch=True,
                               default_text="a bar on a terminal", result=False)


@dataclass(frozen=True)
class RayOptions(Options):
    """Ray (with --executor ray)"""

    ray_address: str | None = option(None, "Ray cluster address, e.g. auto or "
                                     "ray://head:10001 (none: start a local Ray instance)",
                                     metavar="ADDRESS", result=False)
    cpus_per_run: float = option(1.0, "Ray CPUs per point", check=nonnegative, metavar="X",
                                 result=False)
    gpus_per_run: float = option(0.0, "Ray GPUs per point", check=nonnegative, metavar="X",
                                 result=False)


def _parser() -> argparse.ArgumentParser:
    p = command(PROG, "Run one training or surrogate run per point of a grid; results merge "
                "into DIR/results.csv (one row per point). Rerun the same command to "
                "resume.", SweepOptions, LaunchOptions, RayOptions,
                epilog="The points run in a local process pool by default (--executor "
                       "local): they are independent, so a pool keeps every core busy.")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 a point failed, 130 interrupted)."""
    from cl_nscl_align.cli import options_of

    one_line_warnings(PROG)
    p = _parser()
    args = p.parse_args(argv)
    a, launch_opts, ray = options_of(p, args, SweepOptions, LaunchOptions, RayOptions)
    missing = [f for f, v in (("--grid", a.grid), ("--out", a.out)) if not v and v != ""]
    if missing:
        p.error(f"the following arguments are required: {', '.join(missing)}")
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
        if launch_opts.executor == "ray":
            from empirics.runs.launcher import import_ray

            import_ray()
    except (ValueError, TypeError, ImportError, OSError) as exc:
        p.error(str(exc))
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, terminate_as_interrupt)  # a scheduler's stop = Ctrl+C
    try:
        result = run_sweep(grid, out=a.out, kind=a.kind, target=a.target, base=base,
                           **launch_opts.launch_kwargs(), ray_address=ray.ray_address,
                           cpus_per_run=ray.cpus_per_run, gpus_per_run=ray.gpus_per_run,
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
