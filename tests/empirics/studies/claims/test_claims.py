"""Each claim's statistic on runs with known numbers, and the verdict rule applied to it.

The runs are built in memory (:class:`empirics.runs.Run`) from the tiny protocol's plan:
every metric is a known function of the run's configuration, so each statistic has a
value that can be written down, and the verdict follows from the rule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empirics.runs import Run
from empirics.studies.claims.claims import CSV_COLUMNS, compute_rows, summarize
from empirics.studies.claims.plan import plan_runs
from empirics.studies.claims.protocol import load_protocol
from empirics.studies.claims.statistics import verdict

P = load_protocol("tiny").replace(c4_budgets=("steps", "epochs"))
B0 = P.batch_size
RULE_SLOPE = {"linear": -0.02, "sqrt": -0.005, "fourth-root": -0.01}


def alignment(cfg) -> float:
    """CL-NSCL CKA of a run: grows with ln C and ln tau, falls with log2 B by rule, and
    a little with the number of steps; the seed adds the same offset everywhere."""
    synthetic = cfg["dataset"] == "synthetic"
    return (0.5 + (0.03 if synthetic else 0.1) * math.log(cfg["classes"])
            + 0.05 * math.log(cfg["tau"])
            + RULE_SLOPE[cfg["lr_rule"]] * math.log2(cfg["batch_size"] / B0)
            - 0.001 * cfg["steps"] / P.steps + 0.01 * cfg["seed"])


def fake_run(name: str, cfg: dict) -> Run:
    steps = sorted(set(range(0, cfg["steps"] + 1, cfg["eval_every"])) | {cfg["steps"]})
    S = {t: 0.1 * t for t in steps}
    a = alignment(cfg)
    rows = []
    for t in steps:
        frac = t / cfg["steps"]
        for pair, offset in (("cl-nscl", 0.0), ("cl-scl", -0.2), ("cl-ce", -0.3)):
            if pair != "cl-nscl" and "scl" not in cfg["objectives"]:
                continue
            for split in ("train", "test"):
                for features in ("z", "h"):
                    v = a + offset
                    rows.append({"step": t, "pair": pair, "split": split,
                                 "features": features, "cka": v, "rsa": v - 0.1,
                                 "rho": 0.1 + 0.0 * frac,
                                 "weight_gap": 0.01 * math.expm1(0.2 * S[t]),
                                 "weight_gap_official": 0.02 * S[t],
                                 "weight_angle": 60.0 * frac, "repr_angle": 20.0 * frac})
    losses = []
    for t in steps:
        for model in cfg["objectives"]:
            for split in ("train", "test"):
                bound = 2.0 if cfg["classes"] < 16 else 0.0  # C = 16: no same-class pair
                gap = (0.5 / math.log(cfg["classes"])) if bound else 0.0
                losses.append({"step": t, "model": model, "split": split, "loss_gap": gap,
                               "loss_gap_bound": bound, "p1_holds": True})
    bounds = pd.DataFrame({"step": steps[1:], "sum_eta_so_far": [S[t] for t in steps[1:]]})
    return Run(Path(name), "train", cfg, pd.DataFrame(rows), pd.DataFrame(losses), bounds,
               {"done": True})


@pytest.fixture(scope="module")
def table():
    planned = plan_runs(P)
    runs = {r.name: fake_run(r.name, r.spec.options().to_dict()) for r in planned}
    curvature = {s: {"log10_theorem2": 12.0, "weight_distance": 10.0, "beta": 1.0,
                     "G": 2.0, "sum_eta": 2.4, "log10_Delta": 1.0, "estimator": "test"}
                 for s in range(P.seeds)}
    rows = compute_rows(P, planned, runs.get, curvature)
    return {(r["claim"], r["setting"]): r for r in summarize(rows, P)}


def test_rows_and_columns(table):
    claims = {c for c, _ in table}
    assert claims == {"C1", "C2", "C3", "C4", "C5", "C6", "C7"}
    for row in table.values():
        assert list(row) == list(CSV_COLUMNS)
        assert row["n_seeds"] == P.seeds and row["interval"] == "student-t"


def test_every_verdict_follows_the_rule(table):
    for row in table.values():
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"], row["direction"])


@pytest.mark.parametrize("key,estimate,want", [
    (("C1", "base/test/h/cka"), 0.2, "holds"),            # 0.2 above max(SCL, CE)
    (("C2", "real/h"), 0.1, "holds"),                     # slope against ln C
    (("C2", "synthetic/z"), 0.03, "holds"),
    (("C3", "tau/h"), 0.05, "holds"),
    (("C4", "linear/steps/h"), -0.02, "holds"),           # falls with B: paper direction -
    (("C4", "sqrt-linear/steps/h"), 0.015, "holds"),
    (("C4", "fourth-root-linear/epochs/z"), 0.01, "holds"),
    (("C6", "long-base/h"), -0.001 * (24 - 8) / 8, "holds"),
    (("C5", "long/theorem2"), 11.0, "holds"),             # log10 1e12 - log10 10
    (("C5", "long/angles"), 40.0, "holds"),               # 60 - 20 degrees at the end
    (("C5", "long/weight_gap-vs-rho"), None, "holds"),    # rho flat, weight gap grows
    (("C5", "long/weight_gap_official"), math.log(2), "holds"),  # linear in S: doubles
])
def test_known_statistics(table, key, estimate, want):
    row = table[key]
    if estimate is not None:
        assert row["estimate"] == pytest.approx(estimate, abs=1e-9)
        assert row["ci_low"] == pytest.approx(estimate, abs=1e-6)  # every seed agrees
    assert row["verdict"] == want


def test_growth_shape_of_an_exponential_weight_gap(table):
    # wg = 0.01 (exp(0.2 S) - 1), S_T = 2.4 at the end of the long run: k = 0.48
    assert table[("C5", "long/shape")]["estimate"] == pytest.approx(0.48, abs=1e-3)
    growth = table[("C5", "long/weight_gap")]["estimate"]
    assert growth == pytest.approx(math.log(math.expm1(0.48) / math.expm1(0.24)), rel=1e-6)


def test_p1_rows_without_same_class_negatives_are_left_out(table):
    # bound 2, gap 0.5 / ln C on the rows with a positive bound (C = 4: the synthetic
    # C = 16 rows have bound 0 and are counted, not divided)
    slack = table[("C7", "all-runs/slack")]
    lower = table[("C7", "all-runs/lower")]
    assert slack["estimate"] == pytest.approx(1 - 0.25 / math.log(4))
    assert lower["estimate"] == pytest.approx(0.25 / math.log(10))
    assert "no same-class negative" in slack["note"]
    assert table[("C7", "real/loss_gap")]["verdict"] == "holds"  # 0.5 / ln C falls with C


def test_a_failed_run_is_nan_for_its_seed_and_said(table):
    planned = plan_runs(P)
    runs = {r.name: fake_run(r.name, r.spec.options().to_dict()) for r in planned}
    dead = next(r.name for r in planned if r.claim == "C3" and r.seed == 1
                and r.point["tau"] == 1.0)
    rows = compute_rows(P, planned, lambda n: None if n == dead else runs[n], {})
    out = {(r["claim"], r["setting"]): r for r in summarize(rows, P)}
    c3 = out[("C3", "tau/h")]
    assert c3["n_seeds"] == 1 and c3["verdict"] == "inconclusive"
    assert "did not finish" in c3["note"] and math.isnan(c3["ci_low"])
    assert "curvature" in out[("C5", "long/theorem2")]["note"]


def test_reversed_is_reported():
    planned = [r for r in plan_runs(P) if r.claim == "C3"]
    runs = {}
    for r in planned:
        cfg = r.spec.options().to_dict()
        run = fake_run(r.name, cfg)
        run.metrics["cka"] = 0.9 - 0.1 * np.log(cfg["tau"])  # falls with tau
        runs[r.name] = run
    rows = compute_rows(P.replace(claims=("C3",)), planned, runs.get, {})
    (h, z) = summarize(rows, P)
    assert h["verdict"] == z["verdict"] == "reversed"
    assert h["estimate"] == pytest.approx(-0.1)
