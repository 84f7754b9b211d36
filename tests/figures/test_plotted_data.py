"""Every figure draws the numbers it claims to draw: plotted data against the run's CSV.

Each figure is built as ``python -m figures`` builds it (:data:`figures.__main__.FIGURES`
on the tiny plan's fixture runs). The data of every Line2D, error bar and image is read
back and compared with the columns of ``metrics.csv``, ``losses.csv`` and ``bounds.csv``
that the panel's label says it shows, read here with pandas directly (not through
:mod:`figures.io`). Every cell of the fixture runs differs, so a panel that reads the
wrong column (``sim_gap`` for ``rho``), split, pair, feature kind or run fails here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from empirics.studies import plan as runs
from figures import __main__ as cli
from figures import style

PARTNERS = ("cl-nscl", "cl-scl", "cl-ce")


@pytest.fixture(scope="module")
def ctx(fixture_cache, tiny_plan):
    specs = runs.unique(tiny_plan.all_specs())
    return cli.Context(tiny_plan, {s.key(): runs.run_path(fixture_cache, s) for s in specs})


@pytest.fixture
def build(ctx):
    figs = []

    def make(name):
        with style.style():
            fig = cli.FIGURES[name].build(ctx)
        figs.append(fig)
        return fig

    yield make
    for fig in figs:
        plt.close(fig)


def table(run_dir, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / f"{name}.csv")


def series(run_dir, column, *, pair="cl-nscl", split="test", features="h"):
    """(epoch, value) of one pair, split and feature kind of metrics.csv, by step."""
    m = table(run_dir, "metrics")
    sel = m[(m.pair == pair) & (m.split == split) & (m.features == features)]
    sel = sel.sort_values("step")
    assert len(sel) > 1
    return sel["epoch"].to_numpy(float), sel[column].to_numpy(float)


def final(run_dir, column, *, pair="cl-nscl", split="test", features="h") -> float:
    return float(series(run_dir, column, pair=pair, split=split, features=features)[1][-1])


def lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Labelled Line2D data of ``ax`` (label -> (x, y)); error-bar data lines included."""
    out = {}
    for line in ax.get_lines():
        label = line.get_label()
        if not label.startswith("_"):
            out[label] = (np.asarray(line.get_xdata(), float),
                          np.asarray(line.get_ydata(), float))
    for c in ax.containers:
        if c.get_label() and not c.get_label().startswith("_"):
            data = c.lines[0]
            out[c.get_label()] = (np.asarray(data.get_xdata(), float),
                                  np.asarray(data.get_ydata(), float))
    return out


def same(got, want, *, positive=False):
    want = np.asarray(want, float)
    if positive:
        want = np.where(want > 0, want, np.nan)
    np.testing.assert_allclose(np.asarray(got, float), want, rtol=1e-12, equal_nan=True)


def check_pairs(ax, run_dir, column, *, split, features="h", pairs=PARTNERS):
    drawn = lines(ax)
    assert sorted(drawn) == sorted(style.pair_label(p) for p in pairs)
    for pair in pairs:
        x, y = drawn[style.pair_label(pair)]
        t, v = series(run_dir, column, pair=pair, split=split, features=features)
        same(x, t)
        same(y, v)


def base_dir(ctx):
    return ctx.load(ctx.plan.base).path


# --------------------------------------------------------------------------- Fig. 1, 2, 6
def test_fig1_plots_the_weight_and_representation_angles(build, ctx):
    fig = build("fig1-angles")
    weight, rep = fig.axes
    check_pairs(weight, base_dir(ctx), "weight_angle", split="test")
    check_pairs(rep, base_dir(ctx), "repr_angle", split="test")


