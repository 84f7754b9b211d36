"""Run tables: byte-stable cells, atomic appends, every bad row named by file and line."""

import pytest

from empirics.runs.tables import RunFileError, append_rows, format_value, read_rows, read_text


def test_cells_are_canonical():
    import numpy as np
    import torch

    assert [format_value(v) for v in (None, True, False, 0.1, 1e-300, 3, "a")] == \
        ["", "true", "false", "0.1", "1e-300", "3", "a"]
    assert format_value(np.float64(0.25)) == "0.25" and format_value(torch.tensor(2)) == "2"
    assert format_value(float("nan")) == "nan"


def test_append_keeps_the_header_and_rejects_unknown_keys(tmp_path):
    p = tmp_path / "t.csv"
    append_rows(p, [], ["a"])
    assert not p.exists()  # no rows, no header-only file
    append_rows(p, [{"a": 1}], ["a", "b"])
    append_rows(p, [{"b": 2.5}], ["ignored"])
    assert p.read_text() == "a,b\n1,\n,2.5\n"
    with pytest.raises(ValueError, match=r"row keys among the CSV columns, got \['c'\]"):
        append_rows(p, [{"c": 1}])
    with pytest.raises(TypeError, match="list of dicts"):
        append_rows(p, {"a": 1})  # type: ignore[arg-type]


def test_reading_names_the_file_and_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("step,x\n0,1\n1,2,3\n")
    with pytest.raises(RunFileError, match=r"t.csv, line 3: expected 2 cells"):
        read_rows(p)
    p.write_text("step,x\n0,1\n1,")
    with pytest.raises(RunFileError, match=r"line 3: expected a complete last row"):
        read_rows(p)
    p.write_bytes(b"\xff\xfe garbage \x00")
    with pytest.raises(RunFileError, match="binary data"):
        read_text(p)
    assert read_rows(tmp_path / "missing.csv") == ([], [])


def test_append_to_a_cut_file_refuses_to_glue(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n3,")
    with pytest.raises(RunFileError, match="complete row"):
        append_rows(p, [{"a": 5, "b": 6}])
