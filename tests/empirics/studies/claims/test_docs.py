"""docs/claims.md against its sources: the statistics' table and every direction are the
catalog's, every generated table is what the committed files give, and every committed
claims.csv follows from its claims_seeds.csv (t intervals, p, Holm, TOST, replication)."""

from __future__ import annotations

import re

import pytest

from empirics.studies import report
from empirics.studies.claims import catalog
from empirics.studies.claims.docs import (
    CLAIMS_DOC,
    DOCS_DIR,
    README,
    readme,
    readme_renderers,
    rederive,
    renderers,
    seed_spread,
    stalled_table,
)
from empirics.studies.claims.report import read_csv

STUDY_DIRS = sorted(p for p in DOCS_DIR.iterdir() if (p / "claims.csv").is_file())


def _doc_rows() -> list[list[str]]:
    body = report.blocks(CLAIMS_DOC.read_text())["claims-statistics"]
    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")]
            for line in body.splitlines() if line.startswith("| C")]
    assert rows, "no statistics table in docs/claims.md"
    return rows


def test_every_direction_in_the_doc_is_the_catalogs():
    doc = {(r[0], r[2].strip("`")): (r[1], r[4]) for r in _doc_rows()}
    for s in catalog.STATISTICS:
        assert doc[(s.claim, s.setting)] == (s.role, s.direction), (s.claim, s.setting)
    assert len(doc) == len(catalog.STATISTICS)


def test_the_directions_are_the_papers():
    # THEORY.md s13: C1-C3 grow (+), C4 falls with B under the linear rule (-), the weights
    # drift (+), C6 declines (-), the [P1] gap shrinks with C (-)
    want = {"C1": "+", "C2": "+", "C3": "+", "C4": "-", "C5": "+", "C6": "-"}
    assert {s.claim: s.direction for s in catalog.primaries()} == want
    assert catalog.lookup("C7", "real/loss_gap").direction == "-"
    assert catalog.lookup("C5", "long/weight_gap").direction == "+"


def test_one_primary_per_claim_with_a_positive_delta():
    prim = catalog.primaries()
    assert [s.claim for s in prim] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert all(s.delta > 0 and s.delta_reason for s in prim)
    assert catalog.lookup("C1", "base/test/h/cka_linear").delta == pytest.approx(0.37 / 2)
    assert catalog.lookup("C4", "linear/epochs/h/cka_linear").delta == pytest.approx(0.02)
    for s in catalog.STATISTICS:
        if s.role == "secondary":
            assert s.delta != s.delta  # NaN: no equivalence test
        assert s.direction in ("+", "-", "none")


def test_docs_claims_md_holds_exactly_the_rendered_tables():
    doc = CLAIMS_DOC.read_text()
    assert report.stale(doc, renderers()) == []
    assert report.blocks(doc)["claims-statistics"] == catalog.markdown_table()


def test_the_readme_holds_exactly_the_rendered_claims_table():
    text = README.read_text()
    assert report.stale(text, readme_renderers()) == []
    body = report.blocks(text)["claims-readme"]
    primaries = [r for r in read_csv(DOCS_DIR / "medium" / "claims.csv")
                 if r["role"] == "primary"]
    assert len(primaries) == 6
    for r in primaries:  # every primary's verdict is in the README row of its claim
        row = next(line for line in body.splitlines() if line.startswith(f"| {r['claim']} "))
        assert r["verdict"] in row and f"`{r['setting']}`" in row


def test_seed_spread_names_the_farthest_seed_of_each_primary():
    folder = DOCS_DIR / "medium"
    seeds = {}
    for r in read_csv(folder / "claims_seeds.csv"):
        seeds.setdefault((r["claim"], r["setting"]), {})[int(r["seed"])] = float(r["value"])
    text = seed_spread(folder)
    for r in read_csv(folder / "claims.csv"):
        if r["role"] != "primary":
            continue
        values = seeds[(r["claim"], r["setting"])]
        xs = sorted(values.values())
        med = (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2
        far = max(values, key=lambda k: abs(values[k] - med))
        row = next(line for line in text.splitlines() if f"`{r['setting']}`" in line)
        assert f"seed {far}:" in row and f"| {len(xs)} |" in row


def test_stalled_table_counts_the_rows_of_stalled_csv():
    folder = DOCS_DIR / "medium"
    stalled = read_csv(folder / "stalled.csv")
    text = stalled_table(folder)
    assert f"{len(stalled)} stalled model(s) in " in text
    counts = [int(c) for c in re.findall(r"\| (\d+) \(\d+%\)", text)]
    assert sum(counts) == len(stalled)


def test_a_flipped_direction_makes_the_doc_stale(monkeypatch):
    entry = catalog.lookup("C5", "long/weight_gap")
    flipped = tuple(s if s is not entry else
                    catalog.Statistic(**{**entry.__dict__, "direction": "-"})
                    for s in catalog.STATISTICS)
    monkeypatch.setattr(catalog, "STATISTICS", flipped)
    assert "claims-statistics" in report.stale(CLAIMS_DOC.read_text(), renderers())


@pytest.mark.parametrize("folder", STUDY_DIRS, ids=[p.name for p in STUDY_DIRS])
def test_committed_claims_csv_follows_from_claims_seeds_csv(folder):
    assert rederive(folder) == []
    rows = read_csv(folder / "claims.csv")
    for r in rows:  # every committed statistic is declared in the catalog
        assert catalog.lookup(r["claim"], r["setting"]).role == r["role"]
    checks = read_csv(folder / "theorem_checks.csv")
    assert [c["check"] for c in checks] == ["p1_bound", "batch_composition", "theorem2"]


def test_rederive_notices_a_changed_number(tmp_path):
    import shutil

    folder = STUDY_DIRS[0]
    for name in ("claims.csv", "claims_seeds.csv"):
        shutil.copy(folder / name, tmp_path / name)
    text = (tmp_path / "claims_seeds.csv").read_text().splitlines()
    claim, setting, seed, value = text[1].split(",")
    text[1] = ",".join([claim, setting, seed, str(float(value) + 1.0)])
    (tmp_path / "claims_seeds.csv").write_text("\n".join(text) + "\n")
    problems = rederive(tmp_path)
    assert problems and any("estimate" in p for p in problems)


def test_the_readme_table():
    text = readme()
    assert text.count("| C") == 6 and "`p1_bound`" in text
    assert re.search(r"cannot test", text)
