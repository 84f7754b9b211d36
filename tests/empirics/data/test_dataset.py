"""The Dataset container: validation, select, to, equality."""

import dataclasses

import pytest
import torch

from empirics.data.dataset import Dataset


def _ds(**kw):
    base = dict(x=torch.zeros(4, 3), y=torch.tensor([0, 1, 0, 1]), num_classes=2,
                kind="vector", name="t")
    base.update(kw)
    return Dataset(**base)


def test_basic_properties_and_select():
    ds = _ds(x=torch.arange(12, dtype=torch.float32).reshape(4, 3))
    assert len(ds) == 4 and ds.input_shape == (3,)
    assert ds.class_counts().tolist() == [2, 2]
    sub = ds.select([3, 0])
    assert sub.y.tolist() == [1, 0] and sub.x[0, 0] == 9.0
    assert ds.to("cpu").x.device.type == "cpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.num_classes = 3


@pytest.mark.parametrize(
    ("kw", "exc", "text"),
    [
        ({"x": [[0.0]]}, TypeError, "`x` to be a torch.Tensor, got list"),
        ({"y": [0, 1, 0, 1]}, TypeError, "`y` to be a torch.Tensor, got list"),
        ({"x": torch.zeros(4, 3, dtype=torch.float64)}, ValueError, "`x` of dtype float32"),
        ({"y": torch.tensor([0, 1, 0, 1], dtype=torch.int32)}, ValueError, "`y` of dtype int64"),
        ({"y": torch.tensor([0, 1, 0])}, ValueError, "n rows"),
        ({"kind": "text"}, ValueError, "`kind` in"),
        ({"kind": "image"}, ValueError, "4 dims for kind='image'"),
        ({"num_classes": 0}, ValueError, "`num_classes` >= 1, got 0"),
        ({"y": torch.tensor([0, 1, 2, 1])}, ValueError, r"labels in \[0, 1\], got range \[0, 2\]"),
        ({"class_names": ["a"]}, ValueError, "Expected 2 `class_names`, got 1"),
    ],
)
def test_validation(kw, exc, text):
    with pytest.raises(exc, match=text):
        _ds(**kw)


def test_to_moves_per_sample_meta_and_equality_is_identity():
    lat = torch.randn(4, 2)
    ds = _ds(meta={"latent": lat, "note": "x", "scalar": torch.tensor(1.0)})
    moved = ds.to("cpu")
    assert torch.equal(moved.meta["latent"], lat) and moved.meta["note"] == "x"
    assert torch.equal(ds.select([2]).meta["latent"], lat[2:3])
    assert ds == ds and ds != moved
