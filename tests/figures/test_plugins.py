"""A measure and an objective installed by another package (entry points of a temporary
``*.dist-info`` on ``sys.path``) are drawn with their registry labels and colours, without
touching figures/."""

from __future__ import annotations

import dataclasses
import importlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from empirics.measures import MEASURES
from empirics.objectives import OBJECTIVES
from figures import io, style, sweeps, training

PLUGIN = '''
def overlap(X, Y):
    return 0.5


def dcl(views, labels, tau):
    return views.sum() * 0.0
'''
ENTRY_POINTS = """[cl_nscl_align.metrics]
my_overlap = figplug:overlap

[cl_nscl_align.objectives]
dcl = figplug:dcl
"""


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    (tmp_path / "figplug.py").write_text(PLUGIN)
    info = tmp_path / "figplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: figplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    OBJECTIVES.reload()
    MEASURES.reload()
    yield
    monkeypatch.undo()
    importlib.invalidate_caches()
    OBJECTIVES.reload()
    MEASURES.reload()


def with_plugins(run: io.Run) -> io.Run:
    """The run with a CL-DCL pair (a copy of CL-NSCL's rows) and a ``my_overlap`` column."""
    m = run.metrics
    extra = m[m["pair"] == "cl-nscl"].assign(pair="cl-dcl")
    m = pd.concat([m, extra], ignore_index=True)
    m["my_overlap"] = np.linspace(0.2, 0.8, len(m))
    return dataclasses.replace(run, metrics=m)


def test_a_plugin_measure_and_objective_are_drawn_from_the_registry(plugins, fixture_runs):
    assert "dcl" in OBJECTIVES and "my_overlap" in MEASURES
    run = with_plugins(fixture_runs["base"][0])
    assert training.alignment_measures(run)[-1] == "my_overlap"
    with style.style():
        fig = training.figure_alignment(run)
    try:
        panels = [ax for ax in fig.axes if ax.get_title().startswith("my_overlap\n")]
        assert len(panels) == 2  # train and test
        lines = {ln.get_label(): ln for ln in panels[1].get_lines()}
        dcl = lines["CL vs dcl"]  # the plugin's label (its name) and colour
        assert dcl.get_color() == OBJECTIVES["dcl"].color == style.method_color("cl-dcl")
        want = run.metrics[(run.metrics["pair"] == "cl-dcl") & (run.metrics["split"] == "test")
                           & (run.metrics["features"] == "h")]["my_overlap"]
        np.testing.assert_allclose(dcl.get_ydata(), want)
        # the partners in the registry's order: the theorem pair first, the plugin before CE
        assert list(lines) == ["CL vs NSCL", "CL vs SCL", "CL vs dcl", "CL vs CE"]
    finally:
        plt.close(fig)
    assert "my_overlap" in sweeps.summary_table([run]).columns


def test_without_the_plugins_the_columns_are_left_alone(fixture_runs):
    run = with_plugins(fixture_runs["base"][0])
    assert "my_overlap" not in MEASURES
    assert "my_overlap" not in training.alignment_measures(run)
