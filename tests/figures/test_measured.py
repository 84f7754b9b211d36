"""Bound-vs-measured and [P1] plot functions render from fixture runs."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest

from figures import io, measured, style


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def series_labels(ax) -> list[str]:
    """Legend labels of the data series (not the floor markers or their legend entry)."""
    return [ln.get_label() for ln in ax.get_lines()
            if not ln.get_label().startswith(("_", "at the axis floor"))]


def floor_points(ax) -> np.ndarray:
    """x of every marker drawn at the axis floor."""
    xs = [ln.get_xdata() for ln in ax.get_lines() if ln.get_label() == "_floor"]
    return np.concatenate(xs) if xs else np.array([])


def test_plot_surrogate(ax, fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    measured.plot_surrogate(ax, tr)
    labels = series_labels(ax)
    assert labels[1:] == [style.BOUND_LABELS[k] for k in measured.SURROGATE_SERIES[1:]]
    assert ax.get_yscale() == "log"
    # step 0 (gap exactly 0, one initialisation) is masked in the line, not drawn at -inf,
    # and shown at the axis floor, counted in the legend
    assert tr["measured"].iloc[0] == 0 and np.isnan(ax.get_lines()[0].get_ydata()[0])
    zeros = int((tr["measured"] == 0).sum())
    assert floor_points(ax).tolist() == tr.loc[tr["measured"] == 0, "step"].tolist()
    assert style.floor_label(zeros, 0, "measured gap") in [ln.get_label() for ln in ax.get_lines()]


def test_plot_surrogate_ratios(ax, fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    measured.plot_surrogate_ratios(ax, tr)
    cert = ax.get_lines()[0].get_ydata()
    assert np.nanmax(cert) <= 1 + 1e-9  # measured <= certificate


def test_plot_network_gap(ax, fixture_runs):
    measured.plot_network_gap(ax, fixture_runs["base"][0])
    labels = series_labels(ax)
    assert labels == ["measured, train set", "measured, test set",
                      style.BOUND_LABELS["recurrence"], style.BOUND_LABELS["theorem1"]]


@pytest.mark.parametrize("metric", ["cka", "rsa"])
def test_plot_lower_bound(ax, fixture_runs, metric):
    run = fixture_runs["base"][0]
    measured.plot_lower_bound(ax, run, metric)
    meas, floor = ax.get_lines()[0].get_ydata(), ax.get_lines()[1].get_ydata()
    assert np.all(floor <= meas + 1e-12)  # the corollary holds in the fixture
    assert len(ax.get_lines()) == 3  # + the a-priori bound from bounds.csv


def test_plot_lower_bound_rejects_metric(ax, fixture_runs):
    with pytest.raises(ValueError, match="'cca'"):
        measured.plot_lower_bound(ax, fixture_runs["base"][0], "cca")


def test_loss_gap_by_classes_and_plot(ax, fixture_runs):
    runs = fixture_runs["classes"]
    t = measured.loss_gap_by_classes(runs)
    assert set(t["model"]) == {"cl", "nscl"} and len(t) == 2 * len(runs)
    assert (t["loss_gap"] <= t["loss_gap_bound"]).all()
    measured.plot_loss_gap_vs_classes(ax, runs)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert any("balanced" in line.get_label() for line in ax.get_lines())


def test_composite_figures(fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    for fig in (measured.figure_bound_vs_measured(fixture_runs["base"][0], tr),
                measured.figure_bound_vs_measured(fixture_runs["base"][0], None),
                measured.figure_p1(fixture_runs["classes"])):
        assert fig._suptitle.get_text()
        plt.close(fig)


def test_plot_p1_over_training(ax, fixture_runs):
    run = fixture_runs["base"][0]
    measured.plot_p1_over_training(ax, run)
    labels = series_labels(ax)
    assert labels == ["CL encoder", "NSCL encoder", "SCL encoder", "CE encoder", "[P1] bound"]
    assert floor_points(ax).size == 0  # every fixture gap is positive: nothing at the floor
    gaps = np.concatenate([line.get_ydata() for line in ax.get_lines()[:-1]])
    assert np.nanmax(gaps) <= np.nanmax(ax.get_lines()[-1].get_ydata())


def test_plot_network_gap_flags_measured_above_theorem1(ax, fixture_runs):
    run = fixture_runs["base"][0]
    m = run.metrics.copy()
    sel = (m.pair == "cl-nscl") & (m.split == "train") & (m.features == "z")
    first = m[sel & (m.step > 0)].step.min()
    bound = float(run.bounds.set_index("step").loc[first, "sim_gap"])
    m.loc[sel & (m.step == first), "sim_gap"] = 2 * bound
    measured.plot_network_gap(ax, dataclasses.replace(run, metrics=m))
    flags = [line for line in ax.get_lines() if line.get_label().startswith("measured above")]
    assert len(flags) == 1 and flags[0].get_label().startswith("measured above Theorem 1 (1/")
    assert list(flags[0].get_ydata()) == pytest.approx([2 * bound])


def test_p1_zero_gaps_are_drawn_at_the_floor_and_counted(ax, fixture_runs):
    """At large C no batch holds two samples of a class: L_NSCL = L_CL, the gap is exactly 0
    and a log axis would drop it without a word."""
    runs = sorted(fixture_runs["classes"], key=lambda r: r.config["classes"])
    top = runs[-1]
    losses = top.losses.assign(loss_nscl=top.losses["loss_cl"], loss_gap=0.0)
    runs[-1] = dataclasses.replace(top, losses=losses)
    measured.plot_loss_gap_vs_classes(ax, runs)
    C = top.config["classes"]
    x = floor_points(ax)
    assert len(x) == 2 and np.allclose(x / C, [0.94, 0.98])  # CL and NSCL, at their C
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "at the axis floor: 2 mean gaps exactly 0" in legend
    # the plotted means are unchanged: the zero stays a masked point of the error bar
    (cl,) = [c for c in ax.containers if c.get_label() == "measured, CL encoder"]
    assert cl.lines[0].get_ydata()[-1] == 0.0


def test_negative_values_are_hollow_and_counted(ax):
    z, n = style.floor_marks(ax, [1, 2, 3, 4], [0.5, 0.0, -1e-3, np.nan], color="#000000")
    assert (z, n) == (1, 1)
    zero, neg = [ln for ln in ax.get_lines() if ln.get_label() == "_floor"]
    assert zero.get_xdata().tolist() == [2] and neg.get_xdata().tolist() == [3]
    assert neg.get_markerfacecolor() == "white"
    assert style.floor_label(z, n, "gap") == \
        "at the axis floor: 1 gap exactly 0, 1 below 0 (hollow)"


def test_a_bound_beyond_float_range_is_marked_from_its_log10_column(ax, fixture_runs):
    """Theorem 1 overflowing to inf (its magnitude in log10_sim_gap) is a marker at the top
    of the axes for every evaluation, its largest log10 in the legend, never dropped."""
    run = fixture_runs["base"][0]
    b = run.bounds.copy()
    b["sim_gap"] = np.inf
    b["log10_sim_gap"] = 400.0 + np.arange(len(b))
    measured.plot_network_gap(ax, dataclasses.replace(run, bounds=b))
    (mark,) = [ln for ln in ax.get_lines() if "above float range" in ln.get_label()]
    assert mark.get_label() == (f"{style.BOUND_LABELS['theorem1']} above float range "
                                f"({len(b)}, log10 up to {400 + len(b) - 1})")
    assert len(mark.get_xdata()) == len(b) and mark.get_marker() == "^"
    assert ax.get_legend() is not None
