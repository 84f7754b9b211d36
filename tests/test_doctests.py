"""Docstring examples exist where the API promises them, and pytest runs them.

The examples themselves run through ``pytest --doctest-modules`` (pyproject.toml). That
runner passes a module with no examples silently, so this test pins where examples must
be: every module of the public API (STYLE.md rule 10: a docstring ends with a small
example that runs).
"""

import doctest
import importlib

import pytest

#: Modules whose docstrings must carry at least one example.
REQUIRED = [
    "bounds.grid", "bounds.normalisers", "bounds.numeric", "bounds.schedules",
    "cl_nscl_align.atomic", "cl_nscl_align.cli",
    "empirics.data.catalog", "empirics.data.load", "empirics.data.subsets",
    "empirics.losses", "empirics.metrics.accumulator", "empirics.metrics.functional",
    "empirics.metrics.kernels", "empirics.models", "empirics.augment", "cl_nscl_align.options",
    "empirics.runs.layout", "empirics.runs.reader", "empirics.runs.spec",
    "empirics.runs.tables", "empirics.runs.writer", "empirics.seeds",
    "empirics.surrogate.dynamics", "empirics.training.config", "empirics.studies.sweep",
    "empirics.measures", "empirics.objectives",
    "cl_nscl_align.registry",
    "empirics.metrics.procrustes", "empirics.metrics.knn", "empirics.compare.measures",
    "empirics.compare.options", "empirics.twin", "empirics.studies.statistics",
]  # fmt: skip


@pytest.mark.parametrize("name", REQUIRED)
def test_module_has_examples(name):
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module)
    assert sum(len(t.examples) for t in tests) > 0, f"{name} has no docstring example"


def test_the_suite_runs_docstring_examples(pytestconfig):
    assert pytestconfig.getoption("doctestmodules"), "pyproject.toml: --doctest-modules"
    assert {"bounds", "cl_nscl_align", "empirics", "figures"} <= set(
        pytestconfig.getini("testpaths"))
