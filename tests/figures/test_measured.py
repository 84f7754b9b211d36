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


def test_plot_surrogate(ax, fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    measured.plot_surrogate(ax, tr)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[1:] == [style.BOUND_LABELS[k] for k in measured.SURROGATE_SERIES[1:]]
    assert ax.get_yscale() == "log"
    # step 0 (gap exactly 0) is masked, not drawn at -inf
    assert np.isnan(ax.get_lines()[0].get_ydata()[0])


def test_plot_surrogate_ratios(ax, fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    measured.plot_surrogate_ratios(ax, tr)
    cert = ax.get_lines()[0].get_ydata()
    assert np.nanmax(cert) <= 1 + 1e-9  # measured <= certificate


def test_plot_network_gap(ax, fixture_runs):
    measured.plot_network_gap(ax, fixture_runs["base"][0])
    labels = [line.get_label() for line in ax.get_lines()]
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
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["CL encoder", "NSCL encoder", "SCL encoder", "CE encoder", "[P1] bound"]
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
