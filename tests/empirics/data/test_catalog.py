"""The catalog: one list of data set names and facts, importable without torch."""

import subprocess
import sys

import pytest

from empirics.data.catalog import (
    CATALOG,
    DATASET_CLASSES,
    DATASETS,
    NEEDS_ROOT,
    SYNTHETIC_SIZES,
    DatasetInfo,
    dataset_info,
    describe,
)


def test_names_classes_and_roots():
    assert DATASETS == ("synthetic", "digits", "mnist", "cifar10", "cifar100", "imagefolder")
    assert DATASET_CLASSES == {"digits": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}
    assert NEEDS_ROOT == ("cifar10", "cifar100", "imagefolder")
    assert SYNTHETIC_SIZES == {"train": 4096, "test": 1024}
    assert all(isinstance(i, DatasetInfo) and i.name == n for n, i in CATALOG.items())


def test_one_line_description_each():
    lines = describe().splitlines()
    assert [ln.split(":")[0] for ln in lines] == list(DATASETS)
    assert all(len(i.description) <= 80 and "\n" not in i.description for i in CATALOG.values())
    assert "5,000" in CATALOG["mnist"].description  # the subset, not full MNIST


def test_unknown_name_names_the_argument():
    assert dataset_info("mnist").classes == 10
    with pytest.raises(ValueError, match=r"^Expected `dataset` among synthetic, .*got 'svhn'$"):
        dataset_info("svhn", argument="dataset")
    with pytest.raises(ValueError, match=r"`name` among .*got \['x'\]"):
        dataset_info(["x"])


def test_catalog_and_package_import_without_torch():
    code = ("import sys, empirics.data.catalog, empirics.data; "
            "from empirics.data import DATASETS; "
            "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
