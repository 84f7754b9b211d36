"""figures.io: thin views over empirics.runs.Run; every unreadable input names its file."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from empirics.runs import RunFileError
from empirics.runs.reader import Run
from figures import io


def test_load_run_reads_every_table(fixture_runs):
    run = fixture_runs["base"][0]
    assert isinstance(run, Run) and run.kind == "train" and run.done
    assert run.cfg("classes") == 10 and "kind" not in run.config
    assert {"step", "pair", "split", "features", "cka", "sim_gap"} <= set(run.metrics.columns)
    assert {"loss_cl", "loss_nscl", "loss_gap_bound"} <= set(run.losses.columns)
    assert {"step", "sim_gap", "cka_lower"} <= set(run.bounds.columns)
    assert io.pairs_in(run) == ["cl-nscl", "cl-scl", "cl-ce"]
    assert io.splits_in(run) == ["train", "test"]
    assert io.is_surrogate(fixture_runs["surrogate"][0]) and not io.is_surrogate(run)


def test_load_run_rejects_non_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory"):
        io.load_run(tmp_path)


def test_find_runs(fixture_cache, tiny_plan):
    found = io.find_runs(fixture_cache)
    assert len(found) == len(tiny_plan.all_specs())
    assert sorted(r.path.name for r in found) == sorted(s.dirname()
                                                         for s in tiny_plan.all_specs())


def test_setting_reads_each_kinds_field_name(fixture_runs):
    train, sur = fixture_runs["classes"][0], fixture_runs["surrogate"][0]
    assert io.setting(train, "classes") == train.config["classes"]
    assert io.setting(sur, "classes") == sur.config["C"]
    assert io.setting(sur, "batch_size") == sur.config["B"]
    assert io.setting(train, "tau") == train.config["tau"]
    assert io.setting(train, "nothing", 7) == 7


def test_pair_series_filters_split_and_features(fixture_runs):
    run = fixture_runs["base"][0]
    s = io.pair_series(run, "cl-nscl", "cka", split="test", features="h")
    m = pd.read_csv(run.path / "metrics.csv")
    sel = m[(m.pair == "cl-nscl") & (m.split == "test") & (m.features == "h")]
    assert len(s) == len(sel)
    np.testing.assert_array_equal(s["value"], sel.sort_values("step")["cka"])
    assert np.all(np.diff(s["step"]) > 0)
    assert io.time_axis(run.metrics) == ("epoch", "epoch")  # epochs recorded
    np.testing.assert_array_equal(s["t"], sel.sort_values("step")["epoch"])


def test_pick_features_falls_back():
    df = pd.DataFrame({"features": ["z", "z"]})
    assert io.pick_features(df, "h") == "z"
    assert io.pick_features(pd.DataFrame({"a": [1]}), "h") is None


def test_require_names_missing_column_and_file(fixture_runs):
    run = fixture_runs["base"][0]
    with pytest.raises(KeyError, match=r"'nope' in .*metrics\.csv"):
        io.pair_series(run, "cl-nscl", "nope")
    with pytest.raises(KeyError, match=r"'nope' in .*bounds\.csv"):
        io.bounds_series(run, "nope")


def test_bounds_series_and_final_value(fixture_runs):
    run = fixture_runs["base"][0]
    b = io.bounds_series(run, "sim_gap")
    raw = pd.read_csv(run.path / "bounds.csv")
    np.testing.assert_array_equal(b["value"], raw["sim_gap"])
    np.testing.assert_array_equal(b["t"], raw["epoch"])
    m = pd.read_csv(run.path / "metrics.csv")
    last = m[(m.pair == "cl-nscl") & (m.split == "test") & (m.features == "z")].iloc[-1]
    assert io.final_value(run, "cl-nscl", "cka") == last["cka"]
    assert np.isnan(io.final_value(run, "cl-ntxent", "cka"))


def test_surrogate_trace_is_the_metrics_columns(fixture_runs):
    run = fixture_runs["surrogate"][0]
    tr = io.surrogate_trace(run)
    raw = pd.read_csv(run.path / "metrics.csv").sort_values("step")
    np.testing.assert_array_equal(tr["measured"], raw["sim_gap"])
    for c in io.SURROGATE_COLUMNS:
        if c in raw.columns:
            np.testing.assert_array_equal(tr[c], raw[c])
    assert tr["step"].iloc[0] == 0 and tr["measured"].iloc[0] == 0
    ok = tr["event_held"].to_numpy()
    assert ok.dtype == bool
    # The surrogate's promise (THEORY.md s9), read back through figures.io.
    assert np.all(tr["measured"][ok] <= tr["certificate"][ok] * (1 + 1e-9) + 1e-12)


def test_surrogate_trace_takes_per_step_bounds_from_bounds_csv(tmp_path):
    from empirics.runs.writer import RunWriter

    w = RunWriter(tmp_path / "s", kind="surrogate", columns={"metrics": None, "bounds": None})
    w.open({"C": 2}, resume=False)
    w.append("metrics", [{"step": t, "pair": "cl-nscl", "sim_gap": 0.5 * t,
                          "event_held": t < 2} for t in range(3)])
    w.append("bounds", [{"step": t, "theorem1": 10.0 + t, "recurrence": 5.0 + t}
                        for t in (0, 2)])
    w.finish({})
    tr = io.surrogate_trace(io.load_run(tmp_path / "s"))
    np.testing.assert_array_equal(tr["theorem1"], [10.0, np.nan, 12.0])
    np.testing.assert_array_equal(tr["recurrence"], [5.0, np.nan, 7.0])
    assert tr["event_held"].tolist() == [True, True, False]
    assert "certificate" not in tr.columns


def test_loss_gap_table_fills_gap(fixture_runs):
    run = fixture_runs["classes"][0]
    older = dataclasses.replace(run, losses=run.losses.drop(columns="loss_gap"))
    lg = io.loss_gap_table(older)
    np.testing.assert_allclose(lg["loss_gap"], lg["loss_cl"] - lg["loss_nscl"])
    assert set(io.loss_gap_table(run, split="test")["split"]) == {"test"}


def test_finite_positive():
    x = io.finite([0.0, 1.0, np.inf, -2.0], positive=True)
    assert np.isnan(x[[0, 2, 3]]).all() and x[1] == 1.0
    assert np.isnan(io.finite([np.inf])[0])


def test_flag_reads_written_booleans():
    assert io.flag(pd.Series([True, False])).tolist() == [True, False]
    assert io.flag(pd.Series(["true", "false", "True"])).tolist() == [True, False, True]


def test_load_table(tmp_path):
    (tmp_path / "results.csv").write_text("a\n1\n")
    assert io.load_table(tmp_path)["a"].tolist() == [1]
    with pytest.raises(FileNotFoundError, match="results.csv"):
        io.load_table(tmp_path / "missing")
    (tmp_path / "results.csv").write_text("a,b\n1\n")
    with pytest.raises(RunFileError, match=r"results\.csv, line 2"):
        io.load_table(tmp_path)


# --------------------------------------------------------------------------- runs_from
def _sweep(tmp_path, fixture_cache, tiny_plan, **extra):
    """A sweep folder whose results.csv points at the fixture's classes runs."""
    from empirics.studies import plan as runs

    rows = [{"name": s.dirname(), "status": "ok",
             "run_dir": str(runs.run_path(fixture_cache, s)), **extra}
            for s in tiny_plan.classes]
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pd.DataFrame(rows).to_csv(sweep / "results.csv", index=False)
    return sweep, rows


