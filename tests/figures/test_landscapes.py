"""Bound landscapes: drawn from bounds.evaluate, vacuous regions shaded."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from figures import landscapes


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_theorem1_panel_matches_bounds_and_shades_trivial_band(ax):
    landscapes.plot_landscape(ax, "sim_gap", "C")
    line = ax.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    want = landscapes.evaluate(C=x, tau=0.1)["log10_sim_gap"]
    assert np.allclose(y, want)
    assert ax.get_xscale() == "log"
    assert any("vacuous" in p.get_label() for p in ax.patches)


def test_cka_vacuous_over_long_training(ax):
    # 300 epochs at the paper's setting: exponent ~17, every line vacuous (THEORY.md s12).
    landscapes.plot_landscape(ax, "cka", "epochs")
    assert [p.get_label() for p in ax.patches] == ["vacuous for every line"]
    for line in ax.get_lines():
        assert line.get_ydata()[-1] == 0.0  # trivial CKA bound at 300 epochs


def test_batch_column_fixed_steps_vs_epochs(ax):
    landscapes.plot_landscape(ax, "rsa", "B")
    labels = [line.get_label() for line in ax.get_lines()]
    assert sum("fixed steps" in s for s in labels) == 3
    assert sum("fixed epochs" in s for s in labels) == 3


def test_rejects_bad_arguments(ax):
    with pytest.raises(ValueError, match="'gap'"):
        landscapes.plot_landscape(ax, "gap", "C")
    with pytest.raises(ValueError, match="'N'"):
        landscapes.plot_landscape(ax, "cka", "N")
