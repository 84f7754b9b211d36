"""``python -m empirics.train`` end to end on tiny sizes, resume, and usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from empirics.train import build_parser, config_from_args, main

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
        (["--resume", "does-not-exist"], "run directory for `--resume`"),
        (["--resume"], "`--out` or a directory for `--resume`"),
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
