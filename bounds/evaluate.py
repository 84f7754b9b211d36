"""``python -m bounds.evaluate``: the bounds of [P1] and [P2] for your setting, in < 1 s.

Comma lists sweep a grid (one row per combination, in flag order). Formats: ``table``
(default; vacuous bounds marked), ``json`` (a list of records, keys as DESIGN.md lists;
``null`` for an infinite value or one beyond float range, whose ``log10_`` twin keeps the
magnitude), ``csv``, ``latex`` (every bound's statement from the registry, then the values)
and ``analysis`` (derivative signs, limits, the class count beyond which more classes stop
helping, and the fixed-steps vs fixed-epochs reading of the batch-size rules).

Usage errors exit with status 2 and one line naming the argument and the value; a warning
is one stderr line (:func:`cl_nscl_align.cli.one_line_warnings`), and numpy's floating-point
warnings never appear (every bound is computed in log space).
This module is the CLI only; the function is :func:`bounds.evaluate_bounds` (module
:mod:`bounds.grid`).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import sys

import numpy as np

from cl_nscl_align.cli import ArgumentParser, one_line_warnings

from .grid import OUTPUT_KEYS, evaluate_bounds
from .schedules import LR_RULES, SCHEDULE_UNITS, SCHEDULES
from .validation import check_normal

__all__ = ["build_parser", "main", "records"]

FORMATS = ("table", "json", "csv", "latex", "analysis")

# (flag, dest, evaluate_bounds keyword, default, integer?, help); a flag without a numeric
# default says in its help what it defaults to.
_NUMERIC = (
    ("--C", "C", "C", "10", True, "number of classes C (balanced: pi_max = 1/C)"),
    ("--tau", "tau", "tau", "0.5", False, "temperature tau"),
    ("--B", "B", "B", "1024", True,
     "batch size B; at most N when N sets the number of steps (no --steps)"),
    ("--epochs", "epochs", "epochs", "300", True, "epochs; T = epochs * ceil(N/B)"),
    ("--N", "N", "N", "50000", True, "training-set size N (CIFAR: 50000)"),
    ("--steps", "steps", "T", None, True,
     "number of steps T, overriding --epochs (default: epochs * ceil(N/B))"),
    ("--lr", "lr", "lr", "0.3", False, "base learning rate before the batch-size rule"),
    ("--warmup-epochs", "warmup_epochs", "warmup_epochs", "10", True,
     "linear warm-up epochs before the cosine decay (with --steps: the same fraction of T)"),
    ("--delta", "delta", "delta", "0.05", False, "failure probability delta in (0, 1)"),
    ("--pi-max", "pi_max", "pi_max", None, False,
     "largest class prior pi_max (default: 1/C, or n_max/N with --n-max)"),
    ("--n-max", "n_max", "n_max", None, False,
     "largest class size among the N samples, for the [P1] paper form of the loss gap and "
     "pi_max = n_max/N (default: none, balanced classes)"),
    ("--N-ref", "N_ref", "N_ref", None, True,
     "reference-set size for the corollaries' NSCL-optimum normalisers (default: 10000; "
     "with --features, the feature file's row count, and --N-ref is refused)"),
    ("--sum-eta", "sum_eta", "sum_eta", None, False,
     "sum of learning rates S, if known (default: the schedule's exact sum)"),
    ("--K-norm", "K_norm", "K_norm", None, False,
     "user-given ||K_CL||_F for Corollary 1 (default: N_ref/sqrt(C-1), the NSCL optimum, "
     "or from --features)"),
    ("--sigma-a", "sigma_a", "sigma_a", None, False,
     "user-given sigma_a for Corollary 2 (default: the NSCL optimum, or from --features)"),
    ("--G", "G", "G", None, False,
     "Jacobian bound G for Theorem 2, needs --beta (default: none, Theorem 2 not shown)"),
    ("--beta", "beta", "beta", None, False,
     "smoothness beta for Theorem 2, needs --G (default: none, Theorem 2 not shown)"),
)

_INT_KEYS = {"C", "B", "T", "N_ref", "warmup_steps"}
_BOOL_KEYS = {
    "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "trivial_sim_gap", "trivial_sim_gap_product",
}


def _number_list(flag: str, integer: bool):
    # Integrality is checked by the API, so the message matches the Python one.
    del integer

    def parse(text: str) -> list[float]:
        out = []
        for part in text.split(","):
            try:
                v = float(part)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected a comma-separated list of numbers, got {text!r}") from None
            out.append(v)
        return out
    parse.__name__ = flag
    return parse


def _choice_list(choices):
    def parse(text: str) -> list[str]:
        parts = text.split(",")
        for p in parts:
            if p not in choices:
                raise argparse.ArgumentTypeError(
                    f"expected one of {', '.join(choices)}, got {p!r}")
        return parts
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults are the paper's setting (THEORY.md sections 11-12)."""
    p = ArgumentParser(
        prog="python -m bounds.evaluate",
        description=(
            "Evaluate every bound of [P1] and [P2] (docs/bounds.md): the [P1] loss gap, eps and "
            "Delta, Theorem 1 and its exact unrolled recurrence, the CKA/RSA corollaries "
            "(NSCL-optimum normalisers unless given) and Theorem 2 (with --G, --beta). "
            "Comma lists sweep a grid. Defaults follow the paper: B=1024, lr 0.3 with the "
            "linear rule (0.3*B/256), 10 warm-up epochs then cosine, 300 epochs, N=50000, "
            "delta=0.05, pi_max=1/C."),
        epilog=(
            "Output: one row per grid point; VACUOUS marks a bound that says nothing "
            "(pi_max+eps >= 1, rho >= 1 or r >= 1; then CKA >= 0 and RSA >= -1 are reported). "
            "JSON: null for infinite values or values beyond float range, whose log10_ "
            "twins keep the magnitude. Usage errors exit with status 2. "
            "Examples: python -m bounds.evaluate --C 100 --tau 0.5 ; "
            "python -m bounds.evaluate --C 10,100,1000 --tau 0.1,0.5 --format json ; "
            "python -m bounds.evaluate --C 100 --tau 0.5 --format analysis"),
    )
    for flag, dest, _kw, default, integer, help_ in _NUMERIC:
        p.add_argument(flag, dest=dest, type=_number_list(flag, integer),
                       default=None if default is None else _number_list(flag, integer)(default),
                       metavar="X[,X...]",
                       help=help_ if default is None else f"{help_} (default: {default})")
    p.add_argument("--lr-rule", type=_choice_list(LR_RULES), default=["linear"],
                   metavar="RULE[,RULE...]",
                   help="batch-size rule: linear lr*B/256, sqrt lr*sqrt(B)/256, "
                        "fourth-root lr*B^(1/4)/256, constant lr (default: linear)")
    p.add_argument("--schedule", type=_choice_list(SCHEDULES), default=["cosine"],
                   metavar="KIND[,KIND...]",
                   help="learning-rate schedule: cosine (with linear warm-up) or constant "
                        "(default: cosine)")
    p.add_argument("--schedule-unit", type=_choice_list(SCHEDULE_UNITS), default=None,
                   metavar="UNIT[,UNIT...]",
                   help="how often the schedule moves: step, or epoch (each rate held for "
                        "the ceil(N/B) steps of an epoch and the warm-up in whole epochs, as "
                        "the official code of [P2] steps it); S follows the choice exactly; "
                        "rows then carry schedule_unit (default: step)")
    p.add_argument("--tight", action="store_true",
                   help="Corollary 2 in the sqrt(2)-tight form (one triangle holds half the "
                        "off-diagonal mass) instead of the paper form (default: off, paper "
                        "form)")
    p.add_argument("--loss-form", choices=("paper", "tight", "balanced", "balanced-linear"),
                   default=None,
                   help="[P1] loss-gap form (default: balanced, or paper with --n-max)")
    p.add_argument("--features", default=None, metavar="PATH.npy",
                   help="saved feature matrix (N, d): the corollaries' normalisers "
                        "||K||_F and sigma_a are computed from it (sets N_ref) (default: "
                        "none, NSCL-optimum normalisers)")
    p.add_argument("--format", default="table", choices=None, metavar="FMT",
                   help="output: table, json, csv, latex or analysis (default: table)")
    p.add_argument("--saturation", type=float, default=0.01, metavar="F",
                   help="analysis: the class count C* beyond which more classes stop helping "
                        "is the smallest C with Delta(C) <= (1+F) Delta(C->oo) "
                        "(default: 0.01)")
    p.add_argument("--list", action="store_true",
                   help="list the registry of bounds (name, source, tag) and exit "
                        "(default: off)")
    return p


