"""Tests for ``python -m empirics.surrogate``: the pinned JSON record, help, one-line errors
with exit status 2, and ``--resume``."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from empirics import surrogate as sg
from empirics.surrogate import SurrogateConfig, run_into
from empirics.surrogate.run import build_parser

TINY = ["--C", "3", "--N", "12", "--B", "4", "--steps", "6", "--lr", "4", "--no-progress"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m empirics.surrogate: error: "), err
    return err


def test_write_run_and_cli_json(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--C", "8", "--N", "48", "--B", "16", "--steps", "12", "--lr", "16",
            "--format", "json", "--no-progress", "--out", str(out)]
    rc = sg.main(args)
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    for k in ("measured", "certificate", "recurrence", "theorem1", "event_held"):
        assert k in rec
    assert rec["measured"] <= rec["certificate"] <= rec["recurrence"] <= rec["theorem1"]
    assert {p.name for p in out.iterdir()} >= {"config.json", "metrics.csv", "summary.json",
                                                "bounds.csv", "checkpoints"}
    lines = (out / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["step", "epoch", "pair", "split", "features"] and "sim_gap" in header
    assert "theorem1" in header and len(lines) == 1 + 13
    assert json.loads((out / "summary.json").read_text())["measured"] == rec["measured"]
    # the same record without a run directory
    assert sg.main(args[:-2]) == 0
    assert json.loads(capsys.readouterr().out) == rec
    # a second run into the same directory is refused: continue it with --resume
    assert sg.main(args) == 2
    assert "--resume" in _error_line(capsys)
    assert sg.main(args + ["--resume"]) == 0
    assert json.loads(capsys.readouterr().out) == rec
    assert len((out / "metrics.csv").read_text().splitlines()) == 14


def test_vacuous_delta_is_reported_as_null(capsys):
    # B = 4, C = 3: pi_max + eps >= 1, Delta is vacuous; the certificate still bounds the gap.
    sg.main(["--C", "3", "--N", "12", "--B", "4", "--steps", "12", "--lr", "4",
             "--format", "json", "--no-progress"])
    rec = json.loads(capsys.readouterr().out)
    assert rec["Delta"] is None and rec["theorem1"] is None and rec["recurrence"] is None
    assert rec["event_held"] is True and rec["measured"] <= rec["certificate"]


def test_cli_table_and_usage_error(capsys):
    assert sg.main(["--C", "3", "--N", "12", "--B", "4", "--steps", "3", "--no-progress"]) == 0
    assert "theorem1" in capsys.readouterr().out
    assert sg.main(["--B", "1"]) == 2
    assert "`B`" in _error_line(capsys)
    with pytest.raises(SystemExit) as e:
        sg.main(["--tau", "x"])
    assert e.value.code == 2
    assert "`tau`" in _error_line(capsys)


def test_help_shows_every_flag_with_a_description_and_its_default():
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and "(default: " in action.help, action.option_strings
    flags = {s for a in parser._actions for s in a.option_strings}
    for name in ("--C", "--N", "--B", "--tau", "--steps", "--lr", "--seed", "--format",
                 "--out", "--resume", "--checkpoint-every", "--max-memory-gib"):
        assert name in flags


def test_resume_needs_a_run(tmp_path, capsys):
    assert sg.main(TINY + ["--resume"]) == 2
    assert "--out" in _error_line(capsys)
    assert sg.main(TINY + ["--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no config.json" in _error_line(capsys)


def test_out_that_is_a_file_or_not_writable(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert sg.main(TINY + ["--out", str(f)]) == 2
    assert "the file" in _error_line(capsys)
    assert sg.main(TINY + ["--out", str(f), "--resume"]) == 2
    assert "the file" in _error_line(capsys)
    assert sg.main(TINY + ["--out", str(f / "sub")]) == 2
    assert "under a file" in _error_line(capsys)
    if os.geteuid() == 0:
        pytest.skip("root writes into any folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert sg.main(TINY + ["--out", str(locked / "run")]) == 2
    assert "permission denied" in _error_line(capsys)


def test_a_state_too_large_for_memory_is_refused_in_one_line(tmp_path, capsys):
    assert sg.main(["--N", "1000000", "--no-progress", "--out", str(tmp_path / "big")]) == 2
    err = _error_line(capsys)
    assert "`N` = 1000000" in err and "GiB" in err and "limit" in err
    assert not (tmp_path / "big").exists()  # refused before anything was written


def test_resume_continues_a_killed_run(tmp_path, capsys):
    config = SurrogateConfig(C=3, N=12, B=4, steps=6, lr=4.0, checkpoint_every=2)
    reference = run_into(config, tmp_path / "ref")

    class Killed(BaseException):
        pass

    def kill(t, sim):
        if t == 3:
            raise Killed

    with pytest.raises(Killed):
        run_into(config, tmp_path / "run", callback=kill)
    assert sg.main(["--out", str(tmp_path / "run"), "--resume", "--no-progress",
                    "--checkpoint-every", "2"]) == 0
    for name in ("metrics.csv", "bounds.csv", "summary.json"):
        assert (tmp_path / "run" / name).read_bytes() == (reference / name).read_bytes()
    assert "measured" in capsys.readouterr().out


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('SURROGATE_PAYLOAD', '/nonexistent')}",))


def test_a_planted_checkpoint_does_not_run_and_is_named(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    run_into(SurrogateConfig(C=3, N=12, B=4, steps=2, lr=4.0), out)
    marker = tmp_path / "pwned"
    monkeypatch.setenv("SURROGATE_PAYLOAD", str(marker))
    with open(out / "checkpoints" / "last.pt", "wb") as handle:
        pickle.dump({"step": _Payload()}, handle)
    assert sg.main(["--out", str(out), "--resume", "--no-progress"]) == 2
    assert "last.pt" in _error_line(capsys)
    assert not marker.exists()
    torch.save({"kind": "surrogate", "step": 1}, out / "checkpoints" / "last.pt")
    assert sg.main(["--out", str(out), "--resume", "--no-progress"]) == 2
    assert "the checkpoint" in _error_line(capsys)


def test_python_dash_m_runs_the_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "empirics.surrogate", *TINY,
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["T"] == 6


def test_toml_config_then_flags(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text("[surrogate]\nC = 3\nN = 12\nB = 4\nsteps = 3\nlr = 4.0\n")
    assert sg.main(["--config", str(toml), "--format", "json", "--no-progress"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert (rec["C"], rec["T"], rec["lr"]) == (3, 3, 4.0)
    assert sg.main(["--config", str(toml), "--steps", "2", "--format", "json",
                    "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["T"] == 2
    toml.write_text("[surrogate]\nC = 3\nfoo = 1\n")
    assert sg.main(["--config", str(toml), "--no-progress"]) == 2
    assert "foo" in _error_line(capsys)


HUGE = "1" + "0" * 21
#: Bad command lines: (extra flags, the argument the line must name, the value it must
#: name). Each answers exit status 2 and one stderr line, before anything runs.
BAD_FLAGS = [
    (["--C", "1"], "`C`", "1"),
    (["--C", "x"], "`C`", "'x'"),
    (["--C", ""], "`C`", "''"),
    (["--C", HUGE], "`C`", HUGE),
    (["--N", "0"], "`N`", "0"),
    (["--N", HUGE], "`N`", HUGE),
    (["--B", "13"], "`B`", "13"),
    (["--tau", "-1"], "`tau`", "-1.0"),
    (["--tau", "nan"], "`tau`", "nan"),
    (["--tau", "inf"], "`tau`", "inf"),
    (["--tau", "1e-320"], "`tau`", "1e-320"),
    (["--steps", "0"], "`steps`", "0"),
    (["--steps", HUGE], "`steps`", HUGE),  # refused by the memory check
    (["--steps", "none"], "`steps`", "'none'"),
    (["--lr", "0"], "`lr`", "0.0"),
    (["--lr", "1e308"], "`lr`", "1e+308"),
    (["--schedule", ""], "`schedule`", "''"),
    (["--warmup-steps", "-1"], "`warmup_steps`", "-1"),
    (["--warmup-steps", "2"], "`warmup_steps`", "2"),  # constant schedule: conflict
    (["--seed", "-1"], "`seed`", "-1"),
    (["--init", "zeros"], "`init`", "'zeros'"),
    (["--init-dim", "0"], "`init_dim`", "0"),
    # the features were not counted: --init-dim 100000000 ran the machine out of memory
    (["--init-dim", "20000", "--max-memory-gib", "0.01"], "`init_dim`", "20000"),
    (["--init-view-noise", "1e200"], "`init_view_noise`", "1e+200"),
    (["--init-class-signal", "-0.5"], "`init_class_signal`", "-0.5"),
    (["--delta", "1"], "`delta`", "1.0"),
    (["--pi-max", "0.1"], "`pi_max`", "0.1"),  # below 1/C = 1/3
    (["--pi-max", "1.5"], "`pi_max`", "1.5"),
    (["--backend", "jax"], "`backend`", "'jax'"),
    (["--backend", "torch", "--device", "tpu"], "`device`", "'tpu'"),
    (["--backend", "torch", "--device", ""], "`device`", "''"),
    (["--backend", "torch", "--device", "cuda:x"], "`device`", "'cuda:x'"),
    (["--device", "cuda"], "`device`", "'cuda'"),  # numpy backend: conflict
    (["--eval-every", "-1"], "`eval_every`", "-1"),
    (["--checkpoint-every", "0"], "`checkpoint_every`", "0"),
    (["--max-memory-gib", "inf"], "`max_memory_gib`", "inf"),
    (["--max-memory-gib", "1e-9"], "`max_memory_gib`", "1e-09"),
    (["--format", "xml"], "`format`", "'xml'"),  # declared: the field is named
    (["--config", ""], "`config`", "''"),  # was: silently no config file
    (["--config", "no-such.toml"], "`config`", "no-such.toml"),
    (["--config", "."], "`config`", "'.'"),
    (["--out", ""], "`out`", "''"),  # was: the run written into the current folder
    (["--out", " "], "`out`", "' '"),
    (["--resume"], "--resume", "no --out"),
    (["--bogus", "1"], "unrecognized", "--bogus"),
]


@pytest.mark.parametrize("extra,argument,value", BAD_FLAGS,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_every_bad_flag_is_one_line_and_exit_2(extra, argument, value, capsys, tmp_path,
                                               monkeypatch):
    monkeypatch.chdir(tmp_path)  # a run written anywhere would show here
    try:
        rc = sg.main(TINY + extra)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2
    err = _error_line(capsys)
    assert argument in err and value in err, err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_a_device_this_machine_lacks_is_refused_before_the_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    assert sg.main(TINY + ["--backend", "torch", "--device", "cuda", "--out", str(out)]) == 2
    assert "`device` = 'cuda', got none" in _error_line(capsys)
    assert not out.exists()  # checked before anything was written
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert sg.main(TINY + ["--backend", "torch", "--device", "cuda:2"]) == 2
    assert "index < 2" in _error_line(capsys) and not out.exists()
    with pytest.raises(ValueError, match="`device`.*'cuda:2'"):
        sg.Simulation(SurrogateConfig(C=3, N=12, B=4, steps=2, backend="torch",
                                      device="cuda:2"))


def test_torch_cpu_device_runs(capsys):
    assert sg.main(TINY + ["--backend", "torch", "--device", "cpu", "--format", "json"]) == 0
    torch_rec = json.loads(capsys.readouterr().out)
    assert sg.main(TINY + ["--format", "json"]) == 0
    assert torch_rec["measured"] == pytest.approx(json.loads(capsys.readouterr().out)
                                                  ["measured"], rel=1e-12)


def test_warnings_are_one_line_without_source(capsys):
    import warnings

    with warnings.catch_warnings():
        assert sg.main(TINY + ["--steps", "2"]) == 0
        capsys.readouterr()
        warnings.warn("degenerate state: cka is NaN", RuntimeWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "python -m empirics.surrogate: warning: degenerate state: cka is NaN\n"


def test_run_into_refuses_an_empty_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="`out` to be a path, got ''"):
        run_into(SurrogateConfig(C=3, N=12, B=4, steps=2), "")
    assert not list(tmp_path.iterdir())
