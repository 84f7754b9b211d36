"""Each claim's statistics on runs with known numbers, and the verdicts they must get.

The runs are built in memory (:class:`empirics.runs.Run`) from the tiny protocol's plan:
every metric is a known function of the run's configuration and step, so each statistic
has a value that can be written down, and its verdict follows from the paper's direction
as this file states it (not as the code declares it: a flipped direction in the catalog
turns a verdict here)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from empirics.measures import MEASURES
from empirics.runs import Run
from empirics.studies.claims.checks import theorem_checks
from empirics.studies.claims.plan import plan_runs
from empirics.studies.claims.protocol import load_protocol
from empirics.studies.claims.study import compute_rows
from empirics.studies.claims.verdicts import CSV_COLUMNS, summarize

P = load_protocol("tiny")
B0 = P.base("batch_size")
STEPS0 = P.base("steps")
RULE_SLOPE = {"linear": -0.02, "sqrt": -0.005, "fourth-root": -0.01}
METRIC_OFFSET = {"cka": 0.0, "cka_linear": 0.05, "rsa": -0.1}


def alignment(cfg) -> float:
    """Final CL-NSCL alignment of a run (before the metric offset): grows with ln C and
    ln tau, falls with log2 B by rule and a little with the steps; the seed adds a
    constant."""
    synthetic = cfg["dataset"] == "synthetic"
    return (0.5 + (0.03 if synthetic else 0.1) * math.log(cfg["classes"])
            + 0.05 * math.log(cfg["tau"])
            + RULE_SLOPE[cfg["lr_rule"]] * math.log2(cfg["batch_size"] / B0)
            - 0.001 * cfg["steps"] / STEPS0 + 0.01 * cfg["seed"])


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
                    row = {"step": t, "pair": pair, "split": split, "features": features,
                           "sim_gap": 0.3, "rho": 0.1,
                           "weight_gap": 0.01 * math.expm1(0.2 * S[t]),
                           "weight_gap_official": 0.02 * S[t],
                           "weight_angle": 60.0 * frac, "repr_angle": 20.0 * frac}
                    for metric, m_off in METRIC_OFFSET.items():  # declines 0.004 per run
                        row[metric] = a + offset + m_off - 0.004 * frac
                    for m in MEASURES:  # every other measure: alignment, or 1 - it
                        if m.name not in row:
                            x = a + offset - 0.004 * frac
                            row[m.name] = x if m.direction == "higher" else 1.0 - x
                    rows.append(row)
    losses = []
    for t in steps:
        for model in cfg["objectives"]:
            for split in ("train", "test"):
                bound = 2.0 if cfg["classes"] < 16 else 0.0  # C = 16: no same-class pair
                gap = (0.5 / math.log(cfg["classes"])) if bound else 0.0
                losses.append({"step": t, "model": model, "split": split, "loss_gap": gap,
                               "loss_gap_bound": bound, "p1_holds": True})
    bounds = pd.DataFrame({"step": steps[1:], "sum_eta_so_far": [S[t] for t in steps[1:]],
                           "q_max": 0.1, "q_bound": 0.4})
    return Run(Path(name), "train", cfg, pd.DataFrame(rows), pd.DataFrame(losses), bounds,
               {"done": True})


def longrun_summary(run: Run) -> dict:
    steps = sorted(run.metrics["step"].unique())
    return {"distances": [{"step": int(t), "S": 0.1 * t, "weight_distance": 0.5 * 0.1 * t}
                          for t in steps],
            "weight_distance": 0.5 * 0.1 * steps[-1], "log10_theorem2": 12.0,
            "replay_max_rel_diff": 0.0, "distances_from": "replay"}


@pytest.fixture(scope="module")
def study():
    planned = plan_runs(P)
    runs = {r.name: fake_run(r.name, r.spec.options().to_dict()) for r in planned}
    longrun = {r.seed: longrun_summary(runs[r.name]) for r in planned
               if r.claim == "C5" and r.setting == "long"}
    rows = compute_rows(P, planned, runs.get, longrun)
    table = {(r["claim"], r["setting"]): r for r in summarize(rows, P.level)}
    return table, theorem_checks(planned, runs.get, longrun)


def test_rows_and_columns(study):
    table, _ = study
    assert {c for c, _ in table} == {f"C{i}" for i in range(1, 8)}
    for row in table.values():
        assert list(row) == list(CSV_COLUMNS)
        assert row["n_seeds"] == P.seeds and row["interval"] == "student-t"
    primaries = [k for k, r in table.items() if r["role"] == "primary"]
    assert sorted(c for c, _ in primaries) == ["C1", "C2", "C3", "C4", "C5", "C6"]


#: (claim, setting): (estimate, verdict), each from the fake runs' formulas and the
#: paper's direction as THEORY.md s13 states it.
KNOWN = {
    ("C1", "base/test/h/cka_linear"): (0.2, "holds"),            # NSCL 0.2 above max(SCL, CE)
    ("C1", "base/test/z/rsa"): (0.2, "holds"),
    # a distance: min(D(CL,SCL), D(CL,CE)) - D(CL,NSCL), so + is still the paper's side
    ("C1", "base/test/h/procrustes"): (0.2, "holds"),
    ("C1", "base/test/z/mutual_knn"): (0.2, "holds"),
    ("C1", "base/test/h/sim_gap"): (0.0, "inconclusive"),         # the same on every pair
    ("C2", "synthetic/h/cka_linear"): (0.03, "holds"),          # slope against ln C
    ("C2", "real/z/cka"): (0.1, "holds"),
    ("C3", "tau/h/cka_linear"): (0.05, "holds"),
    ("C4", "linear/epochs/h/cka_linear"): (-0.019, "holds"),    # -0.02 per doubling, minus
    ("C4", "linear/steps/z/cka"): (-0.02, "holds"),             # the steps term at epochs
    ("C4", "sqrt-linear/steps/h/cka"): (0.015, "holds"),
    ("C4", "fourth-root-linear/epochs/h/cka_linear"): (0.01, "holds"),
    ("C5", "long/weight-vs-similarity"): (math.log(2), "holds"),  # d_w ~ S, d_S flat
    ("C5", "long/weight_distance"): (math.log(2), "holds"),
    ("C5", "long/sim_gap"): (0.0, "descriptive"),
    ("C5", "long/weight_gap_official"): (math.log(2), "holds"),  # linear in S: doubles
    ("C5", "long/weight_gap"): (math.log(math.expm1(0.48) / math.expm1(0.24)), "holds"),
    ("C5", "long/angles"): (40.0, "holds"),                      # 60 - 20 degrees at the end
    ("C5", "long/shape"): (0.0, "descriptive"),                  # linear in S: k = 0
    ("C6", "long/h/cka_linear"): (-0.002, "holds"),              # -0.004 over the run
    ("C6", "long/z/cka"): (-0.002, "holds"),
}


@pytest.mark.parametrize("key", list(KNOWN), ids=[f"{c}:{s}" for c, s in KNOWN])
def test_known_statistics_and_verdicts(study, key):
    table, _ = study
    row = table[key]
    estimate, verdict = KNOWN[key]
    assert row["estimate"] == pytest.approx(estimate, abs=1e-6)
    assert row["ci_low"] == pytest.approx(estimate, abs=1e-6)  # every seed agrees
    assert row["verdict"] == verdict


def test_every_tested_row_has_a_known_answer_or_follows_the_rule(study):
    table, _ = study
    for key, row in table.items():
        if key in KNOWN:
            continue
        assert row["verdict"] in ("holds", "reversed", "inconclusive", "descriptive",
                                  "absent", "unstable"), key


def test_loss_gap_slope_and_the_theorem_checks(study):
    table, checks = study
    # gap 0.5 / ln C on the real rows (C = 5, 10): falls with C
    assert table[("C7", "real/loss_gap")]["verdict"] == "holds"
    by = {c["check"]: c for c in checks}
    assert by["p1_bound"]["violations"] == 0 and by["p1_bound"]["rows"] > 0
    assert by["p1_bound"]["worst_ratio"] == pytest.approx(0.25 / math.log(4))  # synthetic C = 4
    assert "no same-class negative" in by["p1_bound"]["note"]
    assert by["batch_composition"]["worst_ratio"] == pytest.approx(0.25)
    theorem2 = by["theorem2"]
    assert theorem2["rows"] == P.seeds and theorem2["violations"] == 0
    assert theorem2["worst_ratio"] == pytest.approx(math.log10(0.5 * 0.1 * 24) - 12.0)


def test_a_failed_run_is_nan_for_its_seed_and_said():
    planned = plan_runs(P)
    runs = {r.name: fake_run(r.name, r.spec.options().to_dict()) for r in planned}
    dead = next(r.name for r in planned if r.claim == "C3" and r.seed == 1
                and r.point["tau"] == 1.0)
    rows = compute_rows(P, planned, lambda n: None if n == dead else runs[n], {})
    out = {(r["claim"], r["setting"]): r for r in summarize(rows, P.level)}
    c3 = out[("C3", "tau/h/cka_linear")]
    assert c3["n_seeds"] == P.seeds - 1 and "did not finish" in c3["note"]
    assert "C5 task" in out[("C5", "long/weight-vs-similarity")]["note"]
    assert math.isnan(out[("C5", "long/weight-vs-similarity")]["estimate"])


def test_reversed_is_reported():
    planned = [r for r in plan_runs(P) if r.claim == "C3"]
    runs = {}
    for r in planned:
        cfg = r.spec.options().to_dict()
        run = fake_run(r.name, cfg)
        for metric in METRIC_OFFSET:
            run.metrics[metric] = 0.9 - 0.1 * np.log(cfg["tau"]) + 0.001 * cfg["seed"] ** 2
        runs[r.name] = run
    rows = compute_rows(P.replace(claims=("C3",)), planned, runs.get, {})
    table = {r["setting"]: r for r in summarize(rows, P.level)}
    assert table["tau/h/cka_linear"]["verdict"] == "reversed"
    assert table["tau/h/cka_linear"]["estimate"] == pytest.approx(-0.1)
    assert table["tau/z/cka"]["verdict"] == "reversed"


def _runs(planned, edit=None):
    runs = {}
    for r in planned:
        run = fake_run(r.name, r.spec.options().to_dict())
        if edit is not None:
            edit(run)
        runs[r.name] = run
    return runs


def test_every_registered_measure_is_a_c1_secondary_never_a_primary(study):
    table, _ = study
    for features in ("h", "z"):
        for m in MEASURES.names():
            row = table[("C1", f"base/test/{features}/{m}")]
            assert row["role"] == ("primary" if (features, m) == ("h", "cka_linear")
                                   else "secondary")
    procrustes = table[("C1", "base/test/h/procrustes")]
    assert procrustes["direction"] == "+" and "min(Procrustes distance(CL,SCL)" in \
        procrustes["statistic"]
    assert table[("C1", "base/test/h/rsa")]["statistic"].startswith("RSA(CL,NSCL) - max(")


def test_a_measure_the_runs_did_not_record_is_nan_with_one_note():
    """Runs written before a measure existed: its rows are NaN with ONE note (not one per
    seed, not a crash), and the primaries are untouched."""
    planned = plan_runs(P)
    def drop(run):
        del run.metrics["procrustes"]

    out = {(r["claim"], r["setting"]): r
           for r in summarize(compute_rows(P, planned, _runs(planned, drop).get, {}),
                              P.level)}
    row = out[("C1", "base/test/h/procrustes")]
    assert math.isnan(row["estimate"]) and row["n_seeds"] == 0
    assert row["note"].count("'procrustes' column") == 1
    assert "seeds 0, 1, 2, 3" in row["note"]
    full = {(r["claim"], r["setting"]): r
            for r in summarize(compute_rows(P, planned, _runs(planned).get, {}), P.level)}
    for key, r in out.items():
        if r["role"] == "primary" and key[0] != "C5":  # C5 has no task here: NaN in both
            assert r["estimate"] == full[key]["estimate"], key


def test_a_trend_of_a_distance_is_signed_by_the_measure():
    """A protocol whose secondary metric is a distance (lower is more aligned): the slope
    is multiplied by the measure's sign, so a distance that falls with tau holds."""
    p = P.replace(claims=("C3",), metric="procrustes")
    planned = [r for r in plan_runs(p) if r.claim == "C3"]
    rows = compute_rows(p, planned, _runs(planned).get, {})
    table = {r["setting"]: r for r in summarize(rows, p.level)}
    row = table["tau/z/procrustes"]
    assert row["estimate"] == pytest.approx(0.05) and row["verdict"] == "holds"
    assert row["statistic"].startswith("-1 x [slope of the final CL-NSCL Procrustes distance")
    assert table["tau/h/cka_linear"]["estimate"] == pytest.approx(0.05)


