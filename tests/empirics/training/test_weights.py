"""Tests for empirics.weights.weight_gap against a direct per-tensor loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from empirics.training.weights import weight_gap, weight_gap_official


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


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e-160, 1.0, 1e160, 1e300])
def test_weight_distance_is_the_norm_of_the_whole_difference(scale):
    """[P2] Theorem 2's left side: ``||w_a - w_b||_2`` over every parameter, float64 (the
    long-double twin), at extreme scales, and exactly 0 for identical models; the gap and
    the angle of the same models are scale-free, so they equal their values at scale 1."""
    a, b = _net(0), _net(1)
    for p in (*a.parameters(), *b.parameters()):
        p.data = p.data.double()
    unit = weight_gap(a, b)
    for p in (*a.parameters(), *b.parameters()):
        p.data = p.data * scale
    out = weight_gap(a, b)
    for key in ("weight_gap_mean", "weight_gap_sum", "weight_angle"):
        assert out[key] == pytest.approx(unit[key], rel=1e-12), key
    assert out["n_skipped"] == unit["n_skipped"]
    A = np.concatenate([p.detach().numpy().ravel() for p in a.parameters()]).astype(np.longdouble)
    B = np.concatenate([p.detach().numpy().ravel() for p in b.parameters()]).astype(np.longdouble)
    want = float(np.sqrt(((A - B) ** 2).sum()))
    assert weight_gap(a, b)["weight_distance"] == pytest.approx(want, rel=1e-13)
    assert weight_gap(b, a)["weight_distance"] == weight_gap(a, b)["weight_distance"]
    assert weight_gap(a, a)["weight_distance"] == 0.0


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


# -- the official code's weight gap (THEORY.md s13) ----------------------------------------
def _official_loop(a, b):
    """The official code's loop, written out: backbone '.weight' tensors, projector out."""
    vals = []
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        if not (k.startswith("encoder.") and k.endswith(".weight")):
            continue
        wa, wb = sa[k].double(), sb[k].double()
        den = 0.5 * (torch.norm(wa, p="fro") + torch.norm(wb, p="fro"))
        if den != 0:
            vals.append(float(torch.norm(wa - wb, p="fro") / den))
    return sum(vals) / len(vals), len(vals)


def _model(seed, norm="none", arch="cnn"):
    from empirics.models import build_model

    shape = (3, 8, 8) if arch == "cnn" else (6,)
    kw = dict(width=2) if arch == "cnn" else {}
    return build_model(arch, shape, feature_dim=5, proj_dim=4, seed=seed, norm=norm, **kw)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_official_gap_equals_the_official_loop(norm):
    a, b = _model(0, norm), _model(1, norm)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.01)  # norm-layer scales differ too
    got = weight_gap_official(a, b)
    want, n = _official_loop(a, b)
    assert got["weight_gap_official"] == pytest.approx(want, rel=1e-12)
    assert got["n_layers"] == n == (5 if norm == "none" else 9) and got["n_skipped"] == 0
    assert weight_gap_official(b, a) == got  # symmetric
    assert weight_gap_official(a.state_dict(), b.state_dict()) == got


def test_official_gap_ignores_projector_and_biases():
    a, b = _model(0, arch="mlp"), _model(0, arch="mlp")
    with torch.no_grad():
        b.projector.net[0].weight.mul_(3.0)
        b.encoder.net[1].bias.add_(1.0)
    assert weight_gap_official(a, b)["weight_gap_official"] == 0.0
    with torch.no_grad():
        b.encoder.net[1].weight.mul_(-1.0)  # one of 3 layers: ||2W|| / ||W|| = 2
    assert weight_gap_official(a, b)["weight_gap_official"] == pytest.approx(2 / 3, rel=1e-12)


def test_official_gap_skips_zero_layers_and_warns_when_all_are_zero():
    a = {"encoder.0.weight": torch.zeros(2, 2), "encoder.1.weight": torch.eye(2)}
    b = {"encoder.0.weight": torch.zeros(2, 2), "encoder.1.weight": 2 * torch.eye(2)}
    out = weight_gap_official(a, b)
    assert out == {"weight_gap_official": pytest.approx(2 / 3), "n_layers": 1, "n_skipped": 1}
    with pytest.warns(RuntimeWarning, match="every backbone layer is zero"):
        out = weight_gap_official({"encoder.w.weight": torch.zeros(1)},
                                  {"encoder.w.weight": torch.zeros(1)})
    assert math.isnan(out["weight_gap_official"])


@pytest.mark.parametrize(("a", "b", "exc", "match"), [
    ({"encoder.0.weight": torch.ones(2)}, {"encoder.0.weight": torch.ones(3)}, ValueError,
     r"shapes \(2,\) and \(3,\)"),
    ({"encoder.0.weight": torch.ones(2)}, {"encoder.1.weight": torch.ones(2)}, ValueError,
     "only in model_a"),
    ({"projector.0.weight": torch.ones(2)}, {"projector.0.weight": torch.ones(2)}, ValueError,
     "backbone weight tensors"),
    ("net", {}, TypeError, "model_a"),
])
def test_official_gap_invalid_inputs_raise(a, b, exc, match):
    with pytest.raises(exc, match=match):
        weight_gap_official(a, b)


def test_metrics_csv_carries_both_definitions(tmp_path, tiny):
    from empirics.runs.layout import RunDir
    from empirics.runs.reader import read_table
    from empirics.runs.writer import load_checkpoint
    from empirics.training.trainer import train

    rd = RunDir(train(tiny(tmp_path, "run", objectives="cl,nscl,ce", steps=4,
                           checkpoint_every=4), progress=False))
    df = read_table(rd.metrics)
    final = df[(df["step"] == 4)]
    members = load_checkpoint(rd.last)["members"]
    for pair, rows in final.groupby("pair"):
        x, y = pair.split("-")
        a, b = members[x]["model"], members[y]["model"]
        assert (rows["weight_gap_official"] == weight_gap_official(a, b)[
            "weight_gap_official"]).all()
        assert (rows["weight_gap"] == weight_gap(a, b)["weight_gap_mean"]).all()
    assert (df[df["step"] == 0]["weight_gap_official"] == 0.0).all()