def records(args: argparse.Namespace) -> list[dict]:
    """Evaluate the grid described by parsed ``args``; one dict per combination."""
    grid_keys = [(dest, kw) for _f, dest, kw, _d, _i, _h in _NUMERIC
                 if getattr(args, dest) is not None]
    lists = [getattr(args, dest) for dest, _kw in grid_keys]
    combos = list(itertools.product(*lists))
    cols = {kw: np.array([c[i] for c in combos], dtype=np.float64)
            for i, (_dest, kw) in enumerate(grid_keys)}
    rows: list[dict] = []
    units = args.schedule_unit or ["step"]
    for rule, kind, unit in itertools.product(args.lr_rule, args.schedule, units):
        out = evaluate_bounds(lr_rule=rule, schedule=kind, schedule_unit=unit,
                              tight=args.tight, loss_form=args.loss_form,
                              features=args.features, **cols)
        n = len(combos)
        for i in range(n):
            rec = {}
            for k in OUTPUT_KEYS:
                if k not in out:
                    continue
                v = out[k].reshape(-1)[i] if out[k].size > 1 else out[k].reshape(-1)[0]
                rec[k] = bool(v) if k in _BOOL_KEYS else float(v)
            rec["lr_rule"] = rule
            rec["schedule"] = kind
            if args.schedule_unit is not None:  # absent by default: default output unchanged
                rec["schedule_unit"] = unit
            rec["corollary_form"] = "tight" if args.tight else "paper"
            rows.append(rec)
    return rows


