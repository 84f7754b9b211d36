"""figures/claims.py on a claims study made of the fixture runs: the claims path selects
runs and hands them to the gallery's builders, the [P1] panels' titles do not run into each
other and its title reads theorem_checks.csv, the bands average over seeds only, and the
summary shows the primaries apart, with their equivalence regions and replication."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from figures import claims as cf
from figures import io, style, training
from figures.selection import FigureInputError


def study_of(path, runs, table_rows, checks=None):
    """A ClaimsStudy whose C7 groups real and synthetic both list ``runs`` (under path)."""
    manifest = pd.DataFrame([{"claim": "C7", "setting": g, "seed": r.config["seed"],
                              "run_dir": r.path.name, "status": "ok"}
                             for g in ("real", "synthetic") for r in runs])
    table = pd.DataFrame([{"claim": "C7", "setting": s, "statistic": "x", "estimate": e,
                           "ci_low": lo, "ci_high": hi, "n_seeds": 5, "verdict": v,
                           "paper": "+"} for s, e, lo, hi, v in table_rows])
    return cf.ClaimsStudy(path, table, manifest, checks)


ROWS = [("real/loss_gap", -0.894, -1.11, -0.683, "holds"),
        ("synthetic/loss_gap", -0.0503, -0.0538, -0.0468, "holds")]
CHECKS = pd.DataFrame([{"check": "p1_bound", "rows": 1176, "violations": 0,
                        "worst_ratio": 0.7279},
                       {"check": "theorem2", "rows": 6, "violations": 0,
                        "worst_ratio": -251.9}])


def p1(study):
    build, _, _ = cf.CLAIMS_FIGURES["p1-loss-gap"]
    with style.style():
        return build(study)


def test_p1_panel_titles_do_not_overlap(fixture_cache, fixture_runs):
    runs = fixture_runs["classes"]
    fig = p1(study_of(fixture_cache, runs, ROWS))
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


def test_p1_title_reads_the_theorem_checks(fixture_cache, fixture_runs):
    fig = p1(study_of(fixture_cache, fixture_runs["classes"], ROWS, CHECKS))
    try:
        assert fig._suptitle.get_text() == ("[P1]: CL-NSCL loss gap vs C with its bound\n"
                                            "bound violated in 0 of 1176 evaluations, "
                                            "largest gap/bound 0.728")
    finally:
        plt.close(fig)


def test_the_claims_path_draws_the_gallerys_numbers(fixture_cache, fixture_runs):
    """The [P1] figure of a study is the gallery's builder on the study's runs: the same
    plotted numbers as the gallery's p1-loss-gap on those runs."""
    runs = fixture_runs["classes"]
    from figures import measured

    with style.style():
        ours, gallery = p1(study_of(fixture_cache, runs, ROWS)), measured.figure_p1(runs)
    try:
        for ax in ours.axes[:2]:
            mine = {c.get_label(): c.lines[0].get_ydata() for c in ax.containers}
            theirs = {c.get_label(): c.lines[0].get_ydata() for c in gallery.axes[0].containers}
            assert mine.keys() == theirs.keys() and mine
            for k in mine:
                np.testing.assert_array_equal(mine[k], theirs[k])
    finally:
        plt.close(ours)
        plt.close(gallery)


def test_bands_refuse_runs_that_differ_in_more_than_the_seed(fixture_runs):
    fig, ax = plt.subplots()
    try:
        with pytest.raises(FigureInputError, match=r"tau \("):
            training.plot_series(ax, fixture_runs["tau"], "cl-nscl", "cka", split="test",
                                 features="h", color="#000000", label="x")
        training.plot_series(ax, fixture_runs["base"], "cl-nscl", "cka", split="test",
                             features="h", color="#000000", label="x")
        assert ax.get_lines()[0].get_label() == "x"
        assert not ax.collections  # one seed: no band
    finally:
        plt.close(fig)


def test_a_band_over_seeds_is_the_t_interval(fixture_runs, write_run, tmp_path):
    """Three seeds of one setting: the line is their mean, the band mean +- t * sd / sqrt(n)."""
    from scipy import stats

    base = fixture_runs["classes"][0]
    runs = [io.load_run(write_run(tmp_path / f"s{s}", {**base.config, "seed": s}))
            for s in range(3)]
    fig, ax = plt.subplots()
    try:
        training.plot_series(ax, runs, "cl-nscl", "cka", split="test", features="h",
                             color="#000000", label="x")
        values = np.array([io.pair_series(r, "cl-nscl", "cka", split="test",
                                          features="h")["value"] for r in runs])
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), values.mean(axis=0))
        half = stats.t.ppf(0.975, 2) * values.std(axis=0, ddof=1) / np.sqrt(3)
        top = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert np.isclose(top.max(), (values.mean(axis=0) + half).max())
    finally:
        plt.close(fig)


