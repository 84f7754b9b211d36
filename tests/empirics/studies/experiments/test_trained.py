"""A finished run's trained models and full splits, rebuilt from its directory."""

from __future__ import annotations

import torch

from empirics.studies.trained import embed, full_splits, load_trained, member_features


def test_full_splits_are_the_trainers_data(run0):
    t = load_trained(run0)
    assert torch.equal(t.train.x, t.trainer.train_set.x.cpu())
    assert torch.equal(t.train.y, t.trainer.train_set.y.cpu())
    train, test = full_splits(t.trainer)
    assert len(test) == t.config.test_size and torch.equal(train.y, t.train.y)


def test_weights_are_the_checkpoints(run0):
    from empirics.runs.writer import load_checkpoint

    t = load_trained(run0)
    state = load_checkpoint(run0 / "checkpoints" / "last.pt")
    for m in t.trainer.members:
        saved = state["members"][m.name]["model"]
        assert all(torch.equal(v, saved[k]) for k, v in m.module.state_dict().items())


def test_features_are_plain_forward_passes(run0):
    t = load_trained(run0)
    feats = member_features(t)
    mod = t.modules()["scl"]
    with torch.no_grad():
        h, z = mod(t.test.x)
    assert torch.equal(feats["scl"]["test"]["h"], h.double())
    assert torch.equal(feats["scl"]["test"]["z"], z.double())
    h2, _ = embed(mod, t.test.x, chunk=7)  # chunking does not change the rows
    torch.testing.assert_close(h2, h.double(), rtol=0, atol=1e-6)
