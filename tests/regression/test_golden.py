"""Regression (4): golden numbers of a pinned trainer run and a pinned surrogate run.

Compared with ``tests/regression/golden.json`` under the tolerances stored there
(``empirics.golden.TOLERANCES``). Regenerate, deliberately, with
``python -m empirics.golden --write`` and review the diff.
"""

from __future__ import annotations

import json

from empirics import golden


def _golden():
    return json.loads(golden.GOLDEN_PATH.read_text())


def test_golden_file_matches_pinned_configs():
    g = _golden()
    assert g["surrogate_config"] == golden.SURROGATE_KW
    assert g["train_config"] == {**golden.TRAIN_KW, "objectives": list(golden.TRAIN_KW[
        "objectives"])}
    assert g["tolerances"] == golden.TOLERANCES


def test_surrogate_golden():
    g = _golden()
    new = {"surrogate": golden.surrogate_numbers(), "trainer": g["trainer"]}
    assert golden.compare(new, g) == []


def test_trainer_golden(trained_run):
    g = _golden()
    new = {"surrogate": g["surrogate"], "trainer": golden.trainer_numbers(trained_run["run_dir"])}
    assert golden.compare(new, g) == []


def test_compare_detects_a_shift():
    g = _golden()
    shifted = json.loads(json.dumps(g))
    shifted["surrogate"]["measured"] *= 1 + 1e-5
    shifted["trainer"]["z_cka"] += 0.01
    problems = golden.compare(shifted, g)
    assert any("surrogate.measured" in p for p in problems)
    assert any("trainer.z_cka" in p for p in problems)


def test_golden_cli_without_file_fails_fast(tmp_path, capsys):
    assert golden.main(["--path", str(tmp_path / "missing.json")]) == 1
    assert "--write" in capsys.readouterr().err
