"""docs/theory.md is generated from the registry and must be up to date."""

from pathlib import Path

from bounds.docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "theory.md"


def test_committed_theory_doc_is_up_to_date():
    assert DOC.exists(), "run: python -m bounds.docs > docs/theory.md"
    assert DOC.read_text() == render(), "regenerate: python -m bounds.docs > docs/theory.md"


def test_doc_reports_vacuity_numbers():
    text = render()
    assert "| 100 | 0.5 | 14700 | 8821.2 |" in text and "17.23" in text
    assert "0 (vacuous)" in text and "[stated]" in text and "[open]" in text
