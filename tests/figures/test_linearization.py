"""figures.linearization ([P2] Appendix D): the plotted values are linearization.csv's
columns, the step budget is the run's own schedule, and the figure runs end to end."""

import dataclasses
import json
import shutil
import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from empirics.data.catalog import CATALOG
from empirics.studies import plan as runs
from figures import __main__ as cli
from figures import io, linearization, style

THRESHOLDS = (0.1, 1.0)


def lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Labelled Line2D data of ``ax`` (label -> (x, y))."""
    return {ln.get_label(): (np.asarray(ln.get_xdata(), float),
                             np.asarray(ln.get_ydata(), float))
            for ln in ax.get_lines() if not ln.get_label().startswith("_")}


def same(got, want, *, positive=False):
    want = np.asarray(want, float)
    if positive:
        want = np.where(want > 0, want, np.nan)
    np.testing.assert_allclose(np.asarray(got, float), want, rtol=1e-12, equal_nan=True)


def brute_eta(cfg: dict, T: int) -> list[float]:
    """The trainer's cosine schedule with linear warm-up, one step at a time (step unit)."""
    base = cfg["lr"] * cfg["batch_size"] / 256  # the linear rule, as the paper writes it
    W = cfg["warmup_steps"]
    return [base * (t + 1) / W if t < W else
            base * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W))) for t in range(T)]


def check_figure(fig, run_paths) -> None:
    """Every series of the three panels against the runs' CSVs, read here with pandas."""
    jac, rem, budget = fig.axes
    cfgs = [json.loads((p / "config.json").read_text()) for p in run_paths]
    labels = linearization.run_labels([io.load_run(p) for p in run_paths])
    drawn = {name: lines(ax) for name, ax in (("a", jac), ("b", rem), ("c", budget))}
    want_ab, want_c = set(), set()
    for path, cfg, lab in zip(run_paths, cfgs, labels, strict=True):
        lin = pd.read_csv(path / "linearization.csv")
        for model in ("cl", "nscl"):
            rows = lin[lin.model == model].sort_values("step")
            assert len(rows) >= 2
            key = linearization.series_label(model, lab)
            want_ab.add(key)
            same(drawn["a"][key][0], rows["step"])
            same(drawn["a"][key][1], rows["jacobian_norm"], positive=True)
            same(drawn["b"][key][0], rows["step"])
            same(drawn["b"][key][1], rows["relative_remainder"], positive=True)
        # (c) after t steps: S_t / (tau^2 B) and sum eta^2, t = 0..T
        summary = json.loads((path / "summary.json").read_text())
        T = summary["steps"]
        eta = brute_eta(cfg, T)
        s_eta = [sum(eta[:t]) for t in range(T + 1)]
        s_sq = [sum(e * e for e in eta[:t]) for t in range(T + 1)]
        scale = cfg["tau"] ** 2 * cfg["batch_size"]
        x, y = drawn["c"][linearization.budget_label("sum_eta_over_tau2_b", lab)]
        same(x, range(T + 1))
        np.testing.assert_allclose(y[1:], np.array(s_eta[1:]) / scale, rtol=1e-12)
        bounds = pd.read_csv(path / "bounds.csv")  # the run's own S after t steps
        np.testing.assert_allclose(y[bounds["step"].to_numpy()],
                                   bounds["sum_eta_so_far"] / scale, rtol=1e-12)
        np.testing.assert_allclose(s_eta[-1], summary["sum_eta"], rtol=1e-12)
        x, y = drawn["c"][linearization.budget_label("sum_eta_sq", lab)]
        same(x, range(T + 1))
        np.testing.assert_allclose(y[1:], s_sq[1:], rtol=1e-12)
        want_c |= {linearization.budget_label(c, lab)
                   for c in ("sum_eta_over_tau2_b", "sum_eta_sq")}
    # the reference lines of (b): constant at 0.1 and 1, labelled as reading aids
    refs = {k: v for k, v in drawn["b"].items() if "reading aid" in k}
    assert sorted(np.unique(v[1]).item() for v in refs.values()) == list(THRESHOLDS)
    assert set(drawn["a"]) == want_ab
    assert {k for k in drawn["b"] if "reading aid" not in k} == want_ab
    # (c) crosses: the measured steps whose remainder exceeds 0.1, on the S/(tau^2 B) curve
    for model in ("cl", "nscl"):
        want = []  # per run (in order), the steps and S_t / (tau^2 B) there
        for path, cfg in zip(run_paths, cfgs, strict=True):
            lin = pd.read_csv(path / "linearization.csv")
            steps = lin[(lin.model == model) & (lin.relative_remainder > 0.1)].step
            if len(steps):
                eta = brute_eta(cfg, json.loads((path / "summary.json").read_text())["steps"])
                s_t = [sum(eta[:t]) / (cfg["tau"] ** 2 * cfg["batch_size"]) for t in steps]
                want.append((steps.tolist(), s_t))
        got = [(ln.get_xdata(), ln.get_ydata()) for ln in budget.get_lines()
               if ln.get_marker() == "x" and ln.get_color() == style.method_color(model)]
        assert len(got) == len(want)
        for (gx, gy), (wx, wy) in zip(got, want, strict=True):
            same(gx, wx)
            np.testing.assert_allclose(gy, wy, rtol=1e-12)
        if want:
            assert f"{style.objective_label(model)}: remainder > 0.1" in drawn["c"]
    # both sums are 0 after 0 steps: one marker per run and sum at the axis floor, counted
    floor = [ln for ln in budget.get_lines() if ln.get_label() == "_floor"]
    assert sorted(np.concatenate([ln.get_xdata() for ln in floor]).tolist()) == \
        [0] * (2 * len(run_paths))
    note = f"at the axis floor: {2 * len(run_paths)} sums exactly 0"
    assert note in drawn["c"]
    assert {k for k in drawn["c"] if "remainder" not in k and k != note} == want_c


