"""metrics.csv rows recomputed from the models' own features, with a fixed pair order.

``rho`` and ``r`` are normalised by the first model of a pair (CL for ``cl-nscl``,
THEORY.md s7); a swapped pair gives other values, so this catches an evaluator that
normalises by the wrong model.
"""

import numpy as np
import pytest
import torch

from empirics.metrics import cka, r, rho, rsa, similarity_gap
from empirics.runs.reader import read_table
from empirics.training.config import TrainConfig
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
            feats[m.name] = {"z": z.double().numpy(), "h": h.flatten(1).double().numpy()}

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
