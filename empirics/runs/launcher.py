"""One launcher for every client: serial, a local process pool, or Ray; resume; one done rule.

:func:`launch` takes run specs and a root folder, finds every spec's directory
(``root/<name>``), skips the runs that are done (:func:`is_done`: ``summary.json`` written
and naming the spec's key, the saved configuration equal to the spec's, every table
whole), continues the ones that were interrupted (their
checkpoint, byte-identical tables) and starts the others. A failing run is a result, not
the end: its status is ``failed``, its traceback is in ``<run>/error.txt``, and the other
runs go on. Sweeps, figures, the studies, the golden runs and the claims study all launch
through here.

Executors (existing engines only):

- ``serial``: in this process, one run after the other;
- ``local``: :class:`concurrent.futures.ProcessPoolExecutor` with ``spawn`` workers, each
  with ``cpu_count // workers`` intra-op threads;
- ``ray``: one ``ray.remote`` task per run (``cpus_per_run``, ``gpus_per_run``);
  ``ray_address`` joins a cluster, otherwise a local Ray starts. Ray is the optional extra
  ``pip install 'cl-nscl-align[distributed]'``.

Ctrl+C (or SIGTERM, which the command lines map to it) stops the workers; every finished
run is kept and a second call resumes the rest.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_nscl_align import cli
from cl_nscl_align.atomic import atomic_write_json, atomic_write_text
from cl_nscl_align.options import Options, option
from empirics.runs.layout import TABLES, RunDir
from empirics.runs.spec import KINDS, RunSpec, resolve
from empirics.runs.tables import RunFileError, read_rows
from empirics.runs.writer import KEY_FIELD, ROWS_FIELD

__all__ = ["DEVICES", "ERROR_FILE", "EXECUTORS", "LaunchOptions", "RunResult",
           "check_launch_options", "import_ray", "is_done", "launch", "pending", "run_dir_of"]

EXECUTORS = ("serial", "local", "ray")
ERROR_FILE = "error.txt"


@dataclass
class RunResult:
    """What happened to one spec."""

    name: str
    path: Path
    status: str  # "done" (found finished), "ok" (ran now), "failed"
    error: str = ""
    seconds: float = float("nan")
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("done", "ok")


def run_dir_of(root: str | os.PathLike, spec: RunSpec, name: str | None = None) -> Path:
    """``root/<name>`` (default name: :meth:`RunSpec.dirname`)."""
    return Path(root) / (name or spec.dirname())


def _saved_config(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_done(spec: RunSpec, path: str | os.PathLike) -> bool:
    """The done rule: the run finished, it is the spec's run, and its files are whole.

    - ``summary.json`` parses as a JSON object; where it names the run's cache key
      (``run_key``, written by runners that record it) that key is the spec's;
    - the saved configuration is the spec's (every result-deciding field equal);
    - every table parses (no cut row, no ragged row), holds the row count the summary
      records (``table_rows``), and ``metrics.csv``, ``losses.csv`` and ``bounds.csv``
      end at the run's last step (the summary's ``steps`` or ``T``).

    A run that fails any of these is launched again: its runner resumes it from the
    checkpoint (which carries the tables' text) or starts it over.
    """
    run = RunDir(path)
    if not run.is_done():
        return False
    saved = _saved_config(run.path)
    summary = _read_summary(run.path, strict=True)
    if saved is None or summary is None:
        return False
    saved.pop("kind", None)
    want = spec.key_dict()["config"]
    if spec.target is not None:
        saved.pop("target", None)
        return saved == want
    if not all(saved.get(k) == v for k, v in want.items()):
        return False
    key = summary.get(KEY_FIELD)
    if key is not None and key != spec.key():
        return False
    return _tables_complete(run, summary)


def _tables_complete(run: RunDir, summary: Mapping[str, Any]) -> bool:
    """Whether every table of a finished run is whole (see :func:`is_done`)."""
    rows = summary.get(ROWS_FIELD)
    if rows is not None and not isinstance(rows, Mapping):
        return False
    last = summary.get("steps", summary.get("T"))
    for name in TABLES:
        try:
            _, table = read_rows(run.table(name))
        except RunFileError:
            return False
        if rows is not None and rows.get(name, 0) != len(table):
            return False
        if name != "linearization" and table and isinstance(last, int) \
                and not isinstance(last, bool) and table[-1].get("step") != str(last):
            return False
    return True


def _read_summary(path: Path, *, strict: bool = False) -> dict[str, Any] | None:
    """``summary.json`` as a dict; a missing or unreadable one is ``{}`` (``None`` when
    ``strict``)."""
    try:
        data = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return None if strict else {}
    return data


# ----------------------------------------------------------------------------- one run
def execute(task: Mapping[str, Any]) -> RunResult:
    """Run one task in this process; never raises for a failing run.

    ``task``: ``spec``, ``path``, ``name``, ``device`` (or None), ``progress``.
    """
    spec: RunSpec = task["spec"]
    path = Path(task["path"])
    t0 = time.perf_counter()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if spec.target is not None:
            summary = _run_target(spec, path)
        else:
            config = spec.options()
            device = task.get("device")
            if device is not None and "device" in config.field_names():
                config = config.replace(device=device)
            resume = (path / "config.json").exists()
            KINDS[spec.kind].run_function()(config, path, resume=resume,
                                            progress=bool(task.get("progress")))
            summary = _read_summary(path)
    except Exception as exc:  # a failing run is a result, not the end of the launch
        if _interrupted(exc):
            raise KeyboardInterrupt from exc
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            atomic_write_text(path / ERROR_FILE, text)
        except OSError:
            pass
        first = f"{type(exc).__name__}: {exc}".strip().splitlines()
        return RunResult(task["name"], path, "failed", first[0] if first else "error",
                         time.perf_counter() - t0)
    (path / ERROR_FILE).unlink(missing_ok=True)
    return RunResult(task["name"], path, "ok", "", time.perf_counter() - t0, summary)


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by a Ctrl+C (an interrupt can surface as another error
    when it lands inside an import)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _run_target(spec: RunSpec, path: Path) -> dict[str, Any]:
    """A user runner: ``fn(config, run_dir)`` -> mapping, or a folder with summary.json."""
    fn = resolve(spec.target)
    if not callable(fn):
        raise TypeError(f"Expected `target` {spec.target!r} to be callable, got "
                        f"{type(fn).__name__}")
    atomic_write_json(path / "config.json", {"kind": "custom", "target": spec.target,
                                             **spec.config})
    (path / "summary.json").unlink(missing_ok=True)
    result = fn(dict(spec.config), path)
    if isinstance(result, Mapping):
        summary = dict(result)
    else:
        where = Path(result) if result is not None else path
        summary = _read_summary(where)
        if not summary:
            raise FileNotFoundError(f"Expected the target to return results or write "
                                    f"{str(where / 'summary.json')!r}, got neither")
    atomic_write_json(path / "summary.json", summary)
    return summary


def _init_worker(threads: int, warning_prog: str | None = None) -> None:
    """Pool worker start-up: bound intra-op threads so the workers do not oversubscribe,
    show warnings as the parent command does (one line, no source line), and (Linux) die
    with the parent, so a killed launcher leaves no worker writing a run that a second
    launch is about to resume."""
    if warning_prog is not None:
        from cl_nscl_align.cli import one_line_warnings

        one_line_warnings(warning_prog)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no glibc: workers may outlive a killed parent
            pass


# ----------------------------------------------------------------------------- executors
def _iter_serial(tasks, **_) -> Iterator[RunResult]:
    for task in tasks:
        yield execute(task)


def _iter_local(tasks, *, workers: int, **_) -> Iterator[RunResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(threads, cli.WARNING_PROG))
    try:
        futures = {pool.submit(execute, task): task for task in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                yield fut.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                yield RunResult(task["name"], Path(task["path"]), "failed",
                                f"worker process died: {exc}")
    except BaseException:  # Ctrl+C: stop the workers now
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def import_ray():
    """The ``ray`` module, or ``ImportError`` saying how to install the extra."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "The Ray executor needs the optional extra: pip install 'cl-nscl-align[distributed]'"
            " (or pip install 'ray>=2.9')") from exc
    return ray


