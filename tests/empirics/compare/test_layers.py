"""Layer-wise alignment: the wide moments' blocks are exact, layers.csv equals one-shot CKA."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from empirics.compare.layers import WideMoments, layer_names, layer_rows
from empirics.measures import MEASURES
from empirics.metrics import alignment, cka, mutual_knn, procrustes_distance

KEYS = ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r")


def _blocks(seed, N=150):
    g = torch.Generator().manual_seed(seed)
    a0 = torch.randn(N, 5, generator=g, dtype=torch.float64)
    a1 = torch.randn(N, 3, generator=g, dtype=torch.float64) + 4.0  # far from the origin
    b0 = a0 @ torch.randn(5, 4, generator=g, dtype=torch.float64) \
        + 0.3 * torch.randn(N, 4, generator=g, dtype=torch.float64)
    b1 = torch.tanh(a1)
    return [a0, a1], [b0, b1, a1.clone()]


@pytest.mark.parametrize("scale", [1.0, 1e-150, 1e150])
def test_every_block_equals_the_one_shot_metrics(scale):
    A, B = _blocks(0)
    A = [scale * a for a in A]
    cos = WideMoments([5, 3], [4, 3, 3], cosine=True)
    raw = WideMoments([5, 3], [4, 3, 3], cosine=False)
    for lo in range(0, 150, 37):  # chunks of 37 rows, the last one short
        cos.update([a[lo:lo + 37] for a in A], [b[lo:lo + 37] for b in B])
        raw.update([a[lo:lo + 37] for a in A], [b[lo:lo + 37] for b in B])
    rows, reasons = layer_rows((["a0", "a1"], ["b0", "b1", "b2"]), cos, raw)
    assert reasons == {}
    for row in rows:
        X, Y = A[int(row["layer_a"][1])], B[int(row["layer_b"][1])]
        want = alignment(X, Y)
        for k in KEYS:
            # gaps of identical blocks (a1 vs b2): Gram form, ~1e-8 of their scale (docstring)
            scale = {"sim_gap": math.sqrt(row["n"] * (row["n"] - 1)), "rho": 1.0, "r": 1.0}
            abs_ = 1e-7 * scale[k] if k in scale else 1e-9
            assert row[k] == pytest.approx(want[k], rel=1e-9, abs=abs_), (row["layer_a"],
                                                                         row["layer_b"], k)
        assert row["procrustes"] == pytest.approx(procrustes_distance(X, Y), rel=1e-9,
                                                  abs=1e-7)


def test_zero_rows_in_a_layer_make_its_cosine_measures_nan():
    A, B = _blocks(1, N=30)
    A[0][4] = 0.0
    cos = WideMoments([5, 3], [4, 3, 3], cosine=True)
    raw = WideMoments([5, 3], [4, 3, 3], cosine=False)
    cos.update(A, B)
    raw.update(A, B)
    rows, reasons = layer_rows((["a0", "a1"], ["b0", "b1", "b2"]), cos, raw)
    assert math.isnan(rows[0]["cka"]) and math.isfinite(rows[0]["cka_linear"])
    assert math.isfinite(rows[3]["cka"]) and any("zero rows" in w for w in reasons.values())


def _run_layers(run_dir):
    """The run's cl and nscl models on its test reference set, every layer hooked by hand."""
    from empirics.runs.layout import RunDir
    from empirics.runs.writer import load_checkpoint, read_config
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer

    trainer = LockstepTrainer(TrainConfig.from_dict(read_config(RunDir(run_dir))))
    trainer.load_state_dict(load_checkpoint(RunDir(run_dir).last))
    x = trainer.references["test"].x
    out = {}
    for m in trainer.members:
        feats, handles = {}, []
        for name in layer_names(m.module):
            mod = dict(m.module.named_modules())[name]
            handles.append(mod.register_forward_hook(
                lambda _m, _i, o, name=name, feats=feats: feats.__setitem__(
                    name, o.detach().double())))
        m.module.eval()
        with torch.no_grad():
            m.module(x)
        for h in handles:
            h.remove()
        out[m.name] = feats
    return out


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_layers_of_a_trained_run_equal_one_shot_cka(cli, tiny_run, tmp_path):
    """A against A, every layer: 1 on the diagonal; A against B, three layers, with files."""
    feats = _run_layers(tiny_run)
    rc, out, err = cli(f"{tiny_run}:cl", f"{tiny_run}:cl", "--layers", "all", "--chunk", "7",
                       "--format", "json")
    assert rc == 0, err
    lay = json.loads(out)["layers"]
    assert lay["names_a"] == lay["names_b"] == list(feats["cl"])  # all 8 layers, in order
    assert len(lay["rows"]) == 64
    for row in lay["rows"]:
        X, Y = feats["cl"][row["layer_a"]], feats["cl"][row["layer_b"]]
        assert row["cka"] == pytest.approx(cka(X, Y), rel=1e-9, abs=1e-12)
        assert row["cka_linear"] == pytest.approx(cka(X, Y, "linear"), rel=1e-9, abs=1e-12)
        if row["layer_a"] == row["layer_b"]:
            assert row["cka"] == pytest.approx(1.0, abs=1e-12)
            assert row["procrustes"] == 0.0

    chosen = "encoder.net.1,encoder.net.5,projector.net.2"
    rc, _, err = cli(f"{tiny_run}:cl", f"{tiny_run}:nscl", "--layers", chosen, "--out",
                     tmp_path / "o")
    assert rc == 0, err
    rows = _read(tmp_path / "o" / "layers.csv")
    assert len(rows) == 9
    assert list(rows[0]) == ["layer_a", "layer_b", "width_a", "width_b", "n",
                             *MEASURES.names()]  # every measure of the registry
    for row in rows:
        X, Y = feats["cl"][row["layer_a"]], feats["nscl"][row["layer_b"]]
        # a row measure on the layers' bounded rows (all 32 here, below --layer-rows)
        assert float(row["mutual_knn"]) == mutual_knn(X, Y, k=10)
        assert float(row["cka"]) == pytest.approx(cka(X, Y), rel=1e-9, abs=1e-12)
        assert float(row["cka_linear"]) == pytest.approx(cka(X, Y, "linear"), rel=1e-9)
        assert float(row["procrustes"]) == pytest.approx(procrustes_distance(X, Y), rel=1e-9,
                                                         abs=1e-7)
    png = (tmp_path / "o" / "layers.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "o" / "layers.pdf").read_bytes()[:4] == b"%PDF"
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "o" / "layers.png")
    assert image.shape[0] > 300 and image.shape[1] > 600


