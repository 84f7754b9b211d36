"""The run's schedule is bounds' schedule, per step or per epoch: the trainer's sum_eta
equals ``bounds.evaluate_bounds``'s for both units (THEORY.md s11, s13)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bounds import evaluate_bounds
from bounds import schedules as sch
from empirics.training.config import TrainConfig
from empirics.training.lockstep import LockstepTrainer, run_schedule


@pytest.mark.parametrize("unit", ["step", "epoch"])
@pytest.mark.parametrize("N,B,epochs,we", [
    (128, 32, 3, 1), (130, 32, 4, 1), (1000, 64, 7, 2), (50000, 1024, 300, 10),
    (97, 96, 5, 0), (4096, 256, 2, 1),
])
@pytest.mark.parametrize("rule", ["linear", "sqrt"])
def test_run_schedule_sum_equals_bounds(unit, N, B, epochs, we, rule):
    P = math.ceil(N / B)
    cfg = TrainConfig(epochs=epochs, batch_size=B, warmup_steps=we * P, schedule_unit=unit,
                      lr=0.3, lr_rule=rule)
    r = run_schedule(cfg, N)
    b = evaluate_bounds(10, 0.5, B, epochs=epochs, N=N, lr=0.3, lr_rule=rule,
                        warmup_epochs=we, schedule_unit=unit)
    assert (r.T, r.warmup_steps, r.steps_per_epoch) == (int(b["T"]), int(b["warmup_steps"]), P)
    assert math.fsum(r.eta) == pytest.approx(float(b["sum_eta"]), rel=1e-12)
    if unit == "epoch":  # one rate per epoch
        assert all(np.unique(r.eta[e * P:(e + 1) * P]).size == 1 for e in range(epochs))


@pytest.mark.parametrize("unit,B,warmup", [("step", 32, 3), ("epoch", 32, 4), ("epoch", 48, 3)])
def test_trainer_sum_eta_equals_bounds(tiny, unit, B, warmup):
    tr = LockstepTrainer(tiny(epochs=3, batch_size=B, warmup_steps=warmup, schedule_unit=unit))
    P = math.ceil(tr.N / B)
    b = evaluate_bounds(tr.C, 0.5, B, epochs=3, N=tr.N, lr=tr.config.lr,
                        warmup_epochs=warmup // P if unit == "epoch" else 0,
                        warmup_steps=warmup, schedule_unit=unit)
    assert tr.T == int(b["T"]) == 3 * P
    assert tr.cum_eta[tr.T] == pytest.approx(float(b["sum_eta"]), rel=1e-12)
    np.testing.assert_array_equal(
        tr.eta, sch.schedule("cosine", tr.base_lr, tr.T, warmup, unit=unit, steps_per_epoch=P))
    tr.train_step(0)
    tr.train_step(P)  # the first step of epoch 1 runs at epoch 1's rate
    assert all(g["lr"] == tr.eta[P] for m in tr.members for g in m.optimizer.param_groups)


def test_epoch_unit_default_warm_up_is_whole_epochs():
    cfg = TrainConfig(schedule_unit="epoch")  # T = 400, B = 256, N = 4096: 16 steps/epoch
    r = run_schedule(cfg, 4096)
    assert r.steps_per_epoch == 16 and r.warmup_steps == 16  # min(20, T // 10), whole epochs
    assert run_schedule(TrainConfig(), 4096).warmup_steps == 20


def test_step_unit_is_unchanged():
    cfg = TrainConfig(lr=0.2, lr_rule="sqrt", warmup_steps=3, steps=12, batch_size=32)
    r = run_schedule(cfg, 128)
    np.testing.assert_array_equal(r.eta, sch.schedule("cosine", sch.lr_from_rule(
        "sqrt", 0.2, 32), 12, 3))


@pytest.mark.parametrize("kw,match", [
    (dict(schedule_unit="epoch", warmup_steps=3, batch_size=32),
     r"`warmup_steps` to be a whole number of epochs \(a multiple of the 4 steps per epoch\) "
     r"for `schedule_unit` 'epoch', got 3"),
    (dict(epochs=1, batch_size=32, warmup_steps=4),
     "Expected `warmup_steps` < the run's 4 steps, got 4"),
])
def test_run_schedule_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        run_schedule(TrainConfig(**kw), 128)


def test_constant_schedule_per_epoch_needs_no_whole_warm_up():
    r = run_schedule(TrainConfig(schedule="constant", schedule_unit="epoch", warmup_steps=3,
                                 batch_size=32, steps=12), 128)
    assert np.all(r.eta == r.base_lr)
