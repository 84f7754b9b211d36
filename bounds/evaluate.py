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
from dataclasses import dataclass, fields

import numpy as np

from cl_nscl_align.cli import command, flagged, one_line_warnings, options_of
from cl_nscl_align.options import Options, option

from .grid import LOSS_FORMS, OUTPUT_KEYS, evaluate_bounds
from .schedules import LR_RULES, SCHEDULE_UNITS, SCHEDULES
from .validation import check_normal

__all__ = ["EvaluateCommand", "EvaluateOptions", "FORMATS", "build_parser", "main", "records"]

FORMATS = ("table", "json", "csv", "latex", "analysis")
_GRID = "X[,X...]"


def _grid(name: str, value: tuple) -> None:
    """A comma list of at least one number (``--C ''`` is no grid; the API checks the
    values themselves, so that the messages are the Python ones)."""
    if not value:
        raise ValueError(f"Expected `{name}` to be a comma list of numbers, got ''")


def _grid_option(default: tuple | None, help: str, default_text: str | None = None):  # noqa: A002
    return option(default, help, check=_grid, metavar=_GRID, default_text=default_text)


def _saturation(name: str, value: float) -> None:
    """``0 < value < 1``, and not subnormal."""
    if not 0 < value < 1:
        raise ValueError(f"Expected `{name}` in (0, 1), got {value!r}")
    check_normal(name, value)


@dataclass(frozen=True)
class EvaluateOptions(Options):
    """The setting (comma lists sweep a grid, one row per combination, in flag order)."""

    # Every number is a list (a grid axis); its integrality and range are checked by
    # evaluate_bounds, whose keyword is the field's name (``steps``: ``T``).
    C: tuple[float, ...] = _grid_option((10,), "number of classes C (balanced: pi_max = 1/C)")
    tau: tuple[float, ...] = _grid_option((0.5,), "temperature tau")
    B: tuple[float, ...] = _grid_option(
        (1024,), "batch size B; at most N when N sets the number of steps (no --steps)")
    epochs: tuple[float, ...] = _grid_option((300,), "epochs; T = epochs * ceil(N/B)")
    N: tuple[float, ...] = _grid_option((50000,), "training-set size N (CIFAR: 50000)")
    steps: tuple[float, ...] | None = _grid_option(
        None, "number of steps T, overriding --epochs", "epochs * ceil(N/B)")
    lr: tuple[float, ...] = _grid_option((0.3,), "base learning rate before the batch-size rule")
    warmup_epochs: tuple[float, ...] = _grid_option(
        (10,), "linear warm-up epochs before the cosine decay (with --steps: the same "
        "fraction of T)")
    delta: tuple[float, ...] = _grid_option((0.05,), "failure probability delta in (0, 1)")
    pi_max: tuple[float, ...] | None = _grid_option(
        None, "largest class prior pi_max", "1/C, or n_max/N with --n-max")
    n_max: tuple[float, ...] | None = _grid_option(
        None, "largest class size among the N samples, for the [P1] paper form of the loss "
        "gap and pi_max = n_max/N", "none, balanced classes")
    N_ref: tuple[float, ...] | None = _grid_option(
        None, "reference-set size for the corollaries' NSCL-optimum normalisers",
        "10000; with --features, the feature file's row count, and --N-ref is refused")
    sum_eta: tuple[float, ...] | None = _grid_option(
        None, "sum of learning rates S, if known", "the schedule's exact sum")
    K_norm: tuple[float, ...] | None = _grid_option(
        None, "user-given ||K_CL||_F for Corollary 1",
        "N_ref/sqrt(C-1), the NSCL optimum, or from --features")
    sigma_a: tuple[float, ...] | None = _grid_option(
        None, "user-given sigma_a for Corollary 2", "the NSCL optimum, or from --features")
    G: tuple[float, ...] | None = _grid_option(
        None, "Jacobian bound G for Theorem 2, needs --beta", "none, Theorem 2 not shown")
    beta: tuple[float, ...] | None = _grid_option(
        None, "smoothness beta for Theorem 2, needs --G", "none, Theorem 2 not shown")

    lr_rule: tuple[str, ...] = option(
        ("linear",), "batch-size rule: linear lr*B/256, sqrt lr*sqrt(B)/256, fourth-root "
        "lr*B^(1/4)/256, constant lr", choices=LR_RULES, metavar="RULE[,RULE...]")
    schedule: tuple[str, ...] = option(
        ("cosine",), "learning-rate schedule: cosine (with linear warm-up) or constant",
        choices=SCHEDULES, metavar="KIND[,KIND...]")
    schedule_unit: tuple[str, ...] | None = option(
        None, "how often the schedule moves: step, or epoch (each rate held for the "
        "ceil(N/B) steps of an epoch and the warm-up in whole epochs, as the official code "
        "of [P2] steps it); S follows the choice exactly; rows then carry schedule_unit",
        choices=SCHEDULE_UNITS, metavar="UNIT[,UNIT...]", default_text="step")
    tight: bool = option(False, "Corollary 2 in the sqrt(2)-tight form (one triangle holds "
                         "half the off-diagonal mass) instead of the paper form",
                         switch=True, default_text="off, paper form")
    loss_form: str | None = option(None, "[P1] loss-gap form", choices=LOSS_FORMS,
                                   default_text="balanced, or paper with --n-max")
    features: str | None = option(None, "saved feature matrix (N, d): the corollaries' "
                                  "normalisers ||K||_F and sigma_a are computed from it (sets "
                                  "N_ref)", metavar="PATH.npy",
                                  default_text="none, NSCL-optimum normalisers")

    def check(self) -> None:
        if self.features is not None and self.N_ref is not None:
            given = ",".join(f"{v:g}" for v in self.N_ref)
            raise ValueError(f"argument --N-ref: not allowed with argument --features (the "
                             f"feature file's row count is N_ref), got --N-ref {given}")

    def grid(self) -> dict[str, tuple[float, ...]]:
        """The numeric axes given (or defaulted), by their :func:`evaluate_bounds` keyword."""
        return {_KEYWORDS.get(f.name, f.name): getattr(self, f.name)
                for f in fields(self) if f.metadata.get("check") is _grid
                and getattr(self, f.name) is not None}


