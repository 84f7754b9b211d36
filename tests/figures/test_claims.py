"""figures/claims.py on a claims study made of the fixture runs: the [P1] panels' titles do
not run into each other, a zero gap is shown, and the bands average over seeds only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from figures import claims as cf
from figures import io, style
from figures.selection import FigureInputError


def study_of(path, runs, table_rows):
    """A ClaimsStudy whose C7 groups real and synthetic both list ``runs`` (under path)."""
    manifest = pd.DataFrame([{"claim": "C7", "setting": g, "seed": r.config["seed"],
                              "run_dir": r.path.name, "status": "ok"}
                             for g in ("real", "synthetic") for r in runs])
    table = pd.DataFrame([{"claim": "C7", "setting": s, "statistic": "x", "estimate": e,
                           "ci_low": lo, "ci_high": hi, "n_seeds": 5, "verdict": v,
                           "paper": "+"} for s, e, lo, hi, v in table_rows])
    return cf.ClaimsStudy(path, table, manifest)


ROWS = [("real/loss_gap", -0.894, -1.11, -0.683, "holds"),
        ("synthetic/loss_gap", -0.0503, -0.0538, -0.0468, "holds"),
        ("all-runs/slack", 0.314, 0.102, 0.526, "holds")]


def test_p1_panel_titles_do_not_overlap(fixture_cache, fixture_runs):
    runs = fixture_runs["classes"]
    study = study_of(fixture_cache, runs, ROWS)
    with style.style():
        fig = cf.figure_p1(study)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        left, right = (ax.title.get_window_extent(renderer) for ax in fig.axes[:2])
        assert left.x1 < right.x0, (left, right)  # side by side, apart
        page = fig.bbox
        for box in (left, right):
            assert page.x0 <= box.x0 and box.x1 <= page.x1
        for ax, g in zip(fig.axes[:2], ("real", "synthetic"), strict=True):
            assert f"C7 {g}/loss_gap" in ax.get_title() and "1 seed" in ax.get_title()
    finally:
        plt.close(fig)


def test_bands_refuse_runs_that_differ_in_more_than_the_seed(fixture_runs):
    fig, ax = plt.subplots()
    try:
        with pytest.raises(FigureInputError, match=r"tau \("):
            cf.plot_band(ax, fixture_runs["tau"], "cl-nscl", "cka", split="test",
                         features="h", color="#000000", label="x")
        cf.plot_band(ax, fixture_runs["base"], "cl-nscl", "cka", split="test",
                     features="h", color="#000000", label="x")
        assert ax.get_lines()[0].get_label() == "x (n=1)"
    finally:
        plt.close(fig)


def test_a_run_without_the_pair_is_refused_by_the_band(fixture_runs):
    run = fixture_runs["base"][0]
    alone = io.Run(run.path, "train", {**run.config, "objectives": ["cl"]},
                   run.metrics.iloc[0:0], run.losses, run.bounds)
    fig, ax = plt.subplots()
    try:
        with pytest.raises(FigureInputError, match="cl alone"):
            cf.plot_band(ax, [alone], "cl-nscl", "cka", split="test", features="h",
                         color="#000000", label="x")
    finally:
        plt.close(fig)


def test_a_title_names_the_row_of_the_drawn_statistic(tmp_path):
    rows = [("real/h/cka_linear", 0.1, 0.0, 0.2, "holds"), ("real/h/cka", 0.3, 0.2, 0.4,
                                                          "unstable"),
            ("real/hx", 9.0, 8.0, 10.0, "holds"), ("base/test/h/cka_linear", 1, 0, 2, "holds"),
            ("base/test/h/cka", 5, 4, 6, "reversed")]
    study = cf.ClaimsStudy(tmp_path, pd.DataFrame([
        {"claim": "C2", "setting": s, "estimate": e, "ci_low": lo, "ci_high": hi,
         "verdict": v} for s, e, lo, hi, v in rows]), None)
    assert cf._short(study, "C2", "real/h", "cka") == "C2 real/h/cka: +0.3 [+0.2, +0.4], unstable"
    assert cf._short(study, "C2", "real/h").startswith("C2 real/h/cka_linear")
    assert cf._short(study, "C2", "base/test/h/cka").startswith("C2 base/test/h/cka: +5")
    assert list(study.rows("C2", "real/h")["setting"]) == ["real/h/cka_linear", "real/h/cka"]


def test_the_summary_counts_every_verdict():
    table = pd.DataFrame([{"claim": "C1", "setting": str(i), "statistic": "s",
                           "estimate": 1.0, "ci_low": 0.5, "ci_high": 1.5, "n_seeds": 3,
                           "verdict": v, "paper": "+"}
                          for i, v in enumerate(["holds", "unstable", "absent", "odd"])])
    fig = cf.figure_summary(table)
    try:
        assert fig._suptitle.get_text().endswith(
            "1 holds, 0 reversed, 0 inconclusive, 1 absent, 1 unstable, 1 odd (of 4)")
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert legend[:6] == ["holds", "reversed", "inconclusive", "absent", "unstable", "odd"]
    finally:
        plt.close(fig)


def test_a_statistic_the_study_lacks_leaves_no_dangling_separator(fixture_cache, fixture_runs):
    study = study_of(fixture_cache, fixture_runs["classes"], ROWS[:2])  # no all-runs/slack
    with style.style():
        fig = cf.figure_p1(study)
    try:
        assert fig._suptitle.get_text() == "[P1]: CL-NSCL loss gap vs C with its bound"
    finally:
        plt.close(fig)
