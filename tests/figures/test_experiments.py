"""The accuracy, few-shot, merging and Fig. 12 figures: what each panel draws from its
tables, the evaluations a figure asks the runs layer for, and drawing from --runs."""

from __future__ import annotations

import math
import types

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from figures import accuracy, style  # noqa: E402


def _t1():
    rows = []
    for i, m in enumerate(("cl", "nscl", "scl", "ce")):
        for probe, acc in (("ncc", 0.6 + 0.05 * i), ("linear", 0.7 + 0.04 * i)):
            for kind in ("h", "z"):
                rows.append({"setting": "s", "model": m, "features": kind, "probe": probe,
                             "accuracy_mean": acc, "ci_low": acc - 0.02,
                             "ci_high": acc + 0.02, "n_seeds": 3})
    return rows


def test_probe_bars_draw_the_table():
    fig, axes = style.new_figure()
    accuracy.plot_probe_accuracy(axes[0, 0], _t1())
    heights = sorted(round(p.get_height(), 6) for p in axes[0, 0].patches)
    want = sorted(round(100 * r["accuracy_mean"], 6) for r in _t1() if r["features"] == "h")
    assert heights == want
    assert "3 seeds" in axes[0, 0].get_title()


def test_lp_vs_tau_and_fewshot_lines():
    t2 = [{"setting": "s", "model": m, "features": "h", "tau": t, "accuracy_mean": a,
           "ci_low": math.nan, "ci_high": math.nan, "n_seeds": 1}
          for m, a0 in (("cl", 0.5), ("nscl", 0.6)) for t, a in ((0.1, a0), (1.0, a0 + 0.1))]
    fig, axes = style.new_figure(1, 2)
    accuracy.plot_lp_vs_tau(axes[0, 0], t2)
    ys = [tuple(np.round(np.asarray(line.get_ydata(), float), 6))
          for line in axes[0, 0].get_lines()]
    assert (50.0, 60.0) in ys and (60.0, 70.0) in ys
    few = [{"setting": "s", "model": "cl", "features": "h", "m": m, "accuracy_mean": a,
            "ci_low": a - 0.1, "ci_high": a + 0.1, "n_seeds": 2, "bound_mean": b,
            "error_mean": 1 - a, "vacuous": b > 1}
           for m, a, b in ((1, 0.4, 50.0), (5, 0.7, 0.9))]
    accuracy.plot_fewshot_accuracy(axes[0, 1], few)
    assert tuple(axes[0, 1].get_lines()[0].get_ydata()) == (40.0, 70.0)
    fig, axes = style.new_figure()
    accuracy.plot_bound_vs_error(axes[0, 0], few)
    data = [tuple(line.get_ydata()) for line in axes[0, 0].get_lines()]
    assert (0.6, pytest.approx(0.3)) in [(d[0], d[1]) for d in data if len(d) == 2]
    assert (50.0, 0.9) in data  # the bound, drawn where it is, not clipped
    labels = [t.get_text() for t in axes[0, 0].get_legend().get_texts()]
    assert "vacuous (bound > 1)" in labels


def test_merging_path_means_over_seeds():
    table = pd.DataFrame([{"partner": "nscl", "alpha": a, "features": "h", "probe": "ncc",
                           "accuracy": acc + 0.02 * s, "seed": s}
                          for s in (0, 1) for a, acc in ((0.0, 0.6), (0.5, 0.7), (1.0, 0.65))])
    fig, axes = style.new_figure()
    accuracy.plot_merging_path(axes[0, 0], table, summary=[
        {"probe": "ncc", "features": "h", "partner": "nscl", "seeds_beating": 2,
         "n_seeds": 2}])
    (line,) = axes[0, 0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), [61.0, 71.0, 66.0])
    assert "2/2 seeds" in axes[0, 0].get_title()


