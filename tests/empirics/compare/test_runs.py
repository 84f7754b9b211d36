"""Two members of one run, no data: the numbers are the run's own last evaluation."""

from __future__ import annotations

import json

import pytest

from empirics.runs import read_run

MEASURES = ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r")


@pytest.mark.slow
@pytest.mark.parametrize("features", ["z", "h"])
def test_members_equal_the_last_metrics_and_losses_rows(cli, tiny_run, features):
    rc, out, err = cli(f"{tiny_run}:cl", f"{tiny_run}:nscl", "--features", features,
                       "--format", "json")
    assert rc == 0, err
    res = json.loads(out)
    run = read_run(tiny_run)
    m = run.metrics
    last = m[(m["step"] == m["step"].max()) & (m["pair"] == "cl-nscl") & (m["split"] == "test")
             & (m["features"] == features)].iloc[0]
    assert res["rows"]["n"] == int(last["n"]) == 32
    assert 0.9 < last["cka"] < 0.9999  # the two models did move apart
    for k in MEASURES:
        assert res["metrics"][k] == pytest.approx(float(last[k]), rel=1e-6, abs=1e-9), k
    w = res["weights"]
    for k in ("weight_gap", "weight_angle", "weight_gap_official"):
        assert w[k] == pytest.approx(float(last[k]), rel=1e-6, abs=1e-9), k
    losses = run.losses
    for side, model in (("A", "cl"), ("B", "nscl")):
        row = losses[(losses["step"] == losses["step"].max()) & (losses["model"] == model)
                     & (losses["split"] == "test")].iloc[0]
        p1 = res["p1"][side]
        for k in ("loss_cl", "loss_nscl", "loss_gap", "loss_gap_min", "loss_gap_bound"):
            assert p1[k] == pytest.approx(float(row[k]), rel=1e-6, abs=1e-9), (model, k)
        assert p1["p1_holds"] == bool(row["p1_holds"])
        column = "accuracy_z" if features == "z" else "accuracy"
        assert res["labels"]["ncc_accuracy"][side] == pytest.approx(float(row[column]),
                                                                    abs=1e-12)


def test_members_of_a_run_with_a_data_set(cli, tiny_run):
    rc, out, err = cli(f"{tiny_run}:cl", f"{tiny_run}:nscl", "--dataset", "synthetic",
                       "--classes", "4", "--n", "40", "--batch-size", "20", "--format", "json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["rows"]["n"] == 40 and "synthetic test split" in res["rows"]["what"]
    assert res["p1"]["A"]["n_batches"] == 2 and res["p1"]["A"]["p1_holds"]
    assert res["p2"]["available"] and len(res["p2"]["rows"]) == 4
