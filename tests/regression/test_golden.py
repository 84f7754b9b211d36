"""Regression (4): golden numbers of a pinned trainer run and a pinned surrogate run.

Compared with ``tests/regression/golden.json`` under the tolerances stored there
(``empirics.studies.golden.TOLERANCES``). Regenerate, deliberately, with
``python -m empirics.studies.golden --write`` and review the diff.
"""

from __future__ import annotations

import json

import pytest

from empirics.runs import RunSpec
from empirics.studies import golden

TABLES = ("metrics.csv", "losses.csv", "bounds.csv")


def _golden():
    return json.loads(golden.GOLDEN_PATH.read_text())


def test_golden_file_matches_pinned_configs():
    g = _golden()
    assert g["surrogate_config"] == golden.SURROGATE_KW
    assert g["train_config"] == {**golden.TRAIN_KW, "objectives": list(golden.TRAIN_KW[
        "objectives"])}
    assert g["tolerances"] == golden.TOLERANCES


def test_surrogate_golden(tmp_path):
    g = _golden()
    new = golden.compute(tmp_path, parts=["surrogate"])
    assert golden.compare(new, g, parts=["surrogate"]) == []


def test_trainer_golden(trained_run):
    g = _golden()
    new = {"trainer": golden.trainer_numbers(trained_run["run_dir"])}
    assert golden.compare(new, g, parts=["trainer"]) == []


def test_a_new_golden_file_pins_every_number(trained_run, tmp_path):
    # pinned() of a file that does not exist says None (every number) for each part, and
    # the numbers then are all of them, not the default file's selection
    pins = golden.pinned(tmp_path / "new.json")
    assert pins == {"surrogate": None, "trainer": None}
    every = golden.trainer_numbers(trained_run["run_dir"], pins["trainer"])
    default = golden.trainer_numbers(trained_run["run_dir"])
    assert set(default) < set(every) and all(every[k] == default[k] for k in default)


def test_launched_trainer_run_is_the_observed_one(trained_run, tmp_path):
    """The golden trainer spec launched through the runs layer writes the very tables of
    the fixture's run, which observed its models at every evaluation (so the observation
    does not perturb the run, and the launched run is the one the tests check)."""
    new = golden.compute(tmp_path, parts=["trainer"])
    assert new["trainer"] == golden.trainer_numbers(trained_run["run_dir"])
    launched = tmp_path / "runs" / golden.golden_specs()["trainer"].dirname()
    for name in TABLES:
        assert (launched / name).read_bytes() == (trained_run["run_dir"] / name).read_bytes()


def test_compare_detects_a_shift():
    g = _golden()
    shifted = json.loads(json.dumps(g))
    shifted["surrogate"]["measured"] *= 1 + 1e-5
    shifted["trainer"]["z_cka"] *= 1 + 1e-3  # ten times the trainer's rtol
    problems = golden.compare(shifted, g)
    assert any("surrogate.measured" in p for p in problems)
    assert any("trainer.z_cka" in p for p in problems)
    assert len(problems) == 2


def test_write_keeps_a_part_that_reproduces():
    g = _golden()
    new = json.loads(json.dumps({p: g[p] for p in golden.PARTS}))
    new["surrogate"]["measured"] *= 1 + 1e-12  # the last bits of another BLAS build
    new["trainer"]["z_cka"] += 0.01
    doc, rewritten = golden.merge(new, g)
    assert rewritten == ["trainer"]
    assert doc["surrogate"] == g["surrogate"] and doc["trainer"] == new["trainer"]
    doc, rewritten = golden.merge(new, {**g, "surrogate_config": {"C": 3}})
    assert rewritten == ["surrogate", "trainer"]  # a changed configuration is rewritten


def test_golden_specs_are_the_pinned_configs():
    specs = golden.golden_specs()
    assert specs["trainer"] == RunSpec("train", golden.TRAIN_KW)
    assert specs["surrogate"].config == golden.SURROGATE_KW


def test_golden_cli_without_file_fails_fast(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        golden.main(["--path", str(tmp_path / "missing.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--path" in err and "--write" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        golden.main(["--path", str(bad)])
    assert exc.value.code == 2
    assert str(bad) in capsys.readouterr().err


def test_golden_surrogate_expands_the_rowwise_certificate():
    """The pinned surrogate takes the ``kappa > 1`` branch of the row-wise certificate, so a
    certificate step that dropped ``kappa`` would move the golden ``certificate``."""
    g = _golden()["surrogate"]
    assert g["kappa_max"] > 1 and g["kappa_steps_above_one"] > 0
