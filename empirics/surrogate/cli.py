"""``python -m empirics.surrogate``: CL and NSCL surrogates in lockstep, every bound per step.

Every field of :class:`~empirics.surrogate.config.SurrogateConfig` is a flag (``--C 10``,
``--warmup-steps 5``, ``--positive-in-denominator``), with its description and default in
``--help``; ``--config run.toml`` loads a TOML file first and flags override it. Without
``--out`` the run stays in memory; with ``--out DIR`` it writes a run directory
(:mod:`empirics.surrogate.run`), and ``--out DIR --resume`` continues it from its last
checkpoint. ``--format json`` prints the final record (DESIGN.md: ``measured``,
``certificate``, ``recurrence``, ``theorem1``, ``event_held``, and more).

Exit status: 0 done; 2 bad usage, configuration or run directory, a device this machine
does not have, or a state that would not fit in memory (one line on stderr naming the
argument and the value, no traceback; all checked before the run starts); 130
interrupted. Warnings are one stderr line each (:func:`cl_nscl_align.cli.one_line_warnings`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import json_safe
from cl_nscl_align.cli import ArgumentParser, one_line_warnings
from cl_nscl_align.options import path_text, read_toml
from empirics.runs.layout import RunDir
from empirics.runs.tables import RunFileError
from empirics.runs.writer import read_config
from empirics.surrogate.config import SurrogateConfig

__all__ = ["TABLE_KEYS", "build_parser", "config_from_args", "main"]

PROG = "python -m empirics.surrogate"
#: The final values the table format prints, in order.
TABLE_KEYS = ("C", "N", "B", "tau", "T", "sum_eta", "eps", "Delta", "event_held", "q_max",
              "q_bound", "measured", "certificate", "certificate_global",
              "certificate_lipschitz", "recurrence", "theorem1", "ratio_certificate",
              "ratio_theorem1", "cka")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Similarity-descent surrogate of [P2] Theorem 1 (THEORY.md s9): CL and "
        "NSCL in lockstep, with the measured gap and every bound per step. Exit status: 0 "
        "done, 2 bad usage (or a state too large for memory), 130 interrupted.")
    p.add_argument("--config", metavar="FILE.toml",
                   help="TOML file of run fields, top level or a [surrogate] table; flags "
                        "override it (default: none)")
    p.add_argument("--out", metavar="DIR",
                   help="write a run directory here: config.json, metrics.csv, bounds.csv, "
                        "checkpoints/last.pt, summary.json (default: none, in memory only)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; exits 2 when "
                        "there is no run to continue (default: off)")
    p.add_argument("--format", default="table", choices=("table", "json"),
                   help="print the final values as an aligned table or as one JSON record "
                        "(default: table)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on a terminal)")
    SurrogateConfig.add_arguments(p)
    return p


def config_from_args(args: argparse.Namespace) -> SurrogateConfig:
    """The saved run (on ``--resume``), then the TOML file, then the flags.

    Raises:
        ValueError: an empty ``--out`` or ``--config`` (``--out ''`` would write into the
            current folder), ``--resume`` without ``--out``, no run in ``--out``, or a bad
            field.
        RunFileError: an unreadable saved ``config.json``.
    """
    for name in ("out", "config"):
        if getattr(args, name) is not None:
            path_text(name, getattr(args, name))
    layers: list[dict[str, Any]] = []
    if args.resume:
        if args.out is None:
            raise ValueError("Expected a run directory for `--resume` (--out DIR --resume), "
                             "got no --out")
        run = RunDir(args.out)
        if run.path.exists() and not run.path.is_dir():
            raise ValueError(f"Expected `out` to be a folder, got the file {str(run.path)!r}")
        if not run.config.exists():
            raise ValueError(f"Expected a run to resume in {str(run.path)!r}, got none (no "
                             "config.json; start it without --resume)")
        layers.append(read_config(run))
    if args.config is not None:
        try:
            layers.append(read_toml(args.config, tables=SurrogateConfig.toml_tables))
        except (ValueError, FileNotFoundError) as exc:  # the file is named; name the flag
            raise type(exc)(f"`config`: {exc}") from None
    layers.append(SurrogateConfig.given(args))
    return SurrogateConfig.from_layers(*layers)


def _error(message: Any) -> str:
    return f"{PROG}: error: " + " ".join(str(message).split())


def main(argv: list[str] | None = None) -> int:
    one_line_warnings(PROG)
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        if args.out is None:
            from empirics.surrogate.simulation import simulate

            final = simulate(config, progress=not args.no_progress).final()
        else:
            from empirics.surrogate.run import run_into

            out = run_into(config, args.out, resume=args.resume,
                           progress=not args.no_progress)
            final = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    except (ValueError, TypeError, FileNotFoundError, RunFileError) as exc:
        print(_error(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted" + ("; continue with --resume" if args.out else ""),
              file=sys.stderr)
        return 130
    if args.format == "json":
        print(json.dumps(json_safe(final), indent=2))
    else:
        for k in TABLE_KEYS:
            print(f"{k:>22}  {final[k]}")
    return 0
