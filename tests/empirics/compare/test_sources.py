"""Sources: feature files, checkpoints of every architecture, safe loading."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from empirics.compare.sources import (
    CompareError,
    Side,
    build_checkpoint_model,
    load_feature_file,
    parse_source,
    resolve,
    split_pair,
)
from empirics.models import build_model


def test_parse_source_tells_run_members_from_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert parse_source(f"{run}:nscl") == ("run", str(run), "nscl")
    assert parse_source(str(tmp_path / "a.npy")) == ("file", str(tmp_path / "a.npy"), None)
    odd = tmp_path / "x:cl"  # a file whose name holds a colon stays a file
    odd.write_bytes(b"")
    assert parse_source(str(odd))[0] == "file"


def test_split_pair_and_its_error():
    assert split_pair("a, b", "key") == ("a", "b")
    with pytest.raises(CompareError, match="`--key`"):
        split_pair("a,,b", "key")


def test_feature_files_of_every_kind(features):
    X = np.load(features / "a.npy")
    for path, key in (("a.npy", None), ("ab.npz", "x"), ("a.pt", None)):
        got = load_feature_file(str(features / path), key, "A")
        assert torch.equal(got, torch.from_numpy(X))
    views = load_feature_file(str(features / "views.npy"), None, "A")
    assert views.shape == (2, 120, 6)
    side = resolve("A", str(features / "views.npy"), None, "z", "cpu", {})
    assert side.features.shape == (120, 6) and side.views.shape == (2, 120, 6)


def test_a_pickle_in_a_pt_file_is_refused_unread(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CompareError, match="Python objects.*refused unread"):
        load_feature_file(str(tmp_path / "evil.pt"), None, "A")


CHECKPOINTS = [
    ("mlp", (6,), {"hidden": 8, "feature_dim": 5, "proj_dim": 3, "depth": 1}),
    ("mlp", (6,), {"hidden": 8, "feature_dim": 5, "proj_dim": 3, "norm": "layer"}),
    ("cnn", (1, 8, 8), {"width": 4, "feature_dim": 5, "proj_dim": 3}),
    ("cnn", (1, 8, 8), {"width": 4, "feature_dim": 5, "proj_dim": 3, "norm": "batch"}),
    ("resnet18", (3, 8, 8), {"width": 2, "proj_dim": 3}),
]


@pytest.mark.parametrize("arch, shape, kw", CHECKPOINTS)
def test_a_toolkit_checkpoint_rebuilds_its_model(arch, shape, kw):
    model = build_model(arch, shape, seed=3, **kw).eval()
    state = {"model": model.state_dict()}  # one wrapper level, as many checkpoints have
    from empirics.compare.sources import load_state_dict

    side = Side("A", "ckpt", "ckpt", state=load_state_dict(state, "A", "ckpt"))
    build_checkpoint_model(side, arch, shape, "auto")
    x = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for got, want in zip(side.model(x), model(x), strict=True):
            assert torch.equal(got, want)


def test_group_norm_needs_the_norm_option():
    model = build_model("cnn", (1, 8, 8), width=4, feature_dim=5, proj_dim=3, norm="group")
    side = Side("B", "ckpt", "ckpt", state=model.state_dict())
    with pytest.raises(CompareError, match="`--norm` group or layer"):
        build_checkpoint_model(side, "cnn", (1, 8, 8), "auto")
    build_checkpoint_model(side, "cnn", (1, 8, 8), "group")
    assert side.model is not None


def test_a_state_dict_of_another_architecture_is_named(tmp_path):
    state = build_model("mlp", (6,), hidden=8, feature_dim=5, proj_dim=3).state_dict()
    side = Side("A", "ckpt", "ckpt", state=state)
    with pytest.raises(CompareError, match="--arch 'resnet18'"):
        build_checkpoint_model(side, "resnet18", (3, 8, 8), "auto")
    side = Side("A", "ckpt", "ckpt", state=state)
    with pytest.raises(CompareError, match="'mlp', got shape differs: encoder.net.1.weight"):
        build_checkpoint_model(side, "mlp", (7,), "auto")  # another input width


def test_torchvision_missing_is_a_clean_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    side = Side("A", "ckpt", "ckpt", state={"fc.weight": torch.zeros(2, 3)})
    with pytest.raises(CompareError, match=r"torchvision for `--arch` .*pip install"):
        build_checkpoint_model(side, "torchvision.resnet50", (3, 8, 8), "auto")


def test_a_torchvision_resnet_is_wrapped_when_torchvision_is_importable(monkeypatch):
    """A stand-in torchvision module (the real one is an optional extra): the state dict is
    loaded strictly into ``models.resnet18(weights=None, num_classes=C)``, ``fc`` dropped."""
    import types

    def resnet18(weights=None, num_classes=1000):
        assert weights is None
        net = torch.nn.Sequential()
        net.add_module("conv1", torch.nn.Conv2d(3, 4, 3))
        net.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
        net.add_module("flat", torch.nn.Flatten())
        net.add_module("fc", torch.nn.Linear(4, num_classes))
        return net

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(resnet18=resnet18)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    reference = resnet18(num_classes=7)
    side = Side("A", "tv.pt", "tv.pt", state=reference.state_dict())
    build_checkpoint_model(side, "torchvision.resnet18", (3, 8, 8), "auto")
    x = torch.rand(2, 3, 8, 8)
    h, z = side.model(x)
    assert torch.equal(h, z) and h.shape == (2, 4)
    assert torch.equal(h, reference.flat(reference.pool(reference.conv1(x))))
    names = [n for n, _ in side.model.named_parameters()]
    assert names == ["encoder.conv1.weight", "encoder.conv1.bias"]  # fc gone, backbone prefix