def _json_value(k, v):
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        if k in _INT_KEYS and v == math.floor(v):
            return int(v)
    return v


def _fmt_num(v: float, log10: float | None = None) -> str:
    """A value to 4 digits; one beyond float range from its ``log10`` twin: ``1.21e+508938858``,
    or ``10^8.686e+299`` once the mantissa is lost in the twin's rounding (``log10 >= 1e12``);
    ``inf`` where even the logarithm is beyond float range."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        if log10 is not None and math.isfinite(log10):
            if log10 >= 1e12:
                return f"10^{log10:.4g}"
            m = log10 - math.floor(log10)
            return f"{10 ** m:.3g}e+{int(math.floor(log10))}"
        return "inf"
    return f"{v:.4g}"


_TABLE_COLS = (
    ("C", "C"), ("tau", "tau"), ("B", "B"), ("T", "T"), ("sum_eta", "sum_eta"),
    ("eps", "eps"), ("Delta", "Delta"), ("loss_gap", "loss_gap[P1]"),
    ("exponent", "exponent"), ("sim_gap", "Thm1"), ("sim_gap_product", "Thm1_product"),
    ("cka_lower", "CKA>="), ("rsa_lower", "RSA>="), ("weight_gap", "Thm2"),
)


def _table(rows: list[dict]) -> str:
    cols = [(k, h) for k, h in _TABLE_COLS if rows and k in rows[0]]
    multi = {rule for r in rows for rule in [(r["lr_rule"], r["schedule"],
                                              r.get("schedule_unit"))]}
    if len(multi) > 1:
        lead = [("lr_rule", "rule"), ("schedule", "schedule")]
        if "schedule_unit" in rows[0]:
            lead.append(("schedule_unit", "unit"))
        cols = lead + cols
    body = []
    for r in rows:
        line = []
        for k, _h in cols:
            v = r[k]
            if isinstance(v, str):
                cell = v
            elif k in ("sim_gap", "sim_gap_product", "Delta", "weight_gap") and \
                    r["vacuous_sim_gap"]:
                cell = "VACUOUS"
            elif k == "cka_lower" and r["vacuous_cka"]:
                cell = "0 VACUOUS"
            elif k == "rsa_lower" and r["vacuous_rsa"]:
                cell = "-1 VACUOUS"
            elif k in _INT_KEYS:
                cell = str(int(v))
            else:
                cell = _fmt_num(v, r.get("log10_" + k))
                if r.get("trivial_" + k):
                    cell += "*"
            line.append(cell)
        body.append(line)
    heads = [h for _k, h in cols]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    out = ["  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    r0 = rows[0]
    out.append("")
    out.append(
        f"delta={r0['delta']:g}  pi_max={'1/C' if r0['pi_max'] == 1 / r0['C'] else r0['pi_max']}"
        f"  N_ref={int(r0['N_ref'])}  lr_rule={r0['lr_rule']}  schedule={r0['schedule']}"
        + (f"  schedule_unit={r0['schedule_unit']}" if "schedule_unit" in r0 else "")
        + f"  corollaries={r0['corollary_form']} form")
    out.append("Thm1 = [P2] Theorem 1, exp(S/(2 tau^2 B)) S/(tau sqrt B) Delta; Thm1_product ="
               " exact unrolled recurrence; exponent = S/(2 tau^2 B).")
    out.append("VACUOUS: the bound says nothing (pi_max+eps >= 1, rho >= 1 or r >= 1); "
               "CKA>=0 and RSA>=-1 are the trivial bounds.")
    if any(r.get("trivial_sim_gap") or r.get("trivial_sim_gap_product") for r in rows):
        out.append("*: at least 2 sqrt(N_ref (N_ref-1)), the largest distance two cosine "
                   "matrices of N_ref samples can have: true, but trivial.")
    return "\n".join(out)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (int(v) if k in _INT_KEYS and isinstance(v, float) and math.isfinite(v)
                        else v) for k, v in r.items()})
    return buf.getvalue().rstrip("\n")


def _latex_values(rows: list[dict]) -> str:
    cols = [(k, h) for k, h in _TABLE_COLS if k in rows[0]]
    lines = [r"\begin{tabular}{" + "r" * len(cols) + "}", r"\toprule",
             " & ".join(r"\texttt{" + h.replace("_", r"\_").replace(">=", r"$\geq$") + "}"
                        for _k, h in cols) + r" \\", r"\midrule"]
    for r in rows:
        cells = []
        for k, _h in cols:
            v = r[k]
            vac = (k == "cka_lower" and r["vacuous_cka"]) or (
                k == "rsa_lower" and r["vacuous_rsa"]) or (
                k in ("sim_gap", "sim_gap_product", "Delta") and r["vacuous_sim_gap"])
            cell = str(int(v)) if k in _INT_KEYS else _fmt_num(v, r.get("log10_" + k))
            cells.append(cell + (r"\textsuperscript{v}" if vac else ""))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              r"% v: vacuous (the bound says nothing; CKA >= 0 and RSA >= -1 are trivial)"]
    return "\n".join(lines)


def _join_negative_numbers(argv: list[str]) -> list[str]:
    """``--tau -1e-3`` -> ``--tau=-1e-3``: argparse (Python < 3.13) reads a value such as
    ``-1e-3`` or ``-inf`` as an unknown option and answers "expected one argument", without
    the value; joined to its flag, the value reaches the checks that name it."""
    numeric = {f for f, *_ in _NUMERIC} | {"--saturation"}
    out: list[str] = []
    for tok in argv:
        if out and out[-1] in numeric and tok.startswith("-") and _looks_numeric(tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _looks_numeric(tok: str) -> bool:
    try:
        [float(p) for p in tok.split(",")]
    except ValueError:
        return False
    return True


def _name_the_flag(message: str, args: argparse.Namespace) -> str:
    """Prefix ``argument --steps:`` where the API's name (``T``) is not the flag's."""
    if message.startswith("Expected `T`") and args.steps is not None:
        return f"argument --steps: {message}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 on a usage error)."""
    one_line_warnings("python -m bounds.evaluate")
    parser = build_parser()
    args = parser.parse_args(_join_negative_numbers(sys.argv[1:] if argv is None else argv))
    if args.format not in FORMATS:
        parser.error(f"argument --format: expected one of {', '.join(FORMATS)}, "
                     f"got {args.format!r}")
    if args.list:
        from .registry import REGISTRY
        for e in REGISTRY.values():
            print(f"{e.name:24s} {e.source:32s} [{e.tag}]  {e.title}")
        return 0
    if not 0 < args.saturation < 1:
        parser.error(f"argument --saturation: expected a number in (0, 1), "
                     f"got {args.saturation!r}")
    try:
        check_normal("saturation", args.saturation)
    except ValueError as exc:
        parser.error(f"argument --saturation: {exc}")
    if args.features is not None and args.N_ref is not None:
        given = ",".join(f"{v:g}" for v in args.N_ref)
        parser.error(f"argument --N-ref: not allowed with argument --features (the feature "
                     f"file's row count is N_ref), got --N-ref {given}")
    try:
        rows = records(args)
        if args.format == "analysis":
            from .analysis import analysis_report
            v = {dest: (getattr(args, dest) or [None])[0] for _f, dest, *_r in _NUMERIC}
            text = analysis_report(v["C"], v["tau"], v["B"], epochs=v["epochs"], N=v["N"],
                                   lr=v["lr"], T=v["steps"], warmup_epochs=v["warmup_epochs"],
                                   delta=v["delta"], schedule=args.schedule[0],
                                   saturation=args.saturation,
                                   N_ref=10000 if v["N_ref"] is None else v["N_ref"])
            if len(rows) > 1:
                text += "\n\n(analysis shown for the first value of each comma list)"
            if "epoch" in (args.schedule_unit or []):
                text += ("\n\n(the batch-size readings above step the schedule per step; "
                         "--schedule-unit epoch applies to the other formats)")
        elif args.format == "json":
            text = json.dumps([{k: _json_value(k, v) for k, v in r.items()} for r in rows],
                              indent=1, allow_nan=False)
        elif args.format == "csv":
            text = _csv(rows)
        elif args.format == "latex":
            from .analysis import latex_statements
            text = latex_statements() + "\n\n" + _latex_values(rows)
        else:
            text = _table(rows)
    except (ValueError, TypeError) as exc:
        parser.error(_name_the_flag(str(exc), args))
    print(text)
    return 0


def _run() -> int:
    try:
        return main()
    except BrokenPipeError:  # e.g. `... | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(_run())
