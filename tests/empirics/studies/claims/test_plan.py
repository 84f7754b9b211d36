"""The runs of a protocol: shared wherever settings coincide, named by their configuration,
evaluated only where a statistic reads them, and listed in the manifest."""

from __future__ import annotations

import pytest

from bounds.schedules import lr_from_rule
from empirics.runs import RunSpec
from empirics.studies.claims.plan import (
    LONGRUN_TARGET,
    longrun_tasks,
    manifest_rows,
    plan_runs,
    run_name,
    unique_runs,
)
from empirics.studies.claims.protocol import load_protocol


@pytest.fixture(scope="module")
def quick():
    return load_protocol("quick")


def test_the_base_run_serves_c1_c2_c3_and_c4(quick):
    runs = plan_runs(quick)
    (name,) = {r.name for r in runs if r.claim == "C1" and r.seed == 0}
    users = {(r.claim, r.setting) for r in runs if r.name == name}
    assert {("C1", "base"), ("C2", "real"), ("C3", "tau"), ("C7", "real"),
            ("C4", "linear/epochs"), ("C4", "sqrt/epochs")} == users
    long = {r.name for r in runs if r.claim in ("C5", "C6") and r.setting == "long"
            and r.seed == 0}
    assert len(long) == 1


def test_run_counts_of_the_quick_protocol(quick):
    runs = plan_runs(quick)
    # per seed: base (4 models), C2 real C = 2, synthetic 2, C3 2, C4 2 B x 2 rules, long
    assert len(unique_runs(runs)) == quick.seeds * (1 + 1 + 2 + 2 + 4 + 1)
    assert {r.claim for r in runs} == set(quick.claims)


def test_c2_synthetic_runs_fix_samples_per_class_and_separation(quick):
    runs = [r for r in plan_runs(quick) if r.claim == "C2" and r.setting == "synthetic"]
    refs = set()
    for r in runs:
        cfg = r.spec.options()
        assert cfg.dataset == "synthetic" and cfg.prototypes == "orthogonal"
        assert cfg.train_size == quick.c2_train_per_class * cfg.classes
        assert cfg.test_size == quick.c2_test_per_class * cfg.classes
        refs.add(cfg.reference_size)
    assert len(refs) == 1  # one reference-set size for every C


def test_the_synthetic_runs_get_orthogonal_prototypes():
    # the option travels from TrainConfig through the trainer to the generator
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer

    cfg = TrainConfig(dataset="synthetic", classes=40, train_size=80, test_size=40,
                      prototypes="orthogonal", reference_size=16, batch_size=8, steps=1,
                      objectives=("cl", "nscl"), device="cpu")
    trainer = LockstepTrainer(cfg)
    assert trainer.train_set.meta["spec"]["prototypes"] == "orthogonal"
    assert trainer.train_set.meta["latent"].shape[1] == 40  # max(32, C) dimensions


def test_trend_runs_are_evaluated_at_start_and_end_only(quick):
    for r in plan_runs(quick):
        cfg = r.spec.config
        if r.claim in ("C2", "C3", "C4") and cfg["objectives"] == ["cl", "nscl"]:
            assert cfg["eval_every"] == cfg["steps"]
        if r.setting == "long":
            assert cfg["eval_every"] == quick.c5_eval_every


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
    B0 = quick.base("batch_size")
    base_eta = lr_from_rule(quick.base("lr_rule"), quick.base("lr"), B0)
    for r in runs:
        cfg = r.spec.config
        if cfg["batch_size"] != B0:
            at_b0 = lr_from_rule(cfg["lr_rule"], cfg["lr"], B0)
            assert at_b0 == pytest.approx(base_eta, rel=1e-9)
            assert cfg["objectives"] == ["cl", "nscl"]


def test_epochs_budget_sees_as_many_samples(quick):
    B0, T0 = quick.base("batch_size"), quick.base("steps")
    for r in plan_runs(quick):
        if r.setting.endswith("/epochs") and r.spec.config["batch_size"] != B0:
            cfg = r.spec.config
            assert cfg["steps"] * cfg["batch_size"] == T0 * B0


def test_the_costliest_runs_start_first(quick):
    order = unique_runs(plan_runs(quick))
    assert all(o.spec.config["steps"] == quick.c5_steps for o in order[:quick.seeds])


def test_longrun_tasks_name_their_long_run(quick):
    longs = [r for r in plan_runs(quick) if r.claim == "C5"]
    tasks = longrun_tasks(quick, longs)
    assert [t.spec.target for t in tasks] == [LONGRUN_TARGET] * quick.seeds
    assert [t.spec.config["run"] for t in tasks] == [r.name for r in longs]
    assert all(t.name.startswith("curvature__") for t in tasks)  # what the figures read


def test_manifest_rows(quick):
    runs = plan_runs(quick)
    rows = manifest_rows(runs)
    assert len(rows) == len(runs)
    first = rows[0]
    assert list(first)[:6] == ["claim", "setting", "point", "seed", "run_dir", "key"]
    assert first["run_dir"] == f"runs/{runs[0].name}"
    assert first["objectives"] == "cl+nscl+scl+ce" and first["dataset"] == "digits"
    synth = [r for r in rows if r["claim"] == "C2" and r["setting"] == "synthetic"]
    assert {r["prototypes"] for r in synth} == {"orthogonal"}


@pytest.mark.slow
def test_the_full_protocols_base_run_shape_trains_on_cpu(tmp_path):
    # the full protocol's base run (synthetic 3 x 32 x 32 images, orthonormal prototypes,
    # ResNet-18) at a tiny size: the shape the GPU runs, trained for one step (CL and NSCL, narrow)
    from empirics.runs import RunSpec, launch

    full = load_protocol("full")
    (base,) = [r for r in plan_runs(full) if r.claim == "C1" and r.seed == 0]
    cfg = {**base.spec.config, "train_size": 20, "test_size": 10, "reference_size": 4,
           "batch_size": 4, "steps": 1, "eval_every": 1, "checkpoint_every": 1,
           "objectives": ["cl", "nscl"], "width": 8, "device": "cpu"}
    (res,) = launch([RunSpec("train", cfg)], tmp_path, names=["full-shape"])
    assert res.ok, res.error
    assert cfg["arch"] == "resnet18" and cfg["image_size"] == 32


def test_the_config_offers_the_generators_prototypes():
    import dataclasses

    from empirics.data.synthetic import PROTOTYPES
    from empirics.training.config import TrainConfig

    field = {f.name: f for f in dataclasses.fields(TrainConfig)}["prototypes"]
    assert field.metadata["choices"] == PROTOTYPES and field.default == "random"
