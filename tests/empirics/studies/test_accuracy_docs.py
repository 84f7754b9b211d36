"""docs/accuracy.md holds exactly the tables its committed files give, and those files are
consistent with each other (Table 1's means against the paired differences)."""

from __future__ import annotations

import pytest

from empirics.studies import report
from empirics.studies.accuracy_docs import ACCURACY_DOC, DOCS_DIR, renderers
from empirics.studies.claims.report import read_csv

STUDIES = sorted(p for p in DOCS_DIR.iterdir() if (p / "table1.csv").is_file())


def test_docs_accuracy_md_holds_exactly_the_rendered_tables():
    assert report.stale(ACCURACY_DOC.read_text(), renderers()) == []


@pytest.mark.parametrize("folder", STUDIES, ids=[p.name for p in STUDIES])
def test_paired_differences_agree_with_table1(folder):
    # the mean of same-seed differences is the difference of the means (same seeds)
    t1 = {(r["setting"], r["model"], r["features"], r["probe"]): float(r["accuracy_mean"])
          for r in read_csv(folder / "table1.csv")}
    rows = read_csv(folder / "table1_paired.csv")
    assert rows
    for r in rows:
        want = t1[(r["setting"], r["model"], r["features"], r["probe"])] - \
            t1[(r["setting"], "cl", r["features"], r["probe"])]
        assert float(r["diff_mean"]) == pytest.approx(want, abs=1e-12)
    for r in read_csv(folder / "table1.csv"):  # clipped intervals stay in [0, 1]
        if r["ci_low"] not in ("", "nan"):
            assert 0.0 <= float(r["ci_low"]) <= float(r["ci_high"]) <= 1.0


@pytest.mark.parametrize("folder", STUDIES, ids=[p.name for p in STUDIES])
def test_table1_states_the_seed_count_of_its_own_setting(folder):
    # the base setting's rows, not the first row of the file (another setting, other seeds)
    from empirics.studies.accuracy_docs import table1

    text = table1(folder)
    base = text.split("`")[1]
    counts = {r["n_seeds"] for r in read_csv(folder / "table1.csv") if r["setting"] == base}
    assert len(counts) == 1
    assert f"over {counts.pop()} seeds" in text.splitlines()[0]
