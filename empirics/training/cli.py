"""``python -m empirics.train``: CL / NSCL / SCL / CE (and NT-Xent) in lockstep.

With no flags it runs the embedded default (synthetic data, 10 classes, MLP, the four
objectives cl, nscl, scl, ce, 400 steps of B = 256) and prints the final alignment, the
losses with the [P1] check, and the run's own Theorem 1 bound. Every field of
:class:`~empirics.training.config.TrainConfig` is a flag (``--batch-size 128``,
``--objectives cl,nscl``, ``--no-deterministic``); ``--config run.toml`` loads a TOML file
first and flags override it. The parser is generated from the declarations
(:class:`CommandOptions`: the command's own switches; ``TrainConfig``: the run's fields);
``--objectives`` lists every registered objective, plugins included. ``--resume``
continues the run in ``--out`` (or in the directory given to ``--resume``) from its last
checkpoint.

Exit status: 0 done; 1 the run itself failed (training diverged); 2 bad usage,
configuration or run directory (one line on stderr, no traceback); 3 stopped by
``--stop-after`` (continue with ``--resume``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import command, one_line_warnings
from cl_nscl_align.options import GIVEN_NONE, Options, option, path_text, read_toml
from empirics.runs.layout import RunDir
from empirics.runs.tables import RunFileError
from empirics.runs.writer import read_config
from empirics.training.config import TrainConfig

__all__ = ["CommandOptions", "build_parser", "config_from_args", "format_summary", "main"]

PROG = "python -m empirics.train"
DESCRIPTION = ("Train CL, NSCL, SCL, CE (and NT-Xent) in lockstep under shared randomness; "
               "measure their alignment against the [P1]/[P2] bounds. Exit status: 0 done, 1 "
               "training diverged, 2 bad usage, 3 stopped by --stop-after, 130 interrupted.")


@dataclass(frozen=True)
class CommandOptions(Options):
    """What the command does with the run (switches of this command only, not of the run)."""

    cli_title = "the command"

    config: str | None = option(None, "TOML file of run fields, top level or a [train] table; "
                                "flags override it", metavar="FILE.toml", result=False)
    resume: str | None = option(None, "continue the run in DIR (or in --out) from its last "
                                "checkpoint; exits 2 when there is no run to continue",
                                const=True, metavar="DIR", result=False, default_text="off")
    no_progress: bool = option(False, "no progress bar", switch=True, result=False,
                               default_text="a bar on a terminal")
    stop_after: int | None = option(None, "stop, as if killed, after this many steps in "
                                    "total; continue with --resume", metavar="STEPS",
                                    result=False)
    json: bool = option(False, "print summary.json instead of the tables", switch=True,
                        result=False, default_text="tables")


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from :class:`CommandOptions` and
    :class:`~empirics.training.config.TrainConfig`."""
    return command(PROG, DESCRIPTION, CommandOptions, TrainConfig)