def test_fig12_scatter_and_title():
    res = {"settings": [{"cka": 0.9, "gap": 0.01}, {"cka": 0.5, "gap": 0.1}],
           "spearman": -1.0, "ci_low": -1.0, "ci_high": -0.5, "n_settings": 2}
    fig, axes = style.new_figure()
    accuracy.plot_alignment_accuracy(axes[0, 0], res)
    offsets = axes[0, 0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, [[0.9, 1.0], [0.5, 10.0]])
    assert "Spearman -1.00 [-1.00, -0.50]" in axes[0, 0].get_title()


def test_empty_evaluations_draw_a_notice():
    fig = accuracy.figure_accuracy([], missing="no final weights here")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no final weights" in t for t in texts)


# ----------------------------------------------------------------------------- with runs
@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    from empirics.runs import RunSpec, launch

    root = tmp_path_factory.mktemp("fig-exp")
    spec = RunSpec("train", dict(dataset="synthetic", classes=3, train_size=60, test_size=30,
                                 reference_size=12, batch_size=12, steps=3, warmup_steps=1,
                                 eval_every=3, checkpoint_every=3, feature_dim=8, proj_dim=4,
                                 arch="mlp", objectives=["cl", "nscl", "scl", "ce"],
                                 device="cpu"))
    (res,) = launch([spec], root)
    assert res.ok, res.error
    return root, spec


def _ctx(root, spec, allow_run=True):
    """The gallery's context of one run: its plan, paths and (cached) run reader."""
    from figures import io

    plan = types.SimpleNamespace(groups=lambda: {"base": [spec], "tau": [spec]})
    paths = {spec.key(): root / spec.dirname()}
    return types.SimpleNamespace(plan=plan, paths=paths, given=None, allow_run=allow_run,
                                 load=lambda s: io.load_run(paths[s.key()]))


def test_evaluations_are_launched_once_in_the_cache(one_run):
    root, spec = one_run
    ev = accuracy.evaluations_for(_ctx(root, spec), ("base",), "accuracy",
                                 {"shots": [1], "repeats": 1})
    assert len(ev) == 1 and ev[0].path.parent == root and ev[0].kind == "custom"
    again = accuracy.evaluations_for(_ctx(root, spec, allow_run=False), ("base", "tau"),
                                    "accuracy", {"shots": [1], "repeats": 1})
    assert again[0].path == ev[0].path
    with pytest.raises(FileNotFoundError, match="--no-run"):
        accuracy.evaluations_for(_ctx(root, spec, allow_run=False), ("base",), "merging")
    fig = accuracy.figure_merging(accuracy.evaluations_for(_ctx(root, spec), ("base",),
                                                         "merging", {"points": 3}))
    assert len(fig.axes[0].get_lines()) == 3  # nscl, scl, ce


def test_figures_from_a_studys_evaluations(one_run, tmp_path, capsys):
    from empirics.studies.cli import main as study  # python -m empirics.studies
    from figures import __main__ as cli

    root, _ = one_run
    assert study(["accuracy", "--runs", str(root), "--out", str(tmp_path / "s"),
                  "--repeats", "1", "--shots", "1,2", "--executor", "serial"]) == 0
    rc = cli.main(["table1", "--runs", str(tmp_path / "s" / "evaluations"), "--out",
                   str(tmp_path / "f"), "--formats", "png", "--dpi", "30"])
    assert rc == 0 and (tmp_path / "f" / "table1-accuracy.png").exists()
    capsys.readouterr()
    import shutil

    only = tmp_path / "only"
    shutil.copytree(root / one_run[1].dirname(), only / one_run[1].dirname())
    rc = cli.main(["fig17", "--runs", str(only), "--out", str(tmp_path / "f")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m empirics.studies merging" in err


def test_the_new_figure_modules_import_without_torch():
    import subprocess
    import sys

    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"blocked import of {name}")
sys.meta_path.insert(0, Block())
import figures.accuracy
import empirics.studies.accuracy, empirics.studies.merging, empirics.studies.statistics
import empirics.studies.alignment_accuracy, empirics.studies.evaluations
assert "torch" not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