def test_a_run_without_the_pair_is_refused_by_the_band(fixture_runs):
    run = fixture_runs["base"][0]
    alone = io.Run(run.path, "train", {**run.config, "objectives": ["cl"]},
                   run.metrics.iloc[0:0], run.losses, run.bounds)
    fig, ax = plt.subplots()
    try:
        with pytest.raises(FigureInputError, match="cl alone"):
            training.plot_series(ax, [alone], "cl-nscl", "cka", split="test", features="h",
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


def test_every_verdict_of_the_rule_has_its_own_colour():
    verdicts = ("holds", "reversed", "absent", "inconclusive", "unstable", "descriptive")
    assert set(verdicts) <= set(style.VERDICT_COLORS)
    assert len({style.VERDICT_COLORS[v] for v in verdicts}) == len(verdicts)


def _roles_table():
    """Two claims: a primary and a secondary each (as claims.csv writes them)."""
    rows = []
    for claim, est, delta, verdict, rep in (
            ("C1", 0.115, 0.185, "unstable",
             "discovery holds (3 seeds), replication absent (3 seeds)"),
            ("C4", -0.054, 0.02, "inconclusive",
             "discovery inconclusive (3 seeds), replication inconclusive (3 seeds)")):
        rows.append({"claim": claim, "setting": "p", "role": "primary", "statistic": "s",
                     "estimate": est, "ci_low": est - 0.03, "ci_high": est + 0.03,
                     "n_seeds": 6, "delta": delta, "p_value": 1e-4, "p_holm": 3e-4,
                     "verdict": verdict, "replication": rep, "paper": "+",
                     "paper_value": np.nan})
        rows.append({"claim": claim, "setting": "s", "role": "secondary", "statistic": "s",
                     "estimate": 1.0, "ci_low": 0.5, "ci_high": 1.5, "n_seeds": 6,
                     "delta": np.nan, "p_value": 0.01, "p_holm": np.nan,
                     "verdict": "descriptive", "replication": np.nan, "paper": "+",
                     "paper_value": np.nan})
    return pd.DataFrame(rows)


def test_the_summary_shows_the_primaries_apart_with_delta_and_replication():
    fig = cf.figure_summary(_roles_table(), checks=CHECKS)
    try:
        primaries, secondaries = fig.axes[:2]
        assert [t.get_text() for t in primaries.get_yticklabels()] == ["C1  p", "C4  p"]
        assert [t.get_text() for t in secondaries.get_yticklabels()] == ["C1  s", "C4  s"]
        # each primary's +-delta region, scaled by its line's own range
        regions = [c.get_paths()[0].vertices for c in primaries.collections]
        assert len(regions) == 2 and not secondaries.collections
        c1 = regions[0]
        scale = max(0.115 + 0.03, 0.185)
        assert np.isclose(c1[:, 0].max(), 0.185 / scale) and np.isclose(c1[:, 0].min(),
                                                                        -0.185 / scale)
        texts = [t.get_text() for t in primaries.texts]
        assert "(discovery holds, replication absent)" in texts[0]
        assert "p_Holm=0.0003" in texts[0] and "unstable" in texts[0]
        (legend,) = [[t.get_text() for t in leg.get_texts()] for leg in fig.legends]
        assert legend[:6] == ["holds", "reversed", "inconclusive", "absent", "unstable",
                              "descriptive"]
        assert "±delta (equivalence region)" in legend
        title = fig._suptitle.get_text()
        assert "primaries: 0 holds, 0 reversed, 1 inconclusive, 0 absent, 1 unstable (of 2)" \
            in title
        assert "secondaries: 0 holds, 0 reversed, 0 inconclusive, 2 descriptive (of 2)" \
            in title
        assert "p1_bound 0 of 1176" in title and "theorem2 0 of 6" in title
    finally:
        plt.close(fig)


def test_captions_carry_the_primaries_and_the_p1_check(fixture_cache, fixture_runs):
    study = study_of(fixture_cache, fixture_runs["classes"], ROWS, CHECKS)
    study.table = pd.concat([study.table, _roles_table()], ignore_index=True)
    text = cf.captions(study, ["fig2-alignment", "p1-loss-gap"])
    assert ("- C1 `p` (s): primary, p_Holm = 0.0003, discovery holds, replication absent; "
            "+0.115 [+0.085, +0.145], n = 6, **unstable**") in text
    assert "theorem check `p1_bound`: bound violated in 0 of 1176 evaluations" in text


def test_a_statistic_the_study_lacks_leaves_no_dangling_separator(fixture_cache, fixture_runs):
    fig = p1(study_of(fixture_cache, fixture_runs["classes"], ROWS[:1]))  # no checks either
    try:
        assert fig._suptitle.get_text() == "[P1]: CL-NSCL loss gap vs C with its bound"
    finally:
        plt.close(fig)


def test_the_gallerys_captions_are_the_committed_medium_studys_numbers():
    # docs/figures/figure-captions.md is regenerated from docs/claims/medium/claims.csv,
    # never typed in: the same captions, whatever folder the study was drawn from
    from pathlib import Path

    from figures import claims as claims_figures

    root = Path(__file__).resolve().parents[2]
    committed = (root / "docs" / "figures" / "figure-captions.md").read_text().splitlines()
    study = claims_figures.load_study(root / "docs" / "claims" / "medium")
    names = [line[3:].split(":")[0] for line in committed if line.startswith("## ")]
    fresh = claims_figures.captions(study, names).splitlines()
    assert len(fresh) == len(committed)
    for a, b in zip(fresh, committed, strict=True):
        if not a.startswith("From `"):
            assert a == b


def test_a_title_never_shows_a_secondary_without_its_claims_primary():
    from pathlib import Path

    from figures import claims as claims_figures

    study = claims_figures.load_study(Path(__file__).resolve().parents[2] / "docs" / "claims"
                                      / "medium")
    drawn = claims_figures._short(study, "C3", "tau/h", "cka")  # a secondary, then the primary
    first, second = drawn.split("\n")
    assert first.startswith("C3 tau/h/cka:") and second.startswith("primary: C3 tau/h/cka_linear:")
    assert second.endswith(", inconclusive")
    alone = claims_figures._short(study, "C3", "tau/h/cka_linear")  # the primary itself
    assert "\n" not in alone and "primary" not in alone
