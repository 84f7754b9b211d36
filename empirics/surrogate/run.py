"""A surrogate run directory, the runner that writes and resumes it, and the command line.

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
A checkpoint names the run's cache key (:func:`run_key`) and the rows it carries; a resume
refuses, in one sentence naming ``last.pt`` and before any file is touched, a checkpoint of
another configuration, one whose step is outside ``[0, T]`` or disagrees with the rows or
arrays it carries (:func:`check_resumable`).

``python -m empirics.surrogate`` (:func:`main`): every field of
:class:`~empirics.surrogate.config.SurrogateConfig` is a flag (``--C 10``,
``--warmup-steps 5``, ``--positive-in-denominator``), and so is every switch of
:class:`SurrogateCommand` (``--config``, ``--out``, ``--resume``, ``--format``,
``--no-progress``); the parser is generated from the two declarations
(:func:`cl_nscl_align.cli.command`). ``--config run.toml`` loads a TOML file first and flags
override it. Without ``--out`` the run stays in memory; with ``--out DIR`` it writes a run
directory, and ``--out DIR --resume`` continues it from its last checkpoint. ``--format
json`` prints the final record (DESIGN.md: ``measured``, ``certificate``, ``recurrence``,
``theorem1``, ``event_held``, and more).

Exit status: 0 done; 2 bad usage, configuration or run directory, a device this machine
does not have, or a state that would not fit in memory (one line on stderr naming the
argument and the value, no traceback; all checked before the run starts); 130
interrupted. Warnings are one stderr line each (:func:`cl_nscl_align.cli.one_line_warnings`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cl_nscl_align.atomic import json_safe
from cl_nscl_align.cli import command, one_line_warnings
from cl_nscl_align.options import Options, option, path_text, read_toml
from empirics.objectives import THEOREM_PAIR, pair_name
from empirics.runs.layout import RunDir
from empirics.runs.spec import RunSpec
from empirics.runs.tables import RunFileError, check_table_steps
from empirics.runs.writer import KEY_FIELD, ROWS_FIELD, RunWriter, read_config
from empirics.surrogate.config import RESUMABLE_CHANGES, SurrogateConfig
from empirics.surrogate.simulation import Simulation, SurrogateResult, progress_bar, simulate

__all__ = ["BOUNDS_COLUMNS", "FORMATS", "METRIC_COLUMNS", "PROG", "TABLE_KEYS",
           "SurrogateCommand", "bounds_row", "build_parser", "check_resumable",
           "config_from_args", "main", "metrics_rows", "run_into", "run_key", "write_run"]

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
            "step": t, "epoch": t * res.config.B / res.config.N, "pair": pair_name(*THEOREM_PAIR),
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


def run_key(config: SurrogateConfig) -> str:
    """The run's cache key, as the runs layer names it (``RunSpec("surrogate", ...).key()``)."""
    return RunSpec("surrogate", config.to_dict()).key()


