"""The docstring examples of empirics and figures run as doctests (bounds: tests/bounds).

STYLE.md rule 10: a docstring's small example runs, so it cannot rot.
"""

import doctest
import importlib
import pkgutil

import pytest

import empirics
import figures

SKIP: set[str] = set()


def _modules():
    for pkg in (empirics, figures):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name not in SKIP:
                yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
