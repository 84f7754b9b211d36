"""Sweeps: one run per configuration of a grid, on a local process pool or on Ray.

    python -m empirics.sweep --grid classes=2,10,50 tau=0.1,0.5,1.0 --kind train \\
        --executor local --workers 2 --out sweeps/c-tau

runs one lockstep training run (``--kind train``, :func:`empirics.trainer.train`) or one
surrogate run (``--kind surrogate``, :func:`empirics.surrogate.simulate`) per point of
the Cartesian product of the ``--grid`` values, with ``--base FILE.toml`` for the fixed
fields. Layout of ``DIR``:

    DIR/sweep.json              the sweep: kind, grid, base, and every point's name
    DIR/runs/<name>/            one run directory per point (config.json, metrics.csv,
                                summary.json, ... as the run writes them)
    DIR/runs/<name>/sweep_result.json   written last, atomically: the "done" marker
    DIR/runs/<name>/sweep_error.txt     the traceback of a failed point
    DIR/results.csv             one row per point: name, status, error, seconds, run_dir,
                                the grid's columns, then the run's summary.json flattened
                                (nested keys joined with '.'; keys that repeat a grid
                                column are dropped); rewritten atomically after each run

``<name>`` is readable and stable: ``classes=2__tau=0.1__<hash>``, where the 8-hex hash
covers the kind, the target, the base and the point, so a different base never reuses
an old result. Executors (existing engines only):

- ``local`` (default): :class:`concurrent.futures.ProcessPoolExecutor` with ``spawn``
  workers; each worker's intra-op threads are ``cpu_count // workers``.
- ``ray``: one ``ray.remote`` task per point (``--cpus-per-run``, ``--gpus-per-run``);
  ``ray.init(address=--ray-address)`` joins a cluster, and without an address a local
  Ray instance starts. Ray is the optional extra ``pip install cl-nscl-align[distributed]``.
- ``serial``: in this process, one after the other (for debugging).

Resume: rerunning the same command skips every point whose marker exists; a point that
was interrupted or failed runs again (``--kind train`` continues from its checkpoint).
A failing point is reported (``status`` ``failed`` and the error in ``results.csv``,
the traceback in its run directory) and the others continue; the exit status is 1 when
any point failed, 130 when interrupted (Ctrl+C or SIGTERM: the workers are stopped
and results.csv keeps every finished point), 2 on a usage error.

>>> parse_grid(["classes=2,10", "tau=0.5", "objectives=[cl,nscl],[cl,ce]"])
{'classes': [2, 10], 'tau': [0.5], 'objectives': [['cl', 'nscl'], ['cl', 'ce']]}
>>> [point_label(p) for p in expand_grid({"C": [2, 10], "tau": [0.5]})]
['C=2__tau=0.5', 'C=10__tau=0.5']
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import importlib
import io
import itertools
import json
import math
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import ArgumentParser
from empirics.io import atomic_write_json, atomic_write_text, format_value

__all__ = [
    "EXECUTORS",
    "KINDS",
    "MARKER",
    "SweepResult",
    "expand_grid",
    "load_results",
    "main",
    "parse_grid",
    "parse_value",
    "point_label",
    "point_name",
    "run_sweep",
]

KINDS = ("train", "surrogate")
EXECUTORS = ("local", "ray", "serial")
MARKER = "sweep_result.json"
ERROR_FILE = "sweep_error.txt"
FIXED_COLUMNS = ("name", "status", "error", "seconds", "run_dir")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------------- grid
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
        value = float(s)
    except ValueError:
        return s
    return value


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


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_fmt(v) for v in value)
    return "none" if value is None else str(value).lower() if isinstance(value, bool) \
        else str(value)


def point_label(point: Mapping[str, Any]) -> str:
    """The readable part of a point's name: ``key=value`` joined by ``__``."""
    text = "__".join(f"{k}={_fmt(v)}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", text)