# --------------------------------------------------------------------------- fixture runs
@pytest.fixture(scope="module")
def ctx(fixture_cache, tiny_plan):
    specs = runs.unique(tiny_plan.all_specs())
    return cli.Context(tiny_plan, {s.key(): runs.run_path(fixture_cache, s) for s in specs})


def test_appendix_d_plots_linearization_csv_and_the_runs_schedule(ctx, tiny_plan,
                                                                    fixture_cache):
    with style.style():
        fig = cli.FIGURES["appendix-d"].build(ctx)
    try:
        paths = [runs.run_path(fixture_cache, s) for s in tiny_plan.linearization]
        check_figure(fig, paths)
        jac, rem, budget = fig.axes
        assert jac.get_yscale() == rem.get_yscale() == budget.get_yscale() == "log"
        assert "realised step" in rem.get_title()
        assert budget.get_xlabel() == "training step t"
    finally:
        plt.close(fig)


def test_the_alias_and_the_plan_group():
    assert cli.ALIASES["linearization"] == "appendix-d"
    assert cli.FIGURES["appendix-d"].groups == ("linearization",)
    for size in runs.GALLERY_SIZES:
        plan = runs.gallery_plan(size)
        lin = plan.linearization
        assert [s.config["tau"] for s in lin] == list(runs.LINEARIZATION_TAUS)
        for spec in lin:
            c = spec.config
            assert c["dataset"] == "digits" and "train_size" not in c
            assert c["objectives"] == ["cl", "nscl"]
            assert c["linearization_every"] == c["eval_every"] == plan.classes[0].config[
                "eval_every"]
            assert 2 <= c["linearization_size"] <= c["reference_size"]
            assert c["checkpoint_every"] == plan.base.config["checkpoint_every"]
    assert runs.gallery_plan("tiny", dataset="mnist").linearization[0].config["dataset"] == \
        "mnist"


def test_first_exceeding_and_labels(fixture_runs):
    table = pd.DataFrame({"step": [8, 0, 4, 0, 4], "model": ["cl", "cl", "cl", "nscl", "nscl"],
                          "relative_remainder": [2.0, 0.05, 0.5, 0.01, float("nan")]})
    assert linearization.first_exceeding(table, 0.1) == {"cl": 4, "nscl": None}
    assert linearization.first_exceeding(table, 1.0) == {"cl": 8, "nscl": None}
    lin = fixture_runs["linearization"]
    assert linearization.run_labels(lin) == ["τ = 0.5", "τ = 0.1"]
    assert linearization.run_labels(lin[:1]) == ["τ = 0.5"]
    other = dataclasses.replace(lin[0], path=lin[0].path.with_name("other"),
                                config={**lin[0].config, "linearization_size": 8})
    assert linearization.run_labels([lin[0], other]) == [f"τ = 0.5 ({lin[0].name})",
                                                        "τ = 0.5 (other)"]


