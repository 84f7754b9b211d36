"""The docstring examples of bounds run as doctests."""

import doctest
import importlib

import pytest

MODULES = ["bounds.schedules", "bounds.numeric", "bounds.normalisers", "bounds.evaluation"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
