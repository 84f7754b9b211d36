"""Lockstep trainer: shared randomness, schedule from bounds, determinism, resume, [P1]."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bounds
from empirics.runs.layout import RunDir
from empirics.runs.tables import read_rows as read_csv_rows
from empirics.runs.writer import load_checkpoint, read_config
from empirics.seeds import derive_seed
from empirics.training.config import TrainConfig
from empirics.training.evaluator import metrics_columns
from empirics.training.lockstep import LockstepTrainer
from empirics.training.trainer import RunInterrupted, train


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny):
    """One uninterrupted tiny run shared by the read-only checks below."""
    out = tmp_path_factory.mktemp("ref")
    return RunDir(train(tiny(out), progress=False))


# -- shared randomness --------------------------------------------------------------------
def test_every_model_sees_identical_batches_and_views(tiny):
    tr = LockstepTrainer(tiny(objectives="cl,nscl,ce"))
    seen: dict[str, list[torch.Tensor]] = {m.name: [] for m in tr.members}
    for m in tr.members:  # the encoder: CE's forward skips the projector it never uses
        m.module.encoder.register_forward_pre_hook(
            lambda mod, args, n=m.name: seen[n].append(args[0]))
    epoch = []
    for t in range(4):  # N = 128, B = 32: steps 0..3 are exactly one epoch
        idx = tr.batch_indices(t)
        epoch.append(idx)
        tr.train_step(t)
        x = tr.train_set.x[idx]
        expected = tr.views_for(t, x).reshape(-1, *x.shape[1:])  # recomputed: same views
        for name in seen:
            assert torch.equal(seen[name][t], expected), (name, t)
    assert torch.equal(torch.sort(torch.cat(epoch)).values, torch.arange(128))
    assert not torch.equal(tr.views_for(0, x), tr.views_for(1, x))  # views change per step
    views = tr.views_for(0, x)
    assert not torch.equal(views[0], views[1])  # the two views differ


def test_partial_last_batch_is_filled_from_the_same_epoch(tiny):
    tr = LockstepTrainer(tiny(batch_size=48))  # 128 = 2 * 48 + 32: 3 steps per epoch
    for e in range(3):
        batches = [tr.batch_indices(3 * e + j) for j in range(3)]
        for idx in batches:
            assert idx.shape == (48,) and idx.unique().numel() == 48  # distinct samples
        assert torch.cat(batches).unique().numel() == 128  # the epoch covers every sample
    assert not torch.equal(tr.batch_indices(0), tr.batch_indices(3))  # a new permutation
    assert tr.epoch_of(3) == 1.0


def test_one_initialisation_and_same_loss_models_stay_bitwise_equal(tiny):
    tr = LockstepTrainer(tiny(objectives="cl,nscl,ce"))
    tr.members.append(tr.make_member("cl#2", "cl"))
    ref = tr.members[0].module.state_dict()
    for m in tr.members:
        assert all(torch.equal(ref[k], v) for k, v in m.module.state_dict().items())
    for t in range(5):
        tr.train_step(t)
    a, b, n = (
        dict(m.module.named_parameters()) for m in (tr.members[0], tr.members[3], tr.members[1])
    )
    assert all(torch.equal(a[k], b[k]) for k in a)  # same loss: bitwise equal
    assert not all(torch.equal(a[k], n[k]) for k in a)  # CL and NSCL did diverge


def test_init_and_head_come_from_their_own_seeds(tiny):
    one, two = LockstepTrainer(tiny(seed=1)), LockstepTrainer(tiny(seed=2))
    w1 = next(one.members[0].module.parameters())
    w2 = next(two.members[0].module.parameters())
    assert not torch.equal(w1, w2)
    h1 = one.members[-1].head.state_dict()
    h1b = LockstepTrainer(tiny(seed=1, objectives="ce")).members[0].head.state_dict()
    assert all(torch.equal(h1[k], h1b[k]) for k in h1)  # head seed independent of objectives
    assert derive_seed(1, "init") != derive_seed(1, "head")
    with pytest.raises(ValueError, match="`purpose` among"):
        derive_seed(1, "dropout")


def test_learning_rate_is_bounds_schedule(tiny):
    cfg = tiny(lr=0.2, lr_rule="sqrt", warmup_steps=3)
    tr = LockstepTrainer(cfg)
    base = bounds.lr_from_rule("sqrt", 0.2, 32)
    np.testing.assert_array_equal(tr.eta, bounds.schedule("cosine", base, 12, 3))
    assert tr.cum_eta[-1] == pytest.approx(bounds.sum_eta("cosine", base, 12, 3), rel=1e-12)
    tr.train_step(0)
    tr.train_step(1)
    assert all(g["lr"] == tr.eta[1] for m in tr.members for g in m.optimizer.param_groups)


@pytest.mark.parametrize("optimizer", ["lars", "adamw"])
def test_other_optimisers_train(optimizer, tiny):
    tr = LockstepTrainer(tiny(objectives="cl,nscl", optimizer=optimizer))
    before = [p.detach().clone() for p in tr.members[0].module.parameters()]
    for t in range(2):
        losses = tr.train_step(t)
    assert all(math.isfinite(v) for v in losses.values())
    after = list(tr.members[0].module.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_non_finite_loss_stops_with_a_clear_error(tiny):
    tr = LockstepTrainer(tiny(objectives="ce", lr=1e30, lr_rule="constant", schedule="constant"))
    with pytest.raises(FloatingPointError, match="training diverged at step \\d+: model 'ce'"):
        for t in range(12):
            tr.train_step(t)


# -- the run directory --------------------------------------------------------------------
def test_run_directory_contents(reference_run, tiny):
    run = reference_run
    for p in (run.config, run.metrics, run.losses, run.bounds, run.last, run.summary):
        assert p.exists(), p
    assert TrainConfig.from_dict(read_config(run)) == tiny(out=str(run.path))
    header, rows = read_csv_rows(run.metrics)
    assert header == metrics_columns()
    pairs = {r["pair"] for r in rows}
    assert {"cl-nscl", "cl-scl", "cl-ce", "cl-ntxent", "nscl-scl"} <= pairs and len(pairs) == 10
    assert sorted({int(r["step"]) for r in rows}) == list(range(0, 13, 2))
    assert {(r["split"], r["features"]) for r in rows} == {
        ("train", "z"),
        ("train", "h"),
        ("test", "z"),
        ("test", "h"),
    }
    for r in rows:
        if r["step"] == "0":  # one initialisation: identical representations and weights
            assert float(r["cka"]) == pytest.approx(1.0, abs=1e-9)
            assert float(r["weight_gap"]) == 0.0
        # the corollaries' inequalities hold for any two feature sets (THEORY.md s7)
        assert float(r["cka"]) >= float(r["cka_lower_from_rho"]) - 1e-9
        assert float(r["rsa"]) >= float(r["rsa_lower_from_r"]) - 1e-9
    last = [r for r in rows if r["step"] == "12" and r["pair"] == "cl-nscl"]
    assert all(float(r["weight_gap"]) > 0 for r in last)


def test_p1_holds_at_every_evaluation(reference_run):
    _, rows = read_csv_rows(reference_run.losses)
    assert {r["model"] for r in rows} == {"cl", "ntxent", "nscl", "scl", "ce"}
    for r in rows:
        gap = float(r["loss_cl"]) - float(r["loss_nscl"])
        assert 0.0 <= gap <= float(r["loss_gap_bound"]), r
        assert float(r["loss_gap_min"]) >= 0.0 and r["p1_holds"] == "true"
        assert gap == pytest.approx(float(r["loss_gap"]), abs=1e-12)
        n, nmax = int(r["batch_size"]), int(r["n_max"])
        assert (
            float(r["loss_gap_bound"])
            >= float(bounds.loss_gap_bound(0.5, n_max=nmax, N=n, form="tight")) - 1e-12
            or int(r["n_batches"]) > 1
        )
        assert 0.0 <= float(r["accuracy"]) <= 1.0
        if r["model"] == "cl":
            assert float(r["loss_own"]) == float(r["loss_cl"])
        if r["model"] == "nscl":
            assert float(r["loss_own"]) == float(r["loss_nscl"])


def test_bounds_csv_uses_the_runs_own_sum_eta(reference_run, tiny):
    _, rows = read_csv_rows(reference_run.bounds)
    cfg = tiny()
    eta = bounds.schedule("cosine", bounds.lr_from_rule("linear", cfg.lr, 32), 12, 2)
    assert [int(r["step"]) for r in rows] == list(range(2, 13, 2))
    for r in rows:
        t = int(r["step"])
        assert float(r["sum_eta"]) == pytest.approx(eta[:t].sum(), rel=1e-12)
        assert float(r["C"]) == 4 and float(r["B"]) == 32 and float(r["tau"]) == 0.5
        expected = bounds.theorem1(eta[:t].sum(), 0.5, 32, float(r["Delta"]))
        assert float(r["sim_gap"]) == pytest.approx(float(expected), rel=1e-9)
        assert float(r["measured_sim_gap"]) > 0


def test_summary(reference_run):
    import json

    s = json.loads(reference_run.summary.read_text())
    assert s["steps"] == 12 and s["p1_held_at_every_evaluation"] is True
    assert set(s["alignment"]) >= {"cl-nscl", "cl-scl", "cl-ce"}
    assert s["models"]["ce"]["head_accuracy"] is not None


# -- reliability --------------------------------------------------------------------------
def test_same_seed_same_metrics_and_resume_is_byte_identical(tmp_path, reference_run, tiny):
    again = RunDir(train(tiny(tmp_path, "again"), progress=False))
    for name in ("metrics", "losses", "bounds"):
        assert getattr(again, name).read_bytes() == getattr(reference_run, name).read_bytes()

    class Killed(Exception):
        pass

    def kill(step, trainer):
        if step == 10:  # last checkpoint at 8; rows for step 10 were already written
            raise Killed

    cfg = tiny(tmp_path, "killed")
    with pytest.raises(Killed):
        train(cfg, progress=False, callback=kill)
    killed = RunDir(cfg.out)
    assert any(r["step"] == "10" for r in read_csv_rows(killed.metrics)[1])
    assert load_checkpoint(killed.last)["step"] == 8
    with pytest.raises(ValueError, match="holding a run .pass --resume"):
        train(cfg, progress=False)
    with pytest.raises(ValueError, match="changed \\['tau'\\]"):
        train(cfg.replace(tau=0.3), progress=False, resume=True)
    train(cfg, progress=False, resume=True)
    for name in ("metrics", "losses", "bounds"):
        assert getattr(killed, name).read_bytes() == getattr(reference_run, name).read_bytes()


def test_stop_after_then_resume(tmp_path, reference_run, tiny):
    cfg = tiny(tmp_path, "stopped")
    with pytest.raises(RunInterrupted, match="after step 4"):
        train(cfg, progress=False, stop_after=4)
    train(cfg, progress=False, resume=True)
    assert RunDir(cfg.out).metrics.read_bytes() == reference_run.metrics.read_bytes()


def test_different_seed_changes_metrics(tmp_path, reference_run, tiny):
    other = RunDir(train(tiny(tmp_path, "seed1", seed=1, steps=2, warmup_steps=0), progress=False))
    assert other.metrics.read_bytes() != reference_run.metrics.read_bytes()


def test_batch_larger_than_data_is_rejected(tiny):
    with pytest.raises(ValueError, match="`batch_size` <= the 128 training samples"):
        LockstepTrainer(tiny(batch_size=256))


def test_train_rejects_non_config():
    with pytest.raises(TypeError, match="TrainConfig"):
        train({"tau": 0.5})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        dict(positive_in_denominator=True),
        dict(pairs="all", eval_features="h", probe="linear", loss_gap_form="paper"),
    ],
)
def test_evaluation_variants_keep_p1(kw, tiny):
    tr = LockstepTrainer(tiny(objectives="cl,nscl,ce", **kw))
    for t in range(2):
        tr.train_step(t)
    result = tr.evaluate(2)
    kinds = {r["features"] for r in result["metrics"]}
    assert kinds == ({"h"} if kw.get("eval_features") == "h" else {"z", "h"})
    for r in result["losses"]:
        assert r["p1_holds"] and 0 <= r["loss_gap"] <= r["loss_gap_bound"]
        assert r["loss_gap_bound_form"] == kw.get("loss_gap_form", "tight")
        if r["model"] == "cl":
            assert r["loss_own"] == r["loss_cl"]  # CL's own loss is the loss_cl column


def test_classes_checked_against_the_data_before_loading(monkeypatch):
    import empirics.data
    from empirics.training.lockstep import check_config_against_data

    monkeypatch.setattr(empirics.data, "num_available_classes", lambda name, root=None: 3)
    cfg = TrainConfig(dataset="imagefolder", data_root="somewhere", classes=5)
    with pytest.raises(ValueError, match=r"`classes` <= 3 .*'imagefolder'.*got 5"):
        check_config_against_data(cfg)


def test_cuda_requested_without_cuda_is_a_config_error(monkeypatch):
    from empirics.training.lockstep import check_config_against_data

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"Expected a CUDA device for `device` = 'cuda'"):
        check_config_against_data(TrainConfig(device="cuda"))
    check_config_against_data(TrainConfig(device="auto"))  # auto falls back to the CPU


def test_run_sets_and_restores_deterministic_mode(tmp_path, tiny):
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads())
    seen = []

    def look(step, trainer):
        seen.append(torch.are_deterministic_algorithms_enabled())

    train(tiny(tmp_path, "det", steps=3, objectives="cl,nscl"), progress=False, callback=look)
    assert seen and all(seen)
    assert (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.get_num_threads()) == before