def test_step_budget_that_disagrees_with_the_run_warns_and_keeps_the_recorded_sums(
        tmp_path, fixture_runs):
    src = fixture_runs["linearization"][0].path
    d = tmp_path / "run"
    shutil.copytree(src, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["warmup_steps"] -= 1  # a schedule the run did not take
    (d / "config.json").write_text(json.dumps(cfg))
    run = io.load_run(d)
    with pytest.warns(RuntimeWarning, match="schedule not rebuilt.*bounds.csv sum_eta_so_far"):
        budget = linearization.step_budget(run)
    bounds = pd.read_csv(d / "bounds.csv")
    assert budget["step"].tolist() == [0, *bounds["step"]]
    same(budget["sum_eta"], [0.0, *bounds["sum_eta_so_far"]])
    assert budget["sum_eta_sq"].isna().all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = linearization.step_budget(fixture_runs["linearization"][0])
    assert np.isfinite(ok["sum_eta_sq"]).all()


def test_a_run_without_linearization_rows(fixture_runs, tmp_path, capsys):
    base = fixture_runs["base"][0]
    with pytest.raises(FileNotFoundError, match="linearization_every > 0"):
        linearization.linearization_table(base)
    with pytest.raises(FileNotFoundError, match="got none among 1 run"):
        linearization.figure_linearization([base])
    d = tmp_path / "given"
    shutil.copytree(base.path, d / "base")
    rc = cli.main(["linearization", "--runs", str(d), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "linearization_every > 0" in err


def test_a_missing_column_names_it_and_the_file(fixture_runs):
    run = fixture_runs["linearization"][0]
    broken = io.Run(path=run.path, kind=run.kind, config=run.config, metrics=run.metrics,
                    losses=run.losses, bounds=run.bounds, summary=run.summary,
                    linearization=run.linearization.drop(columns=["jacobian_norm"]))
    with pytest.raises(KeyError, match="'jacobian_norm' in .*linearization.csv"):
        linearization.linearization_table(broken)


def test_given_runs_keep_only_those_with_linearization(fixture_runs, tmp_path):
    d = tmp_path / "given"
    for i, r in enumerate([fixture_runs["base"][0], *fixture_runs["linearization"]]):
        shutil.copytree(r.path, d / f"r{i}")
    rc = cli.main(["appendix-d", "--runs", str(d), "--out", str(tmp_path / "o"),
                   "--formats", "png", "--dpi", "30"])
    assert rc == 0 and (tmp_path / "o" / "appendix-d.png").stat().st_size > 1000


# --------------------------------------------------------------------------- --dataset
def test_dataset_offers_every_bundled_data_set_of_the_catalog():
    import dataclasses

    from cl_nscl_align.options import field_choices

    (field,) = [f for f in dataclasses.fields(cli.Gallery) if f.name == "dataset"]
    bundled = [n for n, info in CATALOG.items() if not info.needs_root]
    assert list(field_choices(field)) == bundled and "mnist" in bundled
    assert any("--dataset" in a.option_strings for a in cli._parser()._actions)
    for name in bundled:  # every choice makes a plan whose runs validate
        plan = runs.gallery_plan("quick", dataset=name)
        assert all(s.key() for s in plan.all_specs())


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_tiny_end_to_end_trains_and_draws_real_runs(tmp_path):
    """``python -m figures linearization --size tiny``: two real digits runs, then the
    figure; redrawn from the cache, its data are the real runs' linearization.csv."""
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "figures", "linearization", "--size", "tiny",
                        "--out", str(out), "--formats", "png,pdf", "--dpi", "30",
                        "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "appendix-d.png").stat().st_size > 1000 and (out / "appendix-d.pdf").exists()
    plan = runs.gallery_plan("tiny")
    paths = {s.key(): runs.run_path(out / "runs", s) for s in plan.linearization}
    for p in paths.values():
        lin = pd.read_csv(p / "linearization.csv")
        assert sorted(lin.step.unique()) == [0, 4, 8] and set(lin.model) == {"cl", "nscl"}
        assert (lin["update"] == "optimizer").all() and (lin["n"] == 16).all()
    ctx = cli.Context(plan, paths)
    with style.style():
        fig = cli.FIGURES["appendix-d"].build(ctx)
    try:
        check_figure(fig, [paths[s.key()] for s in plan.linearization])
    finally:
        plt.close(fig)