def test_a_decline_of_a_distance_is_signed_by_the_measure():
    """C6 with a distance: the Procrustes distance grows by 0.002 from T/2 to T, which is
    a decline of alignment, so the signed change is -0.002 and holds (unsigned it would
    read +0.002, reversed)."""
    p = P.replace(claims=("C6",), metric="procrustes")
    planned = [r for r in plan_runs(p) if r.claim == "C6"]
    rows = compute_rows(p, planned, _runs(planned).get, {})
    table = {r["setting"]: r for r in summarize(rows, p.level)}
    distance = [k for k in table if k.endswith("/procrustes")]
    assert distance
    for k in distance:
        assert table[k]["estimate"] == pytest.approx(-0.002) and table[k]["verdict"] == "holds"


def _with_distance(run):
    if run.config.get("steps") == P.c5_steps:  # the long run records d_w = 0.5 S
        run.metrics["weight_distance"] = 0.5 * 0.1 * run.metrics["step"]


def test_c5_reads_the_weight_distance_column_without_the_task():
    """A long run whose metrics.csv has ``weight_distance`` needs no replay: C5's rows
    read the column (the task's distances are not used even when it ran)."""
    planned = plan_runs(P.replace(claims=("C5",)))
    runs = _runs(planned, _with_distance)
    rows = compute_rows(P.replace(claims=("C5",)), planned, runs.get, {})
    out = {r["setting"]: r for r in summarize(rows, P.level)}
    assert out["long/weight-vs-similarity"]["estimate"] == pytest.approx(math.log(2))
    assert out["long/weight_distance"]["estimate"] == pytest.approx(math.log(2))
    assert out["long/shape"]["estimate"] == pytest.approx(0.0, abs=1e-6)
    assert "d_w from metrics.csv" in out["long/weight-vs-similarity"]["note"]
    wrong = {r.seed: {"distances": [{"step": 0, "weight_distance": 9.0}]}
             for r in planned if r.claim == "C5"}
    again = compute_rows(P.replace(claims=("C5",)), planned, runs.get, wrong)
    assert [r.values for r in again] == [r.values for r in rows]


