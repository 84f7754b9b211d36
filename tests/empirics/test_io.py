"""Atomic writes and CSV helpers of empirics.io."""

from __future__ import annotations

import json
import math

import pytest
import torch

from empirics.io import (
    append_csv_rows,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    format_value,
    read_csv_rows,
    truncate_csv_rows,
)


def test_atomic_write_text_replaces_and_leaves_no_temporaries(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]
    with pytest.raises(TypeError, match="`text` to be a str"):
        atomic_write_text(p, b"bytes")  # type: ignore[arg-type]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "ckpt.pt"
    atomic_torch_save({"a": torch.ones(2)}, p)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"a": Unpicklable()}, p)
    assert torch.equal(torch.load(p)["a"], torch.ones(2))
    assert [x.name for x in tmp_path.iterdir()] == ["ckpt.pt"]


def test_json_non_finite_becomes_null(tmp_path):
    p = tmp_path / "s.json"
    atomic_write_json(p, {"a": math.inf, "b": [1.5, math.nan], "c": (1, 2), "t": torch.tensor(2.0)})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.5, None], "c": [1, 2], "t": 2.0}


def test_append_csv_rows_header_and_errors(tmp_path):
    p = tmp_path / "m.csv"
    append_csv_rows(p, [])
    assert not p.exists()
    append_csv_rows(p, [{"step": 0, "x": 0.1}], ["step", "x", "y"])
    append_csv_rows(p, [{"step": 1, "x": 1 / 3, "y": True}])
    assert p.read_text() == "step,x,y\n0,0.1,\n1,0.3333333333333333,true\n"
    with pytest.raises(ValueError, match=r"among the CSV columns, got \['z'\]"):
        append_csv_rows(p, [{"step": 2, "z": 1}])
    with pytest.raises(TypeError, match="list of dicts"):
        append_csv_rows(p, {"step": 2})  # type: ignore[arg-type]
    header, rows = read_csv_rows(p)
    assert header == ["step", "x", "y"] and rows[1]["x"] == "0.3333333333333333"


def test_format_value_round_trips_floats():
    for v in (0.1, 1e-300, -2.5e17, 1 / 7):
        assert float(format_value(v)) == v
    assert format_value(None) == "" and format_value(torch.tensor(3)) == "3"


def test_truncate_keeps_rows_byte_for_byte(tmp_path):
    p = tmp_path / "m.csv"
    append_csv_rows(p, [{"step": s, "v": s / 3} for s in range(5)])
    before = p.read_text().splitlines(keepends=True)
    assert truncate_csv_rows(p, lambda r: int(r["step"]) <= 2) == 2
    assert p.read_text() == "".join(before[:4])
    assert truncate_csv_rows(p, lambda r: True) == 0
    assert truncate_csv_rows(tmp_path / "missing.csv", lambda r: False) == 0
