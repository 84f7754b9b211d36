"""The verdict rule: from one value per seed to claims.csv (intervals, p-values, Holm,
equivalence, replication), stated before any run and applied here only.

For a statistic with values ``x_s`` over the seeds ``s`` (NaN seeds left out), its
direction, role and ``delta`` from :mod:`empirics.studies.claims.catalog`, and
``alpha = 1 - level`` (0.05):

1. **Interval and p-value** (every row): the mean, its two-sided ``level`` Student-t
   interval ``mean +- t_{1-alpha/2, n-1} s / sqrt(n)``, and the two-sided one-sample t
   test of mean 0, ``p = 2 P(T_{n-1} >= |mean| / (s / sqrt n))``
   (:func:`empirics.studies.statistics.t_test_p`).
2. **Primaries** (one per claim C1-C6): the seeds split into two disjoint sets, even seeds
   (discovery) and odd seeds (replication). *Each set* gets the same rule: its interval,
   its p-value, Holm's adjustment over the primaries of that set (the six, or those of the
   claims tested), and the equivalence test TOST within ``+-delta`` at ``alpha``. Its
   verdict is ``holds`` / ``reversed`` when its interval excludes 0 and its Holm-adjusted p
   is below ``alpha`` (``holds`` on the paper's side), else ``absent`` when TOST's p is
   below ``alpha`` (its ``1 - 2 alpha`` interval inside ``+-delta``), else
   ``inconclusive``. The **final verdict** is the two sets' verdict when they agree and
   ``unstable`` when they do not. claims.csv reports the interval, p-value and Holm
   adjustment (over all primaries) of all seeds together, and both sets' verdicts in
   ``replication``.
3. **Secondaries**: the interval and the unadjusted p-value of all seeds; ``holds`` /
   ``reversed`` when the interval excludes 0 (on / off the paper's side), else
   ``inconclusive``; no equivalence test, no replication. They are descriptive: never
   tallied with the primaries. A statistic without a predicted sign (direction ``none``)
   is ``descriptive``.

>>> values = {("C1", "base/test/h/cka_linear"): {0: 0.30, 1: 0.31, 2: 0.29, 3: 0.32}}
>>> row = verdict_table(values)[("C1", "base/test/h/cka_linear")]
>>> row["verdict"], row["replication"], row["p_holm"] == row["p_value"]
('holds', 'discovery holds (2 seeds), replication holds (2 seeds)', True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from empirics.studies.claims.catalog import lookup
from empirics.studies.statistics import (
    decide,
    holm,
    interval,
    replicate,
    split_seeds,
    t_test_p,
    tost_p,
)

__all__ = ["CSV_COLUMNS", "SET_NAMES", "VERDICT_RULE", "summarize", "verdict_table"]

#: claims.csv columns, in order.
CSV_COLUMNS = (
    "claim", "setting", "role", "statistic", "estimate", "ci_low", "ci_high", "n_seeds",
    "direction", "delta", "p_value", "p_holm", "verdict", "replication", "paper",
    "paper_value", "interval", "level", "data", "features", "split", "metric", "note",
)  # fmt: skip
SET_NAMES = ("discovery", "replication")

#: The verdict rule, as the protocol files and claims.md state it.
VERDICT_RULE = (
    "Each statistic is computed once per seed, signed so that the paper's direction is the "
    "stated one. Primaries (one per claim C1-C6, declared with a smallest effect of "
    "interest delta): the seeds split into two disjoint sets (even seeds discover, odd "
    "seeds replicate); each set gets a 95% Student-t interval, a two-sided one-sample t "
    "test of mean 0, Holm's adjustment over the primaries of that set, and the two "
    "one-sided tests of equivalence within +-delta (TOST) at alpha = 0.05. A set's verdict "
    "is 'holds' (or 'reversed') when its interval excludes 0 on the paper's side (or the "
    "other) and its Holm-adjusted p is below 0.05, else 'absent' when TOST's p is below "
    "0.05 (its 90% interval inside +-delta), else 'inconclusive'. The final verdict is the "
    "two sets' common verdict, or 'unstable' when they disagree; the reported interval, p "
    "and Holm-adjusted p are those of all seeds. Secondaries: the 95% interval of all "
    "seeds, 'holds' or 'reversed' when it excludes 0, else 'inconclusive', unadjusted and "
    "never tallied with the primaries; a shape without a predicted sign is 'descriptive'. "
    "Every verdict is reported; the protocol was committed before any result was seen, and "
    "nothing is re-run or re-tuned to change a verdict."
)


def _stats(values: Sequence[float], level: float) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fewer than two seeds: said by n
        est, lo, hi, n = interval(values, method="t", level=level)
    return {"estimate": est, "ci_low": lo, "ci_high": hi, "n_seeds": n,
            "p_value": t_test_p(values)}


def verdict_table(values: Mapping[tuple[str, str], Mapping[int, float]], *,
                  level: float = 0.95) -> dict[tuple[str, str], dict[str, Any]]:
    """The verdict of every statistic from its per-seed values (the module's rule).

    Args:
        values: ``{(claim, setting): {seed: value}}`` (claims_seeds.csv).
        level: the interval's level; ``alpha = 1 - level``.

    Returns:
        ``{(claim, setting): row}``; a row holds ``role``, ``direction``, ``delta``,
        ``estimate``, ``ci_low``, ``ci_high``, ``n_seeds``, ``p_value``, ``p_holm``,
        ``verdict``, ``replication`` and, for primaries, ``sets``: each set's ``seeds``,
        statistics, ``p_holm``, ``p_tost`` and ``verdict``.

    Raises:
        KeyError: a statistic the catalog does not declare.
    """
    alpha = 1.0 - level
    out: dict[tuple[str, str], dict[str, Any]] = {}
    primaries = []
    for key, by_seed in values.items():
        meta = lookup(*key)
        seeds = sorted(by_seed)
        row = {"role": meta.role, "direction": meta.direction, "delta": meta.delta,
               **_stats([by_seed[s] for s in seeds], level), "p_holm": math.nan,
               "replication": ""}
        if meta.role == "primary":
            primaries.append(key)
            row["sets"] = {}
            for name, part in zip(SET_NAMES, split_seeds(seeds), strict=True):
                vals = [by_seed[s] for s in part]
                row["sets"][name] = {"seeds": part, **_stats(vals, level),
                                     "p_tost": tost_p(vals, meta.delta)}
        elif meta.direction == "none":
            row["verdict"] = "descriptive"
        else:
            row["verdict"] = decide(row["ci_low"], row["ci_high"], row["p_value"],
                                    meta.direction)
        out[key] = row
    if primaries:
        adjusted = holm([out[k]["p_value"] for k in primaries])
        for k, p in zip(primaries, adjusted, strict=True):
            out[k]["p_holm"] = p
        for name in SET_NAMES:
            adjusted = holm([out[k]["sets"][name]["p_value"] for k in primaries])
            for k, p in zip(primaries, adjusted, strict=True):
                part = out[k]["sets"][name]
                part["p_holm"] = p
                part["verdict"] = decide(part["ci_low"], part["ci_high"], p,
                                         out[k]["direction"], p_equivalence=part["p_tost"],
                                         alpha=alpha)
        for k in primaries:
            sets = out[k]["sets"]
            out[k]["verdict"] = replicate(sets["discovery"]["verdict"],
                                          sets["replication"]["verdict"])
            out[k]["replication"] = ", ".join(
                f"{name} {sets[name]['verdict']} ({sets[name]['n_seeds']} seeds)"
                for name in SET_NAMES)
    return out


def summarize(rows, level: float = 0.95) -> list[dict[str, Any]]:
    """claims.csv rows (columns :data:`CSV_COLUMNS`) of computed :class:`ClaimRow` s."""
    table = verdict_table({(r.claim, r.setting): r.values for r in rows}, level=level)
    out = []
    for r in rows:
        v = table[(r.claim, r.setting)]
        meta = r.meta
        notes = [r.note] if r.note else []
        if v["n_seeds"] < 2:
            notes.append(f"{v['n_seeds']} seed(s) with a value: no interval")
        notes += r.missing
        out.append({
            "claim": r.claim, "setting": r.setting, "role": v["role"],
            "statistic": r.statistic, "estimate": v["estimate"], "ci_low": v["ci_low"],
            "ci_high": v["ci_high"], "n_seeds": v["n_seeds"], "direction": v["direction"],
            "delta": v["delta"], "p_value": v["p_value"], "p_holm": v["p_holm"],
            "verdict": v["verdict"], "replication": v["replication"], "paper": meta.paper,
            "paper_value": meta.paper_value, "interval": "student-t", "level": level,
            "data": r.data, "features": r.features, "split": r.split, "metric": r.metric,
            "note": "; ".join(notes),
        })
    return out
