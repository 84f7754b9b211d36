"""figures.io reads the real run-directory format (fixtures written by the real writers)."""

import numpy as np
import pandas as pd
import pytest

from figures import io


def test_load_run_reads_every_table(fixture_runs):
    run = fixture_runs["base"][0]
    assert run.cfg("classes") == 10
    assert {"step", "pair", "split", "features", "cka", "sim_gap"} <= set(run.metrics.columns)
    assert {"loss_cl", "loss_nscl", "loss_gap_bound"} <= set(run.losses.columns)
    assert {"step", "sim_gap", "cka_lower"} <= set(run.bounds.columns)
    assert io.pairs_in(run) == ["cl-nscl", "cl-scl", "cl-ce"]
    assert io.splits_in(run) == ["train", "test"]


def test_load_run_rejects_non_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory"):
        io.load_run(tmp_path)


def test_find_runs(fixture_cache, tiny_plan):
    found = io.find_runs(fixture_cache)
    assert len(found) == len(tiny_plan.all_specs())


def test_pair_series_filters_split_and_features(fixture_runs):
    run = fixture_runs["base"][0]
    s = io.pair_series(run, "cl-nscl", "cka", split="test", features="h")
    m = run.metrics
    sel = m[(m.pair == "cl-nscl") & (m.split == "test") & (m.features == "h")]
    assert len(s) == len(sel) and np.allclose(s["value"], sel.sort_values("step")["cka"])
    assert np.all(np.diff(s["step"]) > 0)
    # epochs recorded -> time axis is the epoch
    assert io.time_axis(m) == ("epoch", "epoch")
    assert np.allclose(s["t"], sel.sort_values("step")["epoch"])


def test_pick_features_falls_back():
    df = pd.DataFrame({"features": ["z", "z"]})
    assert io.pick_features(df, "h") == "z"
    assert io.pick_features(pd.DataFrame({"a": [1]}), "h") is None


def test_require_names_missing_column(fixture_runs):
    with pytest.raises(KeyError, match="'nope'"):
        io.pair_series(fixture_runs["base"][0], "cl-nscl", "nope")


def test_bounds_series_and_final_value(fixture_runs):
    run = fixture_runs["base"][0]
    b = io.bounds_series(run, "sim_gap")
    assert len(b) == len(run.bounds) and b["step"].min() > 0
    assert np.all(np.isfinite(b["t"]))
    v = io.final_value(run, "cl-nscl", "cka")
    assert 0 <= v <= 1


def test_surrogate_trace(fixture_runs):
    tr = io.surrogate_trace(fixture_runs["surrogate"][0])
    assert {"step", "measured", "certificate", "recurrence", "theorem1"} <= set(tr.columns)
    assert tr["step"].iloc[0] == 0 and tr["measured"].iloc[0] == 0
    ok = tr["event_held"].to_numpy()
    # The surrogate's promise (THEORY.md s9), read back through figures.io.
    assert np.all(tr["measured"][ok] <= tr["certificate"][ok] * (1 + 1e-9) + 1e-12)


def test_loss_gap_table_fills_gap(fixture_runs):
    run = fixture_runs["classes"][0]
    lg = io.loss_gap_table(run.__class__(**{**run.__dict__,
                                            "losses": run.losses.drop(columns="loss_gap")}))
    assert np.allclose(lg["loss_gap"], lg["loss_cl"] - lg["loss_nscl"])


def test_finite_positive():
    x = io.finite([0.0, 1.0, np.inf, -2.0], positive=True)
    assert np.isnan(x[[0, 2, 3]]).all() and x[1] == 1.0
    assert np.isnan(io.finite([np.inf])[0])


def test_load_table(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "results.csv", index=False)
    assert io.load_table(tmp_path)["a"].tolist() == [1]
    with pytest.raises(FileNotFoundError, match="results.csv"):
        io.load_table(tmp_path / "missing")


def test_runs_from_a_real_sweep(tmp_path):
    """A folder written by empirics.sweep (tiny surrogate grid) reads back as runs."""
    from empirics.sweep import run_sweep

    run_sweep({"C": [3, 4]}, out=tmp_path, kind="surrogate",
              base={"N": 16, "B": 4, "steps": 5}, executor="serial", progress=False)
    found = io.runs_from(tmp_path)
    assert sorted(r.cfg("C") for r in found) == [3, 4]
    assert all(io.is_surrogate(r) for r in found)
    assert len(io.surrogate_trace(found[0])) == 6
