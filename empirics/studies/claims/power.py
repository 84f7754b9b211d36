"""Seeds from a pilot: the power calculation behind the medium protocol's seed count.

For each primary, from the pilot's per-seed values (its ``claims_seeds.csv``):

- ``sd``: the sample standard deviation over the pilot's seeds (``ddof = 1``), and the
  planning spread ``sd_plan``: its one-sided upper 80% confidence bound,
  ``sd sqrt((n - 1) / chi2_{0.2, n-1})`` (a spread from a few seeds is itself uncertain;
  with 6 seeds the bound is 1.46 sd, and planning with ``sd`` itself would leave the study
  under-powered in about half the cases);
- ``effect``: the effect to detect, ``2 delta`` (the paper's own number where ``delta`` is
  half of it, C1 and C4; twice the smallest effect of interest otherwise);
- ``alpha = 0.05 / m`` two-sided, ``m`` the number of primaries: Holm's first step, its
  worst case (the smallest p-value must pass ``0.05 / m``);
- the power: 80% that **both** seed sets show the effect, so ``sqrt(0.8)`` per set;
- the seeds per set (:func:`empirics.studies.statistics.seeds_for_power` with
  ``sd_plan``: normal approximation, then the t correction by iteration), at least
  :data:`MIN_PER_SET`, and the study's seeds, twice that.

The pilot's spread is itself uncertain (a few seeds), so the numbers are a plan, not a
guarantee; docs/claims.md commits them beside the pilot's values.

>>> rows = power_table({("C1", "base/test/h/cka_linear"): {0: 0.1, 1: 0.2, 2: 0.15, 3: 0.3}})
>>> rows[0]["claim"], rows[0]["seeds_per_set"] >= 2
('C1', True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from empirics.studies.claims.catalog import lookup
from empirics.studies.statistics import ALPHA, finite, seeds_for_power

__all__ = ["MIN_PER_SET", "POWER", "SD_CONFIDENCE", "estimate_cpu", "markdown",
           "planning_sd", "power_table", "shape_of"]

#: The joint power of the two seed sets.
POWER = 0.8
#: The confidence of the upper bound on the pilot's spread used for planning.
SD_CONFIDENCE = 0.8
#: The fewest seeds per set a protocol plans (a t interval on fewer is nearly useless).
MIN_PER_SET = 6


def planning_sd(sd: float, n: int, confidence: float = SD_CONFIDENCE) -> float:
    """The one-sided upper ``confidence`` bound of a normal spread estimated as ``sd`` from
    ``n`` values: ``sd sqrt((n - 1) / chi2_{1 - confidence, n - 1})``.

    >>> round(planning_sd(1.0, 6), 3)
    1.461
    """
    from scipy import stats

    if n < 2 or not math.isfinite(sd):
        return math.nan
    return sd * math.sqrt((n - 1) / stats.chi2.ppf(1.0 - confidence, n - 1))


def power_table(values: Mapping[tuple[str, str], Mapping[int, float]], *,
                power: float = POWER, alpha: float = ALPHA) -> list[dict[str, Any]]:
    """One row per primary of ``values`` (``{(claim, setting): {seed: value}}``): the
    pilot's mean, ``sd`` and seeds, the effect, and the seeds per set and in all."""
    primaries = [k for k in values if lookup(*k).role == "primary"]
    m = max(len(primaries), 1)
    out = []
    for key in sorted(primaries):
        meta = lookup(*key)
        x = finite(list(values[key].values()))
        sd = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
        plan = planning_sd(sd, int(x.size))
        effect = 2.0 * meta.delta
        try:
            needed = seeds_for_power(plan, effect, alpha=alpha / m, power=power, sets=2)
        except ValueError:  # no spread to plan with (fewer than two values, or sd 0)
            needed = None
        per_set = None if needed is None else max(needed, MIN_PER_SET)
        out.append({"claim": key[0], "setting": key[1], "pilot_seeds": int(x.size),
                    "pilot_mean": float(x.mean()) if x.size else math.nan, "pilot_sd": sd,
                    "sd_plan": plan, "delta": meta.delta, "effect": effect,
                    "alpha": alpha / m, "power_per_set": power ** 0.5,
                    "seeds_needed": needed, "seeds_per_set": per_set,
                    "seeds": None if per_set is None else 2 * per_set})
    return out


def markdown(rows) -> str:
    """The power table of docs/claims.md."""
    def num(x: float) -> str:
        return "-" if x is None or not math.isfinite(float(x)) else f"{float(x):.3g}"

    lines = ["| claim | primary | pilot seeds | pilot mean | pilot sd | planning sd (80% "
             "upper bound) | effect (2 delta) | alpha per test | seeds needed per set | "
             "seeds per set (at least 6) | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | `{r['setting']}` | {r['pilot_seeds']} | "
                     f"{num(r['pilot_mean'])} | {num(r['pilot_sd'])} | {num(r['sd_plan'])} | "
                     f"{num(r['effect'])} | {num(r['alpha'])} | {r['seeds_needed'] or '-'} | "
                     f"{r['seeds_per_set'] or '-'} | {r['seeds'] or '-'} |")
    return "\n".join(lines) + "\n"


def shape_of(run_name: str) -> str:
    """A run's shape: its directory name without the seed and the cache key
    (``digits-C10-tau0.5-B64-linear-T200-s3__0123...`` -> ``digits-C10-tau0.5-B64-linear-T200``).

    >>> shape_of("digits-C10-tau0.5-B64-linear-T200-s3__0123456789abcdef")
    'digits-C10-tau0.5-B64-linear-T200'
    """
    stem = run_name.rsplit("__", 1)[0]
    return stem.rsplit("-s", 1)[0]


def estimate_cpu(protocol, costs: Mapping[str, float]) -> dict[str, Any]:
    """The CPU seconds of a protocol's runs from the CPU seconds of one run of each shape.

    Args:
        protocol: a :class:`~empirics.studies.claims.protocol.Protocol`.
        costs: ``{shape: CPU seconds}`` (:func:`shape_of`), plus ``"longrun-task"``.

    Returns:
        ``{"cpu": total, "runs": n, "by_shape": {shape: (count, cpu)}, "missing": [shapes
        without a cost]}``.
    """
    from empirics.studies.claims.plan import plan_runs, unique_runs

    planned = plan_runs(protocol)
    by: dict[str, list[float]] = {}
    missing = set()
    for run in unique_runs(planned):
        shape = shape_of(run.name)
        if shape not in costs:
            missing.add(shape)
            continue
        by.setdefault(shape, [0, 0.0])
        by[shape][0] += 1
        by[shape][1] += float(costs[shape])
    tasks = len({r.name for r in planned if r.claim == "C5" and r.setting == "long"})
    if tasks:
        by["longrun-task"] = [tasks, tasks * float(costs.get("longrun-task", math.nan))]
    total = sum(v[1] for v in by.values())
    return {"cpu": total, "runs": len(unique_runs(planned)),
            "by_shape": {k: tuple(v) for k, v in sorted(by.items())},
            "missing": sorted(missing)}
