"""[P1] Proposition 1's V_f and Vt_f: hand-computed points, a slow loop twin, streaming =
one-shot, merging, invariances, the NaN rules, the support estimate and the m-shot NCC."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

from empirics.metrics.fewshot import (
    ClassMoments,
    ClassVariabilityAccumulator,
    class_moments,
    class_variability,
    merge_class_moments,
    nearest_mean_accuracy,
    support_variability,
    variabilities,
)


def _data(seed=0, n=120, d=4, C=4, spread=1.0):
    g = np.random.default_rng(seed)
    centres = 3 * g.normal(size=(C, d))
    y = np.arange(n) % C
    A = g.normal(size=(C, d, d))  # anisotropic classes: directional != total / d
    x = centres[y] + spread * np.einsum("nij,nj->ni", A[y], g.normal(size=(n, d)))
    return x, y


def _slow(x, y, C):
    """Loop twin: per ordered pair, the definitions of THEORY.md s13."""
    V = np.full((C, C), np.nan)
    Vt = np.full((C, C), np.nan)
    for i, j in itertools.permutations(range(C), 2):
        xi = x[y == i]
        mu_i, mu_j = xi.mean(0), x[y == j].mean(0)
        d = mu_j - mu_i
        dist2 = float(d @ d)
        total = float(np.mean(np.sum((xi - mu_i) ** 2, axis=1)))
        u = d / np.sqrt(dist2)
        proj = (xi - mu_i) @ u
        V[i, j] = total / dist2
        Vt[i, j] = float(np.mean(proj**2)) / dist2  # Var of <f - mu_i, u> (population)
    off = ~np.eye(C, dtype=bool)
    return V, Vt, V[off].mean(), Vt[off].mean()


def test_hand_computed_points():
    # class 0 at (0, +-1) around (0, 0); class 1 at (4, +-1) around (4, 0): spread 1
    # across the line between the means, none along it; ||d|| = 4
    x = np.array([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]])
    out = class_variability(x, np.array([0, 0, 1, 1]))
    assert out["V_f"] == pytest.approx(1 / 16)
    assert out["Vt_f"] == 0.0
    # rotate the spread onto the line: everything is directional
    x2 = np.array([[1.0, 0.0], [-1.0, 0.0], [5.0, 0.0], [3.0, 0.0]])
    out2 = class_variability(x2, np.array([0, 0, 1, 1]))
    assert out2["V_f"] == pytest.approx(1 / 16) and out2["Vt_f"] == pytest.approx(1 / 16)
    assert out2["Vt_pairs"][0, 1] == pytest.approx(1 / 16)
    assert np.isnan(out2["V_pairs"][0, 0])


def test_matches_the_slow_loop_twin():
    x, y = _data()
    V, Vt, v, vt = _slow(x, y, 4)
    out = class_variability(x, y)
    np.testing.assert_allclose(out["V_pairs"], V, rtol=1e-12)
    np.testing.assert_allclose(out["Vt_pairs"], Vt, rtol=1e-12)
    assert out["V_f"] == pytest.approx(v, rel=1e-12)
    assert out["Vt_f"] == pytest.approx(vt, rel=1e-12)


def test_directional_at_most_total_pair_by_pair():
    x, y = _data(3)
    out = class_variability(x, y)
    off = ~np.eye(4, dtype=bool)
    assert np.all(out["Vt_pairs"][off] <= out["V_pairs"][off] + 1e-15)


def test_streaming_equals_one_shot_and_merge_commutes():
    x, y = _data(1, n=203)
    one = class_moments(x, y, 4)
    acc = ClassVariabilityAccumulator(4)
    for i in range(0, 203, 37):
        acc.update(x[i:i + 37], y[i:i + 37])
    torch.testing.assert_close(acc.moments.scatter, one.scatter, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(acc.moments.mean, one.mean, rtol=1e-13, atol=1e-13)
    a, b = class_moments(x[:90], y[:90], 4), class_moments(x[90:], y[90:], 4)
    ab, ba = merge_class_moments(a, b), merge_class_moments(b, a)
    torch.testing.assert_close(ab.scatter, ba.scatter, rtol=1e-12, atol=1e-12)
    assert acc.compute()["Vt_f"] == pytest.approx(class_variability(x, y)["Vt_f"], rel=1e-12)


def test_accumulators_merge_and_flat_state_round_trip():
    x, y = _data(2)
    a, b = ClassVariabilityAccumulator(4), ClassVariabilityAccumulator(4)
    a.update(x[:50], y[:50])
    b.update(x[50:], y[50:])
    a.merge(b)
    assert a.n == 120
    assert a.compute()["V_f"] == pytest.approx(class_variability(x, y)["V_f"], rel=1e-12)
    flat = a.stats_tensor()
    back = ClassMoments.from_flat(flat, 4, 4)
    torch.testing.assert_close(back.scatter, a.moments.scatter)
    c = ClassVariabilityAccumulator(4, dim=4).merge_stats_(flat)
    assert c.compute()["Vt_f"] == pytest.approx(a.compute()["Vt_f"], rel=1e-14)
    assert a.reset().n == 0


def _flat_state():
    x, y = _data(2)
    a = ClassVariabilityAccumulator(4)
    a.update(x[:40], y[:40])
    return a.stats_tensor()


@pytest.mark.parametrize(("edit", "exc", "match"), [
    (lambda t: t.__setitem__(9, float("nan")), ValueError, "finite class moments.*index 9"),
    (lambda t: t.__setitem__(1, -1.0), ValueError, r"whole class counts.*n_1 = -1.0"),
    (lambda t: t.__setitem__(2, 2.5), ValueError, r"whole class counts.*n_2 = 2.5"),
    (lambda t: t.__setitem__(0, 2.0**60), ValueError, "whole class counts"),
    (lambda t: (t.__setitem__(3, 0.0), t.__setitem__(4 + 3 * 4, 1.0)), ValueError,
     "class 3 without rows"),
], ids=["nan", "negative-count", "fractional-count", "huge-count", "empty-class-with-stats"])
def test_a_malformed_state_is_refused_and_the_accumulator_is_unchanged(edit, exc, match):
    t = _flat_state().clone()
    edit(t)
    with pytest.raises(exc, match=match):
        ClassMoments.from_flat(t, 4, 4)
    c = ClassVariabilityAccumulator(4, dim=4)
    c.merge_stats_(_flat_state())
    before = c.stats_tensor().clone()
    with pytest.raises(exc, match=match):
        c.merge_stats_(t)
    assert torch.equal(c.stats_tensor(), before)
    with pytest.raises(TypeError, match="real float64"):
        ClassMoments.from_flat(t.to(torch.complex128), 4, 4)


def test_class_new_in_a_later_chunk_is_exact():
    x, y = _data(4)
    order = np.argsort(y, kind="stable")  # class 3 arrives only in the last chunk
    acc = ClassVariabilityAccumulator(4)
    for i in range(0, 120, 30):
        acc.update(x[order][i:i + 30], y[order][i:i + 30])
    assert acc.compute()["V_f"] == pytest.approx(class_variability(x, y)["V_f"], rel=1e-12)


@pytest.mark.parametrize("transform", ["rotate", "scale", "shift"])
def test_invariances(transform):
    x, y = _data(5)
    g = np.random.default_rng(0)
    if transform == "rotate":
        q, _ = np.linalg.qr(g.normal(size=(4, 4)))
        x2 = x @ q
    elif transform == "scale":
        x2 = 7.5 * x
    else:
        x2 = x + 1e3
    a, b = class_variability(x, y), class_variability(x2, y)
    assert b["V_f"] == pytest.approx(a["V_f"], rel=1e-9)
    assert b["Vt_f"] == pytest.approx(a["Vt_f"], rel=1e-9)


def test_nan_with_a_warning_for_an_absent_class_and_equal_means():
    x = np.array([[0.0], [2.0], [5.0], [7.0]])
    with pytest.warns(RuntimeWarning, match="no samples"):
        out = class_variability(x, np.array([0, 0, 1, 1]), num_classes=3)
    assert np.isnan(out["V_f"]) and np.isnan(out["Vt_f"])
    with pytest.warns(RuntimeWarning, match="equal means"):
        out = class_variability(np.array([[0.0], [2.0], [1.0], [1.0]]), np.array([0, 0, 1, 1]))
    assert np.isnan(out["V_f"])


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((3, 2)), y=np.array([0, 1])), "shape"),
    (dict(x=np.zeros((2, 2)), y=np.array([0.0, 1.0])), "integer labels"),
    (dict(x=np.zeros((2, 2)), y=np.array([0, -1])), ">= 0"),
    (dict(x=np.zeros((2, 2)), y=np.array([0, 5]), num_classes=3), "< `num_classes`"),
    (dict(x=np.array([[np.nan, 0.0], [1.0, 1.0]]), y=np.array([0, 1])), "finite"),
    (dict(x=np.zeros((2, 2)), y=np.array([0, 0])), "at least 2 classes"),
])
def test_bad_input_is_one_sentence(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        class_variability(**bad)


def test_accumulator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`num_classes` >= 2"):
        ClassVariabilityAccumulator(1)
    acc = ClassVariabilityAccumulator(2).update(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="width 3"):
        acc.update(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="n=0"):
        ClassVariabilityAccumulator(2).compute()
    with pytest.raises(TypeError, match="ClassVariabilityAccumulator"):
        acc.merge(object())


def test_support_variability_matches_a_loop_and_estimates_vt():
    x, y = _data(6, n=4000)
    pop = class_moments(x, y, 4)
    _, Vt, _ = variabilities(pop)
    idx = np.random.default_rng(1).choice(4000, size=200, replace=False)
    vs = support_variability(pop, x[idx], y[idx]).numpy()
    mu = pop.mean.numpy()
    for i, j in itertools.permutations(range(4), 2):
        d = mu[j] - mu[i]
        s = x[idx][y[idx] == i] - mu[i]
        want = np.mean((s @ d) ** 2) / float(d @ d) ** 2
        assert vs[i, j] == pytest.approx(want, rel=1e-10)
    off = ~np.eye(4, dtype=bool)
    # an unbiased estimate of Vt: close on 50 support points per class
    assert vs[off].mean() == pytest.approx(Vt.numpy()[off].mean(), rel=0.35)


def test_nearest_mean_accuracy_matches_a_loop():
    x, y = _data(7)
    sup = np.arange(0, 40)
    q = np.arange(40, 120)
    got = nearest_mean_accuracy(x[sup], y[sup], x[q], y[q])
    centres = np.stack([x[sup][y[sup] == c].mean(0) for c in range(4)])
    pred = [int(np.argmin([np.sum((x[k] - c) ** 2) for c in centres])) for k in q]
    assert got == pytest.approx(np.mean(np.array(pred) == y[q]))


def test_nearest_mean_never_predicts_a_class_without_support():
    s = np.array([[0.0], [10.0]])
    q = np.array([[10.0], [11.0]])
    acc = nearest_mean_accuracy(s[:1], np.array([0]), q, np.array([0, 0]), num_classes=2)
    assert acc == 1.0
    with pytest.raises(ValueError, match="support point"):
        nearest_mean_accuracy(np.zeros((0, 1)), np.zeros(0, dtype=int), q, np.array([0, 0]))


def test_no_warning_on_clean_data():
    x, y = _data(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        class_variability(x, y)
