"""Shared fixture: one small pinned lockstep run (empirics.studies.golden.TRAIN_KW), trained
once. Its configuration is chosen so that [P2]'s corollaries bite on the pinned seed
(``rho < 1`` and ``r < 1``; see the golden module's docstring).

The run observes the models *during* training, which a finished run directory cannot
give (it keeps only the last checkpoint), so it is trained through the trainer's
``callback`` rather than launched: at every evaluation step the callback records,
independently of the trainer's own CSVs, (a) the per-anchor CL and NSCL losses of every
model on a training batch and its views and (b) every model's features on the train
reference set. Everything runs under ``no_grad`` in eval mode and restores train mode, so
the run itself is not perturbed: ``test_golden.py`` checks that its tables equal, byte for
byte, those of the same spec launched through :func:`empirics.runs.launch`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    from empirics import losses
    from empirics.studies.golden import TRAIN_KW
    from empirics.training.config import TrainConfig
    from empirics.training.trainer import train

    tau, every = TRAIN_KW["tau"], TRAIN_KW["eval_every"]
    p1, feats = [], []

    def callback(done, trainer):
        if done % every and done != trainer.T:
            return
        idx = trainer.batch_indices(done % trainer.T)
        x, y = trainer.train_set.x[idx], trainer.train_set.y[idx]
        views = trainer.views_for(done, x)  # (K, B, ...), its own seeded generator
        K, B = views.shape[:2]
        ref = trainer.references["train"]
        step_feats = {}
        for m in trainer.members:
            was = m.net.training
            m.net.eval()
            with torch.no_grad():
                _, z = m.net(views.reshape(K * B, *views.shape[2:]))
                z = z.reshape(K, B, -1)
                gap = (losses.cl_loss(z, tau, per_anchor=True)
                       - losses.nscl_loss(z, y, tau, per_anchor=True))
                h_ref, z_ref = m.net(ref.x)
            m.net.train(was)
            p1.append({"step": done, "model": m.name, "gap": gap.double().numpy(),
                       "labels": y.numpy(), "B": B})
            step_feats[m.name] = {"z": z_ref.double().numpy(), "h": h_ref.double().numpy()}
        feats.append({"step": done, "features": step_feats})

    out = tmp_path_factory.mktemp("golden") / "run"
    run_dir = train(TrainConfig(**TRAIN_KW, out=str(out)), progress=False, callback=callback)
    return {"run_dir": run_dir, "p1": p1, "features": feats, "tau": tau}


@pytest.fixture(scope="session")
def class_counts():
    def counts(labels: np.ndarray) -> np.ndarray:
        """Each sample's class size within the batch."""
        return (labels[:, None] == labels[None, :]).sum(1)

    return counts