def check_resumable(sim: Simulation, state: dict[str, Any], path) -> None:
    """Refuse a checkpoint at a step its arrays or tables contradict.

    The checkpoint at ``path`` must hold a step in ``[0, T]``, arrays of that step's length
    (:meth:`~empirics.surrogate.simulation.Simulation.check_state`), and exactly the rows
    written up to that step: ``metrics`` one per step ``0..t``, ``bounds`` one per
    evaluation step up to ``t``. (Its key is compared by the writer, :func:`run_key`.)

    Raises:
        RunFileError: any of these does not hold (the message names ``path``).
    """
    try:
        step = sim.check_state(state)
    except ValueError as exc:
        raise RunFileError(path, str(exc)) from None
    tables = state.get("tables") if isinstance(state.get("tables"), dict) else {}
    steps = range(step + 1)
    check_table_steps(tables, {"metrics": dict.fromkeys(steps, 1),
                               "bounds": {t: 1 for t in steps if sim.is_eval_step(t)}},
                      step, path)


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
        RunFileError: an unreadable ``config.json`` or checkpoint, or a checkpoint of
            another configuration or at a step its rows contradict (names the file).
    """
    if not isinstance(config, SurrogateConfig):
        raise TypeError(f"Expected `config` to be a SurrogateConfig, got "
                        f"{type(config).__name__}")
    sim = Simulation(config)  # device and memory checks first: nothing written on refusal
    writer = _writer(out)
    state = writer.open(config.to_dict(), resume=resume, may_differ=RESUMABLE_CHANGES,
                        key=run_key(config),
                        check=lambda s: check_resumable(sim, s, writer.last))
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
        kind = _saved_kind(writer)
        if kind != "surrogate":
            read_config(writer)  # an unreadable config.json is named
            raise ValueError(f"Expected `out` to hold no run or a surrogate run, got "
                             f"{str(writer.path)!r} holding a {kind!r} run")
        writer.config.unlink()
        writer.last.unlink(missing_ok=True)
    writer.open(res.config.to_dict(), resume=False, key=run_key(res.config))
    writer.append("metrics", metrics_rows(res))
    steps = res.eval_steps.tolist()
    writer.append("bounds", [bounds_row(_prefix(res, t)) for t in steps])
    writer.finish(res.final())
    return writer.path


def _saved_kind(writer: RunWriter):
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


# ----------------------------------------------------------------------------- command line
PROG = "python -m empirics.surrogate"
FORMATS = ("table", "json")
#: The final values the table format prints, in order.
TABLE_KEYS = ("C", "N", "B", "tau", "T", "sum_eta", "eps", "Delta", "event_held", "q_max",
              "q_bound", "measured", "certificate", "certificate_global",
              "certificate_lipschitz", "recurrence", "theorem1", "ratio_certificate",
              "ratio_theorem1", "cka")


@dataclass(frozen=True)
class SurrogateCommand(Options):
    """Where the run goes and what is printed (none of it changes the run's numbers)."""

    config: str | None = option(None, "TOML file of run fields, top level or a [surrogate] "
                                "table; flags override it", check=path_text,
                                metavar="FILE.toml", result=False)
    out: str | None = option(None, "write a run directory here: config.json, metrics.csv, "
                             "bounds.csv, checkpoints/last.pt, summary.json", check=path_text,
                             metavar="DIR", default_text="none, in memory only", result=False)
    resume: bool = option(False, "continue the run in --out from its last checkpoint; exits "
                          "2 when there is no run to continue", switch=True,
                          default_text="off", result=False)
    format: str = option("table", "print the final values as an aligned table or as one "
                         "JSON record", choices=FORMATS, result=False)
    no_progress: bool = option(False, "no progress bar", switch=True,
                               default_text="a bar on a terminal", result=False)

    def check(self) -> None:
        if self.resume and self.out is None:
            raise ValueError("Expected a run directory for `--resume` (--out DIR --resume), "
                             "got no --out")


def build_parser() -> argparse.ArgumentParser:
    """The parser, generated from :class:`SurrogateCommand` and :class:`SurrogateConfig`."""
    return command(
        PROG, "Similarity-descent surrogate of [P2] Theorem 1 (THEORY.md s9): CL and NSCL in "
        "lockstep, with the measured gap and every bound per step. Exit status: 0 done, 2 "
        "bad usage (or a state too large for memory), 130 interrupted.",
        SurrogateCommand, SurrogateConfig)


def config_from_args(args: argparse.Namespace, cmd: SurrogateCommand | None = None
                     ) -> SurrogateConfig:
    """The saved run (on ``--resume``), then the TOML file, then the flags.

    Raises:
        ValueError: an empty ``--out`` or ``--config`` (``--out ''`` would write into the
            current folder), ``--resume`` without ``--out``, no run in ``--out``, or a bad
            field.
        RunFileError: an unreadable saved ``config.json``.
    """
    cmd = SurrogateCommand.from_dict(SurrogateCommand.given(args)) if cmd is None else cmd
    layers: list[dict[str, Any]] = []
    if cmd.resume:
        run = RunDir(cmd.out)
        if run.path.exists() and not run.path.is_dir():
            raise ValueError(f"Expected `out` to be a folder, got the file {str(run.path)!r}")
        if not run.config.exists():
            raise ValueError(f"Expected a run to resume in {str(run.path)!r}, got none (no "
                             "config.json; start it without --resume)")
        layers.append(read_config(run))
    if cmd.config is not None:
        try:
            layers.append(read_toml(cmd.config, tables=SurrogateConfig.toml_tables))
        except (ValueError, FileNotFoundError) as exc:  # the file is named; name the flag
            raise type(exc)(f"`config`: {exc}") from None
    layers.append(SurrogateConfig.given(args))
    return SurrogateConfig.from_layers(*layers)


def _error(message: Any) -> str:
    return f"{PROG}: error: " + " ".join(str(message).split())


def main(argv: list[str] | None = None) -> int:
    one_line_warnings(PROG)
    args = build_parser().parse_args(argv)
    cmd = None
    try:
        cmd = SurrogateCommand.from_dict(SurrogateCommand.given(args))
        config = config_from_args(args, cmd)
        if cmd.out is None:
            final = simulate(config, progress=not cmd.no_progress).final()
        else:
            out = run_into(config, cmd.out, resume=cmd.resume,
                           progress=not cmd.no_progress)
            final = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
            for record in (KEY_FIELD, ROWS_FIELD):  # the runs layer's, not the run's values
                final.pop(record, None)
    except (ValueError, TypeError, FileNotFoundError, RunFileError) as exc:
        print(_error(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted" + ("; continue with --resume" if cmd and cmd.out else ""),
              file=sys.stderr)
        return 130
    if cmd.format == "json":
        print(json.dumps(json_safe(final), indent=2))
    else:
        for k in TABLE_KEYS:
            print(f"{k:>22}  {final[k]}")
    return 0