def test_c5_falls_back_to_the_tasks_replay_for_an_old_run(study):
    table, _ = study  # the fake runs record no weight_distance: the task supplies d_w
    assert "d_w from replay" in table[("C5", "long/weight-vs-similarity")]["note"]


def test_stalled_models_names_the_whole_row_and_only_a_test_loss_that_did_not_move():
    from types import SimpleNamespace as NS

    import pandas as pd

    from empirics.studies.claims.checks import STALL_COLUMNS, STALL_TOLERANCE, stalled_models

    losses = pd.DataFrame({  # cl moved 2x the tolerance (trained), nscl 0.1% (stalled), on test;
        "step": [0, 0, 0, 0, 50, 50, 50, 50],  # on train nscl moved a lot: not read
        "model": ["cl", "nscl", "cl", "nscl"] * 2,
        "split": ["test", "test", "train", "train"] * 2,
        "loss_own": [5.0, 4.0, 5.0, 4.0, 5.0 * (1 - 2 * STALL_TOLERANCE), 4.004, 4.9, 1.0]})
    plan = [NS(name="r1", seed=3, spec=NS(target=None)),
            NS(name="r1", seed=3, spec=NS(target=None)),  # a second use: one row
            NS(name="task", seed=3, spec=NS(target="x"))]  # a task on the run: not a run
    rows = stalled_models(plan, lambda n: NS(losses=losses) if n == "r1" else None)
    assert rows == [{"run": "r1", "seed": 3, "model": "nscl", "steps": 50,
                     "loss_start": 4.0, "loss_end": 4.004,
                     "relative_change": pytest.approx(0.001, rel=1e-9)}]
    assert list(rows[0]) == list(STALL_COLUMNS)