def test_fig2_plots_every_alignment_measure_per_split(build, ctx):
    """Rows train and test; a column per alignment score the registry lists and the run
    records (CKA, linear CKA, RSA, and Procrustes and mutual kNN where recorded), each from
    its own column, labelled from the registry."""
    from empirics.measures import MEASURES

    fig = build("fig2-alignment")
    path = base_dir(ctx)
    recorded = set(table(path, "metrics").columns)
    want = [m for m in MEASURES if m.name in recorded
            and not (m.direction == "lower" and np.isinf(m.range[1]))]
    assert {"cka", "rsa", "cka_linear"} <= {m.name for m in want}
    assert len(fig.axes) == 2 * len(want)  # rows: train, test; a column per measure
    for row, split in enumerate(("train", "test")):
        for col, m in enumerate(want):
            ax = fig.axes[row * len(want) + col]
            assert ax.get_title().startswith(f"{m.label}\n{split} set")
            assert ax.get_ylabel().startswith(m.label)
            assert ("lower is more aligned" in ax.get_ylabel()) == (m.direction == "lower")
            check_pairs(ax, path, m.name, split=split)


def test_fig6_plots_rho_not_sim_gap(build, ctx):
    fig = build("fig6-weight-gap")
    weight, sim = fig.axes
    assert "weight gap" in weight.get_ylabel() and r"\rho" in sim.get_ylabel()
    check_pairs(weight, base_dir(ctx), "weight_gap", split="test")
    check_pairs(sim, base_dir(ctx), "rho", split="test")


# --------------------------------------------------------------------------- Fig. 3, 4, 5
def test_fig3_heatmap_cells_are_cl_nscl_cka_by_classes_and_step(build, ctx):
    fig = build("fig3-classes")
    image = fig.axes[0].get_images()[0].get_array()
    classes = sorted(ctx.group("classes"), key=lambda r: r.config["classes"])
    assert [int(t.get_text()) for t in fig.axes[0].get_yticklabels()] == \
        [r.config["classes"] for r in classes]
    for i, run in enumerate(classes):
        same(image[i], series(run.path, "cka")[1])


def test_fig4_plots_cka_over_training_and_final_values_by_tau(build, ctx):
    fig = build("fig4-tau")
    curves, final_cka, final_rsa = fig.axes[:3]
    tau_runs = {r.config["tau"]: r.path for r in ctx.group("tau")}
    drawn = lines(curves)
    assert sorted(drawn) == sorted(f"τ = {t}" for t in tau_runs)
    for tau, path in tau_runs.items():
        t, v = series(path, "cka")
        same(drawn[f"τ = {tau}"][0], t)
        same(drawn[f"τ = {tau}"][1], v)
    taus = sorted(tau_runs)
    for ax, column in ((final_cka, "cka"), (final_rsa, "rsa")):
        ((x, y),) = lines(ax).values()
        same(x, taus)
        same(y, [final(tau_runs[t], column) for t in taus])


def test_fig5_plots_final_cka_and_sim_gap_by_batch_and_rule(build, ctx):
    fig = build("fig5-batch")
    batch = ctx.group("batch")
    for ax, column in zip(fig.axes[:2], ("cka", "sim_gap"), strict=True):
        drawn = lines(ax)
        rules = sorted({r.config["lr_rule"] for r in batch})
        assert sorted(drawn) == sorted(style.RULE_LABELS[r] for r in rules)
        for rule in rules:
            mine = sorted((r for r in batch if r.config["lr_rule"] == rule),
                          key=lambda r: r.config["batch_size"])
            x, y = drawn[style.RULE_LABELS[rule]]
            same(x, [r.config["batch_size"] for r in mine])
            same(y, [final(r.path, column) for r in mine])


