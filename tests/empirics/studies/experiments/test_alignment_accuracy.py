"""Fig. 12 analogue: the points of evaluated runs, seeds averaged per setting, and the rank
correlation across settings."""

from __future__ import annotations

import math

import pytest

from empirics.studies import alignment_accuracy as aa
from empirics.studies.evaluations import launch_evaluations


@pytest.fixture(scope="module")
def evals(tiny_runs, tmp_path_factory):
    from empirics.runs import read_run

    srcs = sorted(p for p in tiny_runs.iterdir() if p.name.startswith("train"))
    root = tmp_path_factory.mktemp("fig12-evals")
    return [read_run(p) for p in launch_evaluations("accuracy", srcs, root,
                                                     {"shots": [1], "repeats": 1})]


def test_points_read_the_gap_and_the_runs_own_cka(evals):
    pts = aa.points(evals)
    assert len(pts) == 3
    for p, e in zip(pts, evals, strict=True):
        m = e.metrics
        acc = {r["model"]: r["accuracy"] for r in m[(m["features"] == "h")
                                                    & (m["probe"] == "ncc")].to_dict("records")}
        assert p["gap"] == pytest.approx(acc["nscl"] - acc["cl"])
        assert p["cka"] == e.summary["cka_h"]
    z = aa.points(evals, features="z", probe="linear")
    assert z[0]["cka"] == evals[0].summary["cka_z"]


def test_seeds_are_averaged_within_a_setting(evals):
    settings = aa.setting_points(aa.points(evals))
    assert sorted(s["n_seeds"] for s in settings) == [1, 2]


def test_fig12_with_too_few_settings_is_nan_with_a_warning(evals):
    with pytest.warns(RuntimeWarning, match="settings"):
        res = aa.fig12(aa.points(evals), resamples=50)
    assert res["n_settings"] == 2 and math.isnan(res["spearman"])


def test_fig12_sign_on_constructed_settings():
    pts = [{"setting_key": str(i), "setting": str(i), "claims": "", "cka": c, "gap": g,
            "acc_cl": 0.5, "acc_nscl": 0.5 + g}
           for i, (c, g) in enumerate([(0.95, 0.0), (0.9, 0.02), (0.8, 0.03), (0.6, 0.1),
                                       (0.5, 0.09)])]
    res = aa.fig12(pts, resamples=300, seed=1)
    assert res["spearman"] == pytest.approx(-0.9)
    assert res["ci_low"] <= res["spearman"] <= res["ci_high"]
    assert res == aa.fig12(pts, resamples=300, seed=1)  # seeded


def test_bad_arguments(evals):
    with pytest.raises(ValueError, match="`features`"):
        aa.points(evals, features="x")
    with pytest.raises(ValueError, match="`probe`"):
        aa.points(evals, probe="knn")