#: Fields whose :func:`evaluate_bounds` keyword is another name.
_KEYWORDS = {"steps": "T"}


@dataclass(frozen=True)
class EvaluateCommand(Options):
    """What is printed."""

    format: str = option("table", "output: table, json, csv, latex or analysis",
                         choices=FORMATS, metavar="FMT", result=False)
    saturation: float = option(0.01, "analysis: the class count C* beyond which more classes "
                               "stop helping is the smallest C with Delta(C) <= (1+F) "
                               "Delta(C->oo)", check=_saturation, metavar="F", result=False)
    list: bool = option(False, "list the registry of bounds (name, source, tag) and exit",
                        switch=True, default_text="off", result=False)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, generated from :class:`EvaluateOptions` and
    :class:`EvaluateCommand`; defaults are the paper's setting (THEORY.md sections 11-12)."""
    return command(
        "python -m bounds.evaluate",
        "Evaluate every bound of [P1] and [P2] (docs/bounds.md): the [P1] loss gap, eps and "
        "Delta, Theorem 1 and its exact unrolled recurrence, the CKA/RSA corollaries "
        "(NSCL-optimum normalisers unless given) and Theorem 2 (with --G, --beta). "
        "Comma lists sweep a grid. Defaults follow the paper: B=1024, lr 0.3 with the "
        "linear rule (0.3*B/256), 10 warm-up epochs then cosine, 300 epochs, N=50000, "
        "delta=0.05, pi_max=1/C.",
        EvaluateOptions, EvaluateCommand,
        epilog=(
            "Output: one row per grid point; VACUOUS marks a bound that says nothing "
            "(pi_max+eps >= 1, rho >= 1 or r >= 1; then CKA >= 0 and RSA >= -1 are reported). "
            "JSON: null for infinite values or values beyond float range, whose log10_ "
            "twins keep the magnitude. Usage errors exit with status 2. "
            "Examples: python -m bounds.evaluate --C 100 --tau 0.5 ; "
            "python -m bounds.evaluate --C 10,100,1000 --tau 0.1,0.5 --format json ; "
            "python -m bounds.evaluate --C 100 --tau 0.5 --format analysis"))