def _iter_ray(tasks, *, workers: int | None, ray_address: str | None, cpus_per_run: float,
              gpus_per_run: float, **_) -> Iterator[RunResult]:
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"log_to_driver": False}
        if ray_address is None and not os.environ.get("RAY_ADDRESS"):
            kw["include_dashboard"] = False
            if workers is not None:
                kw["num_cpus"] = int(math.ceil(workers * cpus_per_run))
        ray.init(address=ray_address, **kw)
        started = True
    remote = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(execute)
    pending: dict[Any, Mapping[str, Any]] = {}
    try:
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the task's process died
                yield RunResult(task["name"], Path(task["path"]), "failed",
                                f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    except BaseException:
        for ref in list(pending):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


_EXECUTORS = {"serial": _iter_serial, "local": _iter_local, "ray": _iter_ray}


# ----------------------------------------------------------------------------- driver
DEVICES = ("auto", "cpu", "cuda")


def _workers(name: str, value: Any) -> None:
    if not 1 <= value <= MAX_WORKERS:
        raise ValueError(f"Expected `{name}` in [1, {MAX_WORKERS}], got {value!r}")


#: The most workers a pool may have (more would only queue).
MAX_WORKERS = 1024


@dataclass(frozen=True)
class LaunchOptions(Options):
    """how the runs are launched"""

    executor: str = option("local", "serial (in this process), local (a process pool of "
                           "`workers`) or ray (a Ray cluster)", choices=EXECUTORS,
                           result=False)
    workers: int | None = option(None, "pool size (none = min(runs, CPU cores))",
                                 check=_workers, result=False, metavar="K")
    device: str = option("auto", "device of every run (auto: CUDA when present)",
                         choices=DEVICES, result=False)

    def check(self) -> None:
        """``cuda`` must exist: checked once, before any run starts (torch is imported only
        then)."""
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("Expected a CUDA device for `device` = 'cuda', got none "
                                 "(torch.cuda.is_available() is False; use auto or cpu)")

    def launch_kwargs(self) -> dict[str, Any]:
        """The keywords of :func:`launch` (``device`` only where a run takes one; ``auto``
        is None: each run keeps its own setting, whose default is auto)."""
        return {"executor": self.executor, "workers": self.workers,
                "device": None if self.device == "auto" else self.device}


def check_launch_options(executor: str, workers: int | None, cpus_per_run: float = 1.0,
                         gpus_per_run: float = 0.0) -> None:
    """Check the launch options before any work (one sentence naming the bad one).

    Raises:
        ValueError: an unknown ``executor``, ``workers`` < 1 (or not an int), or a negative
            ``cpus_per_run`` / ``gpus_per_run``.

    >>> check_launch_options("local", 0)
    Traceback (most recent call last):
    ...
    ValueError: Expected `workers` >= 1, got 0
    """
    if executor not in EXECUTORS:
        raise ValueError(f"Expected `executor` among {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"Expected `workers` >= 1, got {workers!r}")
    for name, value in (("cpus_per_run", cpus_per_run), ("gpus_per_run", gpus_per_run)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"Expected `{name}` >= 0, got {value!r}")


def launch(
    specs: Sequence[RunSpec],
    root: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    executor: str = "serial",
    workers: int | None = None,
    device: str | None = None,
    progress: bool | None = None,
    ray_address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    on_result: Callable[[RunResult], None] | None = None,
    desc: str = "runs",
) -> list[RunResult]:
    """Make every spec a finished run under ``root``; return one result per spec, in order.

    Args:
        specs: the runs (repeats are launched once and reported for each).
        root: the folder of the run directories.
        names: the directory name of each spec (default :meth:`RunSpec.dirname`).
        executor: ``"serial"``, ``"local"`` or ``"ray"``.
        workers: pool size (local; default ``min(runs, cpu_count)``) or the CPUs of a local
            Ray.
        device: a device for every run (not part of the cache key), e.g. ``"cuda"``.
        progress: a tqdm bar over the runs on stderr (None: only on a terminal).
        ray_address, cpus_per_run, gpus_per_run: Ray settings.
        on_result: called with each result as it arrives (e.g. to rewrite a results table).
        desc: the progress bar's label.

    Raises:
        ValueError: an unknown executor, ``workers`` < 1, or two specs with one name.
        ImportError: ``executor="ray"`` without Ray.
        KeyboardInterrupt: after stopping the workers; finished runs are kept.
    """
    check_launch_options(executor, workers, cpus_per_run, gpus_per_run)
    if names is not None and len(names) != len(specs):
        raise ValueError(f"Expected one name per spec, got {len(names)} names for "
                         f"{len(specs)} specs")
    if executor == "ray":
        import_ray()
    for spec in specs:  # fail before any work on a bad configuration
        if spec.target is None:
            spec.options()
    names = list(names) if names is not None else [s.dirname() for s in specs]
    owner: dict[str, RunSpec] = {}
    for name, spec in zip(names, specs, strict=True):
        if name in owner and owner[name].key() != spec.key():
            raise ValueError(f"Expected distinct directory names for distinct runs, got "
                             f"{name!r} twice")
        owner[name] = spec
    root = Path(root)
    results: dict[str, RunResult] = {}
    tasks = []
    for name, spec in owner.items():
        path = root / name
        if is_done(spec, path):
            results[name] = RunResult(name, path, "done", "", 0.0, _read_summary(path))
            if on_result is not None:
                on_result(results[name])
        else:
            tasks.append({"spec": spec, "path": str(path), "name": name, "device": device,
                          "progress": False})
    if tasks:
        if workers is None and executor == "local":
            workers = max(1, min(len(tasks), os.cpu_count() or 1))
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=len(owner), initial=len(owner) - len(tasks), desc=desc, unit="run",
                   file=sys.stderr, disable=not show, dynamic_ncols=True)
        failed = 0
        try:
            for res in _EXECUTORS[executor](tasks, workers=workers, ray_address=ray_address,
                                            cpus_per_run=cpus_per_run,
                                            gpus_per_run=gpus_per_run):
                results[res.name] = res
                failed += res.status == "failed"
                if on_result is not None:
                    on_result(res)
                bar.set_postfix(failed=failed, refresh=False)
                bar.update(1)
        finally:
            bar.close()
    return [results[n] for n in names if n in results]


def pending(specs: Iterable[RunSpec], root: str | os.PathLike,
            names: Sequence[str] | None = None) -> list[RunSpec]:
    """The specs whose run under ``root`` is not done."""
    specs = list(specs)
    names = list(names) if names is not None else [s.dirname() for s in specs]
    return [s for s, n in zip(specs, names, strict=True) if not is_done(s, Path(root) / n)]
