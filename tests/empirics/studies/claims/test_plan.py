"""The runs of a protocol: shared wherever settings coincide, named by their configuration,
and listed in the manifest."""

from __future__ import annotations

import pytest

from bounds.schedules import lr_from_rule
from empirics.runs import RunSpec
from empirics.studies.claims.plan import (
    CURVATURE_TARGET,
    curvature_runs,
    manifest_rows,
    plan_runs,
    run_name,
    unique_runs,
)
from empirics.studies.claims.protocol import load_protocol


@pytest.fixture(scope="module")
def quick():
    return load_protocol("quick")


def test_the_base_run_serves_c1_c2_c3_c4_and_c6(quick):
    runs = plan_runs(quick)
    base = {r.name for r in runs if r.claim == "C1" and r.seed == 0}
    assert len(base) == 1
    (name,) = base
    users = {(r.claim, r.setting) for r in runs if r.name == name}
    assert {("C1", "base"), ("C2", "real"), ("C3", "tau"), ("C6", "base"),
            ("C7", "real")} <= users
    assert {s for c, s in users if c == "C4"} == {"linear/steps", "sqrt/steps",
                                                 "fourth-root/steps"}
    long = {r.name for r in runs if r.claim in ("C5", "C6") and r.setting == "long"
            and r.seed == 0}
    assert len(long) == 1


def test_run_counts_of_the_quick_protocol(quick):
    runs = plan_runs(quick)
    # per seed: base (4 models), C2 real 2 + synthetic 3, C3 2, C4 2 B x 3 rules, long
    assert len(unique_runs(runs)) == quick.seeds * (1 + 2 + 3 + 2 + 6 + 1)
    assert {r.claim for r in runs} == set(quick.claims)


def test_only_some_claims_plans_only_their_runs(quick):
    c1 = plan_runs(quick.replace(claims=("C1",)))
    assert len(unique_runs(c1)) == quick.seeds
    c7 = plan_runs(quick.replace(claims=("C7",)))
    assert {r.setting for r in c7} == {"real", "synthetic"}


def test_names_are_a_function_of_the_configuration():
    a = RunSpec("train", {"dataset": "digits", "classes": 5, "seed": 1, "tau": 0.5})
    b = RunSpec("train", {"seed": 1, "tau": 0.5, "classes": 5, "dataset": "digits"})
    c = RunSpec("train", {"dataset": "digits", "classes": 5, "seed": 2, "tau": 0.5})
    assert run_name(a) == run_name(b) != run_name(c)
    assert run_name(a).endswith(a.key())


def test_matched_rules_give_the_base_rate_at_the_base_batch(quick):
    runs = [r for r in plan_runs(quick) if r.claim == "C4" and r.seed == 0]
    base_eta = lr_from_rule(quick.lr_rule, quick.lr, quick.batch_size)
    for r in runs:
        cfg = r.spec.config
        if cfg["batch_size"] != quick.batch_size:
            at_b0 = lr_from_rule(cfg["lr_rule"], cfg["lr"], quick.batch_size)
            assert at_b0 == pytest.approx(base_eta, rel=1e-9)
            assert cfg["objectives"] == ["cl", "nscl"] and cfg["eval_every"] == cfg["steps"]


def test_rules_as_written_keep_one_lr(quick):
    runs = plan_runs(quick.replace(c4_match_lr=False))
    lrs = {r.spec.config["lr"] for r in runs if r.claim == "C4"}
    assert lrs == {quick.lr}


def test_epochs_budget_sees_as_many_samples(quick):
    p = quick.replace(c4_budgets=("steps", "epochs"))
    for r in plan_runs(p):
        if r.setting.endswith("/epochs") and r.spec.config["batch_size"] != p.batch_size:
            cfg = r.spec.config
            assert cfg["steps"] * cfg["batch_size"] == p.steps * p.batch_size


def test_the_costliest_runs_start_first(quick):
    order = unique_runs(plan_runs(quick))
    assert all(o.spec.config["steps"] == quick.c5_steps for o in order[:quick.seeds])


def test_curvature_tasks_name_their_long_run(quick):
    longs = [r for r in plan_runs(quick) if r.claim == "C5"]
    tasks = curvature_runs(quick, longs)
    assert [t.spec.target for t in tasks] == [CURVATURE_TARGET] * quick.seeds
    assert [t.spec.config["run"] for t in tasks] == [r.name for r in longs]
    assert len({t.name for t in tasks}) == quick.seeds


def test_manifest_rows(quick):
    runs = plan_runs(quick)
    rows = manifest_rows(runs)
    assert len(rows) == len(runs)
    first = rows[0]
    assert list(first)[:6] == ["claim", "setting", "point", "seed", "run_dir", "key"]
    assert first["run_dir"] == f"runs/{runs[0].name}"
    assert first["objectives"] == "cl+nscl+scl+ce" and first["dataset"] == "digits"
    c2 = [r for r in rows if r["claim"] == "C2" and r["setting"] == "real"]
    assert sorted({r["point"] for r in c2}) == ["classes=10", "classes=2", "classes=5"]
