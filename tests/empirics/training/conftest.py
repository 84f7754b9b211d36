"""Shared fixtures of the trainer tests."""

import pytest

from empirics.training.config import TrainConfig


@pytest.fixture(scope="session")
def tiny():
    """A factory of tiny lockstep configurations (all five objectives, a few steps on CPU).

    ``tiny(tmp_path, name, **overrides)`` writes to ``tmp_path / name``; without
    ``tmp_path`` the run directory is left to the trainer.
    """

    def make(tmp_path=None, name="run", **kw) -> TrainConfig:
        base = dict(
            classes=4, train_size=128, test_size=64, reference_size=32, batch_size=32,
            steps=12, warmup_steps=2, eval_every=2, checkpoint_every=4, feature_dim=16,
            proj_dim=8, objectives="cl,ntxent,nscl,scl,ce", device="cpu",
            out=None if tmp_path is None else str(tmp_path / name),
        )  # fmt: skip
        base.update(kw)
        return TrainConfig(**base)

    return make
