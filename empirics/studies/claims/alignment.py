"""The alignment statistics: C1 (NSCL is closest), C2 (grows with C), C3 (grows with tau),
C4 (batch size) and C6 (declines within a long run), one value per seed.

Every value is read from the runs' ``metrics.csv`` on the **test** reference set
(:mod:`empirics.studies.claims.measures`). The primary of each claim uses the paper's
measure (linear CKA of the raw backbone features ``h``,
:data:`~empirics.studies.claims.catalog.PRIMARY_METRIC`); the trend secondaries the
protocol's ``metric`` (cosine CKA by default) and linear CKA on each of
``trend_features``; C1's secondaries every registered measure
(:data:`empirics.measures.MEASURES`) on ``h`` and ``z``. A measure where lower is more
aligned is signed by its :attr:`~empirics.measures.Measure.sign`, so that ``+`` is the
paper's direction for every measure. A measure a run did not record (a run written before
the measure was added) gives NaN and one note. The statistics, as
:mod:`~empirics.studies.claims.catalog` declares them:

- **C1**: ``A(CL,NSCL) - max(A(CL,SCL), A(CL,CE))`` at the base run's last step (for a
  distance ``D``: ``min(D(CL,SCL), D(CL,CE)) - D(CL,NSCL)``);
- **C2**: least-squares slope of the final CL-NSCL ``A`` against ``ln C`` over the
  synthetic runs (fixed samples per class, orthonormal prototypes) and, as a secondary,
  over seeded C-way subsets of the real set;
- **C3**: the slope against ``ln tau``;
- **C4**: the slope against ``log2 B`` under the linear rule (each budget), and every other
  rule's slope minus the linear one;
- **C6**: ``A`` at the end of the long run minus ``A`` at ``T/2`` (one run, one seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from empirics.measures import MEASURES
from empirics.objectives import THEOREM_PAIR, pair_name, paper_objectives
from empirics.studies.claims import measures
from empirics.studies.claims.catalog import PRIMARY_FEATURES, PRIMARY_METRIC
from empirics.studies.claims.plan import PlannedRun
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.rows import ClaimRow, Reader, get, new_row, uses
from empirics.studies.statistics import slope

__all__ = ["c1", "c2", "c3", "c4", "c6", "variants"]

SPLIT = "test"
PRIMARY = (PRIMARY_FEATURES, PRIMARY_METRIC)
#: The feature kinds of C1's secondaries: the backbone ``h`` and the projection ``z``.
FEATURES = ("h", "z")
#: The pair the claims are about (``cl-nscl``), and C1's other pairs: CL against each other
#: objective of the paper (``cl-scl``, ``cl-ce``).
PAIR = pair_name(*THEOREM_PAIR)


def _others() -> list[str]:
    cl = THEOREM_PAIR[0]
    return [pair_name(cl, o) for o in paper_objectives() if o not in THEOREM_PAIR]


def _sign(metric: str) -> int:
    """``+1`` for a measure where higher is more aligned, ``-1`` where lower is (a name the
    registry does not know, e.g. a plugin no longer installed, reads as ``+1``)."""
    entry = MEASURES.get(metric)
    return 1 if entry is None else entry.sign


def variants(p: Protocol) -> list[tuple[str, str]]:
    """``(features, metric)`` of a trend claim's rows: the primary first, then linear CKA
    and the protocol's metric on each of ``trend_features``."""
    out = [PRIMARY]
    for f in p.trend_features:
        for m in (PRIMARY_METRIC, p.metric):
            if (f, m) not in out:
                out.append((f, m))
    return out


def _row(claim: str, primary: str | None, secondary: str, features: str, metric: str,
         data: str, **fields) -> ClaimRow:
    """A row of the primary pattern for the primary's features and metric (where the
    group has a primary), else of the secondary pattern."""
    pattern = primary if primary and (features, metric) == PRIMARY else secondary
    return new_row(claim, pattern, data=data, features=features, split=SPLIT, metric=metric,
                   **fields)


def _trend(read: Reader, group: Sequence[PlannedRun], key: str, transform: Callable,
           metric: str, features: str) -> float:
    """Slope of the final CL-NSCL ``metric`` against ``transform(point[key])`` (times the
    measure's sign)."""
    x, y = [], []
    for use in group:
        run = get(read, use)
        x.append(transform(float(use.point[key])))
        y.append(measures.final(run, PAIR, metric, split=SPLIT, features=features))
    b = slope(x, y)
    return b if _sign(metric) > 0 else -b


