"""Tightness of the surrogate's bounds: measured gap over each bound at the final step.

One surrogate run ([P2] Theorem 1's setting, THEORY.md s9) per point of a grid of ``C``,
``tau``, ``B`` and ``lr``, launched through :mod:`empirics.runs`; each run directory gives
one row: the measured ``||Sigma^CL - Sigma^NSCL||_F`` and its ratio to the row-wise
certificate, the global certificate, THEORY's certificate, the exact recurrence and
Theorem 1 (s5, s6, s9), the largest step factor ``kappa``, and the lemma's drive bound
against the realised drive. Ratios <= 1 mean the bound holds; close to 1, it is tight.

The table of docs/surrogate.md section 3 is ``python -m empirics.studies tightness``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from empirics.runs import RunSpec, read_run
from empirics.studies.plan import launch_study, run_folder
from empirics.studies.report import progress

__all__ = ["COLUMNS", "QUICK_GRID", "TIGHTNESS_GRID", "tightness_row", "tightness_rows",
           "tightness_specs"]

TIGHTNESS_GRID = {"C": (5, 10, 50), "tau": (0.2, 0.5, 1.0, 2.0), "B": (16, 32, 128),
                  "lr": (16.0, 128.0)}
QUICK_GRID = {"C": (10,), "tau": (1.0,), "B": (32,), "lr": (16.0,)}
#: The printed columns (docs/surrogate.md section 3).
COLUMNS = ["C", "tau", "B", "lr", "measured", "ratio_cert", "ratio_cert_global",
           "ratio_cert_lipschitz", "ratio_recurrence", "log10_ratio_theorem1", "max_kappa",
           "drive_over_bound", "event_held", "cka"]


def tightness_specs(grid: Mapping[str, Sequence[Any]] | None = None, *, N: int = 256,
                    steps: int = 200, seed: int = 0) -> list[RunSpec]:
    """One surrogate run spec per ``(C, tau, B, lr)`` of ``grid`` (in that nesting order).

    >>> [s.config["C"] for s in tightness_specs(QUICK_GRID, N=32, steps=5)]
    [10]
    """
    grid = grid or TIGHTNESS_GRID
    return [RunSpec("surrogate", dict(C=C, N=N, B=B, tau=tau, steps=steps, lr=lr, seed=seed))
            for C in grid["C"] for tau in grid["tau"] for B in grid["B"] for lr in grid["lr"]]


def tightness_row(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The tightness row of one finished surrogate run directory.

    From ``summary.json`` (final values) and ``metrics.csv`` (``kappa``, ``drive`` and
    ``drive_bound`` of every update).
    """
    run = read_run(run_dir)
    f, m = run.summary, run.metrics
    measured, th, log10_th = f["measured"], f["theorem1"], f["log10_theorem1"]
    drive_bound = float(m["drive_bound"].iloc[0])
    return {
        "C": f["C"], "tau": f["tau"], "B": f["B"], "lr": f["lr"], "measured": measured,
        "certificate": f["certificate"],
        "ratio_cert": f["ratio_certificate"],
        "ratio_cert_global": f["ratio_certificate_global"],
        "ratio_cert_lipschitz": f["ratio_certificate_lipschitz"],
        "ratio_recurrence": f["ratio_recurrence"],
        # theorem1 is None when it overflows float64 (then the ratio is 0 in float)
        "ratio_theorem1": measured / th if th is not None and th > 0 else None,
        "log10_ratio_theorem1": (math.log10(measured) - log10_th
                                 if log10_th is not None and measured > 0 else None),
        "max_kappa": float(m["kappa"].max()),
        "drive_over_bound": (float(m["drive"].max() / drive_bound)
                             if math.isfinite(drive_bound) else None),
        "event_held": f["event_held"], "cka": f["cka"],
    }


def tightness_rows(grid: Mapping[str, Sequence[Any]] | None = None, *, N: int = 256,
                   steps: int = 200, seed: int = 0, out: str | os.PathLike | None = None,
                   executor: str = "serial", workers: int | None = None,
                   device: str | None = None) -> list[dict]:
    """Launch the grid's surrogate runs and return one tightness row per run (grid order).

    Args:
        grid: ``{"C": ..., "tau": ..., "B": ..., "lr": ...}`` (default
            :data:`TIGHTNESS_GRID`).
        N, steps, seed: the fixed surrogate fields.
        out: keep the runs in ``out/runs`` (a rerun reuses them); None: a temporary folder.
        executor, workers, device: as for :func:`empirics.runs.launch` (``device``
            ``None``: each run's own).
    """
    specs = tightness_specs(grid, N=N, steps=steps, seed=seed)
    with run_folder(out) as root:
        results = launch_study(specs, root, executor=executor, workers=workers,
                               device=device, desc="tightness")
        rows = [tightness_row(Path(r.path)) for r in results]
    for r in rows:
        progress(f"tightness C={r['C']} tau={r['tau']} B={r['B']} lr={r['lr']}: "
                 f"ratio_cert={r['ratio_cert']:.3g}")
    return rows
