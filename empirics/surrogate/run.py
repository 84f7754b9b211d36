"""A surrogate run directory: its tables, and the runner that writes and resumes it.

The one run-directory format (:mod:`empirics.runs.layout`), for the kind ``surrogate``:

    config.json          {"kind": "surrogate", ...every field of SurrogateConfig}
    metrics.csv          one row per step t = 0..T (METRIC_COLUMNS): the measured gap and
                         every bound at that step
    bounds.csv           one row per evaluation step (BOUNDS_COLUMNS): the bounds there
    checkpoints/last.pt  the simulation's state (tensors and plain data)
    summary.json         the final record (SurrogateResult.final), written last

:func:`run_into` follows the writer's protocol (:mod:`empirics.runs.writer`): the rows of
a step are appended before a checkpoint of that step, and the checkpoint carries the
tables' text, so a run killed at any instant and resumed writes the same bytes as an
uninterrupted one. Rows are appended in groups, at every evaluation and checkpoint step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cl_nscl_align.options import path_text
from empirics.runs.writer import RunWriter
from empirics.surrogate.config import RESUMABLE_CHANGES, SurrogateConfig
from empirics.surrogate.result import SurrogateResult
from empirics.surrogate.simulation import Simulation, progress_bar

__all__ = ["BOUNDS_COLUMNS", "METRIC_COLUMNS", "bounds_row", "metrics_rows", "run_into",
           "write_run"]

METRIC_COLUMNS = (
    "step", "epoch", "pair", "split", "features", "eta", "sum_eta", "sim_gap", "cka", "rho",
    "certificate",
    "certificate_global", "certificate_lipschitz", "recurrence", "theorem1", "drive", "drive_bound",
    "step_mismatch", "kappa", "contraction", "q_max", "q_bound", "event_held", "eps", "Delta",
)
#: ``bounds.csv``: the keys of the earlier ``bounds.json`` at every evaluation step, the
#: certificates, and the measured gap beside them.
BOUNDS_COLUMNS = (
    "step", "epoch", "C", "N", "B", "tau", "T", "sum_eta", "delta", "pi_max", "eps", "Delta",
    "drive_bound", "theorem1", "log10_theorem1", "recurrence", "certificate_lipschitz",
    "certificate_global", "certificate", "measured_sim_gap", "event_held",
)


def metrics_rows(res: SurrogateResult, start: int = 0) -> list[dict]:
    """Rows ``start..res.T`` of ``metrics.csv`` (pair ``cl-nscl``, split ``surrogate``,
    features ``state``; the trainer's leading columns, then the surrogate's bounds).

    Per-update quantities (``eta``, ``drive``, ...) of row ``t >= 1`` describe update ``t - 1``
    (the one that produced the state at step ``t``); row 0 leaves them empty.
    """
    cka = dict(zip(res.eval_steps.tolist(), res.cka.tolist(), strict=True))
    rho = dict(zip(res.eval_steps.tolist(), res.rho.tolist(), strict=True))
    held = np.concatenate([[True], np.cumprod(res.event_held_step).astype(bool)])
    rows = []
    for t in range(start, res.T + 1):
        u = t - 1
        rows.append({
            "step": t, "epoch": t * res.config.B / res.config.N, "pair": "cl-nscl",
            "split": "surrogate", "features": "state",
            "eta": res.eta[u] if t else None, "sum_eta": res.sum_eta[t],
            "sim_gap": res.measured[t], "cka": cka.get(t), "rho": rho.get(t),
            "certificate": res.certificate[t],
            "certificate_global": res.certificate_global[t],
            "certificate_lipschitz": res.certificate_lipschitz[t],
            "recurrence": res.recurrence[t], "theorem1": res.theorem1[t],
            "drive": res.drive[u] if t else None, "drive_bound": res.drive_bound,
            "step_mismatch": res.step_mismatch[u] if t else None,
            "kappa": res.kappa[u] if t else None,
            "contraction": res.contraction[u] if t else None, "q_max": res.q_max[u] if t else None,
            "q_bound": res.q_bound, "event_held": bool(held[t]), "eps": res.eps,
            "Delta": res.Delta,
        })
    return rows


def bounds_row(res: SurrogateResult) -> dict:
    """The ``bounds.csv`` row of the last step of ``res`` (``T`` is the run's total)."""
    c, t = res.config, res.T
    th = float(res.theorem1[t])
    return {
        "step": t, "epoch": t * c.B / c.N, "C": c.C, "N": c.N, "B": c.B, "tau": c.tau,
        "T": c.steps, "sum_eta": float(res.sum_eta[t]), "delta": c.delta,
        "pi_max": res.pi_max, "eps": res.eps, "Delta": res.Delta,
        "drive_bound": res.drive_bound, "theorem1": th,
        "log10_theorem1": math.log10(th) if 0 < th < math.inf else None,
        "recurrence": res.recurrence[t], "certificate_lipschitz": res.certificate_lipschitz[t],
        "certificate_global": res.certificate_global[t], "certificate": res.certificate[t],
        "measured_sim_gap": res.measured[t], "event_held": res.event_held,
    }


def _writer(out) -> RunWriter:
    if isinstance(out, str):  # "" would mean the current folder (Path("") is ".")
        path_text("out", out)
    return RunWriter(out, kind="surrogate",
                     columns={"metrics": METRIC_COLUMNS, "bounds": BOUNDS_COLUMNS})


def run_into(config: SurrogateConfig, out: str | os.PathLike, *, resume: bool = False,
             progress: bool = False,
             callback: Callable[[int, Simulation], None] | None = None) -> Path:
    """The runner of the ``surrogate`` kind (:mod:`empirics.runs.spec`): run into ``out``.

    Args:
        config: the run.
        out: the run directory.
        resume: continue the run in ``out`` from its last checkpoint (its tables are put
            back to that step first); a run killed before its first checkpoint starts again.
        progress: a tqdm bar on stderr (only on a terminal).
        callback: ``callback(t, simulation)`` after every step ``t`` (1-based count) has
            been written.

    Returns:
        The run directory.

    Raises:
        ValueError: a device this machine lacks, or arrays that would not fit in memory
            (before anything is written); an empty ``out`` (not the current folder);
            ``out`` is not a writable folder; ``out`` holds a run and ``resume`` is false;
            ``resume`` is true and ``out`` holds none; the saved configuration differs
            (other than :data:`~empirics.surrogate.config.RESUMABLE_CHANGES`).
        RunFileError: an unreadable ``config.json`` or checkpoint (names the file).
    """
    if not isinstance(config, SurrogateConfig):
        raise TypeError(f"Expected `config` to be a SurrogateConfig, got "
                        f"{type(config).__name__}")
    sim = Simulation(config)  # device and memory checks first: nothing written on refusal
    writer = _writer(out)
    state = writer.open(config.to_dict(), resume=resume, may_differ=RESUMABLE_CHANGES)
    every = config.checkpoint_every

    def write(t: int, start: int) -> None:
        """Append rows ``start..t``; the bounds row too when ``t`` is an evaluation step."""
        res = sim.result(states=False)
        writer.append("metrics", metrics_rows(res, start))
        if sim.is_eval_step(t):
            writer.append("bounds", [bounds_row(res)])

    if state is None:
        sim.start()
        write(0, 0)
        writer.checkpoint(sim.state_dict())
    else:
        sim.load_state_dict(state)
    written = sim.t  # the tables hold the rows of steps 0..written
    bar = progress_bar(sim.T, sim.t, progress)
    try:
        while sim.t < sim.T:
            sim.advance()
            t = sim.t
            checkpoint = t % every == 0 or t == sim.T
            if checkpoint or sim.is_eval_step(t):
                write(t, written + 1)
                written = t
            if checkpoint:
                writer.checkpoint(sim.state_dict())
            bar.update(1)
            if callback is not None:
                callback(t, sim)
    finally:
        bar.close()
    writer.finish(sim.result(states=False).final())
    return writer.path


def write_run(res: SurrogateResult, out: str | os.PathLike) -> Path:
    """Write the run directory of a finished in-memory run (no checkpoint, no resume).

    A surrogate run already in ``out`` is replaced; any other run there is refused.
    Prefer :func:`run_into`, which writes as it runs and resumes.

    Raises:
        ValueError: ``out`` holds a run of another kind, or is not a writable folder.
    """
    writer = _writer(out)
    if writer.holds_run():
        from empirics.runs.writer import read_config

        kind = _saved_kind(writer)
        if kind != "surrogate":
            read_config(writer)  # an unreadable config.json is named
            raise ValueError(f"Expected `out` to hold no run or a surrogate run, got "
                             f"{str(writer.path)!r} holding a {kind!r} run")
        writer.config.unlink()
        writer.last.unlink(missing_ok=True)
    writer.open(res.config.to_dict(), resume=False)
    writer.append("metrics", metrics_rows(res))
    steps = res.eval_steps.tolist()
    writer.append("bounds", [bounds_row(_prefix(res, t)) for t in steps])
    writer.finish(res.final())
    return writer.path


def _saved_kind(writer: RunWriter):
    import json

    try:
        return json.loads(writer.config.read_text(encoding="utf-8")).get("kind", "train")
    except (OSError, ValueError, AttributeError):
        return None


def _prefix(res: SurrogateResult, t: int) -> SurrogateResult:
    """The records of ``res`` up to step ``t`` (for its ``bounds.csv`` row)."""
    from dataclasses import replace

    return replace(res, eta=res.eta[:t], sum_eta=res.sum_eta[:t + 1], q_max=res.q_max[:t],
                   measured=res.measured[:t + 1], certificate=res.certificate[:t + 1],
                   certificate_global=res.certificate_global[:t + 1],
                   certificate_lipschitz=res.certificate_lipschitz[:t + 1],
                   recurrence=res.recurrence[:t + 1], theorem1=res.theorem1[:t + 1])
