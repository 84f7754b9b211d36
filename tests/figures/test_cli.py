"""python -m figures: every figure from the run cache, one-line errors, help, file modes,
and no torch or trainer when drawing from saved runs."""

import os
import shutil
import stat
import subprocess
import sys

import pytest

from empirics.runs import RunResult
from empirics.studies import plan as runs
from figures import __main__ as cli

TINY = ["--size", "tiny", "--no-run", "--formats", "png", "--dpi", "30"]


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def test_all_from_cache(fixture_cache, tmp_path, capsys):
    rc = cli.main(["all", *TINY, "--cache", str(fixture_cache), "--out", str(tmp_path)])
    assert rc == 0
    for name in cli.FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    captured = capsys.readouterr()
    assert "done in" in captured.out
    # nothing on stderr: no warning (numpy's, matplotlib's) leaks from any figure
    assert [ln for ln in captured.err.splitlines() if not ln.startswith(("accuracy:",
                                                                         "merging:"))] == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_one_figure_by_alias_png_and_pdf(fixture_cache, tmp_path):
    rc = cli.main(["p1", "--size", "tiny", "--cache", str(fixture_cache), "--no-run",
                   "--out", str(tmp_path), "--dpi", "30"])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1-loss-gap.pdf",
                                                          "p1-loss-gap.png"]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_figure_files_honour_the_umask(fixture_cache, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        rc = cli.main(["fig6", *TINY, "--formats", "png,pdf", "--cache", str(fixture_cache),
                       "--out", str(tmp_path)])
    finally:
        os.umask(old)
    assert rc == 0
    for fmt in ("png", "pdf"):
        assert stat.S_IMODE((tmp_path / f"fig6-weight-gap.{fmt}").stat().st_mode) == mode


def test_a_redrawn_figure_keeps_its_files_mode(fixture_cache, tmp_path):
    argv = ["fig6", *TINY, "--cache", str(fixture_cache), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    png = tmp_path / "fig6-weight-gap.png"
    png.chmod(0o604)
    assert cli.main(argv) == 0
    assert stat.S_IMODE(png.stat().st_mode) == 0o604


def test_missing_run_with_no_run_is_one_line_naming_it(tmp_path, tiny_plan, capsys):
    rc = cli.main(["fig1", *TINY, "--out", str(tmp_path)])
    assert rc == 2
    err = one_error_line(capsys.readouterr().err)
    assert str(runs.run_path(tmp_path / "runs", tiny_plan.base)) in err
    assert not (tmp_path / "runs").exists()  # --no-run creates no cache


def test_a_failed_run_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    def failing(specs, root, *, on_result, **kw):
        return [RunResult(s.dirname(), runs.run_path(root, s), "failed", "ValueError: boom")
                for s in specs]

    monkeypatch.setattr(runs, "launch", failing)
    rc = cli.main(["fig6", "--size", "tiny", "--out", str(tmp_path)])
    assert rc == 1
    err = capsys.readouterr().err.splitlines()
    assert "boom" in err[-1] and "error.txt" in err[-1]


@pytest.mark.parametrize("argv,msg", [
    (["fig9"], "'fig9'"),
    (["all", "--formats", "gif"], "'gif'"),
    (["all", "--formats", ","], "--formats"),
    (["all", "--workers", "0"], "--workers"),
    (["all", "--dpi", "5"], "--dpi"),
    (["all", "--size", "huge"], "huge"),
    (["all", "--device", "tpu"], "tpu"),
])
def test_usage_errors(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert msg in one_error_line(capsys.readouterr().err)


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for out in (f, f / "sub"):
        with pytest.raises(SystemExit) as e:
            cli.main(["landscape", "--out", str(out)])
        assert e.value.code == 2
        err = one_error_line(capsys.readouterr().err)
        assert "`--out`" in err and str(f) in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a user that folder permissions apply to")
def test_out_that_cannot_be_written_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(SystemExit) as e:
            cli.main(["landscape", "--out", str(ro)])
    finally:
        ro.chmod(0o700)
    assert e.value.code == 2
    assert "permission denied" in one_error_line(capsys.readouterr().err)


def test_cache_that_is_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "cache"
    f.write_text("x")
    rc = cli.main(["fig6", "--size", "tiny", "--cache", str(f), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "`--cache`" in one_error_line(capsys.readouterr().err)


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.FIGURES)


def test_module_entry_point_usage_error():
    r = subprocess.run([sys.executable, "-m", "figures", "nope"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "'nope'" in one_error_line(r.stderr)


# --------------------------------------------------------------------------- help
def test_every_flag_has_a_description_naming_its_default():
    p = cli._parser()
    fmt = p._get_formatter()
    flags = [a for a in p._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in flags} >= {"out", "quick", "size", "cache", "dataset", "device",
                                       "workers", "no_run", "runs", "formats", "dpi"}
    for action in flags:
        text = " ".join(fmt._expand_help(action).split())
        assert len(text) > 30, action.dest
        assert "(default: " in text, f"{action.option_strings[0]}: {text}"
        if action.default not in (None, False):
            assert f"(default: {action.default})" in text, text
        if action.default is False:
            assert "(default: off" in text, text


def test_help_is_plain_text():
    r = subprocess.run([sys.executable, "-m", "figures", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0
    for rst in ("``", ":func:", ":mod:", ":class:", ".. "):
        assert rst not in r.stdout
    for name, alias in cli.ALIASES.items():
        assert name in r.stdout and alias in r.stdout
    assert "Exit status" in r.stdout


# --------------------------------------------------------------------------- --runs
def _runs_dir(tmp_path, fixture_runs):
    d = tmp_path / "given"
    shutil.copytree(fixture_runs["base"][0].path, d / "base")
    return d


def test_runs_folder_draws_without_the_plan(tmp_path, fixture_runs):
    d = _runs_dir(tmp_path, fixture_runs)
    rc = cli.main(["fig6", "--runs", str(d), "--out", str(tmp_path / "o"), "--formats", "png",
                   "--dpi", "30"])
    assert rc == 0 and (tmp_path / "o" / "fig6-weight-gap.png").exists()


def test_runs_without_the_needed_kind_is_one_line(tmp_path, fixture_runs, capsys):
    d = _runs_dir(tmp_path, fixture_runs)
    assert cli.main(["bvm", "--runs", str(d), "--out", str(tmp_path / "o")]) == 2
    assert "surrogate runs" in one_error_line(capsys.readouterr().err)


def test_runs_results_csv_without_run_dir_is_one_line(tmp_path, capsys):
    (tmp_path / "results.csv").write_text("name,status\na,ok\n")
    rc = cli.main(["fig3", "--runs", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "results.csv") in err and "run_dir" in err


def test_runs_with_a_corrupt_config_is_one_line(tmp_path, fixture_runs, capsys):
    d = _runs_dir(tmp_path, fixture_runs)
    (d / "base" / "config.json").write_text("{not json")
    assert cli.main(["fig6", "--runs", str(d), "--out", str(tmp_path / "o")]) == 2
    assert str(d / "base" / "config.json") in one_error_line(capsys.readouterr().err)


def test_runs_with_garbage_metrics_is_one_line_naming_the_line(tmp_path, fixture_runs, capsys):
    d = _runs_dir(tmp_path, fixture_runs)
    metrics = d / "base" / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[:-40])  # the last row cut in half
    assert cli.main(["fig6", "--runs", str(d), "--out", str(tmp_path / "o")]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert f"{metrics}, line " in err


def test_a_corrupt_cached_run_is_one_line(tmp_path, fixture_cache, tiny_plan, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(fixture_cache, cache)
    metrics = runs.run_path(cache, tiny_plan.base) / "metrics.csv"
    metrics.write_text("step,pair\nx,cl-nscl\n")
    rc = cli.main(["fig6", *TINY, "--cache", str(cache), "--out", str(tmp_path / "o")])
    assert rc == 2
    # The runs layer's done rule may refuse the run as unfinished (--no-run: missing), or
    # the reader as unreadable (the file and line): either way one line naming the run.
    assert str(metrics.parent) in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- torch-free
BLOCKER = """
import runpy, sys
FORBIDDEN = ("torch", "empirics.training.trainer", "empirics.training.lockstep")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name in FORBIDDEN or name.startswith("torch."):
            raise ImportError(f"blocked import of {name}")
sys.meta_path.insert(0, Block())
"""


def test_drawing_from_saved_runs_loads_neither_torch_nor_the_trainer(fixture_cache, tmp_path):
    code = BLOCKER + """
sys.argv = ["figures", *sys.argv[1:]]
try:
    runpy.run_module("figures", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    assert exc.code == 0, exc.code
loaded = [m for m in sys.modules if m == "torch" or m.startswith(("torch.",
          "empirics.training.trainer"))]
assert not loaded, loaded
"""
    r = subprocess.run([sys.executable, "-c", code, "all", *TINY, "--cache", str(fixture_cache),
                        "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "bound-vs-measured.png").exists()


def test_importing_figures_loads_neither_torch_nor_the_trainer():
    code = BLOCKER + """
import empirics.studies.plan, figures, figures.__main__, figures.io, figures.style
import figures.training, figures.sweeps, figures.measured, figures.landscapes
empirics.studies.plan.gallery_plan("tiny").all_specs()  # plans and keys resolve without torch
assert "torch" not in sys.modules and "empirics.training.trainer" not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
