"""Accuracy probes: nearest class centre and closed-form ridge, against slow twins."""

from __future__ import annotations

import pytest
import torch

from empirics.training.probe import linear_probe_accuracy, ncc_accuracy, probe_accuracy


def _data(seed=0, n=60, d=5, C=3, noise=0.8):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(C, d, generator=g)
    y = torch.arange(n) % C
    x = centres[y] + noise * torch.randn(n, d, generator=g)
    return x, y


def test_ncc_matches_loop_reference():
    xt, yt = _data(0)
    xs, ys = _data(1, noise=2.5)
    xtn = torch.nn.functional.normalize(xt.double(), dim=1)
    correct = 0
    for i in range(xs.shape[0]):  # slow twin: per-sample nearest normalised centre
        v = torch.nn.functional.normalize(xs[i].double(), dim=0)
        best = max(
            range(3),
            key=lambda c: float(torch.nn.functional.normalize(xtn[yt == c].mean(0), dim=0) @ v),
        )
        correct += int(best == int(ys[i]))
    assert ncc_accuracy(xt, yt, xs, ys) == pytest.approx(correct / xs.shape[0])


def test_linear_probe_separable_and_chance():
    xt, yt = _data(0, noise=0.1)
    assert linear_probe_accuracy(xt, yt, xt, yt) == 1.0
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(300, 4, generator=g)
    labels = torch.randint(0, 2, (300,), generator=g)
    acc = linear_probe_accuracy(noise[:150], labels[:150], noise[150:], labels[150:])
    assert 0.3 < acc < 0.7  # random labels: near chance, not memorised


def test_probe_errors():
    x, y = _data()
    with pytest.raises(ValueError, match="`probe` among"):
        probe_accuracy("knn", x, y, x, y)
    with pytest.raises(ValueError, match="`x_train` to be a 2-D tensor"):
        ncc_accuracy(x[0], y, x, y)
    with pytest.raises(ValueError, match="`x_test` with 5 columns"):
        ncc_accuracy(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="`y_test` of shape"):
        ncc_accuracy(x, y, x, y[:3])
    with pytest.raises(ValueError, match="`l2` > 0"):
        linear_probe_accuracy(x, y, x, y, l2=0.0)
