"""Regression: the quick protocol's smallest claim set (C1: four 4-model runs on the bundled
digits) end to end. Checks the structure of claims.csv and that every number follows from
claims_seeds.csv by the stated rule; it asserts no particular verdict."""

from __future__ import annotations

import pytest

from empirics.claims import main
from empirics.measures import MEASURES
from empirics.studies.claims.docs import rederive
from empirics.studies.claims.report import read_csv
from empirics.studies.claims.verdicts import CSV_COLUMNS


@pytest.mark.slow
def test_quick_protocol_c1(tmp_path, capsys):
    out = tmp_path / "quick"
    assert main(["--out", str(out), "--size", "quick", "--only", "C1", "--seeds", "4",
                 "--executor", "local", "--workers", "2"]) == 0
    rows = read_csv(out / "claims.csv")
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert sorted(r["setting"] for r in rows) == sorted(  # every registered measure
        f"base/test/{f}/{m}" for f in ("h", "z") for m in MEASURES.names())
    for r in rows:  # a value for every seed, or a note saying why not (never a crash)
        assert r["n_seeds"] == "4" or r["note"], r["setting"]
    (primary,) = [r for r in rows if r["role"] == "primary"]
    assert primary["setting"] == "base/test/h/cka_linear" and primary["n_seeds"] == "4"
    assert primary["p_holm"] == primary["p_value"]  # one primary tested: no adjustment
    assert rederive(out) == []
    assert "C1 base/test/h/cka_linear" in capsys.readouterr().out
