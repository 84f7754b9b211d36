"""docs/training.md cannot go stale silently (issue 20): its outputs and numbers are code's.

The blocks between ``<!-- generated: NAME -->`` markers are rendered by
``training_doc.py`` from the default run's committed files (``data/default_run``) and
from the quick command run now; regenerate with
``python tests/empirics/training/training_doc.py --run --write``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "training_doc", Path(__file__).with_name("training_doc.py"))
doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(doc)


def test_every_generated_block_is_what_the_committed_run_renders():
    found = doc.doc_blocks()
    want = doc.blocks()
    assert set(found) == {*want, "quick-output"}
    for name, text in want.items():
        assert found[name] == text, f"docs/training.md block {name!r} is stale"


def test_the_default_output_block_is_what_the_command_prints():
    """The block is ``format_summary`` of the committed summary: a line added to what the
    command prints (as the batch-composition line and the EXCEEDS note once were) shows."""
    from empirics.training.cli import format_summary

    summary = doc.load()["summary"]
    block = doc.doc_blocks()["default-output"]
    printed = doc.mask_timing(format_summary(summary))
    assert block == f"```text\n{printed}\n```"
    assert "[P2] batch composition" in block and "EXCEEDS" in block


def test_the_narrative_claims_hold_for_the_committed_run():
    claims = doc.claims(doc.load())
    assert all(claims.values()), [k for k, v in claims.items() if not v]


@pytest.mark.slow
def test_the_quick_command_prints_the_documented_block():
    assert doc.doc_blocks()["quick-output"] == doc._quick(doc.quick_output())


def _rows(path: Path, keep) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    i = head.index("step")
    return [lines[0]] + [r for r in lines[1:] if keep(int(r.split(",")[i]))]


@pytest.mark.slow
def test_the_committed_default_run_is_what_the_code_computes_now(tmp_path, capsys):
    """The first 50 steps of the default run, rerun now, write the committed rows of those
    steps byte for byte (a run is a pure function of the step: a run stopped at 50 has the
    rows of the full run up to 50), and the committed configuration is the default's."""
    from empirics.training.cli import main

    out = tmp_path / "default"
    assert main([*doc.DEFAULT_ARGV, "--out", str(out), "--no-progress", "--stop-after", "50"]
                ) == 3
    capsys.readouterr()
    for name in ("metrics.csv", "losses.csv"):
        assert _rows(out / name, lambda t: t <= 50) == \
            _rows(doc.DATA / name, lambda t: t <= 50), name
    assert _rows(out / "linearization.csv", lambda t: t == 0) == \
        _rows(doc.DATA / "linearization.csv", lambda t: t == 0)
    import pandas as pd

    new, old = (pd.read_csv(p / "bounds.csv") for p in (out, doc.DATA))
    old = old[old["step"] <= 50]
    pd.testing.assert_frame_equal(new.reset_index(drop=True), old.reset_index(drop=True),
                                  rtol=1e-9, check_dtype=False)
    cfg = json.loads((out / "config.json").read_text())
    committed = json.loads((doc.DATA / "config.json").read_text())
    assert {**cfg, "out": None} == {**committed, "out": None}
