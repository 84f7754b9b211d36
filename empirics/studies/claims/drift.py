"""C5: parameter-space coupling is unstable. The weights keep drifting apart while the
similarities stay close ([P2] Figs. 1, 6; Theorems 1, 2), one value per seed.

Read from the long run (``metrics.csv``, ``bounds.csv``). The absolute weight distance
``d_w = ||w_CL - w_NSCL||`` at every evaluation is the run's ``weight_distance`` column of
``metrics.csv`` (every parameter, float64, recorded by the trainer); for a run written
before that column existed, the C5 task's replay of the run
(:mod:`empirics.studies.claims.longrun`) supplies it. Both theorems
are functions of ``S = sum_t eta_t``, not of the step: **the second half** is the span from
the evaluation whose ``S`` is closest to ``S_T / 2`` (:func:`mid_by_sum_eta`) to the end.
(Under the cosine schedule the last half of the steps carries less than a fifth of ``S``,
so a distance growing in proportion to ``S`` would look saturated over the last half of
the steps.) The statistics, as :mod:`~empirics.studies.claims.catalog` declares them:

- primary ``long/weight-vs-similarity``: ``[ln d_w(T) - ln d_w(mid)] - [ln d_S(T) -
  ln d_S(mid)]`` with ``d_S = ||Sigma_CL - Sigma_NSCL||_F`` on the test reference set
  (``z``, the embedding of the theorems), both absolute;
- its two terms (``long/weight_distance``; ``long/sim_gap``, a growth without a
  predicted sign), the same growth with the relative weight gaps (the toolkit's and the
  official code's), the angle contrast at the end, and the growth shape of ``d_w``
  (:func:`empirics.studies.statistics.growth_shape`: a free intercept, the evaluations
  after the first; a shape, never a test against Theorem 2, which is an upper bound).

Theorem 2's slack is a deterministic check (``theorem_checks.csv``,
:mod:`empirics.studies.claims.checks`), not a row here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from empirics.objectives import THEOREM_PAIR, pair_name
from empirics.studies.claims import measures
from empirics.studies.claims.protocol import Protocol
from empirics.studies.claims.rows import ClaimRow, Missing, Reader, get, new_row, uses
from empirics.studies.statistics import growth_shape

__all__ = ["c5", "mid_by_sum_eta"]

SPLIT = "test"
PAIR = pair_name(*THEOREM_PAIR)
#: The column of ``metrics.csv`` holding ``d_w`` (runs written before it was added have none).
DISTANCE = "weight_distance"


def recorded_distance(run) -> dict[int, float] | None:
    """``d_w`` at every evaluation step from the run's own ``metrics.csv`` (its
    ``weight_distance`` column, the same on every row of a step), or ``None`` when the run
    did not record it.

    >>> import pandas as pd
    >>> from empirics.runs import Run
    >>> m = pd.DataFrame({"step": [0, 0, 10], "pair": ["cl-nscl"] * 3,
    ...                   "weight_distance": [0.0, 0.0, 0.5]})
    >>> recorded_distance(Run(None, "train", {}, m, pd.DataFrame(), pd.DataFrame(), {}))
    {0: 0.0, 10: 0.5}
    """
    m = run.metrics
    if DISTANCE not in m.columns:
        return None
    rows = m[m["pair"] == PAIR].drop_duplicates("step").sort_values("step", kind="stable")
    values = pd.to_numeric(rows[DISTANCE], errors="coerce")
    return {int(t): float(d) for t, d in zip(rows["step"], values, strict=True)}


def mid_by_sum_eta(S_by_step: Mapping[int, float]) -> int:
    """The evaluation step whose ``S`` is closest to half of the last one (ties: the
    earlier step).

    >>> mid_by_sum_eta({0: 0.0, 10: 4.0, 20: 7.0, 30: 8.0})
    10
    """
    steps = sorted(S_by_step)
    last = S_by_step[steps[-1]]
    return min(steps, key=lambda t: (abs(S_by_step[t] - last / 2), t))


def _growth(series: Mapping[int, float], mid: int) -> float:
    """``ln(v(T) / v(mid))`` of a step -> value mapping (``T`` its last step)."""
    last = series[max(series)]
    if not (series[mid] > 0 and last > 0):
        raise Missing(f"a non-positive value ({series[mid]:.3g} at step {mid}, {last:.3g} at "
                      "the end) has no logarithm")
    return math.log(last / series[mid])


def c5(p: Protocol, planned, read: Reader, longrun: Mapping[int, Any]) -> list[ClaimRow]:
    dataset = p.base("dataset")
    primary = new_row("C5", "long/weight-vs-similarity", data=dataset, features="z",
                      split=SPLIT)
    distance = new_row("C5", "long/weight_distance", data=dataset)
    sim = new_row("C5", "long/sim_gap", data=dataset, features="z", split=SPLIT)
    relative = new_row("C5", "long/weight_gap", data=dataset)
    official = new_row("C5", "long/weight_gap_official", data=dataset)
    angles = new_row("C5", "long/angles", data=dataset, features="h", split=SPLIT)
    shape = new_row("C5", "long/shape", data=dataset)
    crossings, fits, replays = [], [], []
    sources: set[str] = set()
    read_dw: dict[str, dict[int, float]] = {}  # each long run's d_w, read once
    for s in range(p.seeds_of("C5")):
        for use in uses(planned, "C5", s, "long"):
            def S_of(use=use) -> dict[int, float]:
                return measures.sum_eta_by_step(get(read, use))

            def column(name: str, features: str = "z", use=use) -> dict[int, float]:
                df = measures.series(get(read, use), PAIR, name, split=SPLIT,
                                     features=features)
                return dict(zip(df["step"].astype(int), df["value"], strict=True))

            def dw(s=s, use=use) -> dict[int, float]:
                if use.name not in read_dw:
                    read_dw[use.name] = _distances(s, use)
                return read_dw[use.name]

            def _distances(s, use) -> dict[int, float]:
                recorded = recorded_distance(get(read, use))
                if recorded is not None:
                    sources.add("metrics.csv")
                    return recorded
                task = longrun.get(s)
                if not task:
                    raise Missing(f"the C5 task of seed {s}'s long run did not finish (the "
                                  f"run records no {DISTANCE}, so the task replays it)")
                sources.add(str(task.get("distances_from", "replay")))
                if task.get("replay_max_rel_diff") is not None:
                    replays.append(float(task["replay_max_rel_diff"]))
                return {int(r["step"]): float(r[DISTANCE]) for r in task["distances"]}

            def growth_of(series_fn, S_fn=S_of) -> float:
                return _growth(series_fn(), mid_by_sum_eta(S_fn()))

            primary.put(s, lambda: growth_of(dw) - growth_of(lambda: column("sim_gap")))
            distance.put(s, lambda: growth_of(dw))
            sim.put(s, lambda: growth_of(lambda: column("sim_gap")))
            relative.put(s, lambda: growth_of(lambda: column("weight_gap")))
            official.put(s, lambda: growth_of(lambda: column("weight_gap_official")))

            def angle(use=use, S_fn=S_of) -> float:
                w = column("weight_angle", "h")
                r = column("repr_angle", "h")
                steps = sorted(set(w) & set(r))
                over = [t for t in steps if t > 0 and w[t] > r[t]]
                crossings.append((over[0], S_fn().get(over[0], math.nan)) if over else None)
                return float(w[steps[-1]] - r[steps[-1]])

            angles.put(s, angle)

            def fitted(s=s, S_fn=S_of) -> float:
                d = dw()
                S = S_fn()
                steps = sorted(d)
                fit = growth_shape([S.get(t, math.nan) for t in steps], [d[t] for t in steps])
                fits.append(fit)
                return fit["k"]

            shape.put(s, fitted)
    n_cross = sum(c is not None for c in crossings)
    angles.note = (f"weight angle above representation angle at some step in {n_cross} of "
                   f"{len(crossings)} seeds")
    if n_cross:
        first = sorted(c for c in crossings if c is not None)
        angles.note += ("; first crossings at step " +
                        ", ".join(f"{t} (S = {S:.3g})" for t, S in first))
    if fits:
        lin = np.median([f["rss_linear"] for f in fits])
        ex = np.median([f["rss"] for f in fits])
        shape.note = (f"median residual sum of squares: linear {lin:.3g}, with the fitted "
                      f"shape {ex:.3g}; a shape, not a test (Theorem 2 is an upper bound)")
    if sources:
        primary.note = f"d_w from {' and '.join(sorted(sources))}"
        replayed = [r for r in replays if math.isfinite(r)]
        if "replay" in sources and replayed:
            primary.note += (" (the C5 task replays a long run that records no d_w, checked "
                             f"against the run: largest relative difference "
                             f"{max(replayed):.3g})")
    return [primary, distance, sim, relative, official, angles, shape]
