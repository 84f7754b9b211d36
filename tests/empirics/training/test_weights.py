"""Tests for empirics.weights.weight_gap against a direct per-tensor loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from empirics.training.weights import weight_gap


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.LayerNorm(3))


def _loop(a, b):
    gaps, va, vb = [], [], []
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        A, B = pa.detach().double().numpy().ravel(), pb.detach().double().numpy().ravel()
        if np.linalg.norm(B) > 0:
            gaps.append(np.linalg.norm(A - B) / np.linalg.norm(B))
        va.append(A)
        vb.append(B)
    A, B = np.concatenate(va), np.concatenate(vb)
    cos = A @ B / (np.linalg.norm(A) * np.linalg.norm(B))
    return np.mean(gaps), np.sum(gaps), math.degrees(math.acos(cos)), len(va) - len(gaps)


def test_equals_direct_loop():
    a, b = _net(0), _net(1)
    out = weight_gap(a, b)
    mean, total, angle, skipped = _loop(a, b)
    assert out["weight_gap_mean"] == pytest.approx(mean, rel=1e-12)
    assert out["weight_gap_sum"] == pytest.approx(total, rel=1e-12)
    assert out["weight_angle"] == pytest.approx(angle, rel=1e-10)
    assert out["n_tensors"] == 6 and out["n_skipped"] == skipped == 1  # LayerNorm bias = 0
    # the reference is the SECOND model
    assert weight_gap(b, a)["weight_gap_mean"] != pytest.approx(out["weight_gap_mean"])


def test_identical_scaled_and_orthogonal():
    a = _net(0)
    b = _net(0)
    out = weight_gap(a, b)
    assert out["weight_gap_mean"] == 0.0 and out["weight_angle"] == 0.0
    with torch.no_grad():
        for p in b.parameters():
            p.mul_(2.0)
    out = weight_gap(a, b)
    assert out["weight_gap_mean"] == pytest.approx(0.5, rel=1e-12)  # |W - 2W| / |2W|
    assert out["weight_angle"] == pytest.approx(0.0, abs=1e-6)
    x, y = nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        x.weight.copy_(torch.tensor([[1.0, 0.0]]))
        y.weight.copy_(torch.tensor([[0.0, 3.0]]))
    assert weight_gap(x, y)["weight_angle"] == pytest.approx(90.0, rel=1e-12)
    assert weight_gap(x, y)["weight_gap_mean"] == pytest.approx(math.sqrt(10) / 3, rel=1e-12)
    with torch.no_grad():
        y.weight.copy_(-2.0 * x.weight)
    assert weight_gap(x, y)["weight_angle"] == pytest.approx(180.0, rel=1e-12)


def test_state_dicts_and_weights_only():
    a, b = _net(2), _net(3)
    assert weight_gap(a.state_dict(), b.state_dict()) == weight_gap(a, b)
    out = weight_gap(a, b, weights_only=True)
    assert out["n_tensors"] == 2  # the two Linear weight matrices
    wa, wb = a[0].weight.detach().double(), b[0].weight.detach().double()
    wa2, wb2 = a[2].weight.detach().double(), b[2].weight.detach().double()
    want = ((wa - wb).norm() / wb.norm() + (wa2 - wb2).norm() / wb2.norm()).item() / 2
    assert out["weight_gap_mean"] == pytest.approx(want, rel=1e-12)


def test_zero_reference_tensor_that_differs_warns():
    a, b = _net(4), _net(4)
    with torch.no_grad():
        a[3].bias.add_(1.0)  # b's LayerNorm bias is zero, a's is not
    with pytest.warns(RuntimeWarning, match="zero in model_b"):
        out = weight_gap(a, b)
    assert out["n_skipped"] == 1 and out["weight_gap_mean"] == 0.0


def test_all_zero_models_give_nan_with_warning():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    for m in (a, b):
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)
    with pytest.warns(RuntimeWarning):
        out = weight_gap(a, b)
    assert math.isnan(out["weight_gap_mean"]) and math.isnan(out["weight_angle"])


@pytest.mark.parametrize(
    ("a", "b", "exc", "match"),
    [
        (nn.Linear(2, 2), [1, 2], TypeError, "model_b"),
        (nn.Linear(2, 2), nn.Linear(2, 3), ValueError, r"shapes \(2, 2\) and \(3, 2\)"),
        (nn.Linear(2, 2), nn.Linear(2, 2, bias=False), ValueError, "only in model_a"),
        (nn.ReLU(), nn.ReLU(), ValueError, "at least one parameter"),
    ],
)
def test_invalid_inputs_raise(a, b, exc, match):
    with pytest.raises(exc, match=match):
        weight_gap(a, b)
