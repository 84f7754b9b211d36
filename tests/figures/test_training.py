"""Fig. 1, 2, 6 plot functions render from a fixture run (Agg) and draw what they claim."""

import matplotlib.pyplot as plt
import pytest

from figures import style, training


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def _colors(ax):
    return [line.get_color() for line in ax.get_lines()]


@pytest.mark.parametrize("space", ["weight", "representation"])
def test_plot_angle(ax, fixture_runs, space):
    training.plot_angle(ax, fixture_runs["base"][0], space)
    assert _colors(ax) == [style.method_color(p) for p in ("cl-nscl", "cl-scl", "cl-ce")]
    assert "degrees" in ax.get_ylabel() and ax.get_xlabel() == "epoch"
    assert ax.get_legend() is not None and ax.get_title()


def test_plot_angle_rejects_space(ax, fixture_runs):
    with pytest.raises(ValueError, match="'colour'"):
        training.plot_angle(ax, fixture_runs["base"][0], "colour")


@pytest.mark.parametrize("metric", ["cka", "rsa", "cka_linear"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_plot_alignment(ax, fixture_runs, metric, split):
    run = fixture_runs["base"][0]
    training.plot_alignment(ax, run, metric, split=split)
    assert len(ax.get_lines()) == 3
    nscl = ax.get_lines()[0]
    m = run.metrics
    want = m[(m.pair == "cl-nscl") & (m.split == split) & (m.features == "h")][metric]
    assert list(nscl.get_ydata()) == pytest.approx(list(want))
    assert ax.get_ylim()[1] == pytest.approx(1.005)


def test_plot_alignment_rejects_metric(ax, fixture_runs):
    with pytest.raises(ValueError, match="'cca'"):
        training.plot_alignment(ax, fixture_runs["base"][0], "cca")


@pytest.mark.parametrize("column", ["weight_gap", "weight_gap_sum"])
def test_plot_weight_gap(ax, fixture_runs, column):
    training.plot_weight_gap(ax, fixture_runs["base"][0], column)
    assert len(ax.get_lines()) == 3 and "relative weight gap" in ax.get_ylabel()


def test_plot_weight_gap_rejects_column(ax, fixture_runs):
    with pytest.raises(ValueError, match="'gap'"):
        training.plot_weight_gap(ax, fixture_runs["base"][0], "gap")


def test_plot_similarity_gap_relative(ax, fixture_runs):
    training.plot_similarity_gap_relative(ax, fixture_runs["base"][0])
    assert len(ax.get_lines()) == 3


@pytest.mark.parametrize("fn", [training.figure_angles, training.figure_alignment,
                                training.figure_weight_gap])
def test_figures_have_titles(fixture_runs, fn):
    fig = fn(fixture_runs["base"][0])
    assert fig._suptitle is not None and fig._suptitle.get_text()
    assert all(a.get_xlabel() and a.get_ylabel() for a in fig.axes)
    plt.close(fig)


def test_t_band_is_t_interval_column_by_column():
    # the vectorised band of the figures against the studies' scalar interval (its twin),
    # with a NaN (a step one seed did not evaluate) and a column of one value
    import numpy as np

    from empirics.studies.statistics import t_interval
    from figures.training import t_band

    V = np.array([[0.81, 0.5, 2.0], [0.84, np.nan, 2.0 + 1e-9], [0.86, 0.7, 2.0 - 1e-9],
                  [0.80, 0.6, 2.0]])
    mean, half = t_band(V)
    for j in range(V.shape[1]):
        want = t_interval([v for v in V[:, j] if np.isfinite(v)])
        assert mean[j] == pytest.approx(want["mean"], rel=1e-12)
        assert mean[j] + half[j] == pytest.approx(want["ci_high"], rel=1e-12)
    one = t_band(np.array([[1.0, np.nan], [np.nan, np.nan]]))[1]
    assert np.isnan(one).all()
