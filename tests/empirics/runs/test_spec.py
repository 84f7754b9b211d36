"""Run specs: one cache key over the result-deciding fields of the resolved config."""

import pytest

from empirics.runs.spec import RunSpec, label, resolve


def test_key_ignores_order_defaults_and_execution_knobs():
    a = RunSpec("train", {"classes": 4, "tau": 0.5})
    assert a.key() == RunSpec("train", {"tau": 0.5, "classes": 4}).key()
    assert a.key() == RunSpec("train", {"classes": 4}).key()  # 0.5 is the default
    assert a.key() == RunSpec("train", {"classes": 4, "device": "cpu", "out": "x",
                                        "threads": 2}).key()
    assert a.key() != RunSpec("train", {"classes": 5}).key()
    assert a.dirname().startswith("train-") and a.dirname("C=4") == f"C=4__{a.key()}"


def test_bad_specs_are_named():
    with pytest.raises(ValueError, match="`kind` among train, surrogate"):
        RunSpec("nope", {})
    with pytest.raises(ValueError, match="Expected `tau` > 0"):
        RunSpec("train", {"tau": -1.0}).key()
    with pytest.raises(ValueError, match="module:function"):
        resolve("nocolon")
    with pytest.raises(ValueError, match="importable target"):
        resolve("no.such.module:fn")


def test_user_targets_hash_target_and_config():
    a = RunSpec("train", {"x": 1}, target="m:f")
    assert a.key() != RunSpec("train", {"x": 1}, target="m:g").key()
    assert a.resolved() == {"x": 1}


def test_label():
    assert label({"C": 2, "tau": 0.5, "rule": None, "on": True}) == \
        "C=2__tau=0.5__rule=none__on=true"
    assert len(label({f"k{i}": "v" * 10 for i in range(20)})) <= 80
    assert label({"path": "a/b c"}) == "path=a-b-c"
