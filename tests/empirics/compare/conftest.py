"""Shared fixtures of the comparison tests: a tiny trained run, feature files, the CLI."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A CL + NSCL run of 6 steps trained with the ``empirics.training`` API (seconds).

    ``lr`` is large enough that the two models move apart (CKA about 0.99, not 1).
    """
    from empirics.training.config import TrainConfig
    from empirics.training.trainer import train

    out = tmp_path_factory.mktemp("compare-run") / "run"
    cfg = TrainConfig(classes=4, train_size=128, test_size=64, reference_size=32,
                      batch_size=16, steps=6, warmup_steps=1, eval_every=3,
                      checkpoint_every=3, feature_dim=16, proj_dim=8, lr=2.0,
                      objectives="cl,nscl", device="cpu", out=str(out))
    train(cfg, progress=False)
    return out


@pytest.fixture(scope="session")
def features(tmp_path_factory):
    """``a.npy`` (120 x 6), ``b.npy`` (120 x 4, related to a), ``ab.npz``, ``a.pt``, labels."""
    import torch

    d = tmp_path_factory.mktemp("compare-features")
    g = np.random.default_rng(0)
    X = g.normal(size=(120, 6))
    Y = np.tanh(X[:, :4] + 0.5 * X[:, 4:5]) + 0.2 * g.normal(size=(120, 4))
    np.save(d / "a.npy", X)
    np.save(d / "b.npy", Y)
    np.savez(d / "ab.npz", x=X, y=Y)
    torch.save(torch.from_numpy(X), d / "a.pt")
    np.save(d / "views.npy", np.stack([X, X + 0.05 * g.normal(size=X.shape)]))
    np.save(d / "labels.npy", np.arange(120) % 3)
    return d


@pytest.fixture
def cli(capsys):
    """``cli(*argv) -> (exit status, stdout, stderr)`` of ``main`` in this process."""
    from empirics.compare.cli import main

    def run(*argv):
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return run
