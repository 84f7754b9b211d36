"""Tests of the CLI ``python -m bounds.evaluate``: formats, grids, vacuity marks, speed,
no torch import, and every usage-error path (exit 2, one stderr line, no traceback)."""

import csv
import io
import json
import math
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from bounds.evaluate import main

DESIGN_KEYS = ["C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "eps", "Delta",
               "loss_gap", "sim_gap", "sim_gap_product", "cka_lower", "rsa_lower",
               "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "log10_sim_gap"]


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_table_marks_vacuous(capsys):
    code, out, _ = run(["--C", "100", "--tau", "0.5"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["C", "tau", "B", "T"]
    assert "14700" in lines[2] and "0 VACUOUS" in lines[2] and "-1 VACUOUS" in lines[2]
    assert "VACUOUS: the bound says nothing" in out


def test_table_shows_magnitudes_beyond_float_range(capsys):
    _, out, _ = run(["--C", "10", "--tau", "0.001"], capsys)
    row = out.splitlines()[2]
    assert "e+" in row and "inf" not in row


def test_json_grid_keys_nulls_and_order(capsys):
    code, out, _ = run(["--C", "10,100", "--tau", "0.5,0.001", "--format", "json"], capsys)
    assert code == 0
    recs = json.loads(out)
    assert [(r["C"], r["tau"]) for r in recs] == [(10, 0.5), (10, 0.001), (100, 0.5),
                                                  (100, 0.001)]
    for r in recs:
        assert set(DESIGN_KEYS) <= set(r)
        assert isinstance(r["C"], int) and isinstance(r["vacuous_cka"], bool)
    small = recs[1]
    assert small["sim_gap"] is None and small["Delta"] is None      # beyond float range
    assert small["log10_sim_gap"] > 300 and small["log10_Delta"] > 300
    assert recs[0]["sim_gap"] == pytest.approx(10 ** recs[0]["log10_sim_gap"], rel=1e-9)


def test_json_vacuous_delta_is_null_and_flagged(capsys):
    _, out, _ = run(["--C", "2", "--B", "2", "--steps", "1000000", "--sum-eta", "5",
                     "--format", "json"], capsys)
    r = json.loads(out)[0]
    assert r["vacuous_sim_gap"] and r["Delta"] is None and r["log10_sim_gap"] is None
    assert r["cka_lower"] == 0 and r["rsa_lower"] == -1


def test_csv_and_rules_grid(capsys):
    code, out, _ = run(["--C", "10", "--B", "256,1024", "--lr-rule", "linear,sqrt",
                        "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4
    assert [r["lr_rule"] for r in rows] == ["linear", "linear", "sqrt", "sqrt"]
    assert float(rows[0]["lr"]) == pytest.approx(0.3) and float(rows[3]["lr"]) == pytest.approx(
        0.3 * 32 / 256)
    assert rows[0]["T"] == str(300 * 196)


def test_steps_schedule_and_tight(capsys):
    _, out, _ = run(["--steps", "1000", "--schedule", "constant", "--lr-rule", "constant",
                     "--lr", "0.001", "--tau", "1", "--B", "4096", "--tight", "--format",
                     "json"], capsys)
    r = json.loads(out)[0]
    assert r["T"] == 1000 and r["sum_eta"] == pytest.approx(1.0)
    assert r["corollary_form"] == "tight" and not r["vacuous_cka"] and r["cka_lower"] > 0


def test_features_and_theorem2(capsys, tmp_path):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).normal(size=(40, 5)))
    _, out, _ = run(["--features", str(tmp_path / "f.npy"), "--G", "1", "--beta", "0.001",
                     "--format", "json"], capsys)
    r = json.loads(out)[0]
    assert r["N_ref"] == 40 and r["weight_gap"] > 0


def test_latex_and_analysis_and_list(capsys):
    _, out, _ = run(["--format", "latex"], capsys)
    assert out.count(r"\begin{equation}") >= 16 and r"\begin{tabular}" in out
    assert r"\Delta(B; \tau)" in out
    _, out, _ = run(["--format", "analysis", "--C", "100"], capsys)
    assert "C* = " in out and "fixed epochs" in out and "| theorem1 | tau |" in out
    _, out, _ = run(["--list"], capsys)
    assert "theorem1" in out and "[P2] Theorem 1" in out and "[stated]" in out


@pytest.mark.parametrize("argv,needle", [
    (["--tau", "0"], "Expected `--tau` > 0, got 0"),
    (["--tau", "-0.5"], "Expected `--tau` > 0, got -0.5"),
    (["--C", "1"], "Expected `--C` to be an integer >= 2, got 1"),
    (["--C", "2.5"], "Expected `--C` to be an integer >= 2, got 2.5"),
    (["--B", "1"], "Expected `--B` to be an integer >= 2, got 1"),
    (["--delta", "1.5"], r"Expected `--delta` in (0, 1), got 1.5"),
    (["--delta", "0"], r"Expected `--delta` in (0, 1), got 0"),
    (["--lr", "-0.3"], "Expected `--lr` >= 0, got -0.3"),
    (["--n-max", "50000"], "Expected `--n-max` < `--N`, got n_max=50000, N=50000"),
    (["--lr-rule", "cubic"], "Expected `--lr-rule` among linear, sqrt, fourth-root, "
                             "constant, got 'cubic'"),
    (["--schedule", "step"], "Expected `--schedule` among constant, cosine, got 'step'"),
    (["--format", "yaml"], "Expected `--format` among table, json, csv, latex, analysis, got "
                           "'yaml'"),
    (["--tau", "abc"], "argument --tau: Expected `tau` to be a number, got 'abc'"),
    (["--C", "10,x"], "argument --C: Expected `C` to be a number, got 'x'"),
    (["--C", ""], "Expected `--C` to be a comma list of numbers, got ''"),
    (["--tau", "nan"], "Expected `--tau` to be finite, got nan"),
    (["--G", "1"], "Expected both `--G` and `--beta` for Theorem 2, got `--beta`=None"),
    (["--features", "/nonexistent/f.npy"], "Expected a readable .npy feature file"),
    (["--saturation", "2"], "Expected `--saturation` in (0, 1), got 2.0"),
    (["--warmup-epochs", "300"], "Expected warm-up steps < `T`"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--B", "100000"], "Expected `--B` <= `--N`, got B=100000, N=50000"),
    (["--B", "64,2000", "--N", "1000"], "Expected `--B` <= `--N`, got B=2000, N=1000"),
])
def test_usage_errors(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err.splitlines()[-1]
    assert "Traceback" not in err


def test_batch_larger_than_N_is_accepted_with_steps(capsys):
    code, out, _ = run(["--B", "2000", "--N", "1000", "--steps", "10", "--format", "json"],
                       capsys)
    assert code == 0 and json.loads(out)[0]["T"] == 10


def test_every_flag_shows_a_description_and_its_default():
    from bounds.evaluate import build_parser

    for action in build_parser()._actions:
        if "-h" in action.option_strings:
            continue
        assert action.help and "(default" in action.help, action.option_strings


def test_help_lists_every_default_uncut():
    p = _cli("--help")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("usage: python -m bounds.evaluate")
    assert p.stdout.count("(default") == len(build_parser_flags())
    assert "docs/bounds.md" in p.stdout


def build_parser_flags():
    from bounds.evaluate import build_parser

    return [a for a in build_parser()._actions if "-h" not in a.option_strings]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bounds.evaluate", *args],
                          capture_output=True, text=True, timeout=60)


def test_subprocess_error_exit_2_no_traceback():
    p = _cli("--tau", "-1")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines()[-1].endswith("Expected `--tau` > 0, got -1")
    assert "Traceback" not in p.stderr and len(p.stderr.splitlines()) == 1


def test_main_command_is_fast_and_never_imports_torch_or_sympy():
    code = ("import runpy, sys, time; t = time.perf_counter(); "
            "sys.argv = ['bounds.evaluate', '--C', '100', '--tau', '0.5']\n"
            "try:\n    runpy.run_module('bounds.evaluate', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code\n"
            "print('MODULES', 'torch' in sys.modules, 'sympy' in sys.modules, "
            "'empirics' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "MODULES False False False"
    best = min(_timed() for _ in range(3))
    assert best < 1.0, f"python -m bounds.evaluate --C 100 --tau 0.5 took {best:.2f} s"


def _timed():
    t = time.perf_counter()
    p = _cli("--C", "100", "--tau", "0.5")
    assert p.returncode == 0 and p.stderr == ""
    return time.perf_counter() - t


def test_schedule_unit_flag(capsys):
    _, default, _ = run(["--C", "100", "--format", "json"], capsys)
    _, step, _ = run(["--C", "100", "--format", "json", "--schedule-unit", "step"], capsys)
    _, both, _ = run(["--C", "100", "--format", "json", "--schedule-unit", "step,epoch"],
                     capsys)
    d, s, b = json.loads(default)[0], json.loads(step)[0], json.loads(both)
    assert "schedule_unit" not in d  # the default output is unchanged
    assert s.pop("schedule_unit") == "step" and s == d
    assert [r["schedule_unit"] for r in b] == ["step", "epoch"]
    assert b[1]["sum_eta"] == pytest.approx(1.2 * 49 * (11 / 2 + 291 / 2))  # THEORY.md s13
    assert b[1]["sum_eta"] / b[0]["sum_eta"] - 1 == pytest.approx(0.0065, abs=5e-4)
    _, table, _ = run(["--C", "100", "--schedule-unit", "step,epoch"], capsys)
    assert table.splitlines()[0].split()[:3] == ["rule", "schedule", "unit"]
    assert "schedule_unit=step" in table
    _, table, _ = run(["--C", "100"], capsys)
    assert "schedule_unit" not in table and " unit " not in table.splitlines()[0]


@pytest.mark.parametrize("argv,needle", [
    (["--schedule-unit", "month"], "Expected `--schedule-unit` among step, epoch, got 'month'"),
    (["--schedule-unit", "epoch", "--N", "1000", "--B", "64", "--steps", "100",
      "--sum-eta", "-1"], "Expected `--sum-eta` >= 0, got -1"),
])
def test_schedule_unit_usage_errors(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err.splitlines()[-1]


def test_schedule_unit_analysis_says_which_unit(capsys):
    _, out, _ = run(["--C", "100", "--format", "analysis", "--schedule-unit", "epoch"], capsys)
    assert "--schedule-unit epoch applies to the other formats" in out


# -- issue 20: a table of bad values, every one answered by exit 2 and one stderr line --------
NUMERIC_FLAGS = ["--C", "--tau", "--B", "--epochs", "--N", "--steps", "--lr", "--warmup-epochs",
                 "--delta", "--pi-max", "--n-max", "--N-ref", "--sum-eta", "--K-norm",
                 "--sigma-a", "--G", "--beta", "--saturation"]
#: Bad for every numeric flag: non-numeric, empty, an empty list item, a lone comma, hex,
#: NaN, +-inf, beyond float range, negative, denormal.
BAD_EVERYWHERE = ["abc", "", "10,,100", ",", "0x10", "nan", "inf", "-inf", "1e309", "-1",
                  "-1e-3", "1e-320"]
#: Bad for some flags only: zero (a valid lr, warm-up, S), huge (valid for tau, lr, S, the
#: normalisers and Theorem 2's constants; beyond 2**53 for counts), a fraction for counts.
BAD_SOME = {"0": set(NUMERIC_FLAGS) - {"--lr", "--warmup-epochs", "--sum-eta"},
            "1e300": {"--C", "--B", "--epochs", "--N", "--steps", "--warmup-epochs", "--delta",
                      "--pi-max", "--n-max", "--N-ref", "--saturation"},
            "2.5": {"--C", "--B", "--epochs", "--N", "--steps", "--warmup-epochs", "--n-max",
                    "--N-ref", "--delta", "--pi-max", "--saturation"}}
_PAIRED = {"--G": ["--beta", "1"], "--beta": ["--G", "1"]}
BAD_TABLE = [(f, v) for f in NUMERIC_FLAGS for v in BAD_EVERYWHERE] + [
    (f, v) for v, flags in BAD_SOME.items() for f in NUMERIC_FLAGS if f in flags]


def _names(flag: str, value: str, line: str) -> bool:
    """``line`` names the argument (``--pi-max``, ``pi_max``, or ``T`` after ``argument
    --steps``) and the value, as typed or as Python prints that float."""
    body = "[-_ ]".join(re.escape(p) for p in re.split(r"[-_]", flag.lstrip("-")))
    named = re.search(rf"(?<!\w)(?:--)?{body}(?!\w)", line)
    forms = {value, "''" if value == "" else value}
    try:
        f = float(value)
        forms |= {repr(f), f"{f:g}"} | ({str(int(f))} if f.is_integer() else set())
    except ValueError:
        pass
    return bool(named) and any(v and v in line for v in forms)


@pytest.mark.parametrize("flag,value", BAD_TABLE, ids=[f"{f}={v}" for f, v in BAD_TABLE])
def test_bad_value_table(flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main([flag, value, *_PAIRED.get(flag, [])])
    out = capsys.readouterr()
    assert exc.value.code == 2 and out.out == ""
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m bounds.evaluate: error: "), lines
    assert _names(flag, value, lines[0]), lines[0]


@pytest.mark.parametrize("argv,needle", [
    # issue 20: impossible priors gave a smaller, invalid Delta and Theorem 1
    (["--C", "10", "--pi-max", "0.001"], "got pi_max=0.001, C=10"),
    (["--C", "10", "--N", "50000", "--n-max", "4999"], "got n_max=4999, N=50000, C=10"),
    (["--C", "100,2", "--pi-max", "0.3"], "got pi_max=0.3, C=2"),
    (["--steps", "1e16"], "argument --steps: Expected `T` to be an integer <= 2**53"),
    (["--N", "9007199254740992", "--B", "2"], "epochs=300, N=9007199254740992, B=2"),
    (["--lr", "1e307"], "base rate within float range, got lr=1e+307, B=1024"),
    (["--lr", "1e300", "--lr-rule", "constant", "--schedule", "constant", "--steps", "1e10"],
     "sum of rates S is finite, got lr=1e+300"),
    (["--format", "analysis", "--saturation", "1e-320"],
     "Expected `--saturation` not subnormal"),
    (["--lr-rule", "linear,,sqrt"], "argument --lr-rule: Expected `lr_rule` to be a comma "
                                    "list without empty items, got 'linear,,sqrt'"),
    (["--schedule-unit", ","], "argument --schedule-unit: Expected `schedule_unit` to be a "
                               "comma list without empty items, got ','"),
    (["--format", ""], "Expected `--format` among table, json, csv, latex, analysis, got ''"),
    (["--loss-form", "x"], "Expected `--loss-form` among paper, tight, balanced, "
                           "balanced-linear, got 'x'"),
    (["--tau", "-1e-3"], "Expected `--tau` > 0, got -0.001"),  # a negative number is a value
    (["--tau", "-inf"], "Expected `--tau` to be finite, got -inf"),
    (["--tight=1"], "argument --tight: ignored explicit argument '1'"),
])
def test_bad_combinations(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and needle in err, err


@pytest.fixture(scope="module")
def bad_features(tmp_path_factory):
    d = tmp_path_factory.mktemp("features")
    x = np.random.default_rng(0).normal(size=(12, 3))
    np.save(d / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(d / "complex.npy", x.astype(complex))
    np.save(d / "flags.npy", x > 0)
    np.savez(d / "arch.npz", a=x)
    (d / "arch.npz").rename(d / "archive.npy")
    (d / "empty.npy").write_bytes(b"")
    np.save(d / "ok.npy", x)
    np.save(d / "equal.npy", np.ones((6, 3)))
    return d


@pytest.mark.parametrize("name,needle", [
    ("text.npy", "Expected `--features` of real numbers (integers or floats), got dtype <U1"),
    ("complex.npy", "got dtype complex128"),
    ("flags.npy", "got dtype bool"),
    ("archive.npy", "(an .npz archive)"),
    ("empty.npy", "(EOFError)"),
    (".", "(IsADirectoryError)"),
])
def test_bad_feature_files(name, needle, bad_features, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--features", str(bad_features / name)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and needle in err, err


def test_features_with_N_ref_is_refused_and_a_degenerate_file_warns_in_one_line(
        bad_features, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--features", str(bad_features / "ok.npy"), "--N-ref", "500"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "argument --N-ref: not allowed with argument --features" in err and "500" in err
    assert main(["--features", str(bad_features / "equal.npy"), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert out.err == ("python -m bounds.evaluate: warning: All pairwise cosines are equal: "
                       "sigma_a is 0, the RSA normaliser is undefined (NaN)\n")
    assert json.loads(out.out)[0]["sigma_a"] is None


#: Valid extremes: exit 0, nothing on stderr (no numpy warning), every number right or null
#: with its log10_ twin.
@pytest.mark.parametrize("argv", [
    ["--tau", "1e154"], ["--tau", "1e300"], ["--tau", "1e-300"], ["--tau", "2.3e-308"],
    ["--lr", "0"], ["--lr", "1e300"], ["--lr", "1e-300"], ["--steps", "1000000000000"],
    ["--steps", "9007199254740992", "--schedule-unit", "epoch"], ["--B", "2", "--steps", "1e6"],
    ["--sum-eta", "1e300", "--steps", "10"], ["--delta", "1e-300"], ["--G", "1e300",
                                                                       "--beta", "1e300"],
    ["--tau", "1e-300", "--lr", "1e300"], ["--N", "2", "--B", "2"],
])
@pytest.mark.parametrize("fmt", ["table", "json", "analysis"])
def test_valid_extremes_answer_without_warnings(argv, fmt, capsys):
    assert main([*argv, "--format", fmt]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out
    if fmt == "json":
        for r in json.loads(out.out):
            for k in ("sim_gap", "sim_gap_product", "Delta", "rho_bound", "r_bound"):
                lk = r.get("log10_" + k)
                if r[k] is not None and r[k] > 0 and lk is not None:  # value and twin agree
                    assert math.log10(r[k]) == pytest.approx(lk, rel=1e-12, abs=1e-12)
            if r["log10_sim_gap"] is not None and r["log10_sim_gap_product"] is not None:
                assert r["log10_sim_gap_product"] <= r["log10_sim_gap"]


def test_extreme_temperatures_give_the_right_numbers(capsys):
    """Issue 20: Thm1_product was NaN from --tau 1e154 on. At huge tau both bounds are
    Delta S/(tau sqrt B) (the exponent is 0 to float precision); at tau = 1e-300 Theorem 1's
    logarithm is beyond float range (null), the product form's is not."""
    main(["--tau", "1e154,1e300", "--format", "json"])
    for r in json.loads(capsys.readouterr().out):
        want = math.log10(r["Delta"] * r["sum_eta"] / (r["tau"] * 32.0))
        assert r["log10_sim_gap"] == pytest.approx(want, rel=1e-13)
        assert r["log10_sim_gap_product"] == pytest.approx(want, rel=1e-13)
    main(["--tau", "1e-300", "--format", "json"])
    r = json.loads(capsys.readouterr().out)[0]
    assert r["sim_gap"] is None and r["log10_sim_gap"] is None and not r["vacuous_sim_gap"]
    assert r["log10_sim_gap_product"] == pytest.approx(r["log10_Delta"], rel=1e-12)
    assert r["cka_lower"] == 0 and r["vacuous_cka"]


def test_huge_T_table_shows_magnitudes(capsys):
    assert main(["--steps", "1000000000000"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "1000000000000" in row and "e+508938858" in row and "nan" not in row
    assert main(["--tau", "1e-300"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "10^8.686e+299" in row and len(row) < 200


@pytest.mark.parametrize("args,code", [(("--tau", "1e-320"), 2),
                                       (("--tau", "-inf"), 2),
                                       (("--steps", "1000000000000"), 0)])
def test_subprocess_no_warning_or_traceback_reaches_stderr(args, code):
    """Issue 20: two numpy RuntimeWarning lines (with source lines) came before the error of
    --tau 1e-320; --steps 1000000000000 tried to allocate 7.28 TiB."""
    t = time.perf_counter()
    p = _cli(*args)
    assert time.perf_counter() - t < 10
    assert p.returncode == code, p.stderr
    if code == 0:
        assert p.stderr == "" and p.stdout
    else:
        assert p.stdout == "" and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        assert args[1] in p.stderr and "tau" in p.stderr


def test_the_parser_is_generated_from_the_declarations(capsys):
    """Every field of the two Options classes is a flag of ``build_parser()``, the API
    evaluates the same grid as the command line, and the defaults are the paper's."""
    from bounds.evaluate import EvaluateCommand, EvaluateOptions, build_parser, records

    flags = {s for a in build_parser()._actions for s in a.option_strings}
    for cls in (EvaluateOptions, EvaluateCommand):
        assert {flag for flag, _, _ in cls.describe()} <= flags
    opts = EvaluateOptions(C=(10, 100), tau=(0.5,))
    assert opts.C == (10.0, 100.0) and list(opts.grid())[:2] == ["C", "tau"]
    assert EvaluateOptions(steps=(1000,)).grid()["T"] == (1000.0,)  # the API's name of steps
    assert main(["--C", "10,100", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    api = records(opts)
    assert [r["C"] for r in cli] == [r["C"] for r in api] == [10, 100]
    assert [r["sim_gap"] for r in cli] == [r["sim_gap"] for r in api]
    with pytest.raises(ValueError, match="`C` to be a comma list of numbers, got ''"):
        EvaluateOptions(C=())