def test_runs_from_a_sweep_folder(tmp_path, fixture_cache, tiny_plan):
    sweep, rows = _sweep(tmp_path, fixture_cache, tiny_plan)
    found = io.runs_from(sweep)
    assert [r.path.name for r in found] == [r["name"] for r in rows]
    assert [r.path.name for r in io.runs_from(sweep / "results.csv")] == [r["name"]
                                                                         for r in rows]


def test_runs_from_skips_failed_rows_and_finds_relative_run_dirs(tmp_path, fixture_cache,
                                                                 tiny_plan):
    import shutil

    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    spec = tiny_plan.classes[0]
    from empirics.studies import plan as runs

    shutil.copytree(runs.run_path(fixture_cache, spec), sweep / "runs" / "a")
    pd.DataFrame([{"name": "a", "status": "ok", "run_dir": "runs/a"},
                  {"name": "b", "status": "failed", "run_dir": "runs/b"}]
                 ).to_csv(sweep / "results.csv", index=False)
    (found,) = io.runs_from(sweep)
    assert found.path == sweep / "runs" / "a"


def test_runs_from_results_without_run_dir_names_the_file(tmp_path):
    (tmp_path / "results.csv").write_text("name,status\na,ok\n")
    with pytest.raises(RunFileError, match=r"results\.csv: expected a 'run_dir' column"):
        io.runs_from(tmp_path)


def test_runs_from_a_missing_finished_run_names_the_line(tmp_path):
    (tmp_path / "results.csv").write_text("name,status,run_dir\na,failed,x\nb,ok,nowhere\n")
    with pytest.raises(RunFileError, match=r"results\.csv, line 3: .*'nowhere'"):
        io.runs_from(tmp_path)


def test_runs_from_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.runs_from(tmp_path / "nope")


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_runs_from_a_corrupt_config_names_the_file(tmp_path, fixture_runs):
    run = _copy_run(fixture_runs["base"][0].path, tmp_path / "runs" / "r")
    (run / "config.json").write_text('{"kind": "train", "classes": ')
    with pytest.raises(RunFileError, match=r"r/config\.json: expected JSON"):
        io.runs_from(tmp_path / "runs")


def test_runs_from_garbage_metrics_names_file_and_line(tmp_path, fixture_runs):
    run = _copy_run(fixture_runs["base"][0].path, tmp_path / "runs" / "r")
    text = (run / "metrics.csv").read_text().splitlines(keepends=True)
    text[3] = "garbage,,\n"
    (run / "metrics.csv").write_text("".join(text))
    with pytest.raises(RunFileError, match=r"metrics\.csv, line 4"):
        io.runs_from(tmp_path / "runs")


def test_a_run_without_kind_reads_as_a_training_run(tmp_path, fixture_runs):
    run = _copy_run(fixture_runs["base"][0].path, tmp_path / "old")
    cfg = json.loads((run / "config.json").read_text())
    cfg.pop("kind")
    (run / "config.json").write_text(json.dumps(cfg))
    old = io.load_run(run)
    assert old.kind == "train" and not io.is_surrogate(old)
