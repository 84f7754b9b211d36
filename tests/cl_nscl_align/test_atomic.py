"""Atomic writes: complete or absent, no temporaries left, the umask honoured."""

import json
import os
import stat

import pytest

from cl_nscl_align.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_text_replaces_and_leaves_no_temporaries(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]
    with pytest.raises(TypeError, match="`text` to be a str"):
        atomic_write_text(p, b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`data` to be bytes"):
        atomic_write_bytes(p, "text")  # type: ignore[arg-type]


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_new_files_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        with atomic_path(tmp_path / "c.bin") as tmp:
            tmp.write_bytes(b"\0")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.json", "c.bin"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name


def test_an_existing_file_keeps_its_mode(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    os.chmod(p, 0o640)
    atomic_write_text(p, "new")
    assert _mode(p) == 0o640 and p.read_text() == "new"


def test_a_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(RuntimeError, match="boom"), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert json.loads(p.read_text()) == {"a": 1}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]


def test_json_maps_non_finite_to_null_and_scalars_to_values(tmp_path):
    import numpy as np

    p = tmp_path / "a.json"
    atomic_write_json(p, {"inf": float("inf"), "nan": float("nan"), "np": np.float32(0.5),
                          "arr": np.arange(3), "t": (1, 2)})
    assert json.loads(p.read_text()) == {"inf": None, "nan": None, "np": 0.5,
                                          "arr": [0, 1, 2], "t": [1, 2]}


def test_a_folder_under_a_file_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="f'"):
        atomic_write_text(tmp_path / "f" / "a.txt", "x")
