"""The lazy package: names resolve on first use, and every module's examples run."""

import importlib
import subprocess
import sys

import pytest

import empirics.data


def test_every_public_name_resolves_to_its_module():
    for name in empirics.data.__all__:
        value = getattr(empirics.data, name)
        assert value is not None
        if name != "DATASETS":
            module = importlib.import_module(f"empirics.data.{empirics.data._LAZY[name]}")
            assert getattr(module, name) is value
    assert set(empirics.data.__all__) <= set(dir(empirics.data))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'load_svhn'"):
        empirics.data.load_svhn  # noqa: B018
    with pytest.raises(ImportError):
        exec("from empirics.data import load_svhn", {})


def test_first_use_imports_torch_only_then():
    code = ("import sys, empirics.data as d; a = 'torch' in sys.modules; "
            "d.load_dataset; print(a, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False True"
