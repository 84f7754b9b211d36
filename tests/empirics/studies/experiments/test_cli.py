"""python -m empirics.studies accuracy | fewshot | merging | alignment-accuracy: the tables
from tiny runs, atomic CSV outputs, and every bad input as one line with exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from empirics.studies.cli import main as studies_main

SERIAL = ["--executor", "serial"]  # the default is a local process pool (spawned workers)


def main(argv):
    """The study command, its evaluations in this process."""
    return studies_main([*argv, *SERIAL] if argv and argv[0] != "docs" else argv)


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def test_accuracy_tables_from_runs(tiny_runs, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["accuracy", "--runs", str(tiny_runs), "--out", str(out), "--repeats", "2",
               "--shots", "1,5"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Table 1 analogue" in text and "Student-t" in text and "Table 2 analogue" in text
    for name in ("table1.csv", "table2.csv", "fewshot.csv"):
        assert (out / name).stat().st_size > 100
    assert len(list((out / "evaluations").iterdir())) == 3
    assert not (out / "runs").exists()  # --runs: nothing trained
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_fewshot_merging_and_fig12_from_runs(tiny_runs, tmp_path, capsys):
    assert main(["fewshot", "--runs", str(tiny_runs), "--repeats", "1", "--shots", "2",
                 "--vs", "total"]) == 0
    assert "bound_mean" in capsys.readouterr().out
    assert main(["merging", "--runs", str(tiny_runs), "--points", "3", "--partners", "nscl",
                 "--out", str(tmp_path)]) == 0
    assert "chosen on held-out data beat both ends" in capsys.readouterr().out
    assert (tmp_path / "merging_summary.csv").exists()
    import warnings

    with warnings.catch_warnings():  # the command shows warnings as one stderr line
        rc = main(["alignment-accuracy", "--runs", str(tiny_runs), "--repeats", "1",
                   "--bootstrap", "20", "--out", str(tmp_path)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "Spearman rho over 2 settings" in captured.out
    warned = [line for line in captured.err.splitlines() if "warning:" in line]
    assert warned and all(line.startswith("python -m empirics.studies: warning: ")
                          for line in warned)
    assert (tmp_path / "fig12.json").exists()


def test_the_studies_entry_point_dispatches(tiny_runs, capsys):
    assert studies_main(["merging", "--runs", str(tiny_runs), "--points", "2",
                         "--partners", "scl"]) == 0
    assert "| scl |" in capsys.readouterr().out


def test_own_tiny_runs(tmp_path, capsys):
    rc = main(["accuracy", "--size", "tiny", "--datasets", "synthetic", "--seeds", "0",
               "--taus", "", "--out", str(tmp_path), "--repeats", "1", "--shots", "1"])
    assert rc == 0
    assert len(list((tmp_path / "runs").iterdir())) == 1
    assert "dataset=synthetic" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    ([], "the following arguments are required: study"),
    (["accuracy", "--runs", "/nonexistent/dir"], "no such file or folder"),
    (["accuracy", "--shots", "0"], "`--shots`"),
    (["accuracy", "--shots", "a,b"], "argument --shots: Expected `shots` to be an int"),
    (["accuracy", "--repeats", "0"], "`--repeats`"),
    (["accuracy", "--workers", "0"], "`--workers`"),
    (["accuracy", "--datasets", "imagenet"], "`--datasets`"),
    (["accuracy", "--datasets", "cifar10"], "`--data-root`"),
    (["accuracy", "--seeds", "x"], "`--seeds`"),
    (["accuracy", "--taus", "0,1"], "`--taus` > 0"),
    (["accuracy", "--vs", "max"], "`--vs` among support, directional, total, got 'max'"),
    (["merging", "--points", "1"], "`--points` >= 2, got 1"),
    (["merging", "--points", "1002"], "`--points` <= 1001, got 1002"),
    (["merging", "--partners", "cl"], "`--partners`"),
    (["merging", "--bn", "freeze"], "`--bn` among recompute, interpolate, got 'freeze'"),
    (["merging", "--partners", ""], "`--partners`"),
    (["accuracy", "--runs", "/tmp", "--seeds", "1"], "Expected no `--seeds` with `--runs`"),
    (["docs", "claims", "--write", "--readme"], "`--write` and `--readme`"),
    (["docs", "accuracy", "--readme"], "`--readme`"),
    (["docs", "bogus"], "`target` among claims, accuracy, got 'bogus'"),
    (["alignment-accuracy", "--bootstrap", "0"], "`--bootstrap`"),
    (["alignment-accuracy", "--classes", "1"], "`--classes`"),
    (["fewshot", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        rc = main(argv)
        raise SystemExit(rc)
    assert exc.value.code == 2
    assert needle in one_line(capsys.readouterr().err)


def test_bad_runs_folders_are_one_line(tiny_runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["accuracy", "--runs", str(empty)])
    assert exc.value.code == 2 and "got none" in one_line(capsys.readouterr().err)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_runs, broken)
    victim = sorted(p for p in broken.iterdir() if p.name.startswith("train"))[0]
    (victim / "checkpoints" / "last.pt").unlink()
    with pytest.raises(SystemExit) as exc:
        main(["merging", "--runs", str(broken)])
    assert exc.value.code == 2
    assert str(victim / "checkpoints" / "last.pt") in one_line(capsys.readouterr().err)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["accuracy", "--runs", str(tiny_runs), "--out", str(afile)])
    assert exc.value.code == 2 and "`--out`" in one_line(capsys.readouterr().err)


def test_a_failing_evaluation_is_one_line_exit_1(tiny_runs, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_runs, bad)
    for p in bad.iterdir():
        if p.name.startswith("train"):
            (p / "checkpoints" / "last.pt").write_bytes(b"garbage")
    assert main(["accuracy", "--runs", str(bad), "--repeats", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error.txt" in err and "Traceback" not in err


def test_module_help_lists_the_new_studies():
    p = subprocess.run([sys.executable, "-m", "empirics.studies", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0
    for name in ("accuracy", "fewshot", "merging", "alignment-accuracy"):
        assert name in p.stdout
    p = subprocess.run([sys.executable, "-m", "empirics.studies", "merging", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "--bn {recompute,interpolate}" in p.stdout
    p = subprocess.run([sys.executable, "-m", "empirics.studies", "merging", "--points", "0"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and one_line(p.stderr).startswith(
        "python -m empirics.studies merging: error:")


def test_own_plan_specs():
    from empirics.studies.plan import experiment_specs as plan_specs

    specs = plan_specs("quick", ["digits", "synthetic"], [0, 1], taus=(0.1, 0.5),
                       classes=(2,))
    # 2 data sets x 2 seeds, + tau 0.1 on digits x 2 seeds (0.5 is the base), + C = 2 x 2
    assert len(specs) == 8
    assert all(s.config["objectives"] == ["cl", "nscl", "scl", "ce"] for s in specs)
    assert {s.config["checkpoint_every"] for s in specs} == {400}
    cifar = plan_specs("full", ["cifar10"], [0], data_root="/data/cifar")
    cfg = cifar[0].options()  # a valid configuration; nothing is read
    assert cfg.data_root == "/data/cifar" and cfg.arch == "auto" and cfg.train_size is None
