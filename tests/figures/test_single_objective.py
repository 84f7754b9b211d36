"""Runs without pair rows draw, or are refused in one line naming the run and the pair.

The runs are fabricated in the real run-directory format (``conftest.write_train_run``, the
writer the trainer uses): one objective (``metrics.csv`` is its header alone, or an empty
file), some pairs only (``cl-scl``), pairs without CL (``nscl-scl``). Every figure that
reads runs is drawn from each with ``python -m figures NAME --runs DIR`` in process: exit
0 with nothing on stderr (no warning leaks), or exit 2 with one stderr line.
"""

from __future__ import annotations

import shutil

import pytest

from figures import __main__ as cli

SMALL = dict(dataset="synthetic", classes=4, train_size=256, test_size=64, reference_size=32,
             batch_size=32, steps=8, eval_every=4, warmup_steps=2)
FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "bvm", "p1")


@pytest.fixture(scope="module")
def folders(tmp_path_factory, write_run, fixture_runs):
    """``{name: folder}``: each folder holds one fabricated run and the tiny plan's
    (real) surrogate run, which bound-vs-measured needs beside it."""
    root = tmp_path_factory.mktemp("single")
    out = {}
    for name, objectives in (("cl", ["cl"]), ("nscl", ["nscl"]), ("cl-scl", ["cl", "scl"]),
                             ("nscl-scl", ["nscl", "scl"]), ("empty", ["cl"])):
        folder = root / name
        run = write_run(folder / "run", {**SMALL, "objectives": objectives})
        if name == "empty":
            (run / "metrics.csv").write_text("")  # not even a header
        shutil.copytree(fixture_runs["surrogate"][0].path, folder / "surrogate")
        out[name] = folder
    return out


def draw(name: str, folder, tmp_path, capsys, *extra: str) -> tuple[int, str]:
    rc = cli.main([name, "--runs", str(folder), "--out", str(tmp_path), "--formats", "png",
                   "--dpi", "20", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "warning" not in err, err
    if rc == 0:
        assert err == "", err
        assert (tmp_path / f"{cli.ALIASES[name]}.png").stat().st_size > 500
    else:
        assert rc == 2 and err.count("\n") == 1, err
    return rc, err


# What each figure answers for each kind of run: 0 (drawn) or the words its line holds.
NEEDS_CL_PAIRS = "pairs of CL with another objective"
NEEDS_CL_NSCL = "Expected cl-nscl rows"
EXPECTED = {
    "cl": {"fig1": NEEDS_CL_PAIRS, "fig2": NEEDS_CL_PAIRS, "fig6": NEEDS_CL_PAIRS,
           "fig3": NEEDS_CL_NSCL, "fig4": NEEDS_CL_NSCL, "fig5": NEEDS_CL_NSCL,
           "bvm": 0, "p1": 0},
    "nscl": {"fig1": NEEDS_CL_PAIRS, "fig2": NEEDS_CL_PAIRS, "fig6": NEEDS_CL_PAIRS,
             "fig3": NEEDS_CL_NSCL, "fig4": NEEDS_CL_NSCL, "fig5": NEEDS_CL_NSCL,
             "bvm": 0, "p1": 0},
    "cl-scl": {"fig1": 0, "fig2": 0, "fig6": 0, "fig3": NEEDS_CL_NSCL,
               "fig4": NEEDS_CL_NSCL, "fig5": NEEDS_CL_NSCL, "bvm": 0, "p1": 0},
    "nscl-scl": {"fig1": NEEDS_CL_PAIRS, "fig2": NEEDS_CL_PAIRS, "fig6": NEEDS_CL_PAIRS,
                 "fig3": NEEDS_CL_NSCL, "fig4": NEEDS_CL_NSCL, "fig5": NEEDS_CL_NSCL,
                 "bvm": 0, "p1": 0},
    "empty": {"fig1": NEEDS_CL_PAIRS, "fig2": NEEDS_CL_PAIRS, "fig6": NEEDS_CL_PAIRS,
              "fig3": NEEDS_CL_NSCL, "fig4": NEEDS_CL_NSCL, "fig5": NEEDS_CL_NSCL,
              "bvm": 0, "p1": 0},
}


# bound-vs-measured is the slowest to draw: two kinds of run are enough for it.
CASES = [(kind, name) for kind in EXPECTED for name in FIGURES
         if name != "bvm" or kind in ("cl", "nscl-scl")]


@pytest.mark.parametrize("kind,name", CASES)
def test_every_figure_draws_or_refuses_in_one_line(folders, tmp_path, capsys, kind, name):
    want = EXPECTED[kind][name]
    rc, err = draw(name, folders[kind], tmp_path, capsys)
    if want == 0:
        assert rc == 0, err
    else:
        assert rc == 2 and want in err, err
        assert str(folders[kind] / "run" / "metrics.csv") in err  # names the run


def test_only_some_pairs_draw_those(folders, tmp_path, capsys):
    from figures import io, style, training

    run = io.load_run(folders["cl-scl"] / "run")
    with style.style():
        fig = training.figure_alignment(run)
    labels = {ln.get_label() for ax in fig.axes for ln in ax.get_lines()}
    assert labels == {"CL vs SCL"}


def test_a_run_of_one_objective_still_shows_its_loss_gap(folders):
    import matplotlib.pyplot as plt

    from figures import io, measured, style

    run = io.load_run(folders["cl"] / "run")
    sur = io.load_run(folders["cl"] / "surrogate")
    with style.style():
        fig = measured.figure_bound_vs_measured(run, io.surrogate_trace(sur), surrogate=sur)
    try:
        network, p1 = fig.axes[2], fig.axes[5]
        assert "no cl-nscl rows in run/metrics.csv (objectives cl)" in \
            " ".join(t.get_text() for t in network.texts).replace("\n", " ")
        assert [ln.get_label() for ln in p1.get_lines()
                if not ln.get_label().startswith("_")] == ["CL encoder", "[P1] bound"]
    finally:
        plt.close(fig)


def test_a_mixed_folder_names_the_run_and_select_keeps_the_pairs(folders, tmp_path_factory,
                                                                 write_run, tmp_path, capsys):
    mixed = tmp_path_factory.mktemp("mixed")
    write_run(mixed / "pair", {**SMALL, "objectives": ["cl", "nscl"]})
    write_run(mixed / "alone", {**SMALL, "objectives": ["cl"], "classes": 8})
    rc, err = draw("fig3", mixed, tmp_path, capsys)
    assert rc == 2 and str(mixed / "alone" / "metrics.csv") in err
    rc, err = draw("fig3", mixed, tmp_path, capsys, "--select", "objectives=cl+nscl")
    assert rc == 0, err
