"""``python -m empirics.train`` end to end on tiny sizes, resume, and usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from empirics.training.cli import build_parser, config_from_args, main

TINY = [
    "--classes", "3", "--train-size", "96", "--test-size", "48", "--reference-size", "24",
    "--batch-size", "24", "--steps", "6", "--warmup-steps", "1", "--eval-every", "2",
    "--checkpoint-every", "2", "--feature-dim", "8", "--proj-dim", "8",
    "--objectives", "cl,nscl,scl,ce", "--device", "cpu", "--no-progress",
]  # fmt: skip


def test_cli_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cl-nscl" in printed and "cl-ce" in printed and "[P1]" in printed
    assert "Theorem 1" in printed and "yes" in printed
    assert "[P2] batch composition" in printed and "at every step: yes" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["objectives"] == ["cl", "nscl", "scl", "ce"]
    # stop as if killed, then resume: identical metrics.csv
    out2 = tmp_path / "run2"
    assert main([*TINY, "--out", str(out2), "--stop-after", "3"]) == 3
    assert "continue with --resume" in capsys.readouterr().err
    assert main(["--out", str(out2), "--resume", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 6
    assert (out2 / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()
    assert (out2 / "losses.csv").read_bytes() == (out / "losses.csv").read_bytes()
    # an existing run is not overwritten
    assert main([*TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--objectives", "cl,byol"], "Expected `objectives` among"),
        (["--tau", "0"], "Expected `tau` > 0, got 0.0"),
        (["--tau", "abc"], "`tau` to be a number"),
        (["--dataset", "digits", "--classes", "12"], "`classes` <= 10"),
        (["--batch-size", "1"], "`batch_size` >= 2"),
        (["--nope", "1"], "unrecognized arguments"),
        (["--resume", "does-not-exist"], "run to resume in 'does-not-exist', got none"),
        (["--resume"], "run directory for `--resume`"),
        (["--schedule-unit", "month"], "Expected `schedule_unit` among step, epoch"),
        (["--linearization-every", "3", "--eval-every", "2"],
         "`linearization_every` to be a multiple of `eval_every` (2), got 3"),
    ],
)
def test_cli_usage_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_toml_then_flags(tmp_path):
    p = tmp_path / "c.toml"
    toml = 'tau = 0.2\nobjectives = ["cl", "nscl"]\nsteps = 7\nwarmup_steps = 2\n'
    p.write_text(toml, encoding="utf-8")
    args = build_parser().parse_args(["--config", str(p), "--steps", "9", "--no-deterministic"])
    cfg = config_from_args(args)
    got = (cfg.tau, cfg.objectives, cfg.steps, cfg.deterministic)
    assert got == (0.2, ("cl", "nscl"), 9, False)
    args = build_parser().parse_args(["--feature-dim", "none", "--objectives", "ce,scl"])
    assert config_from_args(args).feature_dim is None
    assert config_from_args(args).objectives == ("scl", "ce")


def test_module_entry_point_reports_config_error_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "empirics.train", "--tau", "-1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == "python -m empirics.train: error: Expected `tau` > 0, got -1.0\n"


# -- run directories a user can break (issue: reliability) --------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main([*TINY, "--out", str(out)]) == 0
    return out


def _copy(run, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    (dst / "summary.json").unlink()
    return dst


def _resume_cli(out):
    return subprocess.run([sys.executable, "-m", "empirics.train", "--out", str(out), "--resume",
                           "--no-progress"], capture_output=True, text=True, timeout=300)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_planted_checkpoint_is_refused_and_never_runs(finished, tmp_path):
    import torch

    out = _copy(finished, tmp_path)
    torch.save({"step": 2, "x": _Payload()}, out / "checkpoints" / "last.pt")
    proc = subprocess.run([sys.executable, "-m", "empirics.train", "--out", str(out),
                           "--resume", "--no-progress"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "last.pt" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("damage", ["empty", "truncated", "random"])
def test_a_broken_checkpoint_is_one_line_exit_2(finished, tmp_path, damage):
    out = _copy(finished, tmp_path)
    ckpt = out / "checkpoints" / "last.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes({"empty": b"", "truncated": data[: len(data) // 2],
                      "random": bytes(range(256)) * 8}[damage])
    proc = _resume_cli(out)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "last.pt" in proc.stderr


def test_garbage_tables_are_restored_from_the_checkpoint_and_named(finished, tmp_path):
    out = _copy(finished, tmp_path)
    metrics = out / "metrics.csv"
    lines = metrics.read_text().splitlines(keepends=True)
    lines[3] = "garbage,,\n"
    metrics.write_text("".join(lines))
    (out / "losses.csv").write_bytes((out / "losses.csv").read_bytes()[:-137])
    proc = _resume_cli(out)
    assert proc.returncode == 0, proc.stderr
    assert "metrics.csv: line 4 differs" in proc.stderr
    for name in ("metrics.csv", "losses.csv", "bounds.csv"):
        assert (out / name).read_bytes() == (finished / name).read_bytes()


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_out_that_cannot_hold_a_run_is_one_line_exit_2(tmp_path, capsys, where):
    f = tmp_path / "f"
    f.write_text("x")
    out = f if where == "file" else f / "run"
    assert main([*TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(f) in err


def test_resume_into_another_out_is_refused(finished, capsys):
    assert main(["--resume", str(finished), "--out", str(finished) + "-other"]) == 2
    assert "`--out` to be the run given to `--resume`" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3"])
def test_stop_after_must_be_positive(value, capsys):
    assert main([*TINY, "--stop-after", value]) == 2
    assert "`--stop-after` >= 1" in capsys.readouterr().err


def test_a_diverging_run_says_so_in_one_line(tmp_path, capsys):
    code = main([*TINY, "--lr", "1e6", "--lr-rule", "constant", "--schedule", "constant",
                 "--out", str(tmp_path / "d")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err and "step" in err
    assert "model '" in err


def test_every_flag_has_help_with_its_default():
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and "default" in action.help, action.option_strings


def test_cli_epoch_schedule_needs_a_whole_warm_up(tmp_path, capsys):
    # TINY: 96 samples, B = 24: 4 steps per epoch, and --warmup-steps 1 is not a whole epoch
    assert main([*TINY, "--out", str(tmp_path / "r"), "--schedule-unit", "epoch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "whole number of epochs" in err and "got 1" in err
    assert not (tmp_path / "r").exists()


# -- warnings and paths (issue 20) -----------------------------------------------------------
def test_a_warning_is_one_line_without_a_source_line(finished, tmp_path, monkeypatch, capsys):
    import warnings

    import empirics.training.trainer as trainer

    def warn_then_return(config, **kw):
        warnings.warn("all pairwise cosines are equal", RuntimeWarning, stacklevel=1)
        return finished

    monkeypatch.setattr(trainer, "train", warn_then_return)
    with warnings.catch_warnings():  # main installs the one-line display; restored after
        assert main([*TINY, "--out", str(tmp_path / "w")]) == 0
    err = capsys.readouterr().err
    assert err == "python -m empirics.train: warning: all pairwise cosines are equal\n"


@pytest.mark.parametrize(("argv", "name"), [
    (["--out", ""], "`out`"), (["--out", "  "], "`out`"), (["--resume", ""], "`--resume`"),
    (["--config", ""], "`--config`"), (["--data-root", ""], "`data_root`"),
])
def test_an_empty_path_is_refused_not_the_current_folder(argv, name, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"Expected {name} to be a path, got '" in err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_out_in_the_api_is_a_value_error():
    from empirics.training.config import TrainConfig

    with pytest.raises(ValueError, match="Expected `out` to be a path, got ''"):
        TrainConfig(out="")
