"""``python -m empirics.train``: CL / NSCL / SCL / CE (and NT-Xent) in lockstep.

With no flags it runs the embedded default (synthetic data, 10 classes, MLP, the four
objectives cl, nscl, scl, ce, 600 steps of B = 256) and prints the final alignment, the
losses with the [P1] check, and the run's own Theorem 1 bound. Every
:class:`~empirics.config.TrainConfig` field is a flag (``--batch-size 128``,
``--objectives cl,nscl``, ``--no-deterministic``); ``--config run.toml`` loads a TOML
file first and flags override it. ``--resume`` continues the run in ``--out`` (or in the
directory given to ``--resume``) from its last checkpoint.

Exit status: 0 done; 2 bad usage or configuration (one line on stderr, no traceback);
3 stopped by ``--stop-after`` (continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import ArgumentParser
from empirics.config import TrainConfig, field_comments

__all__ = ["build_parser", "config_from_args", "format_summary", "main"]


def _field_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(base type, optional) of a TrainConfig field annotation string."""
    hints = typing.get_type_hints(TrainConfig)
    tp = hints[f.name]
    optional = False
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        tp = next(a for a in args if a is not type(None))
    return tp, optional


def _converter(name: str, tp: type, optional: bool):
    def convert(text: str) -> Any:
        if optional and text.lower() in ("none", "null", ""):
            return None
        if tp is int:
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"Expected `{name}` to be an int, got {text!r}"
                ) from None
        if tp is float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"Expected `{name}` to be a number, got {text!r}"
                ) from None
        return text

    convert.__name__ = name
    return convert


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m empirics.train",
        description="Train CL, NSCL, SCL, CE (and NT-Xent) in lockstep under shared "
        "randomness; measure their alignment against the [P1]/[P2] bounds.",
    )
    p.add_argument("--config", help="TOML file of TrainConfig keys (flags override it)")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        help="continue the run in --out (or in the given directory) from checkpoints/last.pt",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop (as if killed) after this many steps; continue with --resume",
    )
    p.add_argument("--json", action="store_true", help="print summary.json instead of tables")
    comments = field_comments(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        tp, optional = _field_type(f)
        help_text = f"{comments.get(f.name, '')} (default {f.default!r})".strip()
        if tp is bool:
            p.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif f.name == "objectives":
            p.add_argument(
                flag,
                dest=f.name,
                default=None,
                help=help_text.replace("any subset of OBJECTIVES", "comma list of cl, ntxent, "
                                       "nscl, scl, ce"),
            )
        else:
            p.add_argument(
                flag,
                dest=f.name,
                default=None,
                type=_converter(f.name, tp, optional),
                help=help_text,
            )
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Saved run config (on ``--resume``), then the TOML file (if any), then the flags.

    On resume a field that differs from the saved configuration (other than ``device``
    and ``out``) is an error raised by :func:`empirics.trainer.train`.
    """
    data: dict[str, Any] = {}
    if args.resume:
        out = args.resume if isinstance(args.resume, str) else args.out
        if out is None:
            raise ValueError("Expected `--out` or a directory for `--resume`, got neither")
        saved = Path(out) / "config.json"
        if isinstance(args.resume, str) and not saved.exists():
            raise FileNotFoundError(f"Expected a run directory for `--resume`, got {out!r}")
        if saved.exists():
            data = json.loads(saved.read_text(encoding="utf-8"))
        data["out"] = str(out)
    if args.config:
        data.update(TrainConfig.from_toml(args.config).to_dict())
    for name in TrainConfig.field_names():
        value = getattr(args, name)
        if value is not None:
            data[name] = value
    return TrainConfig.from_dict(data)


def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None:
        return "-"
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def format_summary(summary: dict[str, Any]) -> str:
    """The tables the CLI prints at the end of a run."""
    lines = [
        f"run directory: {summary['run_dir']}",
        f"{len(summary['objectives'])} models in lockstep ({', '.join(summary['objectives'])}), "
        f"{summary['steps']} steps ({_fmt(summary['epochs'], '.1f')} epochs), "
        f"{_fmt(summary['wall_seconds'], '.1f')} s, "
        f"{_fmt(summary['steps_per_second'], '.1f')} steps/s on {summary['device']}",
        "",
        "alignment at the last step (test reference set; cka = cosine-Gram CKA of the theory,"
        " cka_lin = raw-feature CKA):",
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
    b = summary.get("bounds") or {}
    if "sim_gap" in b:
        lines.append(
            f"[P2] Theorem 1 for this run (C={summary['C']}, tau={summary['tau']}, "
            f"B={summary['B']}, T={summary['steps']},"
            f" sum_eta={_fmt(summary['sum_eta'], '.2f')}): ||Sigma_CL - Sigma_NSCL||_F <= "
            f"{_fmt(b['sim_gap'], '.3g')} (log10 {_fmt(b.get('log10_sim_gap'), '.2f')}); "
            f"measured {_fmt(b.get('measured_sim_gap'), '.3g')} on the train reference set"
        )
        bound, measured = b.get("sim_gap"), b.get("measured_sim_gap")
        if bound is not None and measured is not None and measured > bound:
            lines.append(
                "     the measured gap EXCEEDS the bound: Theorem 1 is proved for the "
                "similarity-descent surrogate, not for SGD on networks (docs/surrogate.md s5)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from empirics.trainer import RunInterrupted, check_config_against_data, train

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        check_config_against_data(config)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"python -m empirics.train: error: {exc}", file=sys.stderr)
        return 2
    from empirics.distributed import init_from_env

    dist = init_from_env(config.device)
    try:
        run = train(
            config,
            progress=not args.no_progress,
            dist=dist,
            resume=bool(args.resume),
            stop_after=args.stop_after,
        )
    except RunInterrupted as exc:
        print(f"{exc}; continue with --resume", file=sys.stderr)
        return 3
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
        print(f"python -m empirics.train: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"python -m empirics.train: error: {exc}", file=sys.stderr)
        return 1
    finally:
        dist.close()
    if dist.is_main:
        summary = json.loads((Path(run) / "summary.json").read_text(encoding="utf-8"))
        print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
