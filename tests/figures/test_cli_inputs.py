"""python -m figures against bad input: every subcommand, a table of bad values, conflicting
sources of runs, figures that would pool a hidden setting, --dpi, warnings as one line.

Each bad call must answer with exit status 2 and ONE stderr line naming the argument and
the value (or the file), no traceback; ``main(argv)`` runs in process for speed.
"""

from __future__ import annotations

import json
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from figures import __main__ as cli
from figures import style, training

SMALL = dict(dataset="synthetic", train_size=256, test_size=64, reference_size=32,
             batch_size=32, steps=8, eval_every=4, warmup_steps=2, objectives=["cl", "nscl"])


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def call(argv) -> tuple[int, str]:
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    return rc, ""


def refused(argv, capsys) -> str:
    """Run ``argv``; assert exit 2, one stderr line, no traceback; return the line."""
    rc, _ = call(argv)
    err = capsys.readouterr().err
    assert rc == 2, (argv, rc, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("python -m figures: error: "), err
    return err.strip()


@pytest.fixture(scope="module")
def places(tmp_path_factory, write_run):
    """Folders and files the table points at."""
    root = tmp_path_factory.mktemp("bad")
    afile = root / "afile"
    afile.write_text("x")
    corrupt = root / "corrupt"
    write_run(corrupt / "run", {**SMALL, "classes": 4})
    (corrupt / "run" / "config.json").write_text("{not json")
    nocol = root / "nocol"
    nocol.mkdir()
    (nocol / "results.csv").write_text("name,status\na,ok\n")
    dangling = root / "dangling"
    dangling.mkdir()
    (dangling / "results.csv").write_text("name,status,run_dir\na,ok,runs/missing\n")
    empty = root / "empty"
    empty.mkdir()
    badclaims = root / "badclaims"
    badclaims.mkdir()
    (badclaims / "claims.csv").write_text("claim,setting\nC1,a\n")
    sweep = root / "sweep"  # classes x tau: Fig. 3 would average over tau
    for C in (4, 8):
        for tau in (0.5, 1.0):
            write_run(sweep / f"C{C}-tau{tau}", {**SMALL, "classes": C, "tau": tau})
    return {"file": afile, "corrupt": corrupt, "nocol": nocol, "dangling": dangling,
            "empty": empty, "badclaims": badclaims, "sweep": sweep, "root": root}


# (argv, words the one line must hold); {name} is a path of `places`.
TABLE = [
    (["fig9"], ["`name`", "'fig9'"]),
    (["fig9", "--claims", "{empty}"], ["`name`", "'fig9'"]),
    (["bvm", "--claims", "{empty}"], ["with `--claims`", "'bound-vs-measured'"]),
    (["landscape", "--out", "{file}"], ["`--out`", "{file}"]),
    (["landscape", "--out", "{file}/sub"], ["`--out`", "{file}"]),
    # a folder no user can create, root included (sysfs)
    *([(["landscape", "--out", "/sys/figures-out"], ["`--out`", "'/sys/figures-out'"])]
      if sys.platform.startswith("linux") else []),
    (["landscape", "--out", ""], ["`--out`", "''"]),
    (["landscape", "--out", "  "], ["`--out`", "'  '"]),
    (["landscape", "--dpi", "0"], ["`--dpi`", "10..600", "got 0"]),
    (["landscape", "--dpi", "-1"], ["`--dpi`", "got -1"]),
    (["landscape", "--dpi", "nan"], ["--dpi", "'nan'"]),
    (["landscape", "--dpi", "inf"], ["--dpi", "'inf'"]),
    (["landscape", "--dpi", "1e3"], ["--dpi", "'1e3'"]),
    (["landscape", "--dpi", "100000"], ["`--dpi`", "got 100000"]),
    (["landscape", "--dpi", "601"], ["`--dpi`", "got 601"]),
    (["landscape", "--dpi", ""], ["--dpi", "''"]),
    (["landscape", "--formats", "gif"], ["`--formats`", "'gif'"]),
    (["landscape", "--formats", "png,jpg"], ["`--formats`", "'png,jpg'"]),
    (["landscape", "--formats", ","], ["`--formats`", "','"]),
    (["landscape", "--formats", ""], ["`--formats`", "''"]),
    (["landscape", "--formats", "png,,pdf"], ["`--formats`", "'png,,pdf'"]),
    (["landscape", "--workers", "0"], ["`--workers`", "0"]),
    (["landscape", "--workers", "x"], ["--workers", "'x'"]),
    (["landscape", "--size", "huge"], ["--size", "'huge'"]),
    (["landscape", "--device", "tpu"], ["--device", "'tpu'"]),
    (["landscape", "--dataset", "cifar10"], ["--dataset", "'cifar10'"]),
    *([(["fig1", "--device", "cuda", "--size", "tiny"], ["`--device`", "'cuda'"])]
      if not _cuda_available() else []),
    (["fig5", "--runs", "{root}/nowhere"], ["`--runs`", "{root}/nowhere"]),
    (["fig5", "--runs", "{file}"], ["`--runs`", "{file}"]),
    (["fig5", "--runs", "{empty}"], ["`--runs`", "{empty}"]),
    (["fig5", "--runs", "{corrupt}"], ["{corrupt}/run/config.json"]),
    (["fig5", "--runs", "{nocol}"], ["{nocol}/results.csv", "run_dir"]),
    (["fig5", "--runs", "{dangling}"], ["{dangling}/results.csv", "line 2", "runs/missing"]),
    (["claims", "--claims", "{root}/nowhere"], ["{root}/nowhere/claims.csv"]),
    (["claims", "--claims", "{empty}"], ["{empty}/claims.csv"]),
    (["claims", "--claims", "{badclaims}"], ["{badclaims}/claims.csv", "'statistic'"]),
    (["claims"], ["`--claims DIR`"]),
    # one source of runs per call (item 1), the plan's options only with the plan (item 2)
    (["fig5", "--claims", "{empty}", "--runs", "{sweep}"],
     ["`--claims`", "{empty}", "`--runs`", "{sweep}"]),
    (["all", "--claims", "{empty}", "--runs", "{sweep}"], ["`--claims`", "`--runs`"]),
    (["fig5", "--runs", "{sweep}", "--cache", "{root}/c"], ["`--runs`", "`--cache`",
                                                             "{root}/c"]),
    (["fig5", "--runs", "{sweep}", "--dataset", "digits"], ["`--runs`", "`--dataset`",
                                                             "'digits'",
                                                             "--select dataset=digits"]),
    (["fig5", "--runs", "{sweep}", "--quick"], ["`--runs`", "`--quick`"]),
    (["fig5", "--runs", "{sweep}", "--size", "tiny"], ["`--runs`", "`--size`", "'tiny'"]),
    (["fig5", "--runs", "{sweep}", "--device", "cpu"], ["`--runs`", "`--device`", "'cpu'"]),
    (["fig5", "--runs", "{sweep}", "--workers", "2"], ["`--runs`", "`--workers`", "2"]),
    (["fig5", "--runs", "{sweep}", "--executor", "local"], ["`--runs`", "`--executor`",
                                                             "'local'"]),
    (["landscape", "--executor", "mpi"], ["`--executor`", "'mpi'"]),
    (["landscape", "--select", "tau=1,,x"], ["--select", "'tau=1,,x'"]),
    (["fig5", "--claims", "{empty}", "--cache", "{root}/c"], ["`--claims`", "`--cache`"]),
    (["fig5", "--claims", "{empty}", "--quick"], ["`--claims`", "`--quick`"]),
    (["all", "--quick", "--size", "full"], ["`--quick`", "`--size`", "'full'"]),
    (["fig3", "--select", "tau=0.5"], ["`--select`", "'tau=0.5'", "`--runs`"]),
    (["fig3", "--runs", "{sweep}", "--select", "tau"], ["`--select`", "'tau'"]),
    (["fig3", "--runs", "{sweep}", "--select", "tau=1", "--select", "tau=2"],
     ["`--select`", "tau"]),
    (["fig3", "--runs", "{sweep}", "--select", "tua=1"], ["`--select`", "'tua'"]),
    (["fig3", "--runs", "{sweep}", "--select", "tau=0.3"], ["`--select`", "tau = 0.3",
                                                            "0.5, 1.0"]),
    # a figure never averages over a setting it does not show (item 3)
    (["fig3", "--runs", "{sweep}"], ["fig3-classes", "classes = 4", "tau (0.5, 1.0)",
                                     "--select tau=VALUE"]),
    (["p1", "--runs", "{sweep}"], ["p1-loss-gap", "tau (0.5, 1.0)", "--select tau=VALUE"]),
    (["fig4", "--runs", "{sweep}"], ["fig4-tau", "classes (4, 8)", "--select classes="]),
    (["fig5", "--runs", "{sweep}"], ["fig5-batch", "classes (4, 8)"]),
]
NAMES = [*cli.FIGURES, *cli.ALIASES, "all", "claims"]


@pytest.mark.parametrize("argv,words", TABLE, ids=[" ".join(a) for a, _ in TABLE])
def test_bad_values_are_one_line_exit_2(places, tmp_path, capsys, argv, words):
    fill = {k: str(v) for k, v in places.items()}
    argv = [a.format(**fill) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    line = refused(argv, capsys)
    for w in words:
        assert w.format(**fill) in line, (w, line)


@pytest.mark.parametrize("name", [*NAMES, "list"])
def test_every_subcommand_checks_dpi_first(name, tmp_path, capsys):
    line = refused([name, "--dpi", "100000", "--out", tmp_path], capsys)
    assert "`--dpi`" in line and "100000" in line
    assert not list(tmp_path.iterdir())  # nothing written, nothing launched


@pytest.mark.parametrize("name", NAMES)
def test_every_subcommand_checks_out(name, places, capsys):
    extra = ["--claims", places["empty"]] if name == "claims" else []
    line = refused([name, "--out", places["file"], "--no-run", *extra], capsys)
    assert "`--out`" in line and str(places["file"]) in line


def test_select_keeps_one_tau_and_the_figures_draw(places, tmp_path, capsys):
    for name in ("fig3", "p1"):
        rc, _ = call([name, "--runs", places["sweep"], "--select", "tau=0.5", "--out",
                      tmp_path, "--formats", "png", "--dpi", "20"])
        captured = capsys.readouterr()
        assert rc == 0 and captured.err == "", captured.err
    assert (tmp_path / "fig3-classes.png").is_file() and (tmp_path / "p1-loss-gap.png").is_file()


def test_select_repeated_keeps_every_key(places, tmp_path, capsys):
    """--select KEY=VALUE repeated (or a comma list) selects on every key."""
    for extra in (["--select", "tau=0.5", "--select", "classes=4"],
                  ["--select", "tau=0.5,classes=4"]):
        rc, _ = call(["fig3", "--runs", places["sweep"], *extra, "--out", tmp_path,
                      "--formats", "png", "--dpi", "20"])
        assert rc == 0 and capsys.readouterr().err == ""
    line = refused(["fig3", "--runs", places["sweep"], "--select", "tau=0.5", "--select",
                    "tau=1.0", "--out", tmp_path], capsys)
    assert "`--select` tau once" in line


def test_the_parser_is_generated_from_the_declarations():
    """Every argument of python -m figures is a field of its Options classes (no flag
    declared by hand), the launch flags those of empirics.runs.LaunchOptions."""
    from empirics.runs import LaunchOptions

    fields = {f for cls in cli.CLASSES for f in cls.field_names()}
    dests = {a.dest for a in cli._parser()._actions if a.dest != "help"}
    assert dests == fields
    assert set(LaunchOptions.field_names()) <= fields
    assert issubclass(cli.Launch, LaunchOptions) and cli.Launch.field_names() == \
        LaunchOptions.field_names()


def test_help_documents_the_sources_and_the_ranges(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "10 to 600" in text and "--select KEY=VALUE" in text
    assert "refused with it" in text  # --runs: the plan's options
    assert "the plan's options and --runs are refused with it" in text  # --claims


# --------------------------------------------------------------------------- --dpi in the API
def test_save_refuses_a_dpi_outside_the_range_before_drawing(tmp_path):
    fig, _ = plt.subplots()
    for dpi, exc in ((100000, ValueError), (0, ValueError), (float("nan"), ValueError),
                     ("80", TypeError)):
        fig, _ = plt.subplots()
        with pytest.raises(exc, match="dpi"):
            style.save(fig, tmp_path, "x", formats=("png",), dpi=dpi)
    assert not list(tmp_path.iterdir())


def test_save_refuses_a_raster_too_large_to_draw(tmp_path):
    fig = plt.figure(figsize=(200, 100))  # 200 x 100 inches at 600 dpi: 7.2e9 pixels
    with pytest.raises(ValueError, match="120000 x 60000"):
        style.save(fig, tmp_path, "x", formats=("png",), dpi=600)
    fig = plt.figure(figsize=(200, 100))
    style.save(fig, tmp_path, "x", formats=("pdf",), dpi=600)  # vector: no raster
    assert (tmp_path / "x.pdf").is_file()


# --------------------------------------------------------------------------- warnings
def test_warnings_are_one_line_without_source(places, tmp_path_factory, write_run, tmp_path,
                                              capsys):
    """A run whose recorded sum of rates disagrees with its schedule: Appendix D says so in
    one warning line (Python's default adds the source line)."""
    folder = tmp_path_factory.mktemp("warn")
    run = write_run(folder / "run", {**SMALL, "classes": 4, "linearization_every": 4,
                                      "linearization_size": 16})
    summary = json.loads((run / "summary.json").read_text())
    summary["sum_eta"] = 2 * summary["sum_eta"]
    (run / "summary.json").write_text(json.dumps(summary))
    rc, _ = call(["appendix-d", "--runs", folder, "--out", tmp_path, "--formats", "png",
                  "--dpi", "20"])
    err = capsys.readouterr().err
    assert rc == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m figures: warning: "), err
    assert "schedule not rebuilt" in lines[0] and "warnings.warn" not in err


def test_a_band_over_seeds_with_a_step_no_seed_has_is_silent():
    values = np.array([[1.0, np.nan], [2.0, np.nan], [4.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" would raise here
        mean, half = training.t_band(values)
    assert mean[0] == pytest.approx(7 / 3) and np.isnan(mean[1]) and np.isnan(half[1])


def test_the_docs_give_the_dpi_range_of_the_code():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "figures.md").read_text()
    lo, hi = style.DPI_RANGE
    assert f"{lo} to {hi}" in text and f"outside {lo}..{hi}" in text