_INT_KEYS = {"C", "B", "T", "N_ref", "warmup_steps"}
_BOOL_KEYS = {
    "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "trivial_sim_gap", "trivial_sim_gap_product",
}



def records(opts: EvaluateOptions) -> list[dict]:
    """Evaluate the grid described by ``opts``; one dict per combination."""
    grid = opts.grid()
    combos = list(itertools.product(*grid.values()))
    cols = {kw: np.array([c[i] for c in combos], dtype=np.float64)
            for i, kw in enumerate(grid)}
    rows: list[dict] = []
    units = opts.schedule_unit or ("step",)
    for rule, kind, unit in itertools.product(opts.lr_rule, opts.schedule, units):
        out = evaluate_bounds(lr_rule=rule, schedule=kind, schedule_unit=unit,
                              tight=opts.tight, loss_form=opts.loss_form,
                              features=opts.features, **cols)
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
            if opts.schedule_unit is not None:  # absent by default: default output unchanged
                rec["schedule_unit"] = unit
            rec["corollary_form"] = "tight" if opts.tight else "paper"
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


def _name_the_flag(message: str, opts: EvaluateOptions) -> str:
    """Prefix ``argument --steps:`` where the API's name (``T``) is not the flag's."""
    if message.startswith("Expected `T`") and opts.steps is not None:
        return f"argument --steps: {message}"
    return message


def _render(opts: EvaluateOptions, cmd: EvaluateCommand) -> str:
    """The text of ``cmd.format`` for the grid of ``opts``."""
    rows = records(opts)
    if cmd.format == "analysis":
        from .analysis import analysis_report

        v = {f.name: (getattr(opts, f.name) or (None,))[0] for f in fields(opts)
             if f.metadata.get("check") is _grid}
        text = analysis_report(v["C"], v["tau"], v["B"], epochs=v["epochs"], N=v["N"],
                               lr=v["lr"], T=v["steps"], warmup_epochs=v["warmup_epochs"],
                               delta=v["delta"], schedule=opts.schedule[0],
                               saturation=cmd.saturation,
                               N_ref=10000 if v["N_ref"] is None else v["N_ref"])
        if len(rows) > 1:
            text += "\n\n(analysis shown for the first value of each comma list)"
        if "epoch" in (opts.schedule_unit or ()):
            text += ("\n\n(the batch-size readings above step the schedule per step; "
                     "--schedule-unit epoch applies to the other formats)")
        return text
    if cmd.format == "json":
        return json.dumps([{k: _json_value(k, v) for k, v in r.items()} for r in rows],
                          indent=1, allow_nan=False)
    if cmd.format == "csv":
        return _csv(rows)
    if cmd.format == "latex":
        from .analysis import latex_statements

        return latex_statements() + "\n\n" + _latex_values(rows)
    return _table(rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 on a usage error)."""
    one_line_warnings("python -m bounds.evaluate")
    parser = build_parser()
    args = parser.parse_args(argv)
    (cmd,) = options_of(parser, args, EvaluateCommand)
    if cmd.list:
        from .registry import REGISTRY

        for e in REGISTRY.values():
            print(f"{e.name:24s} {e.source:32s} [{e.tag}]  {e.title}")
        return 0
    (opts,) = options_of(parser, args, EvaluateOptions)
    try:
        text = _render(opts, cmd)
    except (ValueError, TypeError) as exc:
        parser.error(_name_the_flag(flagged(exc, (EvaluateOptions,)), opts))
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