# --------------------------------------------------------------------------- bound vs measured
def test_bound_vs_measured_surrogate_panels_plot_the_surrogate_columns(build, ctx):
    fig = build("bound-vs-measured")
    gaps, ratios = fig.axes[0], fig.axes[1]
    sur = ctx.load(ctx.plan.surrogate).path
    m = table(sur, "metrics").sort_values("step")
    b = table(sur, "bounds") if (sur / "bounds.csv").exists() else pd.DataFrame()

    def column(name):
        if name in m.columns:
            return m[name].to_numpy(float)
        return b.set_index("step")[name].reindex(m["step"]).to_numpy(float)

    drawn = lines(gaps)
    measured = m["sim_gap"].to_numpy(float)
    (key,) = [k for k in drawn if k.startswith("measured")]
    same(drawn[key][0], m["step"])
    same(drawn[key][1], measured, positive=True)
    names = [n for n in ("certificate", "certificate_lipschitz", "recurrence", "theorem1")
             if n in m.columns or n in b.columns]
    assert {"certificate", "recurrence", "theorem1"} <= set(names)
    for name in names:
        same(drawn[style.BOUND_LABELS[name]][1], column(name), positive=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(column(name) > 0, measured / column(name), np.nan)
        same(lines(ratios)[style.BOUND_LABELS[name]][1], np.where(np.isfinite(ratio), ratio,
                                                                  np.nan))


def test_bound_vs_measured_network_panel_plots_sim_gap_and_the_runs_bounds(build, ctx):
    fig = build("bound-vs-measured")
    drawn = lines(fig.axes[2])
    path = base_dir(ctx)
    for split in ("train", "test"):
        t, v = series(path, "sim_gap", split=split, features="z")
        same(drawn[f"measured, {split} set"][0], t)
        same(drawn[f"measured, {split} set"][1], v, positive=True)
    b = table(path, "bounds").sort_values("step")
    for name, col in (("recurrence", "sim_gap_product"), ("theorem1", "sim_gap")):
        same(drawn[style.BOUND_LABELS[name]][0], b["epoch"])
        same(drawn[style.BOUND_LABELS[name]][1], b[col], positive=True)


@pytest.mark.parametrize("metric,stat,lower", [("cka", "rho", "cka_lower_from_rho"),
                                               ("rsa", "r", "rsa_lower_from_r")])
def test_bound_vs_measured_lower_bound_panels(build, ctx, metric, stat, lower):
    fig = build("bound-vs-measured")
    ax = fig.axes[3 if metric == "cka" else 4]
    drawn = lines(ax)
    path = base_dir(ctx)
    t, v = series(path, metric, split="train", features="z")
    same(drawn[f"measured {metric.upper()}"][0], t)
    same(drawn[f"measured {metric.upper()}"][1], v)
    (floor,) = [k for k in drawn if k.startswith("$(1-")]
    same(drawn[floor][1], series(path, lower, split="train", features="z")[1])
    b = table(path, "bounds").sort_values("step")
    same(drawn[f"{metric.upper()} bound from Theorem 1"][1], b[f"{metric}_lower"])


def test_bound_vs_measured_p1_panel_plots_each_models_loss_gap(build, ctx):
    fig = build("bound-vs-measured")
    drawn = lines(fig.axes[5])
    losses = table(base_dir(ctx), "losses")
    test = losses[losses.split == "test"].sort_values("step")
    for model in ("cl", "nscl", "scl", "ce"):
        rows = test[test.model == model]
        x, y = drawn[f"{style.objective_label(model)} encoder"]
        same(x, rows["epoch"])
        same(y, rows["loss_gap"], positive=True)
    bound = test.groupby("epoch")["loss_gap_bound"].max()
    same(drawn["[P1] bound"][0], bound.index)
    same(drawn["[P1] bound"][1], bound.to_numpy())


def test_p1_plots_final_loss_gap_by_classes(build, ctx):
    fig = build("p1-loss-gap")
    drawn = lines(fig.axes[0])
    runs_by_c = sorted(ctx.group("classes"), key=lambda r: r.config["classes"])
    for model in ("cl", "nscl"):
        (key,) = [k for k in drawn if k == f"measured, {style.objective_label(model)} encoder"]
        want = []
        for run in runs_by_c:
            lg = table(run.path, "losses")
            rows = lg[(lg.model == model) & (lg.split == "test")].sort_values("step")
            want.append(rows["loss_gap"].iloc[-1])
        same(drawn[key][1], want)