def point_name(point: Mapping[str, Any], *, kind: str = "train", target: str | None = None,
               base: Mapping[str, Any] | None = None) -> str:
    """Stable directory name of a point: readable label (<= 80 chars) and an 8-hex hash."""
    payload = json.dumps({"kind": kind, "target": target, "base": dict(base or {}),
                          "point": dict(point)}, sort_keys=True, default=str)
    digest = hashlib.sha1(payload.encode()).hexdigest()[:8]
    label = ""
    for item in point_label(point).split("__"):  # whole key=value items, at most 80 chars
        if len(label) + len(item) + 2 > 80:
            break
        label = f"{label}__{item}" if label else item
    return f"{label}__{digest}" if label else digest


# --------------------------------------------------------------------------------- runners
def _run_train(config: dict[str, Any], run_dir: Path) -> Path:
    from empirics.config import TrainConfig
    from empirics.trainer import train

    cfg = TrainConfig.from_dict({**config, "out": str(run_dir)})
    # resume=True continues an interrupted point from its checkpoint (fresh when none).
    return train(cfg, progress=False, resume=True)


def _run_surrogate(config: dict[str, Any], run_dir: Path) -> Path:
    from empirics.surrogate import SurrogateConfig, simulate, write_run

    return write_run(simulate(SurrogateConfig.from_dict(dict(config))), run_dir)


_RUNNERS: dict[str, Callable[[dict[str, Any], Path], Any]] = {
    "train": _run_train,
    "surrogate": _run_surrogate,
}


def _config_fields(kind: str) -> tuple[str, ...] | None:
    if kind == "train":
        from empirics.config import TrainConfig

        return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "out")
    if kind == "surrogate":
        from empirics.surrogate import SurrogateConfig

        return tuple(f.name for f in dataclasses.fields(SurrogateConfig))
    return None


def _resolve_target(target: str) -> Callable[[dict[str, Any], Path], Any]:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ValueError(f"Expected `target` as 'module:function', got {target!r}")
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise TypeError(f"Expected `target` {target!r} to be callable, got {type(fn).__name__}")
    return fn


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    key = prefix[:-1]
    if isinstance(obj, (list, tuple)):
        out[key] = json.dumps(list(obj), default=str)
    else:
        out[key] = obj
    return out


