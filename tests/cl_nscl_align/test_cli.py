"""Every entry point answers a usage error with one stderr line and exit status 2."""

import subprocess
import sys

import pytest

from cl_nscl_align.cli import ArgumentParser

ENTRY_POINTS = [
    "bounds.evaluate",
    "bounds.docs",
    "empirics.train",
    "empirics.surrogate",
    "empirics.sweep",
    "empirics.studies.golden",
    "empirics.studies",
    "figures",
]


def test_parser_error_is_one_line_exit_2(capsys):
    p = ArgumentParser(prog="demo")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--n", "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("demo: error: ") and "'x'" in err


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_one_line_usage_error(module):
    proc = subprocess.run(
        [sys.executable, "-m", module, "--no-such-flag"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"python -m {module}: error: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text", ["-1", "-0.5", "-.5", "-1e-3", "-1E+300", "-inf", "-Infinity",
                                  "-nan"])
def test_negative_numbers_are_values_not_flags(text):
    p = ArgumentParser(prog="demo")
    p.add_argument("--tau", type=float)
    assert repr(p.parse_args(["--tau", text]).tau) == repr(float(text))


def test_a_dash_word_is_still_a_flag(capsys):
    p = ArgumentParser(prog="demo")
    p.add_argument("--tau", type=float)
    with pytest.raises(SystemExit):
        p.parse_args(["--tau", "-x"])
    assert "expected one argument" in capsys.readouterr().err


def test_a_comma_list_starting_with_a_negative_number_is_a_value():
    p = ArgumentParser(prog="demo")
    p.add_argument("--C")
    assert p.parse_args(["--C", "-1,2,-3.5e-2"]).C == "-1,2,-3.5e-2"
