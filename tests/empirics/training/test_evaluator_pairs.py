"""metrics.csv rows recomputed from the models' own features, with a fixed pair order.

``rho`` and ``r`` are normalised by the first model of a pair (CL for ``cl-nscl``,
THEORY.md s7); a swapped pair gives other values, so this catches an evaluator that
normalises by the wrong model. Every measure of the registry is a column, computed by its
own function; ``weight_distance`` is ``||w_a - w_b||`` of the models' parameters.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from empirics.measures import MEASURES
from empirics.metrics import cka, mutual_knn, procrustes_distance, r, rho, rsa, similarity_gap
from empirics.runs.reader import read_table
from empirics.training.config import TrainConfig
from empirics.training.evaluator import metrics_columns
from empirics.training.trainer import train


@pytest.fixture(scope="module")
def run_and_features(tmp_path_factory):
    cfg = TrainConfig(classes=4, train_size=96, test_size=48, reference_size=32, batch_size=16,
                      steps=8, warmup_steps=0, eval_every=4, checkpoint_every=8, feature_dim=16,
                      proj_dim=8, objectives=("cl", "nscl", "scl"), device="cpu", lr=0.5,
                      out=str(tmp_path_factory.mktemp("pairs") / "run"))
    feats = {}

    def grab(done, trainer):
        if done != trainer.T:
            return
        x = trainer.references["train"].x
        for m in trainer.members:
            m.module.eval()
            with torch.no_grad():
                h, z = m.module(x)
            m.module.train()
            feats[m.name] = {"z": z.double().numpy(), "h": h.flatten(1).double().numpy(),
                             "w": torch.cat([p.detach().double().flatten()
                                             for p in m.module.parameters()])}

    out = train(cfg, progress=False, callback=grab)
    return read_table(out / "metrics.csv"), feats, cfg.steps


@pytest.mark.parametrize("pair", ["cl-nscl", "cl-scl", "nscl-scl"])
@pytest.mark.parametrize("kind", ["z", "h"])
def test_rows_equal_the_metrics_of_the_saved_features(run_and_features, pair, kind):
    metrics, feats, T = run_and_features
    a, b = pair.split("-")
    row = metrics[(metrics.step == T) & (metrics.pair == pair) & (metrics.split == "train")
                  & (metrics.features == kind)].iloc[0]
    X, Y = feats[a][kind], feats[b][kind]
    assert row["rho"] == pytest.approx(rho(X, Y), rel=1e-9)
    assert row["r"] == pytest.approx(r(X, Y), rel=1e-9)
    assert row["cka"] == pytest.approx(cka(X, Y), rel=1e-9)
    assert row["rsa"] == pytest.approx(rsa(X, Y), rel=1e-9)
    assert row["sim_gap"] == pytest.approx(similarity_gap(X, Y), rel=1e-9)
    # the order matters: normalised by the other model the values differ
    assert not np.isclose(row["rho"], rho(Y, X), rtol=1e-6)
    assert not np.isclose(row["r"], r(Y, X), rtol=1e-6)
    assert row["procrustes"] == pytest.approx(procrustes_distance(X, Y), rel=1e-9)
    assert row["mutual_knn"] == mutual_knn(X, Y, k=MEASURES["mutual_knn"].options["k"])
    want = float(torch.linalg.vector_norm(feats[a]["w"] - feats[b]["w"]))
    assert row["weight_distance"] == pytest.approx(want, rel=1e-12)


def test_the_columns_are_the_registry_s_measures_in_place(run_and_features):
    metrics, _, _ = run_and_features
    assert list(metrics.columns) == metrics_columns()
    names = list(MEASURES.names())
    assert list(metrics.columns)[6:6 + len(names)] == names  # after step ... n, in order
    assert list(metrics.columns)[-1] == "weight_distance"
    assert metrics[names].notna().all().all()


def test_a_measure_undefined_on_a_small_reference_set_is_nan_with_one_warning(tmp_path):
    """``mutual_knn`` (k = 10) needs ``k + 2`` reference rows: with 8 it is NaN, and says so
    once per distinct reason, while every other measure is computed."""
    cfg = TrainConfig(classes=2, train_size=32, test_size=16, reference_size=8, batch_size=8,
                      steps=2, warmup_steps=0, eval_every=1, feature_dim=8, proj_dim=4,
                      objectives=("cl", "nscl"), device="cpu", out=str(tmp_path / "run"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = train(cfg, progress=False)
    metrics = read_table(out / "metrics.csv")
    assert metrics["mutual_knn"].isna().all() and metrics["procrustes"].notna().all()
    said = {str(w.message) for w in caught if str(w.message).startswith("mutual_knn")}
    assert len(said) == 1 and "Expected `k` < N - 1 = 7" in said.pop()
    assert not math.isnan(metrics["cka"].iloc[0])