def _execute(task: dict[str, Any]) -> dict[str, Any]:
    """Run one point in the current process; never raises for a failing point.

    Returns the record that becomes its ``results.csv`` row. On success the record is
    also written to ``run_dir/sweep_result.json`` (the done marker), last and atomically.
    """
    run_dir = Path(task["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"name": task["name"], "config": task["point"], "run_dir": str(run_dir)}
    t0 = time.perf_counter()
    try:
        config = {**task["base"], **task["point"]}
        runner = _resolve_target(task["target"]) if task["target"] else _RUNNERS[task["kind"]]
        result = runner(config, run_dir)
        if isinstance(result, Mapping):
            summary = dict(result)
        else:
            where = Path(result) if result is not None else run_dir
            with open(where / "summary.json", encoding="utf-8") as handle:
                summary = json.load(handle)
    except Exception as exc:  # a failing point is a result, not the end of the sweep
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        atomic_write_text(run_dir / ERROR_FILE, text)
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()
        return {**record, "status": "failed", "error": message[0] if message else "error",
                "seconds": time.perf_counter() - t0, "summary": {}}
    record.update(status="ok", error="", seconds=time.perf_counter() - t0, summary=summary)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    atomic_write_json(run_dir / MARKER, record)
    return record


def _init_worker(threads: int) -> None:
    """Pool worker start-up: bound the intra-op threads so workers do not oversubscribe."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # pragma: no cover - spawn workers start without torch
        sys.modules["torch"].set_num_threads(threads)


# --------------------------------------------------------------------------------- results
@dataclass
class SweepResult:
    """What a sweep did: every point's row (grid order) and the counts."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # points found finished and not rerun
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


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    point = dict(record["config"])
    summary = {k: v for k, v in _flatten(record.get("summary") or {}).items()
               if k not in point and k not in FIXED_COLUMNS}
    flat_point = {k: (json.dumps(v) if isinstance(v, (list, tuple)) else v)
                  for k, v in point.items()}
    return {"name": record["name"], "status": record["status"], "error": record["error"],
            "seconds": record["seconds"], "run_dir": f"runs/{record['name']}", **flat_point,
            **summary}


def _write_results(path: Path, rows: list[dict[str, Any]], grid_keys: list[str]) -> None:
    columns = list(FIXED_COLUMNS) + list(grid_keys)
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([format_value(r.get(k)) for k in columns])
    atomic_write_text(path, buf.getvalue())


def load_results(out: str | os.PathLike):
    """``DIR/results.csv`` as a :class:`pandas.DataFrame` (``out`` is the sweep's DIR)."""
    import pandas as pd

    path = Path(out)
    return pd.read_csv(path / "results.csv" if path.is_dir() else path)


# --------------------------------------------------------------------------------- executors
def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "The Ray executor needs the optional extra: pip install 'cl-nscl-align[distributed]' "
            "(or pip install 'ray>=2.9')"
        ) from exc
    return ray


def _failed(task: dict[str, Any], message: str) -> dict[str, Any]:
    return {"name": task["name"], "config": task["point"], "run_dir": task["run_dir"],
            "status": "failed", "error": message, "seconds": float("nan"), "summary": {}}


def _iter_serial(tasks, **_):
    for task in tasks:
        yield task, _execute(task)


def _iter_local(tasks, *, workers: int, **_):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        futures = {pool.submit(_execute, task): task for task in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                record = fut.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory, crash)
                record = _failed(task, f"worker process died: {exc}")
            yield task, record
    except BaseException:  # Ctrl+C (or an abandoned sweep): stop the workers now
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def _iter_ray(tasks, *, workers: int | None, ray_address: str | None, cpus_per_run: float,
              gpus_per_run: float, **_):
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"log_to_driver": False}
        if ray_address is None and not os.environ.get("RAY_ADDRESS"):  # a new local instance
            kw["include_dashboard"] = False
            if workers is not None:
                kw["num_cpus"] = int(math.ceil(workers * cpus_per_run))
        ray.init(address=ray_address, **kw)
        started = True
    remote = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(_execute)
    try:
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            try:
                record = ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the task's process died
                record = _failed(task, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            yield task, record
    except BaseException:
        for ref in list(pending):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


_EXECUTORS = {"serial": _iter_serial, "local": _iter_local, "ray": _iter_ray}


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
    """Run every point of ``grid`` once, skipping points already finished in ``out``.

    Args:
        grid: ``{key: [values]}``; each point is ``base`` updated with one value per key.
        out: the sweep directory ``DIR``.
        kind: ``"train"`` or ``"surrogate"`` (ignored when ``target`` is given).
        target: ``"module:function"``, a user runner ``fn(config: dict, run_dir: Path)``
            returning a metrics mapping, or a directory holding ``summary.json`` (None =
            ``run_dir/summary.json``). Must be importable in the workers.
        base: fixed configuration fields under the grid.
        executor: ``"local"`` (process pool), ``"ray"`` or ``"serial"``.
        workers: pool size (local; default ``min(points, cpu_count)``), or the CPUs of a
            local Ray instance (ray without ``ray_address``).
        ray_address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``, ...).
        cpus_per_run, gpus_per_run: Ray resources of one point.
        progress: tqdm bar over the points on stderr; None = only on a TTY.

    Returns:
        A :class:`SweepResult`; ``results.csv`` is written after every finished point.

    Raises:
        ValueError: for an unknown ``kind`` / ``executor``, a grid key that is not a field
            of the kind's configuration, or ``workers`` < 1.
        ImportError: ``executor="ray"`` without Ray installed.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"Expected `executor` among {', '.join(EXECUTORS)}, got {executor!r}")
    if target is None and kind not in KINDS:
        raise ValueError(f"Expected `kind` among {', '.join(KINDS)}, got {kind!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"Expected `workers` >= 1, got {workers!r}")
    for name, value in (("cpus_per_run", cpus_per_run), ("gpus_per_run", gpus_per_run)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"Expected `{name}` >= 0, got {value!r}")
    base = dict(base or {})
    points = expand_grid(grid)
    known = None if target else _config_fields(kind)
    if known is not None:
        unknown = sorted((set(grid) | set(base)) - set(known))
        if unknown:
            raise ValueError(f"Expected {kind} configuration keys, got unknown {unknown!r}")
    if executor == "ray":
        _import_ray()  # fail before any work when the extra is missing

    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    names = [point_name(p, kind=kind, target=target, base=base) for p in points]
    if len(set(names)) != len(names):
        raise ValueError(f"Expected distinct grid points, got repeated values in {dict(grid)!r}")
    atomic_write_json(out / "sweep.json", {
        "kind": None if target else kind, "target": target, "grid": dict(grid), "base": base,
        "executor": executor, "points": dict(zip(names, points, strict=True)),
    })

    records: dict[str, dict[str, Any]] = {}
    tasks = []
    for name, point in zip(names, points, strict=True):
        run_dir = out / "runs" / name
        record = _finished_record(run_dir)
        if record is not None:
            records[name] = record
            continue
        tasks.append({"name": name, "point": point, "base": base, "kind": kind,
                      "target": target, "run_dir": str(run_dir)})

    result = SweepResult(out=out, skipped=len(records))
    grid_keys = list(grid)

    def flush() -> None:
        result.rows = [_row(records[n]) for n in names if n in records]
        _write_results(out / "results.csv", result.rows, grid_keys)

    flush()
    if not tasks:
        return result
    if workers is None and executor == "local":
        workers = max(1, min(len(tasks), os.cpu_count() or 1))
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(points), initial=result.skipped, desc="sweep", unit="run",
               file=sys.stderr, disable=not show, dynamic_ncols=True)
    n_failed = 0
    try:
        for task, record in _EXECUTORS[executor](
            tasks, workers=workers, ray_address=ray_address, cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
        ):
            records[task["name"]] = record
            result.ran += 1
            n_failed += record["status"] == "failed"
            flush()
            bar.set_postfix(failed=n_failed, refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        result.interrupted = True
        # a point whose worker finished (marker written) before its result reached
        # this process still gets its row
        for task in tasks:
            if task["name"] not in records:
                record = _finished_record(Path(task["run_dir"]))
                if record is not None:
                    records[task["name"]] = record
    finally:
        bar.close()
        flush()
    return result


def _finished_record(run_dir: Path) -> dict[str, Any] | None:
    """The record of a finished point (its readable marker), else ``None`` (run it)."""
    marker = run_dir / MARKER
    if not marker.exists():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # an unreadable marker: run the point again


# --------------------------------------------------------------------------------- CLI
def _load_base(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 fallback
        import tomli as tomllib
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    if len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))  # a single [train] / [surrogate] table
    return data


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m empirics.sweep",
        description="Run one training or surrogate run per point of a grid; results merge "
                    "into DIR/results.csv (one row per point). Rerun to resume.")
    p.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                   help="grid axes; lists in brackets, e.g. objectives=[cl,nscl],[cl,ce]")
    p.add_argument("--kind", choices=KINDS, default="train",
                   help="what one point runs (default: train)")
    p.add_argument("--target", default=None, metavar="MODULE:FUNCTION",
                   help="a user runner fn(config, run_dir) instead of --kind")
    p.add_argument("--base", default=None, metavar="FILE.toml",
                   help="fixed configuration fields under the grid")
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--workers", type=int, default=None,
                   help="local pool size (default: min(points, CPUs)); CPUs of a local Ray")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster address (e.g. auto or ray://head:10001)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs per point")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs per point")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 a point failed, 130 interrupted)."""
    p = _parser()
    a = p.parse_args(argv)
    try:
        grid = parse_grid(a.grid)
        base = _load_base(a.base)
        if a.executor == "ray":
            _import_ray()
        kwargs = dict(out=a.out, kind=a.kind, target=a.target, base=base, executor=a.executor,
                      workers=a.workers, ray_address=a.ray_address,
                      cpus_per_run=a.cpus_per_run, gpus_per_run=a.gpus_per_run)
        if a.target is not None:
            _resolve_target(a.target)  # fail now, not once per point
    except (ValueError, TypeError, ImportError, OSError) as exc:
        p.error(str(exc))
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)  # a scheduler's stop = Ctrl+C
    try:
        result = run_sweep(grid, progress=None if not a.no_progress else False, **kwargs)
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


if __name__ == "__main__":
    sys.exit(main())
