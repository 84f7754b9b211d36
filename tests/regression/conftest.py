"""Shared fixture: one small pinned lockstep run (empirics.golden.TRAIN_KW), trained once.

At every evaluation step the callback records, independently of the trainer's own CSVs,
(a) the per-anchor CL and NSCL losses of every model on a training batch and its views and
(b) every model's features on the train reference set. Everything runs under ``no_grad`` in
eval mode and restores train mode, so the run itself is not perturbed (the golden test
checks that: its numbers come from this very run).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    from empirics import losses as L
    from empirics.golden import TRAIN_KW, run_trainer

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
                gap = (L.cl_loss(z, tau, per_anchor=True)
                       - L.nscl_loss(z, y, tau, per_anchor=True))
                h_ref, z_ref = m.net(ref.x)
            m.net.train(was)
            p1.append({"step": done, "model": m.name, "gap": gap.double().numpy(),
                       "labels": y.numpy(), "B": B})
            step_feats[m.name] = {"z": z_ref.double().numpy(), "h": h_ref.double().numpy()}
        feats.append({"step": done, "features": step_feats})

    out = tmp_path_factory.mktemp("golden") / "run"
    run_dir = run_trainer(out, callback=callback)
    return {"run_dir": run_dir, "p1": p1, "features": feats, "tau": tau}


@pytest.fixture(scope="session")
def class_counts():
    def counts(labels: np.ndarray) -> np.ndarray:
        """Each sample's class size within the batch."""
        return (labels[:, None] == labels[None, :]).sum(1)

    return counts
