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


# ----------------------------------------------------------------------- logistic probe
def _standardise(xt, xs):
    import numpy as np

    a, b = xt.double().numpy(), xs.double().numpy()
    mean, std = a.mean(0), np.maximum(a.std(0, ddof=1), 1e-12)
    return (a - mean) / std, (b - mean) / std


@pytest.mark.parametrize("seed,C,l2", [(0, 3, 1e-3), (1, 4, 1e-2), (2, 5, 0.1)])
def test_logistic_probe_is_scikit_learns(seed, C, l2):
    # twin: scikit-learn's multinomial LogisticRegression on the same standardised features;
    # its objective C_sk sum_i CE_i + ||W||^2 / 2 is ours times C_sk n when C_sk = 1/(l2 n)
    # (C >= 3: with two classes scikit-learn fits the binomial form, another penalty)
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from empirics.training.probe import fit_logistic, logistic_probe_accuracy

    xt, yt = _data(seed, n=45, d=4, C=C, noise=2.0)
    xs, ys = _data(seed + 10, n=30, d=4, C=C, noise=2.0)
    a, b = _standardise(xt, xs)
    W, bias, _ = fit_logistic(a, yt.numpy(), C, l2=l2, gtol=1e-9, ftol=0.0)
    twin = LogisticRegression(C=1.0 / (l2 * a.shape[0]), tol=1e-12, max_iter=10000).fit(
        a, yt.numpy())
    assert np.allclose(W, twin.coef_.T, atol=1e-5)  # both at their solvers' precision
    assert np.allclose(a @ W + bias, twin.decision_function(a), atol=1e-5)
    want = float((twin.predict(b) == ys.numpy()).mean())
    assert logistic_probe_accuracy(xt, yt, xs, ys, l2=l2) == want


def test_logistic_probe_is_deterministic_and_separates():
    from empirics.training.probe import logistic_probe_accuracy

    xt, yt = _data(0, noise=0.1)
    assert logistic_probe_accuracy(xt, yt, xt, yt) == 1.0
    xs, ys = _data(5, noise=3.0)
    assert logistic_probe_accuracy(xt, yt, xs, ys) == logistic_probe_accuracy(xt, yt, xs, ys)
    assert probe_accuracy("logistic", xt, yt, xs, ys) == logistic_probe_accuracy(xt, yt, xs,
                                                                                 ys)
    with pytest.raises(ValueError, match="`l2` > 0"):
        logistic_probe_accuracy(xt, yt, xs, ys, l2=0.0)


def test_logistic_probe_warns_when_it_stops_early():
    from empirics.training.probe import logistic_probe_accuracy

    xt, yt = _data(0, noise=2.0)
    with pytest.warns(RuntimeWarning, match="L-BFGS stopped"):
        logistic_probe_accuracy(xt, yt, xt, yt, max_iter=1)
