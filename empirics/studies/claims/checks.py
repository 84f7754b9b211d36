"""C7 ([P1]) and the deterministic checks of the theorems.

**C7's statistic** (secondary): the slope of the CL encoder's final test ``L_CL - L_NSCL``
against ``ln C`` over C2's runs ([P1]: the bound ``log(1 + e^(2/tau)/(C-1))`` falls with
``C``, and the measured gap with it).

**Theorem checks are counts, not intervals** (``theorem_checks.csv``, columns ``check``,
``rows``, ``violations``, ``worst_ratio``, ``note``). A theorem holds or fails on every
row; an interval over seeds of a per-seed minimum says nothing more. Over every run of the
study (each counted once):

- ``p1_bound`` ([P1], THEORY.md s3): every evaluation row (step, model, split) of
  ``losses.csv``; a violation is a row where some evaluation batch broke
  ``0 <= L_CL - L_NSCL <= bound`` (the trainer's per-batch check ``p1_holds``);
  ``worst_ratio`` the largest mean gap over its mean bound among rows with a positive
  bound (rows without a same-class negative have gap = bound = 0 and are counted in the
  note);
- ``batch_composition`` ([P2] Theorem 1's event, THEORY.md s9): every evaluation window
  of ``bounds.csv``; a violation is a window whose largest same-class fraction ``q_max``
  exceeds ``pi_max + eps(B, delta, T)``; ``worst_ratio`` the largest ``q_max / q_bound``;
- ``theorem2`` ([P2] Theorem 2 with ``beta`` and ``G`` estimated from the run, THEORY.md
  s8): every long run; a violation is a measured ``||w_CL - w_NSCL||`` above the bound;
  ``worst_ratio`` is ``log10(measured / bound)`` at its largest, so ``-600`` means the
  bound is 600 orders of magnitude above the measurement: satisfied, and vacuous.

**Stalled models** (``stalled.csv``, a diagnostic, not a verdict): a model whose test
``loss_own`` moved by less than :data:`STALL_TOLERANCE` of its initial value over the whole
run never left its starting plateau, so its alignment with the others measures an
untrained encoder. The study names every such model (run, seed, model, steps, first and
last loss) so that a seed far from the others can be traced to it; no value is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from empirics.objectives import THEOREM_PAIR
from empirics.studies.claims.plan import PlannedRun
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.rows import ClaimRow, Reader, get, new_row, uses
from empirics.studies.statistics import slope

__all__ = ["CHECK_COLUMNS", "STALL_COLUMNS", "STALL_TOLERANCE", "c7", "stalled_models",
           "theorem_checks"]

#: theorem_checks.csv columns, in order.
CHECK_COLUMNS = ("check", "rows", "violations", "worst_ratio", "note")
#: stalled.csv columns, in order.
STALL_COLUMNS = ("run", "seed", "model", "steps", "loss_start", "loss_end", "relative_change")
#: A model is stalled when ``|loss_end - loss_start| < STALL_TOLERANCE * |loss_start|``
#: (test ``loss_own``, first and last evaluation): 1%, against the 5-20% that a model which
#: trains moves in the shortest runs of the committed protocols.
STALL_TOLERANCE = 0.01


def c7(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    groups = [("synthetic", "synthetic", p.ints("c2_synthetic_classes"))]
    if p.c2_real_classes and p.base("dataset") != "synthetic":
        groups.insert(0, ("real", p.base("dataset"), p.ints("c2_real_classes")))
    for group, dataset, Cs in groups:
        grid = "{" + ", ".join(map(str, Cs)) + "}"
        row = new_row("C7", "{group}/loss_gap", data=dataset, split="test", group=group,
                      grid=grid)
        for s in range(p.seeds_of("C7")):
            g = uses(planned, "C7", s, group)

            def gap_slope(g=g) -> float:
                x, y = [], []
                for use in g:
                    lg = get(read, use).losses
                    sub = lg[(lg["model"] == THEOREM_PAIR[0]) & (lg["split"] == "test")]
                    sub = sub.sort_values("step", kind="stable")
                    x.append(math.log(float(use.point["classes"])))
                    y.append(float(sub["loss_gap"].iloc[-1]))
                return slope(x, y)

            row.put(s, gap_slope)
        rows.append(row)
    return rows


def _training_runs(planned: Sequence[PlannedRun]) -> dict[str, int]:
    """Every distinct training run of ``planned`` (not a task on one), in plan order, with
    the seed of its first use."""
    out: dict[str, int] = {}
    for use in planned:
        if use.spec.target is None:
            out.setdefault(use.name, use.seed)
    return out


def _bools(column: pd.Series) -> pd.Series:
    if column.dtype == bool:
        return column
    return column.astype(str).str.lower().eq("true")


def theorem_checks(planned: Sequence[PlannedRun], read: Reader,
                   longrun: Mapping[int, Any]) -> list[dict[str, Any]]:
    """The rows of ``theorem_checks.csv`` over every distinct run of ``planned``."""
    runs = [read(n) for n in _training_runs(planned)]
    failed = sum(r is None for r in runs)
    runs = [r for r in runs if r is not None]
    missing = f"; {failed} run(s) failed and are not counted" if failed else ""

    n, bad, worst, empty = 0, 0, -math.inf, 0
    for run in runs:
        lg = run.losses
        if lg.empty or not {"loss_gap", "loss_gap_bound", "p1_holds"} <= set(lg.columns):
            continue
        n += len(lg)
        bad += int((~_bools(lg["p1_holds"])).sum())
        bound = pd.to_numeric(lg["loss_gap_bound"]).to_numpy(float)
        gap = pd.to_numeric(lg["loss_gap"]).to_numpy(float)
        pos = bound > 0
        empty += int((~pos).sum())
        if pos.any():
            worst = max(worst, float((gap[pos] / bound[pos]).max()))
    p1 = {"check": "p1_bound", "rows": n, "violations": bad,
          "worst_ratio": worst if math.isfinite(worst) else math.nan,
          "note": "[P1]: 0 <= L_CL - L_NSCL <= log(1 + e^(2/tau) (n_max - 1)/(N - n_max)) on "
                  "every evaluation batch (rows: evaluation step x model x split of every "
                  "run); worst_ratio: the largest mean gap over its mean bound; "
                  f"{empty} rows had no same-class negative (gap = bound = 0){missing}"}

    n, bad, worst = 0, 0, -math.inf
    for run in runs:
        b = run.bounds
        if b.empty or not {"q_max", "q_bound"} <= set(b.columns):
            continue
        q = pd.to_numeric(b["q_max"]).to_numpy(float)
        qb = pd.to_numeric(b["q_bound"]).to_numpy(float)
        ok = pd.notna(q) & pd.notna(qb)
        n += int(ok.sum())
        bad += int((q[ok] > qb[ok]).sum())
        if ok.any():
            worst = max(worst, float((q[ok] / qb[ok]).max()))
    event = {"check": "batch_composition", "rows": n, "violations": bad,
             "worst_ratio": worst if math.isfinite(worst) else math.nan,
             "note": "[P2] Theorem 1's event q <= pi_max + eps(B, delta, T) (rows: evaluation "
                     "windows of every run; q the largest same-class fraction of a sample's "
                     f"negatives in the window); worst_ratio: the largest q / bound{missing}"}

    n, bad, worst, vacuous = 0, 0, -math.inf, 0
    for task in longrun.values():
        if not task:
            continue
        if task.get("log10_theorem2") is None:
            vacuous += 1
            continue
        n += 1
        ratio = math.log10(float(task["weight_distance"])) - float(task["log10_theorem2"])
        bad += ratio > 0
        worst = max(worst, ratio)
    th2 = {"check": "theorem2", "rows": n, "violations": bad,
           "worst_ratio": worst if math.isfinite(worst) else math.nan,
           "note": "[P2] Theorem 2, (G / (beta tau)) Delta (exp(beta S) - 1) with beta and G "
                   "estimated from each long run, against the measured ||w_CL - w_NSCL|| at "
                   "its end (rows: long runs); worst_ratio = log10(measured / bound), in "
                   "orders of magnitude" + (f"; {vacuous} run(s) with an undefined Delta "
                                            "(pi_max + eps >= 1)" if vacuous else "")}
    return [p1, event, th2]


def stalled_models(planned: Sequence[PlannedRun], read: Reader,
                   tolerance: float = STALL_TOLERANCE) -> list[dict[str, Any]]:
    """The rows of ``stalled.csv``: every model of every distinct run of ``planned`` whose
    test ``loss_own`` changed by less than ``tolerance`` of its first value between the
    first and the last evaluation (module docstring). Failed runs are skipped.

    >>> from types import SimpleNamespace as NS
    >>> losses = pd.DataFrame({"step": [0, 0, 9, 9], "model": ["cl", "nscl"] * 2,
    ...                        "split": ["test"] * 4, "loss_own": [4.8, 4.7, 4.2, 4.699]})
    >>> use = NS(name="r", seed=7, spec=NS(target=None))
    >>> [(r["model"], r["seed"]) for r in stalled_models([use], lambda n: NS(losses=losses))]
    [('nscl', 7)]
    """
    out = []
    for name, seed in _training_runs(planned).items():
        run = read(name)
        if run is None or run.losses.empty:
            continue
        lg = run.losses
        test = lg[lg["split"] == "test"]
        for model, sub in test.groupby("model", sort=False):
            sub = sub.sort_values("step", kind="stable")
            if len(sub) < 2:
                continue
            first, last = float(sub["loss_own"].iloc[0]), float(sub["loss_own"].iloc[-1])
            change = abs(last - first) / abs(first) if first else math.inf
            if change < tolerance:
                out.append({"run": name, "seed": seed, "model": model,
                            "steps": int(sub["step"].iloc[-1]), "loss_start": first,
                            "loss_end": last, "relative_change": change})
    return out