def _path(value: Any) -> Any:
    """A path flag's value as written (``none`` is a folder name here, not "no value")."""
    return "none" if value is GIVEN_NONE else value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The saved run (on ``--resume``), then the TOML file, then the flags.

    Raises:
        ValueError: ``--resume`` without a directory, ``--resume DIR --out OTHER``, no run
            in the directory, ``--stop-after`` < 1, or a bad field.
        RunFileError: an unreadable saved ``config.json``.
    """
    stop_after = None if args.stop_after is GIVEN_NONE else args.stop_after
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"Expected `--stop-after` >= 1, got {stop_after}")
    resume, config = _path(args.resume), _path(args.config)
    given_out = None if args.out is GIVEN_NONE else args.out
    if isinstance(resume, str):
        path_text("--resume", resume)  # --resume '' would mean the current folder
    if config is not None:
        path_text("--config", config)
    layers: list[dict[str, Any]] = []
    if resume is not None:
        out = resume if isinstance(resume, str) else given_out
        if out is None:
            raise ValueError("Expected a run directory for `--resume` (--resume DIR or "
                             "--out DIR --resume), got neither")
        if isinstance(resume, str) and given_out is not None and \
                Path(given_out) != Path(resume):
            raise ValueError(f"Expected `--out` to be the run given to `--resume`, got "
                             f"--resume {resume!r} and --out {given_out!r}")
        run = RunDir(out)
        if not run.config.exists():
            raise ValueError(f"Expected a run to resume in {str(out)!r}, got none (no "
                             "config.json; start it without --resume)")
        layers.append(read_config(run))
        layers.append({"out": str(out)})
    if config:
        layers.append(read_toml(config, tables=TrainConfig.toml_tables, name="--config"))
    layers.append(TrainConfig.given(args))
    return TrainConfig.from_layers(*layers)


def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "-"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def format_summary(summary: dict[str, Any]) -> str:
    """The tables the command prints at the end of a run."""
    lines = [
        f"run directory: {summary['run_dir']}",
        f"{len(summary['objectives'])} models in lockstep ({', '.join(summary['objectives'])}), "
        f"{summary['steps']} steps ({_fmt(summary['epochs'], '.1f')} epochs), "
        f"{_fmt(summary['wall_seconds'], '.1f')} s, "
        f"{_fmt(summary['steps_per_second'], '.1f')} steps/s on {summary['device']}",
        "",
    ]
    if not summary["alignment"]:
        lines.append("alignment: none (one model; a pair needs two objectives)")
    else:
        lines += [
            "alignment at the last step (test reference set; cka = cosine-Gram CKA of the "
            "theory, cka_lin = raw-feature CKA, the paper code's convention):",
            f"  {'pair':<12}{'feat':<5}{'cka':>7}{'cka_lin':>9}{'rsa':>7}{'sim_gap':>9}"
            f"{'rho':>7}{'w_angle':>9}{'r_angle':>9}",
        ]
    for pair, splits in summary["alignment"].items():
        for feat, m in splits.get("test", {}).items():
            lines.append(
                f"  {pair:<12}{feat:<5}{_fmt(m['cka']):>7}{_fmt(m['cka_linear']):>9}"
                f"{_fmt(m['rsa']):>7}{_fmt(m['sim_gap'], '.2f'):>9}{_fmt(m['rho']):>7}"
                f"{_fmt(m['weight_angle'], '.1f'):>9}{_fmt(m['repr_angle'], '.1f'):>9}"
            )
    lines += [
        "",
        "losses on the fixed evaluation batches (test) and probe accuracy:",
        f"  {'model':<8}{'own':>8}{'loss_cl':>9}{'loss_nscl':>11}{'gap':>8}{'[P1] bound':>12}"
        f"{'acc(h)':>8}{'acc(z)':>8}{'head':>7}",
    ]
    for name, m in summary["models"].items():
        lines.append(
            f"  {name:<8}{_fmt(m['loss_own']):>8}{_fmt(m['loss_cl']):>9}"
            f"{_fmt(m['loss_nscl']):>11}{_fmt(m['loss_gap']):>8}{_fmt(m['loss_gap_bound']):>12}"
            f"{_fmt(m['accuracy']):>8}{_fmt(m['accuracy_z']):>8}{_fmt(m['head_accuracy']):>7}"
        )
    held = "yes" if summary["p1_held_at_every_evaluation"] else "NO"
    lines += ["", f"[P1] 0 <= loss_cl - loss_nscl <= bound on every evaluation batch: {held}"]
    if summary.get("event_held") is not None:  # summaries written before the record lack it
        lines.append(
            f"[P2] batch composition: largest same-class share of a sample's negatives "
            f"{_fmt(summary.get('q_max'))} <= pi_max + eps = {_fmt(summary.get('q_bound'))} "
            f"at every step: {'yes' if summary['event_held'] else 'NO'}")
    b = summary.get("bounds") or {}
    if "sim_gap" in b:
        lines.append(
            f"[P2] Theorem 1 for this run (C={summary['C']}, tau={summary['tau']}, "
            f"B={summary['B']}, T={summary['steps']},"
            f" sum_eta={_fmt(summary['sum_eta'], '.2f')}): ||Sigma_CL - Sigma_NSCL||_F <= "
            f"{_fmt(b['sim_gap'], '.3g')} (log10 {_fmt(b.get('log10_sim_gap'), '.2f')}); "
            + (f"measured {_fmt(b['measured_sim_gap'], '.3g')} on the train reference set"
               if b.get("measured_sim_gap") is not None else
               "not measured (the run has no cl-nscl pair)")
        )
        bound, measured = b.get("sim_gap"), b.get("measured_sim_gap")
        if bound is not None and measured is not None and measured > bound:
            lines.append(
                "     the measured gap EXCEEDS the bound: Theorem 1 is proved for the "
                "similarity-descent surrogate, not for SGD on networks (docs/surrogate.md s5)"
            )
    return "\n".join(lines)


def _allocation(exc: BaseException) -> str | None:
    """The size of a failed allocation (``"7.28 TiB"``, ``"1024000000 bytes"``; ``"memory"``
    when unsaid), or None when ``exc`` is not an out-of-memory error."""
    import re

    text = str(exc)
    lowered = text.lower()
    if not isinstance(exc, MemoryError) and not any(
            s in lowered for s in ("out of memory", "can't allocate memory",
                                   "not enough memory")):
        return None
    found = re.search(r"allocate ([0-9.]+ ?[A-Za-z]+)", text)
    return found.group(1) if found else "memory"


def _tell(line: str) -> None:
    """One line on stderr, from the main process only: under ``torchrun`` every rank meets
    the same refusal, and one line says it."""
    import os

    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr)


def _error(message: Any) -> str:
    return f"{PROG}: error: " + " ".join(str(message).split())


def main(argv: list[str] | None = None) -> int:
    one_line_warnings(PROG)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        from empirics.training.lockstep import check_config_against_data

        check_config_against_data(config)
    except (ValueError, TypeError, FileNotFoundError, RunFileError) as exc:
        _tell(_error(exc))
        return 2
    from empirics.training.distributed import init_from_env
    from empirics.training.trainer import RunInterrupted, TrainingDiverged, train

    dist = init_from_env(config.device)
    try:
        run = train(config, progress=not args.no_progress, dist=dist,
                    resume=args.resume is not None,
                    stop_after=None if args.stop_after is GIVEN_NONE else args.stop_after)
    except RunInterrupted as exc:
        _tell(f"{PROG}: {exc}; continue with --resume")
        return 3
    except TrainingDiverged as exc:
        _tell(_error(exc))
        return 1
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, RunFileError) as exc:
        _tell(_error(exc))
        return 2
    except (MemoryError, RuntimeError) as exc:
        what = _allocation(exc)
        if what is None:
            raise
        _tell(_error(f"Expected a run that fits in memory, got an allocation of {what} that "
                     "failed (lower train_size, test_size, image_size, feature_dim, proj_dim, "
                     "width, views or batch_size)"))
        return 2
    except KeyboardInterrupt:
        _tell(f"{PROG}: interrupted; continue with --resume")
        return 130
    finally:
        dist.close()
    if dist.is_main:
        summary = json.loads((Path(run) / "summary.json").read_text(encoding="utf-8"))
        print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
