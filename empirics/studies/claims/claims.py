"""The statistics of the claims C1-C7 of THEORY.md s13, one value per seed, signed so that
the paper's direction is the stated one.

Each claim turns finished runs into rows (:class:`ClaimRow`): a setting, a statistic, the
paper's direction (``+`` or ``-``), the paper's number where it reports one in the same
units, and one value per seed. :func:`summarize` adds the interval and the verdict
(:mod:`empirics.studies.claims.statistics`). The statistics, as docs/claims.md states them:

- **C1** (Fig. 2): ``A(CL,NSCL) - max(A(CL,SCL), A(CL,CE))`` at the last step, ``A`` = CKA
  or RSA, on the train and the test reference set, on ``z`` and on ``h``. ``+``.
- **C2** (Fig. 3): least-squares slope of the final CL-NSCL alignment against ``ln C`` over
  the seeded ``C``-way subsets of the real set, and over synthetic data sets with larger
  ``C``. ``+``.
- **C3** (Fig. 4): slope against ``ln tau``. ``+``.
- **C4** (Fig. 5): slope against ``log2 B`` under the linear rule (``-``, falls with ``B``);
  the slope of every other rule minus the linear one (``+``, flatter than linear); at an
  equal number of steps and, where the protocol asks, an equal number of samples seen.
- **C5** (Figs. 1, 6; Theorem 2), on the long run: growth of the relative weight gap over
  the second half, ``ln(wg_T / wg_T/2)`` (``+``), with the toolkit's and with the official
  code's weight gap; the first minus the growth of the relative
  similarity gap ``rho`` (``+``: weights drift while similarities saturate); the weight
  angle minus the representation angle at the end (``+``); the growth shape ``k`` of
  ``wg(S) = a (exp(b S) - 1)``, ``k = b S_T`` (``+`` convex, ``0`` linear, ``-``
  saturating); and ``log10`` of Theorem 2 (``beta``, ``G`` estimated from the run) over the
  measured ``||w_CL - w_NSCL||`` (``+``: the bound is above).
- **C6** (Figs. 2, 3): final alignment of the long run minus that of the base run. ``-``.
- **C7** ([P1]): over every evaluation, model and split of every run of the seed whose
  bound is positive, the smallest relative slack ``1 - gap / bound`` (``+``: under the
  bound) and the smallest ``gap / bound`` (``+``: the gap is positive); the slope of the CL
  encoder's final test gap against ``ln C`` (``-``).

Values are read with :mod:`empirics.studies.claims.measures` (torch-free).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from empirics.runs import Run
from empirics.studies.claims import measures
from empirics.studies.claims.plan import PlannedRun
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.statistics import exp_rate, interval, slope, verdict

__all__ = ["CSV_COLUMNS", "ClaimRow", "compute_rows", "summarize"]

#: claims.csv columns, in order.
CSV_COLUMNS = (
    "claim", "setting", "statistic", "estimate", "ci_low", "ci_high", "n_seeds", "verdict",
    "paper", "direction", "interval", "level", "paper_value", "data", "features", "split",
    "metric", "note",
)  # fmt: skip

METRIC_NAMES = {"cka": "CKA", "rsa": "RSA", "cka_linear": "linear CKA"}

Reader = Callable[[str], "Run | None"]


@dataclass
class ClaimRow:
    """One claim and setting: its statistic and one value per seed."""

    claim: str
    setting: str
    statistic: str
    direction: str
    paper: str
    paper_value: float = math.nan
    values: dict[int, float] = field(default_factory=dict)
    data: str = ""
    features: str = ""
    split: str = ""
    metric: str = ""
    note: str = ""
    missing: list[str] = field(default_factory=list)

    def put(self, seed: int, fn: Callable[[], float]) -> None:
        """Record ``fn()`` for ``seed``; a run that failed or lacks a column gives NaN and
        a note (never a plausible value)."""
        try:
            self.values[seed] = float(fn())
        except (_Missing, KeyError, IndexError) as exc:
            self.values[seed] = math.nan
            self.missing.append(f"seed {seed}: {_one_line(exc)}")


class _Missing(Exception):
    """A run a statistic needs did not finish."""


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())


def _get(read: Reader, run: PlannedRun) -> Run:
    got = read(run.name)
    if got is None:
        raise _Missing(f"run {run.name} did not finish")
    return got


def _uses(planned: Sequence[PlannedRun], claim: str, seed: int,
          setting: str | None = None) -> list[PlannedRun]:
    return [r for r in planned if r.claim == claim and r.seed == seed
            and (setting is None or r.setting == setting)]


# ----------------------------------------------------------------------------------- C1
def _c1(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    for split in ("train", "test"):
        for features in ("z", "h"):
            for metric in ("cka", "rsa"):
                name = METRIC_NAMES[metric]
                paper, value = "+ (Fig. 2)", math.nan
                if metric == "cka" and features == "h":
                    paper = ("+0.37 (Fig. 2, Tiny-ImageNet, ResNet-50 backbone: CKA 0.87 vs "
                             "max(0.04 SCL, 0.45-0.50 CE))")
                    value = 0.37
                row = ClaimRow("C1", f"base/{split}/{features}/{metric}",
                               f"{name}(CL,NSCL) - max({name}(CL,SCL), {name}(CL,CE)), last "
                               "step", "+", paper, value, data=p.dataset, features=features,
                               split=split, metric=metric)
                for s in range(p.seeds):
                    for use in _uses(planned, "C1", s, "base"):
                        def stat(use=use, metric=metric, split=split, features=features):
                            run = _get(read, use)
                            a = measures.final(run, "cl-nscl", metric, split=split,
                                               features=features)
                            others = [measures.final(run, pair, metric, split=split,
                                                     features=features)
                                      for pair in ("cl-scl", "cl-ce")]
                            return a - max(others)
                        row.put(s, stat)
                rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- trends
def _trend_value(read: Reader, runs: Sequence[PlannedRun], key: str, transform,
                 p: Protocol, features: str, column: str | None = None) -> float:
    """Slope of the final CL-NSCL alignment (or ``column``) against ``transform(key)``."""
    x, y = [], []
    for use in runs:
        run = _get(read, use)
        x.append(transform(float(use.point[key])))
        y.append(measures.final(run, "cl-nscl", column or p.metric, split=p.split,
                                features=features))
    return slope(x, y)


def _c2(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    name = METRIC_NAMES[p.metric]
    for data, dataset in (("real", p.dataset), ("synthetic", "synthetic")):
        Cs = p.ints("c2_real_classes" if data == "real" else "c2_synthetic_classes")
        for features in p.trend_features:
            row = ClaimRow("C2", f"{data}/{features}",
                           f"slope of CL-NSCL {name} against ln C, C in "
                           f"{{{', '.join(map(str, Cs))}}}", "+", "+ (Fig. 3)",
                           data=dataset, features=features, split=p.split, metric=p.metric)
            for s in range(p.seeds):
                group = _uses(planned, "C2", s, data)
                row.put(s, lambda g=group, f=features: _trend_value(read, g, "classes",
                                                                    math.log, p, f))
            rows.append(row)
    return rows


def _c3(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    name = METRIC_NAMES[p.metric]
    for features in p.trend_features:
        row = ClaimRow("C3", f"tau/{features}",
                       f"slope of CL-NSCL {name} against ln tau, tau in "
                       f"{{{', '.join(p.c3_taus)}}}", "+", "+ (Fig. 4)", data=p.dataset,
                       features=features, split=p.split, metric=p.metric)
        for s in range(p.seeds):
            group = _uses(planned, "C3", s, "tau")
            row.put(s, lambda g=group, f=features: _trend_value(read, g, "tau", math.log, p, f))
        rows.append(row)
    return rows


def _c4(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    name = METRIC_NAMES[p.metric]
    Bs = ", ".join(p.c4_batch_sizes)
    for budget in p.c4_budgets:
        length = "equal steps" if budget == "steps" else "equal samples seen"
        for features in p.trend_features:
            h = features == "h"
            lin = ClaimRow("C4", f"linear/{budget}/{features}",
                           f"slope of CL-NSCL {name} against log2 B under the linear rule, "
                           f"B in {{{Bs}}}, {length}", "-",
                           "-0.04 per doubling (Fig. 5, Mini-ImageNet: 0.94, 0.91, 0.86 at "
                           "B = 256, 512, 1024, fixed epochs)" if h else "- (Fig. 5)",
                           -0.04 if h else math.nan, data=p.dataset, features=features,
                           split=p.split, metric=p.metric)
            others = []
            for rule in p.c4_rules:
                if rule == "linear":
                    continue
                sq = rule == "sqrt" and h
                others.append((rule, ClaimRow(
                    "C4", f"{rule}-linear/{budget}/{features}",
                    f"slope under the {rule} rule minus slope under the linear rule "
                    f"(CL-NSCL {name} against log2 B, {length})", "+",
                    "+0.04 (Fig. 5: about 0.98 at every B with sqrt, -0.04 per doubling "
                    "with linear)" if sq else "+ (Fig. 5: flatter than linear)",
                    0.04 if sq else math.nan, data=p.dataset, features=features,
                    split=p.split, metric=p.metric)))
            for s in range(p.seeds):
                def rule_slope(rule, s=s, features=features, budget=budget):
                    group = _uses(planned, "C4", s, f"{rule}/{budget}")
                    return _trend_value(read, group, "batch_size", math.log2, p, features)
                lin.put(s, lambda: rule_slope("linear"))
                for rule, row in others:
                    row.put(s, lambda rule=rule: rule_slope(rule) - rule_slope("linear"))
            rows += [lin] + [r for _, r in others]
    if p.c4_match_lr and rows:
        rows[0].note = (f"every C4 row: the rules are scaled to give the base run's rate at "
                        f"B = {p.batch_size}, so that point is the base run for every rule")
    return rows


# ----------------------------------------------------------------------------------- C5, C6
def _c5(p: Protocol, planned, read: Reader, curvature: Mapping[int, Any]) -> list[ClaimRow]:
    growth = ClaimRow("C5", "long/weight_gap", "ln(wg_T / wg_T/2): growth of the relative "
                      "weight gap (mean over tensors of ||W_CL - W_NSCL|| / ||W_NSCL||) over "
                      "the second half of the long run", "+",
                      "+ (Fig. 6: the weight gap keeps growing)", data=p.dataset)
    official = ClaimRow("C5", "long/weight_gap_official", "ln(wg_T / wg_T/2) with the "
                        "official code's weight gap (mean over the backbone's weight tensors, "
                        "projector and biases excluded, of ||W_CL - W_NSCL|| / (0.5 (||W_CL|| "
                        "+ ||W_NSCL||)))", "+",
                        "+ (Fig. 6, the official code's definition)", data=p.dataset)
    versus = ClaimRow("C5", "long/weight_gap-vs-rho", "ln(wg_T / wg_T/2) - ln(rho_T / "
                      "rho_T/2): weights drift on while the relative similarity gap rho "
                      f"({p.split}, z) saturates", "+",
                      "+ (Fig. 6: weight gap grows, similarity gap stays small)",
                      data=p.dataset, features="z", split=p.split)
    angles = ClaimRow("C5", "long/angles", "weight angle - representation angle (degrees, "
                      f"{p.split}, h) at the end of the long run", "+",
                      "+58 degrees (Fig. 1: weight angle about 86, representation angle "
                      "about 28)", 58.0, data=p.dataset, features="h", split=p.split)
    shape = ClaimRow("C5", "long/shape", "growth shape k = b S_T of the fit wg(S) = a "
                     "(exp(b S) - 1) (k > 0 convex, 0 linear, < 0 saturating)", "+",
                     "+ (Theorem 2 allows exp(beta S) - 1; a bound, not a fit)",
                     data=p.dataset)
    th2 = ClaimRow("C5", "long/theorem2", "log10 Theorem 2 (beta, G estimated from the run) "
                   "- log10 ||w_CL - w_NSCL|| at the end of the long run", "+",
                   "+ (Theorem 2, constants open)", data=p.dataset)
    crossings, fits, curv, events = [], [], [], []
    for s in range(p.seeds):
        for use in _uses(planned, "C5", s, "long"):
            def wg(use=use):
                return measures.series(_get(read, use), "cl-nscl", "weight_gap",
                                       split=p.split, features="z")

            def growth_of(df):
                mid = measures.mid_step(df["step"].to_numpy())
                v = df.set_index("step")["value"]
                return math.log(v.iloc[-1] / v.loc[mid])

            growth.put(s, lambda: growth_of(wg()))
            official.put(s, lambda use=use: growth_of(measures.series(
                _get(read, use), "cl-nscl", "weight_gap_official", split=p.split,
                features="z")))
            versus.put(s, lambda use=use: growth_of(wg()) - growth_of(measures.series(
                _get(read, use), "cl-nscl", "rho", split=p.split, features="z")))

            def angle(use=use, s=s):
                run = _get(read, use)
                w = measures.series(run, "cl-nscl", "weight_angle", split=p.split,
                                    features="h")
                r = measures.series(run, "cl-nscl", "repr_angle", split=p.split,
                                    features="h")
                j = w.merge(r, on="step", suffixes=("_w", "_r"))
                over = j[(j["step"] > 0) & (j["value_w"] > j["value_r"])]
                S = measures.sum_eta_by_step(run)
                crossings.append(None if over.empty else
                                 (int(over["step"].iloc[0]),
                                  S.get(int(over["step"].iloc[0]), math.nan)))
                return float(j["value_w"].iloc[-1] - j["value_r"].iloc[-1])

            angles.put(s, angle)

            def fitted(use=use):
                run = _get(read, use)
                df = wg()
                S = measures.sum_eta_by_step(run)
                fit = exp_rate([S.get(int(t), math.nan) for t in df["step"]], df["value"])
                fits.append(fit)
                return fit["k"]

            shape.put(s, fitted)

            def bound(s=s, use=use):
                c = curvature.get(s)
                if not c:
                    raise _Missing(f"the curvature of seed {s}'s long run did not finish")
                curv.append(c)
                b = _get(read, use).bounds
                if "event_held" in b.columns and len(b):
                    events.append(str(b.sort_values("step")["event_held"].iloc[-1]).lower()
                                  == "true")
                if c.get("log10_theorem2") is None:
                    raise _Missing("Theorem 2 is undefined (pi_max + eps >= 1: Delta "
                                   "vacuous)")
                return float(c["log10_theorem2"]) - math.log10(float(c["weight_distance"]))

            th2.put(s, bound)
    n_cross = sum(c is not None for c in crossings)
    angles.note = f"weight angle above representation angle at some step in {n_cross} of " \
                  f"{len(crossings)} seeds"
    if n_cross:
        first = sorted(c for c in crossings if c is not None)
        angles.note += ("; first crossings at step " +
                        ", ".join(f"{t} (S = {S:.3g})" for t, S in first))
    if fits:
        lin = np.median([f["rss_linear"] for f in fits])
        ex = np.median([f["rss_exp"] for f in fits])
        shape.note = f"median residual sum of squares: linear {lin:.3g}, exponential {ex:.3g}"
    if curv:
        def med(k):
            return float(np.median([float(c[k]) for c in curv if c.get(k) is not None]))
        th2.note = (f"median beta {med('beta'):.3g}, G {med('G'):.3g}, S {med('sum_eta'):.3g}, "
                    f"log10 Delta {med('log10_Delta'):.3g}, log10 Theorem 2 "
                    f"{med('log10_theorem2'):.3g}, ||w_CL - w_NSCL|| "
                    f"{med('weight_distance'):.3g}; curvature by {curv[0].get('estimator')}")
        if events:
            th2.note += (f"; the batch-composition event of the theorem (q <= pi_max + eps at "
                         f"every step) held in {sum(events)} of {len(events)} long runs")
    return [growth, official, versus, angles, shape, th2]


def _c6(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    name = METRIC_NAMES[p.metric]
    for features in p.trend_features:
        row = ClaimRow("C6", f"long-base/{features}",
                       f"final CL-NSCL {name} of the long run ({p.c5_steps} steps) minus that "
                       f"of the base run ({p.steps} steps)", "-",
                       "- (Figs. 2, 3: slow decline with much longer training)",
                       data=p.dataset, features=features, split=p.split, metric=p.metric)
        for s in range(p.seeds):
            base = _uses(planned, "C6", s, "base")
            long = _uses(planned, "C6", s, "long")

            def diff(base=base, long=long, features=features):
                f = [measures.final(_get(read, u[0]), "cl-nscl", p.metric, split=p.split,
                                    features=features) for u in (long, base)]
                return f[0] - f[1]

            row.put(s, diff)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- C7
def _c7(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    slack = ClaimRow("C7", "all-runs/slack", "min over every evaluation, model and split of "
                     "every run of the seed of 1 - (L_CL - L_NSCL) / [P1] bound (rows with a "
                     "positive bound)", "+", "+ (theorem: gap <= bound for every encoder)",
                     data="all")
    lower = ClaimRow("C7", "all-runs/lower", "min over the same rows of (L_CL - L_NSCL) / "
                     "[P1] bound", "+", "+ (theorem: L_CL >= L_NSCL, strictly with a "
                     "same-class negative)", data="all")
    counts = [0, 0, 0]
    for s in range(p.seeds):
        mine = {r.name: r for r in planned if r.seed == s and r.spec.target is None}

        def every(key, mine=mine):
            vals = []
            for use in mine.values():
                m = measures.p1_margins(_get(read, use))
                if key == "slack":
                    counts[0] += m["rows_held"]
                    counts[1] += m["rows"]
                    counts[2] += m["rows_empty"]
                vals.append(m[key])
            return min(vals)

        slack.put(s, lambda: every("slack"))
        lower.put(s, lambda: every("lower"))
    slack.note = (f"the trainer's per-batch check 0 <= gap <= bound held in {counts[0]} of "
                  f"{counts[1]} (run, step, model, split) rows; {counts[2]} rows had no "
                  "same-class negative in any batch (gap = bound = 0) and are left out of "
                  "the ratios")
    rows = [slack, lower]
    for data, dataset in (("real", p.dataset), ("synthetic", "synthetic")):
        Cs = p.ints("c2_real_classes" if data == "real" else "c2_synthetic_classes")
        row = ClaimRow("C7", f"{data}/loss_gap", "slope of the CL encoder's final test L_CL - "
                       f"L_NSCL against ln C, C in {{{', '.join(map(str, Cs))}}}", "-",
                       "- ([P1]: the bound log(1 + e^(2/tau)/(C-1)) falls with C)",
                       data=dataset, split="test")
        for s in range(p.seeds):
            group = _uses(planned, "C7", s, data)

            def gap_slope(group=group):
                x, y = [], []
                for use in group:
                    lg = _get(read, use).losses
                    sub = lg[(lg["model"] == "cl") & (lg["split"] == "test")]
                    sub = sub.sort_values("step", kind="stable")
                    x.append(math.log(float(use.point["classes"])))
                    y.append(float(sub["loss_gap"].iloc[-1]))
                return slope(x, y)

            row.put(s, gap_slope)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- all
def compute_rows(p: Protocol, planned: Sequence[PlannedRun], read: Reader,
                 curvature: Mapping[int, Any] | None = None) -> list[ClaimRow]:
    """Every row of the protocol's claims, in claim order.

    Args:
        p: the protocol.
        planned: the training-run uses (:func:`empirics.studies.claims.plan.plan_runs`).
        read: ``name -> Run`` of a finished run, ``None`` for one that failed.
        curvature: ``seed -> summary`` of C5's curvature task (``None`` when it failed).
    """
    builders = {"C1": _c1, "C2": _c2, "C3": _c3, "C4": _c4, "C6": _c6, "C7": _c7}
    rows: list[ClaimRow] = []
    for claim in p.claims:
        if claim == "C5":
            rows += _c5(p, planned, read, curvature or {})
        else:
            rows += builders[claim](p, planned, read)
    return rows


def summarize(rows: Sequence[ClaimRow], p: Protocol) -> list[dict[str, Any]]:
    """claims.csv rows: the estimate, its interval over seeds and the verdict of each row."""
    import warnings

    from empirics.seeds import rng

    out = []
    for row in rows:
        values = [row.values[s] for s in sorted(row.values)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # stated in the note instead
            est, lo, hi, n = interval(values, method=p.interval, level=p.level,
                                      rng=rng(0, "bootstrap", row.claim, row.setting),
                                      resamples=p.bootstrap_resamples)
        notes = [row.note] if row.note else []
        if n < 2:
            notes.append(f"{n} seed(s) with a value: no interval")
        notes += row.missing
        out.append({
            "claim": row.claim, "setting": row.setting, "statistic": row.statistic,
            "estimate": est, "ci_low": lo, "ci_high": hi, "n_seeds": n,
            "verdict": verdict(lo, hi, row.direction), "paper": row.paper,
            "direction": row.direction,
            "interval": "student-t" if p.interval == "t" else "bootstrap-percentile",
            "level": p.level, "paper_value": row.paper_value, "data": row.data,
            "features": row.features, "split": row.split, "metric": row.metric,
            "note": "; ".join(notes),
        })
    return out
