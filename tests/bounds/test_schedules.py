"""Tests of bounds.schedules: LR rules, steps, schedules and the exact sum of rates."""

import math

import numpy as np
import pytest

from bounds import schedules as sch


def test_lr_rules_as_written_in_the_paper():
    # THEORY.md s11: not rescaled to agree at B = 256.
    assert sch.lr_from_rule("linear", 0.3, 1024) == pytest.approx(0.3 * 1024 / 256)
    assert sch.lr_from_rule("sqrt", 0.3, 1024) == pytest.approx(0.3 * 32 / 256)
    assert sch.lr_from_rule("fourth-root", 0.3, 1024) == pytest.approx(0.3 * 1024**0.25 / 256)
    assert sch.lr_from_rule("constant", 0.3, 1024) == 0.3
    out = sch.lr_from_rule("linear", 0.3, np.array([256, 512]))
    np.testing.assert_allclose(out, [0.3, 0.6])


def test_steps_from_epochs():
    assert sch.steps_from_epochs(300, 50000, 1024) == 300 * 49
    assert sch.steps_from_epochs(1, 10, 5) == 2
    assert sch.steps_from_epochs(1, 11, 5) == 3
    np.testing.assert_array_equal(sch.steps_from_epochs(2, 100, np.array([10, 30])), [20, 8])


