"""Fig. 3, 4, 5 plot functions render from fixture runs that vary C, tau and B."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from figures import io, sweeps


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_classes_matrix_rows_are_classes(fixture_runs):
    runs = fixture_runs["classes"]
    Cs, ts, M = sweeps.classes_matrix(runs)
    assert list(Cs) == sorted(r.cfg("classes") for r in runs)
    assert M.shape == (len(Cs), len(ts))
    run = next(r for r in runs if r.cfg("classes") == Cs[0])
    want = io.pair_series(run, "cl-nscl", "cka", features="h")["value"].to_numpy()
    assert np.allclose(M[0], want)


def test_classes_matrix_needs_runs():
    with pytest.raises(ValueError, match="at least one run"):
        sweeps.classes_matrix([])


def test_plot_classes_heatmap(ax, fixture_runs):
    im = sweeps.plot_classes_heatmap(ax, fixture_runs["classes"])
    assert im.get_array().shape[0] == len(fixture_runs["classes"])
    assert ax.get_ylabel() == "number of classes C" and ax.texts  # annotated cells


def test_summary_table(fixture_runs):
    t = sweeps.summary_table(fixture_runs["batch"])
    assert len(t) == len(fixture_runs["batch"])
    assert {"batch_size", "lr_rule", "cka", "rsa", "sim_gap", "loss_gap"} <= set(t.columns)
    assert t["cka"].between(0, 1).all()


def test_plot_curves_by_tau(ax, fixture_runs):
    sweeps.plot_curves_by(ax, fixture_runs["tau"], "tau", label_fmt="τ = {}")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["τ = 0.5", "τ = 1.0"]


def test_plot_final_vs_with_hue_and_seeds(ax):
    table = pd.DataFrame({"batch_size": [32, 32, 64, 64], "lr_rule": ["linear"] * 4,
                          "cka": [0.5, 0.7, 0.8, 0.8]})
    sweeps.plot_final_vs(ax, table, "batch_size", hue="lr_rule", logx=True)
    (line,) = ax.get_lines()[:1]
    assert list(line.get_ydata()) == pytest.approx([0.6, 0.8])  # mean over seeds


def test_plot_final_vs_missing_column(ax):
    with pytest.raises(KeyError, match="'tau'"):
        sweeps.plot_final_vs(ax, pd.DataFrame({"cka": [1.0]}), "tau")


def test_figure_batch_from_table_or_runs(fixture_runs):
    fig = sweeps.figure_batch(fixture_runs["batch"])
    assert "batch size" in fig.axes[0].get_xlabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="neither"):
        sweeps.figure_batch()


def test_figure_tau_and_classes(fixture_runs):
    for fig in (sweeps.figure_tau(fixture_runs["tau"]),
                sweeps.figure_classes(fixture_runs["classes"])):
        assert fig._suptitle.get_text()
        plt.close(fig)
