"""The claims study from protocol to verdicts: plan, launch, measure, report.

:func:`run_study` plans every run of a protocol (:mod:`~empirics.studies.claims.plan`),
launches the ones not finished under ``DIR/runs`` through :func:`empirics.runs.launch`
(serial, local pool or Ray; finished runs are reused, interrupted ones resumed), then C5's
curvature tasks on the finished long runs, reads the runs back (torch-free), computes every
statistic, its interval and verdict (:mod:`~empirics.studies.claims.claims`) and writes the
outputs (:mod:`~empirics.studies.claims.report`). A failed run is a result: the statistics
that need it get NaN for its seed and say so, and the others go on.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from empirics.runs import RunResult, check_out_dir, launch, read_run
from empirics.studies.claims.claims import compute_rows, summarize
from empirics.studies.claims.plan import curvature_runs, manifest_rows, plan_runs, unique_runs
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.report import write_outputs

__all__ = ["StudyResult", "run_study"]


@dataclass
class StudyResult:
    """What a study did."""

    out: Path
    table: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, RunResult] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results.values() if not r.ok]


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "-"


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
        command, protocol_file, protocol_sha256, protocol_state: recorded in claims.md
            (the state: committed, edited since its commit, not yet committed, or a
            protocol of the user).

    Raises:
        ValueError: a run configuration the trainer rejects, or an unusable ``out``.
        KeyboardInterrupt: after stopping the workers (finished runs are kept).
    """
    log = log or _stderr
    t0 = time.perf_counter()
    load_start = _load()
    out = check_out_dir(out, "--out")
    root = out / "runs"
    planned = plan_runs(p)
    todo = unique_runs(planned)
    result = StudyResult(out)
    count = [0, 0]
    # C5's curvature task of each long run, started (in this process) as soon as the run
    # finishes, while the pool trains on (Ray: after the runs, as Ray tasks)
    longs = unique_runs(u for u in planned if u.claim == "C5" and u.setting == "long")
    curv_of = {r.name: c for r, c in zip(longs, curvature_runs(p, longs), strict=True)}
    inline = executor != "ray"

    def report_curvature(res: RunResult) -> None:
        result.results[res.name] = res
        if res.status != "done":
            log(f"claims: curvature {res.name} {res.status} {res.seconds:.1f}s"
                + (f": {res.error}" if res.error else ""))

    def curvature(tasks) -> None:
        launch([c.spec for c in tasks], root, names=[c.name for c in tasks],
               executor="serial" if inline else "ray", progress=False,
               on_result=report_curvature, desc="curvature")

    def report(res: RunResult) -> None:
        result.results[res.name] = res
        if res.status != "done":
            count[0] += 1
            log(f"claims: [{count[0]}/{count[1]}] {res.name} {res.status} {res.seconds:.1f}s"
                + (f": {res.error}" if res.error else ""))
        if inline and res.ok and res.name in curv_of:
            curvature([curv_of[res.name]])

    from empirics.runs import pending

    count[1] = len(pending([r.spec for r in todo], root, [r.name for r in todo]))
    log(f"claims: protocol {p.name}, {p.seeds} seeds, claims {','.join(p.claims)}: "
        f"{len(todo)} training runs for {len(planned)} uses, {len(todo) - count[1]} already "
        f"done, {count[1]} to run ({executor}" + (f" x {workers}" if workers else "") + ")")
    launch([r.spec for r in todo], root, names=[r.name for r in todo], executor=executor,
           workers=workers, device=device, progress=progress, on_result=report,
           desc="claims runs")
    curv = [c for name, c in curv_of.items()
            if name in result.results and result.results[name].ok]
    if curv and not inline:
        curvature(curv)
    cache: dict[str, Any] = {}

    def read(name: str):
        res = result.results.get(name)
        if res is None or not res.ok:
            return None
        if name not in cache:
            cache[name] = read_run(root / name)
        return cache[name]

    curvature = {}
    for c in curv:
        res = result.results.get(c.name)
        curvature[c.seed] = res.summary if res is not None and res.ok else None
    rows = compute_rows(p, planned, read, curvature)
    result.table = summarize(rows, p)
    manifest = manifest_rows(planned)
    for m in manifest:
        res = result.results.get(Path(m["run_dir"]).name)
        m["status"] = "ok" if res is not None and res.ok else "failed"
    result.wall = time.perf_counter() - t0
    statuses = [r.status for r in result.results.values()]
    datasets = [p.dataset] + (["synthetic"] if {"C2", "C7"} & set(p.claims) else [])
    info = {
        "protocol": p.name, "protocol_file": protocol_file,
        "protocol_sha256": protocol_sha256, "protocol_state": protocol_state,
        "command": command,
        "seeds": p.seeds,
        "level": p.level, "interval": p.interval, "claims": list(p.claims),
        "data": f"{p.dataset} (C <= {max(p.ints('c2_real_classes') + (p.classes,))}, arch "
                f"{p.arch})" + (f", synthetic (C up to "
                                f"{max(p.ints('c2_synthetic_classes'))})"
                                if "synthetic" in datasets else ""),
        "n_runs": len(todo), "n_uses": len(planned), "n_curvature": len(curv),
        "n_ran": sum(s == "ok" for s in statuses), "n_done": statuses.count("done"),
        "n_failed": statuses.count("failed"),
        "wall": f"{result.wall:.0f} s", "wall_seconds": result.wall, "load_start": load_start,
        "load_end": _load(), "machine": f"{os.cpu_count()} CPU cores, Python "
                                        f"{platform.python_version()}",
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    write_outputs(out, result.table, rows, manifest, info, p.to_file_dict())
    return result


def verdict_lines(table: Sequence[dict[str, Any]]) -> list[str]:
    """One line per row: ``C1 base/test/h/cka: +0.12 [0.05, 0.19] holds``."""
    from empirics.studies.claims.report import fmt

    return [f"{r['claim']} {r['setting']}: {fmt(r['estimate'])} [{fmt(r['ci_low'])}, "
            f"{fmt(r['ci_high'])}] {r['verdict']}" for r in table]