def test_conv_layers_pool_or_flatten(cli, tmp_path):
    from empirics.data import load_dataset, reference_set
    from empirics.models import build_model

    model = build_model("cnn", (1, 8, 8), width=4, feature_dim=6, proj_dim=3, seed=1)
    torch.save(model.state_dict(), tmp_path / "cnn.pt")
    _, test = load_dataset("digits", seed=0)
    x = reference_set(test, 30, 0, "test").x
    conv = model.encoder.net[0](x).detach().double()  # (30, 4, 8, 8)
    for pool, rows in (("mean", conv.mean(dim=(2, 3))), ("flatten", conv.flatten(1))):
        out = tmp_path / pool
        rc, _, err = cli(tmp_path / "cnn.pt", tmp_path / "cnn.pt", "--arch", "cnn", "--dataset",
                         "digits", "--n", "30", "--layers", "encoder.net.0", "--pool", pool,
                         "--out", out)
        assert rc == 0, err
        (row,) = _read(out / "layers.csv")
        assert int(row["width_a"]) == rows.shape[1]
        assert float(row["cka"]) == pytest.approx(1.0, abs=1e-12)
        assert float(row["procrustes"]) < 1e-7


def test_layer_names_skip_identity_flatten_and_dropout():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Dropout(),
                              torch.nn.Identity(), torch.nn.ReLU())
    assert layer_names(net) == ["1", "4"]
    assert np.isfinite(WideMoments.memory([3, 4], [5]))
