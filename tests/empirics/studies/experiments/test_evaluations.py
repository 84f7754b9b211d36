"""Evaluations as runs of the runs layer: their specs and cache keys, finding and checking
source runs, and reuse on a second launch."""

from __future__ import annotations

import json
import shutil

import pytest

from empirics.studies import evaluations as ev


def test_spec_is_json_stable_and_keyed_by_source_options_and_fingerprint():
    a = ev.evaluation_spec("accuracy", "/r/x", {"shots": (1, 5)}, fingerprint="f")
    assert a.config["shots"] == [1, 5] and a.target == ev.STUDIES["accuracy"]
    same = ev.evaluation_spec("accuracy", "/r/x", {"shots": [1, 5]}, fingerprint="f")
    assert same.key() == a.key()
    for other in (ev.evaluation_spec("accuracy", "/r/y", {"shots": [1, 5]}, fingerprint="f"),
                  ev.evaluation_spec("accuracy", "/r/x", {"shots": [1]}, fingerprint="f"),
                  ev.evaluation_spec("accuracy", "/r/x", {"shots": [1, 5]}, fingerprint="g"),
                  ev.evaluation_spec("merging", "/r/x", {"shots": [1, 5]}, fingerprint="f")):
        assert other.key() != a.key()
    with pytest.raises(ValueError, match="`study`"):
        ev.evaluation_spec("probing", "/r/x", {})


def test_fingerprint_follows_the_config_and_summary(run0, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run0, copy)
    assert ev.fingerprint(copy) == ev.fingerprint(run0)
    cfg = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**cfg, "lr": 0.5}))
    assert ev.fingerprint(copy) != ev.fingerprint(run0)


def test_source_dir_relative_and_absolute(tmp_path):
    assert ev.source_dir({"source": "/a/b"}, tmp_path / "e").as_posix() == "/a/b"
    assert ev.source_dir({"source": "run-1"}, tmp_path / "e") == tmp_path / "run-1"


def test_find_sources_in_a_folder_a_runs_csv_and_a_results_csv(tiny_runs, tmp_path):
    found = ev.find_sources(tiny_runs)
    assert len(found) == 3 and all(s.labels == {} for s in found)
    names = sorted(p.name for p in tiny_runs.iterdir() if p.name.startswith("train"))
    (tmp_path / "runs.csv").write_text(
        "claim,setting,seed,run_dir\n"
        + "".join(f"C{i},base,0,{tiny_runs / n}\n" for i, n in enumerate(names[:2]))
        + f"C9,tau,0,{tiny_runs / names[0]}\n")
    claims = ev.find_sources(tmp_path)
    assert len(claims) == 2
    assert sorted(claims[0].labels["claim"] + claims[1].labels["claim"]) == ["C0", "C1", "C9"]
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "results.csv").write_text(f"name,status,run_dir\na,ok,{tiny_runs / names[0]}\n"
                                       f"b,failed,{tiny_runs / names[1]}\n")
    assert len(ev.find_sources(sweep)) == 1


def test_find_sources_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        ev.find_sources(tmp_path / "nope")
    (tmp_path / "runs.csv").write_text("claim,seed\nC1,0\n")
    from empirics.runs import RunFileError

    with pytest.raises(RunFileError, match="'run_dir' column"):
        ev.find_sources(tmp_path)
    (tmp_path / "runs.csv").write_text("claim,run_dir\nC1,runs/missing\n")
    with pytest.raises(RunFileError, match="line 2"):
        ev.find_sources(tmp_path)


def test_check_source(run0, tmp_path):
    assert ev.check_source(run0, ("cl", "nscl")) == run0
    with pytest.raises(ValueError, match="missing \\['ntxent'\\]"):
        ev.check_source(run0, ("ntxent",))
    with pytest.raises(ValueError, match="run directory"):
        ev.check_source(tmp_path)
    d = tmp_path / "r"
    shutil.copytree(run0, d)
    (d / "checkpoints" / "last.pt").unlink()
    with pytest.raises(ValueError, match="no checkpoint"):
        ev.check_source(d)
    (d / "summary.json").unlink()
    with pytest.raises(ValueError, match="unfinished"):
        ev.check_source(d)


def test_a_second_launch_reuses_the_evaluation(run0, tmp_path):
    (p,) = ev.launch_evaluations("accuracy", [run0], tmp_path, {"shots": [1], "repeats": 1})
    stamp = (p / "summary.json").stat().st_mtime_ns
    (q,) = ev.launch_evaluations("accuracy", [run0], tmp_path, {"shots": [1], "repeats": 1})
    assert q == p and (p / "summary.json").stat().st_mtime_ns == stamp
    assert p.name.startswith("eval-accuracy-")


def test_a_failing_evaluation_names_its_error_file(tmp_path, run0):
    bad = tmp_path / "bad"
    shutil.copytree(run0, bad)
    (bad / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="error.txt"):
        ev.launch_evaluations("accuracy", [bad], tmp_path / "e", {"shots": [1]})


def test_setting_of_drops_seed_and_execution_fields():
    s = ev.setting_of({"seed": 3, "tau": 0.5, "device": "cpu", "out": "x", "classes": 4})
    assert s == {"classes": 4, "tau": 0.5}
    assert ev.setting_key(s, ("tau",)) == '{"classes": 4}'
