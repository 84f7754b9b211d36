"""The Dataset container and load_dataset's argument checks."""

import dataclasses

import pytest
import torch

from empirics.data import DATASETS, Dataset, load_dataset, num_available_classes


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


def test_load_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="`name` in"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="`root` .* for dataset 'cifar10', got None"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="`root` .* for dataset 'imagefolder', got None"):
        load_dataset("imagefolder")
    with pytest.raises(ValueError, match="no `root` for dataset 'digits'"):
        load_dataset("digits", root=tmp_path)
    # C > available is rejected before any file is read (the root does not even exist)
    with pytest.raises(ValueError, match="<= 100 .*got 101"):
        load_dataset("cifar100", classes=101, root=tmp_path / "missing")
    with pytest.raises(ValueError, match="<= 20 .*got 21"):
        load_dataset("cifar100", classes=21, root=tmp_path / "missing", label="coarse")


def test_num_available_classes(tmp_path):
    assert num_available_classes("synthetic") is None
    assert num_available_classes("digits") == 10
    assert num_available_classes("cifar10") == 10
    assert num_available_classes("cifar100") == 100
    assert num_available_classes("cifar100", label="coarse") == 20
    for c in ("a", "b", "c"):
        (tmp_path / "train" / c).mkdir(parents=True)
    assert num_available_classes("imagefolder", root=tmp_path) == 3
    with pytest.raises(FileNotFoundError, match="nope"):
        num_available_classes("imagefolder", root=tmp_path / "nope")
    with pytest.raises(ValueError, match="`root`"):
        num_available_classes("imagefolder")
    with pytest.raises(ValueError, match="`name` in"):
        num_available_classes("svhn")
    assert set(DATASETS) == {"synthetic", "digits", "cifar10", "cifar100", "imagefolder"}


@pytest.mark.parametrize(
    "module",
    ["empirics.data", "empirics.data.dataset", "empirics.data.subsets", "empirics.data.synthetic",
     "empirics.data.digits"],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_to_moves_per_sample_meta_and_equality_is_identity():
    lat = torch.randn(4, 2)
    ds = _ds(meta={"latent": lat, "note": "x", "scalar": torch.tensor(1.0)})
    moved = ds.to("cpu")
    assert torch.equal(moved.meta["latent"], lat) and moved.meta["note"] == "x"
    assert torch.equal(ds.select([2]).meta["latent"], lat[2:3])
    assert ds == ds and ds != moved
