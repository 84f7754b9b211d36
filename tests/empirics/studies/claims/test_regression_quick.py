"""Regression: the quick protocol's smallest claim set (C1: three 4-model runs on the
bundled digits) end to end. Checks the structure of claims.csv and that the verdict rule
is applied as stated; it asserts no particular verdict."""

from __future__ import annotations

import csv
import math

from empirics.claims import main
from empirics.studies.claims.claims import CSV_COLUMNS
from empirics.studies.claims.protocol import load_protocol
from empirics.studies.claims.statistics import interval, verdict


def test_quick_protocol_c1(tmp_path, capsys):
    out = tmp_path / "quick"
    assert main(["--out", str(out), "--size", "quick", "--only", "C1", "--executor",
                 "local", "--workers", "2", "--no-figure"]) == 0
    with open(out / "claims.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(out / "claims_seeds.csv", newline="") as handle:
        seeds = list(csv.DictReader(handle))
    p = load_protocol("quick")
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert sorted(r["setting"] for r in rows) == sorted(
        f"base/{s}/{f}/{m}" for s in ("train", "test") for f in ("z", "h")
        for m in ("cka", "rsa"))
    for r in rows:
        values = [float(s["value"]) for s in seeds if s["setting"] == r["setting"]]
        assert len(values) == p.seeds == int(r["n_seeds"])
        est, lo, hi, n = interval(values, method="t", level=0.95)
        assert math.isclose(float(r["estimate"]), est, rel_tol=1e-12)
        assert math.isclose(float(r["ci_low"]), lo, rel_tol=1e-9)
        assert math.isclose(float(r["ci_high"]), hi, rel_tol=1e-9)
        assert r["verdict"] == verdict(lo, hi, "+") and r["direction"] == "+"
        assert r["interval"] == "student-t" and float(r["level"]) == 0.95
    assert "C1 base/test/h/cka" in capsys.readouterr().out
