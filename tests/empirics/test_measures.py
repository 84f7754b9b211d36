"""The registry of similarity measures: metadata, row measures, plugin entries."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import empirics.measures as measures
from empirics.measures import MEASURES, Measure, moment_measures, row_measures, row_values
from empirics.metrics import mutual_knn


def test_every_built_in_is_moments_or_rows_with_its_metadata():
    names = MEASURES.names()
    assert [m.name for m in moment_measures()] + [m.name for m in row_measures()] == list(names)
    for m in MEASURES:
        lo, hi = m.range
        assert lo < hi and m.direction in ("higher", "lower") and m.source and not m.plugin
        assert m.sign == (1 if m.direction == "higher" else -1)


def test_row_values_are_each_row_measure_s_function():
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(40, 6)), g.normal(size=(40, 5))
    assert row_values(X, Y) == {"mutual_knn": mutual_knn(X, Y, k=10)}
    per = MEASURES["mutual_knn"].per_sample_function()(X, Y, **MEASURES["mutual_knn"].options)
    assert float(per.mean()) == pytest.approx(row_values(X, Y)["mutual_knn"], rel=1e-15)


def test_a_measure_that_needs_labels_receives_them():
    seen = {}

    def f(X, Y, *, labels, scale):
        seen["labels"] = labels
        return scale * float(len(X))

    m = measures._plugin("mine", {"function": f, "needs_labels": True, "options": {"scale": 2}})
    assert m.of_rows(np.zeros((3, 2)), np.zeros((3, 2)), labels=[0, 1, 0]) == 6.0
    assert seen["labels"] == [0, 1, 0]


def test_a_plugin_entry_takes_its_declared_metadata():
    plain = measures._plugin("mine", lambda X, Y: 0.5)
    assert (plain.label, plain.basis, plain.range, plain.plugin) == (
        "mine", "rows", (-math.inf, math.inf), True)
    rich = measures._plugin("mine", {"function": len, "label": "Mine", "range": [0, 1],
                                     "direction": "lower", "basis": "moments"})
    assert (rich.label, rich.range, rich.direction, rich.basis) == ("Mine", (0, 1), "lower",
                                                                    "rows")
    entry = Measure("x", "X", (0.0, 1.0), "higher", "rows", "s", function=len)
    assert measures._plugin("other", entry).name == "other"


@pytest.mark.parametrize(("obj", "match"), [
    (3, "Expected a function f\\(X, Y\\), a Measure or a dict"),
    ({"function": len, "nope": 1}, "unknown key"),
    ({"label": "no function"}, "callable `function`"),
    ({"function": len, "direction": "up"}, "`direction` among higher, lower"),
    ({"function": len, "range": (1, 0)}, "lo < hi"),
])
def test_a_bad_plugin_entry_is_refused(obj, match):
    with pytest.raises((TypeError, ValueError), match=match):
        measures._plugin("mine", obj)


def test_an_undefined_row_measure_is_nan_with_one_warning():
    X = np.random.default_rng(1).normal(size=(6, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = row_values(X, X)
    assert math.isnan(out["mutual_knn"]) and len(caught) == 1
    assert str(caught[0].message).startswith("mutual_knn is NaN: ValueError: Expected `k`")