# ----------------------------------------------------------------------------------- C1
def c1(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    dataset = p.base("dataset")
    combos = [PRIMARY] + [(f, m) for f in FEATURES for m in MEASURES.names()
                          if (f, m) != PRIMARY]
    rows = []
    for features, metric in combos:
        row = _row("C1", "base/test/h/cka_linear", "base/test/{features}/{metric}", features,
                   metric, dataset)
        for s in range(p.seeds_of("C1")):
            for use in uses(planned, "C1", s, "base"):
                def stat(use=use, metric=metric, features=features):
                    run = get(read, use)
                    a = measures.final(run, PAIR, metric, split=SPLIT, features=features)
                    others = [measures.final(run, pair, metric, split=SPLIT,
                                             features=features) for pair in _others()]
                    if _sign(metric) > 0:
                        return a - max(others)
                    return min(others) - a  # a distance: NSCL is closest when smallest
                row.put(s, stat)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- C2, C3
def c2(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    groups = [("synthetic", "synthetic", p.ints("c2_synthetic_classes"))]
    if p.c2_real_classes and p.base("dataset") != "synthetic":
        groups.append(("real", p.base("dataset"), p.ints("c2_real_classes")))
    for group, dataset, Cs in groups:
        grid = "{" + ", ".join(map(str, Cs)) + "}"
        for features, metric in variants(p):
            primary = "synthetic/h/cka_linear" if group == "synthetic" else None
            row = _row("C2", primary, "{group}/{features}/{metric}", features, metric,
                       dataset, group=group, grid=grid)
            for s in range(p.seeds_of("C2")):
                g = uses(planned, "C2", s, group)
                row.put(s, lambda g=g, f=features, m=metric: _trend(read, g, "classes",
                                                                     math.log, m, f))
            rows.append(row)
    return rows


def c3(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    grid = "{" + ", ".join(p.c3_taus) + "}"
    for features, metric in variants(p):
        row = _row("C3", "tau/h/cka_linear", "tau/{features}/{metric}", features, metric,
                   p.base("dataset"), grid=grid)
        for s in range(p.seeds_of("C3")):
            g = uses(planned, "C3", s, "tau")
            row.put(s, lambda g=g, f=features, m=metric: _trend(read, g, "tau", math.log, m, f))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- C4
def c4(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    dataset = p.base("dataset")
    grid = "{" + ", ".join(p.c4_batch_sizes) + "}"
    for budget in p.c4_budgets:
        for features, metric in variants(p):
            primary = "linear/epochs/h/cka_linear" if budget == "epochs" else None
            lin = _row("C4", primary, "linear/{budget}/{features}/{metric}", features,
                       metric, dataset, budget=budget, grid=grid)
            others = [(rule, new_row("C4", "{rule}-linear/{budget}/{features}/{metric}",
                                     data=dataset, features=features, split=SPLIT,
                                     metric=metric, rule=rule, budget=budget))
                      for rule in p.c4_rules if rule != "linear"]
            for s in range(p.seeds_of("C4")):
                def rule_slope(rule, s=s, f=features, m=metric, budget=budget):
                    g = uses(planned, "C4", s, f"{rule}/{budget}")
                    return _trend(read, g, "batch_size", math.log2, m, f)  # signed
                lin.put(s, lambda: rule_slope("linear"))
                for rule, row in others:
                    row.put(s, lambda rule=rule: rule_slope(rule) - rule_slope("linear"))
            rows += [lin] + [r for _, r in others]
    if p.c4_match_lr and rows:
        rows[0].note = (f"every C4 row: the rules are scaled to give the base run's rate at "
                        f"B = {p.base('batch_size')}, so that point is the base run for "
                        "every rule")
    return rows


# ----------------------------------------------------------------------------------- C6
def c6(p: Protocol, planned, read: Reader) -> list[ClaimRow]:
    rows = []
    half = p.c5_steps // 2
    for features, metric in variants(p):
        row = _row("C6", "long/h/cka_linear", "long/{features}/{metric}", features, metric,
                   p.base("dataset"))
        for s in range(p.seeds_of("C6")):
            for use in uses(planned, "C6", s, "long"):
                def decline(use=use, f=features, m=metric):
                    v = measures.series(get(read, use), PAIR, m, split=SPLIT,
                                        features=f).set_index("step")["value"]
                    change = float(v.iloc[-1] - v.loc[half])
                    return change if _sign(m) > 0 else -change
                row.put(s, decline)
        rows.append(row)
    return rows
