"""C5's long-run task: a run that records the weight distance (metrics.csv's
``weight_distance``) is read, not replayed; for a run written before that column, the replay
(the fallback) reproduces the run (its weight gaps at every evaluation, its final weights),
the distances are the absolute ones, and a stranger run is refused."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from empirics.runs import RunSpec, launch, read_run
from empirics.studies.claims import longrun
from empirics.studies.trained import load_trainer

CFG = dict(dataset="digits", classes=10, train_size=120, test_size=60, reference_size=24,
           batch_size=16, steps=12, eval_every=4, checkpoint_every=12, feature_dim=16,
           proj_dim=8, arch="mlp", objectives=["cl", "nscl"], seed=3, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("longrun")
    (res,) = launch([RunSpec("train", CFG)], root, names=["long"])
    assert res.ok, res.error
    return root / "long"


@pytest.fixture(scope="module")
def run(trained, tmp_path_factory):
    """The run as one written before the trainer recorded ``weight_distance`` (the replay's
    case)."""
    import shutil

    old = tmp_path_factory.mktemp("old") / "long"
    shutil.copytree(trained, old)
    m = pd.read_csv(old / "metrics.csv")
    m.drop(columns="weight_distance").to_csv(old / "metrics.csv", index=False)
    return old


def test_replay_reproduces_the_run_and_measures_the_absolute_distance(run):
    trainer, rows, worst = longrun.replay(run)
    assert worst == 0.0 and [r["step"] for r in rows] == [0, 4, 8, 12]
    assert rows[0]["weight_distance"] == 0.0  # one initialisation
    # the last distance is that of the finished run's weights, computed plainly
    final = load_trainer(run)
    m = {x.name: x.module for x in final.members}
    want = math.sqrt(sum(float(((a.detach().double() - b.detach().double()) ** 2).sum())
                         for a, b in
                         zip(m["cl"].parameters(), m["nscl"].parameters(), strict=True)))
    assert rows[-1]["weight_distance"] == pytest.approx(want, rel=1e-12)
    S = read_run(run).bounds.set_index("step")["sum_eta_so_far"]
    assert rows[2]["S"] == pytest.approx(float(S.loc[8]))


def test_a_run_whose_record_differs_is_refused(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    m = pd.read_csv(copy / "metrics.csv")
    m.loc[m["step"] == 8, "weight_gap"] *= 1.01  # as if another run wrote it
    m.to_csv(copy / "metrics.csv", index=False)
    with pytest.raises(ValueError, match="reproduce the run"):
        longrun.replay(copy)


def test_recorded_distances_are_read_not_replayed(run, tmp_path):
    import shutil

    copy = tmp_path / "recorded"
    shutil.copytree(run, copy)
    m = pd.read_csv(copy / "metrics.csv")
    m["weight_distance"] = m["step"] * 0.5
    m.to_csv(copy / "metrics.csv", index=False)
    rows = longrun.recorded_distances(copy)
    assert [r["weight_distance"] for r in rows] == [0.0, 2.0, 4.0, 6.0]
    S = read_run(copy).bounds.set_index("step")["sum_eta_so_far"]
    assert rows[2]["S"] == pytest.approx(float(S.loc[8]))
    assert longrun.recorded_distances(run) is None  # written before the column
    out = longrun.measure({"run": "recorded", "iters": 2, "batches": 1}, tmp_path / "task")
    assert out["distances_from"] == "metrics.csv" and out["replay_max_rel_diff"] == 0.0
    assert out["weight_distance"] == 6.0 and "metrics.csv" in out["estimator"]


def test_the_trainers_record_equals_the_replay(trained, run):
    """Where the trainer records ``weight_distance``, it is the distance the replay
    measures, bitwise (one function, so reading it instead of replaying changes no
    number)."""
    recorded = longrun.recorded_distances(trained)
    assert recorded is not None  # the trainer records the column
    _, rows, _ = longrun.replay(run)
    assert [r["step"] for r in recorded] == [r["step"] for r in rows]
    assert [r["weight_distance"] for r in recorded] == [r["weight_distance"] for r in rows]


def test_the_task_summary(run, tmp_path):
    import shutil

    shutil.copytree(run, tmp_path / "long")
    torch.manual_seed(0)
    out = longrun.measure({"run": "long", "iters": 3, "batches": 1}, tmp_path / "task")
    assert out["distances_from"] == "replay" and out["replay_max_rel_diff"] == 0.0
    assert out["beta"] > 0 and out["G"] > 0 and out["T"] == 12
    assert out["weight_distance"] == out["distances"][-1]["weight_distance"]
    assert out["cpu_seconds"] > 0 and out["log10_theorem2"] is not None
