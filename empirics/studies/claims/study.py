"""The claims study from protocol to verdicts: plan, launch, measure, report.

:func:`run_study` plans every run of a protocol (:mod:`~empirics.studies.claims.plan`),
launches the ones not finished under ``DIR/runs`` through :func:`empirics.runs.launch`
(serial, local pool or Ray; finished runs are reused, interrupted ones resumed), then C5's
long-run tasks on the finished long runs, reads the runs back, computes every statistic
(:mod:`~empirics.studies.claims.rows`), its verdict (:mod:`~empirics.studies.claims.verdicts`)
and the theorem checks (:mod:`~empirics.studies.claims.checks`), and writes the outputs
(:mod:`~empirics.studies.claims.report`). A failed run is a result: the statistics that
need it get NaN for its seed and say so, and the others go on. Drawing is a separate step
(``python -m figures claims --claims DIR``): no study starts a figure or ``git``.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from empirics.runs import RunResult, check_out_dir, launch, read_run
from empirics.studies.claims import alignment, checks, drift
from empirics.studies.claims.checks import stalled_models, theorem_checks
from empirics.studies.claims.plan import (
    PlannedRun,
    longrun_tasks,
    manifest_rows,
    plan_runs,
    unique_runs,
)
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.report import write_outputs
from empirics.studies.claims.rows import ClaimRow, Reader
from empirics.studies.claims.verdicts import summarize, verdict_table

__all__ = ["StudyResult", "compute_rows", "environment", "run_study", "verdict_lines"]


@dataclass
class StudyResult:
    """What a study did."""

    out: Path
    table: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, RunResult] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results.values() if not r.ok]


def compute_rows(p: Protocol, planned: Sequence[PlannedRun], read: Reader,
                 longrun: Mapping[int, Any] | None = None) -> list[ClaimRow]:
    """Every row of the protocol's claims, in claim order.

    Args:
        p: the protocol.
        planned: the training-run uses (:func:`empirics.studies.claims.plan.plan_runs`).
        read: ``name -> Run`` of a finished run, ``None`` for one that failed.
        longrun: ``seed -> summary`` of C5's long-run task (``None`` when it failed).
    """
    builders = {"C1": alignment.c1, "C2": alignment.c2, "C3": alignment.c3,
                "C4": alignment.c4, "C6": alignment.c6, "C7": checks.c7}
    rows: list[ClaimRow] = []
    for claim in p.claims:
        if claim == "C5":
            rows += drift.c5(p, planned, read, longrun or {})
        else:
            rows += builders[claim](p, planned, read)
    return rows


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "-"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    """The floating-point environment of this machine: CPU, BLAS, library versions,
    threads (claims.md records it: the last bits of every number depend on it)."""
    import numpy
    import scipy

    env = {"cpu": _cpu_model(), "cores": str(os.cpu_count()),
           "python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "platform": platform.platform()}
    try:
        blas = numpy.__config__.CONFIG["Build Dependencies"]["blas"]
        env["numpy_blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        env["numpy_blas"] = "unknown"
    try:
        import torch

        env["torch"] = torch.__version__
        info = torch.__config__.show()
        blas = [line.split("=", 1)[1].split(",")[0] for line in info.replace(",", "\n").split()
                if line.startswith("BLAS_INFO=")]
        env["torch_blas"] = blas[0] if blas else ("mkl" if torch.backends.mkl.is_available()
                                                  else "unknown")
        env["torch_threads_per_run"] = "1 (TrainConfig.threads)"
    except ImportError:  # pragma: no cover - torch is a dependency
        env["torch"] = "absent"
    return env


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_study(p: Protocol, out: str | os.PathLike, *, executor: str = "local",
              workers: int | None = None, device: str | None = None,
              progress: bool | None = None, log: Callable[[str], None] | None = None,
              command: str = "", protocol_file: str = "", protocol_sha256: str = "",
              protocol_state: str = "") -> StudyResult:
    """Run (or resume) the study of protocol ``p`` in ``out`` and write its outputs.

    Args:
        p: the protocol.
        out: the study folder ``DIR`` (runs in ``DIR/runs``).
        executor, workers, device, progress: as for :func:`empirics.runs.launch`.
        log: where one-line progress goes (default stderr).
        command, protocol_file, protocol_sha256, protocol_state: recorded in claims.md.

    Raises:
        ValueError: a run configuration the trainer rejects, or an unusable ``out``.
        KeyboardInterrupt: after stopping the workers (finished runs are kept).
    """
    log = log or _stderr
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    load_start = _load()
    out = check_out_dir(out, "--out")
    root = out / "runs"
    planned = plan_runs(p)
    todo = unique_runs(planned)
    result = StudyResult(out)
    count = [0, 0]
    # C5's task of each long run, started (in this process) as soon as the run finishes,
    # while the pool trains on (Ray: after the runs, as Ray tasks)
    longs = unique_runs(u for u in planned if u.claim == "C5" and u.setting == "long")
    task_of = {r.name: c for r, c in zip(longs, longrun_tasks(p, longs), strict=True)} \
        if "C5" in p.claims else {}
    inline = executor != "ray"

    def report_task(res: RunResult) -> None:
        result.results[res.name] = res
        if res.status != "done":
            log(f"claims: long-run task {res.name} {res.status} {res.seconds:.1f}s"
                + (f": {res.error}" if res.error else ""))

    def run_tasks(tasks) -> None:
        launch([c.spec for c in tasks], root, names=[c.name for c in tasks],
               executor="serial" if inline else "ray", progress=False,
               on_result=report_task, desc="long-run tasks")

    def report(res: RunResult) -> None:
        result.results[res.name] = res
        if res.status != "done":
            count[0] += 1
            log(f"claims: [{count[0]}/{count[1]}] {res.name} {res.status} {res.seconds:.1f}s"
                + (f": {res.error}" if res.error else ""))
        if inline and res.ok and res.name in task_of:
            run_tasks([task_of[res.name]])

    from empirics.runs import pending

    count[1] = len(pending([r.spec for r in todo], root, [r.name for r in todo]))
    seeds = ", ".join(f"{c} {p.seeds_of(c)}" for c in p.claims)
    log(f"claims: protocol {p.name}, seeds {seeds}: "
        f"{len(todo)} training runs for {len(planned)} uses, {len(todo) - count[1]} already "
        f"done, {count[1]} to run ({executor}" + (f" x {workers}" if workers else "") + ")")
    launch([r.spec for r in todo], root, names=[r.name for r in todo], executor=executor,
           workers=workers, device=device, progress=progress, on_result=report,
           desc="claims runs")
    tasks = [c for name, c in task_of.items()
             if name in result.results and result.results[name].ok]
    if tasks and not inline:
        run_tasks(tasks)
    cache: dict[str, Any] = {}

    def read(name: str):
        res = result.results.get(name)
        if res is None or not res.ok:
            return None
        if name not in cache:
            cache[name] = read_run(root / name)
        return cache[name]

    longrun = {}
    for c in tasks:
        res = result.results.get(c.name)
        longrun[c.seed] = res.summary if res is not None and res.ok else None
    rows = compute_rows(p, planned, read, longrun)
    result.table = summarize(rows, level=p.level)
    sets = {k: v for k, v in verdict_table({(r.claim, r.setting): r.values for r in rows},
                                           level=p.level).items() if "sets" in v}
    result.checks = theorem_checks(planned, read, longrun)
    stalled = stalled_models(planned, read)
    manifest = manifest_rows(planned)
    for m in manifest:
        res = result.results.get(Path(m["run_dir"]).name)
        m["status"] = "ok" if res is not None and res.ok else "failed"
    result.wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    statuses = [r.status for r in result.results.values()]
    env = environment()
    info = {
        "protocol": p.name, "protocol_file": protocol_file,
        "protocol_sha256": protocol_sha256, "protocol_state": protocol_state,
        "command": command, "seeds": p.seeds, "level": p.level, "claims": list(p.claims),
        "seeds_by_claim": {c: p.seeds_of(c) for c in p.claims},
        "data": f"{p.base('dataset')} (C = {p.base('classes')}, arch "
                f"{p.base('arch')}), synthetic (C in "
                f"{{{', '.join(p.c2_synthetic_classes)}}}, {p.c2_train_per_class} training "
                f"samples per class, orthonormal prototypes)",
        "n_runs": len(todo), "n_uses": len(planned), "n_longrun": len(tasks),
        "n_ran": sum(s == "ok" for s in statuses), "n_done": statuses.count("done"),
        "n_failed": statuses.count("failed"), "n_stalled": len(stalled),
        "wall": f"{result.wall:.0f} s", "wall_seconds": result.wall,
        "cpu": f"{cpu:.0f} s", "cpu_seconds": cpu, "load_start": load_start,
        "load_end": _load(), "environment_detail": env,
        "environment": (f"{env['cpu']}, {env['cores']} cores; Python {env['python']}, numpy "
                        f"{env['numpy']} ({env['numpy_blas']}), scipy {env['scipy']}, torch "
                        f"{env.get('torch', '-')} ({env.get('torch_blas', '-')}), one torch "
                        "thread per run"),
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    write_outputs(out, result.table, rows, result.checks, manifest, info, p.to_file_dict(),
                  sets, stalled)
    return result


def verdict_lines(table: Sequence[dict[str, Any]], checks: Sequence[dict[str, Any]] = ()
                  ) -> list[str]:
    """One line per primary (``C1 base/test/h/cka_linear: +0.12 [0.05, 0.19] holds``),
    then one per theorem check."""
    from empirics.studies.claims.report import fmt

    lines = [f"{r['claim']} {r['setting']}: {fmt(r['estimate'])} [{fmt(r['ci_low'])}, "
             f"{fmt(r['ci_high'])}] {r['verdict']} ({r['replication']})"
             for r in table if r["role"] == "primary"]
    lines += [f"check {c['check']}: {c['violations']} violations in {c['rows']} rows"
              for c in checks]
    return lines