def test_cosine_schedule_values():
    eta = sch.schedule("cosine", 2.0, 10, warmup_steps=4)
    assert eta.shape == (10,)
    np.testing.assert_allclose(eta[:4], 2.0 * np.arange(1, 5) / 4)
    t = np.arange(4, 10)
    np.testing.assert_allclose(eta[4:], 2.0 * 0.5 * (1 + np.cos(np.pi * (t - 4) / 6)))
    assert eta[4] == 2.0 and eta[-1] > 0
    np.testing.assert_array_equal(sch.schedule("constant", 0.5, 3, 1), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("kind", ["constant", "cosine"])
@pytest.mark.parametrize("T,W", [(1, 0), (2, 1), (7, 0), (100, 10), (14700, 490), (5, 4)])
def test_sum_eta_equals_explicit_sum(kind, T, W):
    explicit = math.fsum(sch.schedule(kind, 1.3, T, W))
    assert sch.sum_eta(kind, 1.3, T, W) == pytest.approx(explicit, rel=1e-12)


def test_sum_eta_is_not_eta_times_T():
    assert sch.sum_eta("cosine", 1.0, 100, 10) != pytest.approx(100.0)
    assert sch.sum_eta("cosine", 1.0, 100, 10) == pytest.approx((11 + 91) / 2)


def test_sum_eta_broadcasts():
    out = sch.sum_eta("cosine", np.array([1.0, 2.0])[:, None], np.array([10, 20, 30]), 2)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(math.fsum(sch.schedule("cosine", 2.0, 30, 2)))


@pytest.mark.parametrize("call,match", [
    (lambda: sch.lr_from_rule("cubic", 0.3, 1024), "Expected `lr_rule` in"),
    (lambda: sch.lr_from_rule("linear", -0.1, 1024), "Expected `lr` >= 0, got -0.1"),
    (lambda: sch.steps_from_epochs(0, 10, 2), "Expected `epochs` to be an integer >= 1, got 0"),
    (lambda: sch.steps_from_epochs(1, 10, 2.5), "Expected `B` to be an integer >= 1, got 2.5"),
    (lambda: sch.schedule("step", 1.0, 10), "Expected `schedule` in"),
    (lambda: sch.schedule("cosine", 1.0, 10, 10), "Expected `warmup_steps` < `T`"),
    (lambda: sch.schedule("cosine", 1.0, 0), "Expected `T` to be an integer >= 1, got 0"),
    (lambda: sch.sum_eta("cosine", 1.0, 10, -1), "Expected `warmup_steps` to be an integer"),
])
def test_schedule_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_schedule_rejects_arrays():
    with pytest.raises(TypeError, match="scalar"):
        sch.schedule("cosine", np.array([1.0, 2.0]), 10)


# -- stepped per epoch (the official code's convention, THEORY.md s13) -----------------------
@pytest.mark.parametrize("kind", ["constant", "cosine"])
@pytest.mark.parametrize("T,W,P", [(1, 0, 4), (6, 2, 2), (7, 2, 2), (12, 0, 5), (100, 10, 5),
                                   (14700, 490, 49), (99, 0, 1), (9, 3, 3)])
def test_epoch_unit_sum_equals_explicit_sum(kind, T, W, P):
    eta = sch.schedule(kind, 1.3, T, W, unit="epoch", steps_per_epoch=P)
    assert eta.shape == (T,)
    assert sch.sum_eta(kind, 1.3, T, W, unit="epoch", steps_per_epoch=P) == pytest.approx(
        math.fsum(eta), rel=1e-12)


def test_epoch_unit_holds_the_rule_of_each_epoch():
    P, E, We = 3, 5, 2
    eta = sch.schedule("cosine", 2.0, P * E - 1, We * P, unit="epoch", steps_per_epoch=P)
    per_epoch = sch.schedule("cosine", 2.0, E, We)  # the rule on the epoch counter
    np.testing.assert_array_equal(eta, np.repeat(per_epoch, P)[:P * E - 1])


def test_one_step_per_epoch_is_the_step_unit():
    for kind in ("constant", "cosine"):
        np.testing.assert_array_equal(
            sch.schedule(kind, 0.7, 50, 5, unit="epoch", steps_per_epoch=1),
            sch.schedule(kind, 0.7, 50, 5))
    # and the step unit ignores steps_per_epoch (bitwise the per-step schedule)
    np.testing.assert_array_equal(sch.schedule("cosine", 0.7, 50, 5, steps_per_epoch=7),
                                  sch.schedule("cosine", 0.7, 50, 5))
    assert sch.sum_eta("cosine", 0.7, 50, 5, steps_per_epoch=7) == sch.sum_eta(
        "cosine", 0.7, 50, 5)


def test_epoch_unit_at_the_papers_setting():
    """About 0.7% more S than per step (THEORY.md s13): 151 epochs' worth of rate vs 150."""
    P = sch.epoch_steps(50000, 1024)
    assert P == 49
    step = sch.sum_eta("cosine", 1.2, 300 * P, 10 * P)
    epoch = sch.sum_eta("cosine", 1.2, 300 * P, 10 * P, unit="epoch", steps_per_epoch=P)
    assert epoch == pytest.approx(1.2 * P * (11 / 2 + 291 / 2), rel=1e-12)
    assert epoch / step - 1 == pytest.approx(0.0065, abs=5e-4)


def test_epoch_unit_broadcasts():
    T = np.array([10, 11, 30])
    P = np.array([[2], [4]])
    out = sch.sum_eta("cosine", 1.0, T, 4, unit="epoch", steps_per_epoch=P)
    assert out.shape == (2, 3)
    assert out[1, 1] == pytest.approx(math.fsum(sch.schedule("cosine", 1.0, 11, 4,
                                                             unit="epoch",
                                                             steps_per_epoch=4)))


@pytest.mark.parametrize("call,match", [
    (lambda: sch.schedule("cosine", 1.0, 10, 3, unit="epoch", steps_per_epoch=2),
     r"`warmup_steps` to be a whole number of epochs \(a multiple of the 2 steps per "
     r"epoch\) for the epoch unit, got 3"),
    (lambda: sch.sum_eta("cosine", 1.0, 10, 3, unit="epoch", steps_per_epoch=2),
     "whole number of epochs"),
    (lambda: sch.schedule("cosine", 1.0, 10, unit="month"), "Expected `schedule_unit` in"),
    (lambda: sch.schedule("cosine", 1.0, 10, unit="epoch", steps_per_epoch=0),
     "Expected `steps_per_epoch` to be an integer >= 1, got 0"),
    (lambda: sch.epoch_steps(0, 2), "Expected `N` to be an integer >= 1, got 0"),
])
def test_epoch_unit_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_constant_schedule_per_epoch_ignores_the_warm_up():
    eta = sch.schedule("constant", 0.5, 7, 3, unit="epoch", steps_per_epoch=2)
    np.testing.assert_array_equal(eta, np.full(7, 0.5))
