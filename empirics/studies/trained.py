"""A finished lockstep run's trained models, its full data splits, and their features.

The studies that measure the *final weights* of a run (accuracy, few-shot, merging, the
real networks' gap of :mod:`empirics.studies.trends`, C5's long-run task) read them here:
:func:`load_trainer` rebuilds the run's data, architecture and members from its saved
configuration (:class:`~empirics.training.lockstep.LockstepTrainer`) and puts the weights
of ``checkpoints/last.pt`` in (loaded with ``weights_only``; :mod:`empirics.runs.writer`);
:func:`load_trained` adds the full data splits.
The trainer keeps the full training split but only a reference subset of the test split,
so :func:`full_splits` loads both splits again with exactly the trainer's arguments (a
test checks that the training split equals the trainer's). No training happens here.

Nothing is imported from torch at module import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Trained", "embed", "full_splits", "load_trained", "load_trainer",
           "member_features"]


@dataclass
class Trained:
    """A run's trainer (weights loaded), its full splits, and where it came from."""

    path: Path
    trainer: Any  # LockstepTrainer
    train: Any  # Dataset (CPU)
    test: Any  # Dataset (CPU)

    @property
    def config(self):
        return self.trainer.config

    def modules(self) -> dict[str, Any]:
        """``{member name: ContrastiveModel}`` (eval mode)."""
        out = {}
        for m in self.trainer.members:
            m.module.eval()
            out[m.name] = m.module
        return out


def full_splits(trainer) -> tuple[Any, Any]:
    """The run's train and test splits, loaded with the trainer's own arguments (CPU)."""
    from empirics.data import load_dataset

    cfg = trainer.config
    kw: dict[str, Any] = {}
    if cfg.dataset == "synthetic":  # as LockstepTrainer.__init__
        kw["difficulty"] = float(cfg.difficulty)
        if cfg.image_size is not None:
            kw["image_shape"] = (3, cfg.image_size, cfg.image_size)
    return load_dataset(cfg.dataset, classes=cfg.classes, seed=cfg.seed, root=cfg.data_root,
                        train_size=cfg.train_size, test_size=cfg.test_size, **kw)


def load_trainer(run_dir: str | os.PathLike):
    """The run's :class:`~empirics.training.lockstep.LockstepTrainer` with the trained
    weights of its last checkpoint (on CPU).

    Raises:
        ValueError: the run is not finished (its checkpoint is not of the last step).
        RunFileError: an unreadable ``config.json`` or checkpoint (names the file).
    """
    from empirics.runs import RunDir
    from empirics.runs.writer import load_checkpoint, read_config
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer

    run = RunDir(run_dir)
    config = TrainConfig.from_dict(read_config(run)).replace(device="cpu", out=None)
    trainer = LockstepTrainer(config)
    state = load_checkpoint(run.last)
    if int(state.get("step", -1)) != trainer.T:
        raise ValueError(f"Expected the checkpoint of a finished run (step {trainer.T}) in "
                         f"{str(run.last)!r}, got step {state.get('step')!r}")
    trainer.load_state_dict(state)
    return trainer


def load_trained(run_dir: str | os.PathLike) -> Trained:
    """The trained models and full splits of the finished run in ``run_dir`` (CPU).

    Raises:
        ValueError: the run is not finished (its checkpoint is not of the last step).
        RunFileError: an unreadable ``config.json`` or checkpoint (names the file).
    """
    trainer = load_trainer(run_dir)
    train, test = full_splits(trainer)
    return Trained(Path(run_dir), trainer, train, test)


def embed(module, x, *, chunk: int = 1024) -> tuple[Any, Any]:
    """Features ``(h, z)`` of inputs ``x`` (float64, CPU), in eval mode, without gradients.

    ``h`` is the backbone output (flattened), ``z`` the projector output.
    """
    import torch

    was = module.training
    module.eval()
    device = next(module.parameters()).device
    hs, zs = [], []
    try:
        with torch.no_grad():
            for s in range(0, x.shape[0], chunk):
                h, z = module(x[s:s + chunk].to(device))
                hs.append(h.flatten(1).double().cpu())
                zs.append(z.double().cpu())
    finally:
        module.train(was)
    return torch.cat(hs), torch.cat(zs)


def member_features(trained: Trained, modules: dict[str, Any] | None = None
                    ) -> dict[str, dict[str, dict[str, Any]]]:
    """``{name: {"train" | "test": {"h": (N, d_h), "z": (N, d_z)}}}`` on the full splits."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, module in (modules or trained.modules()).items():
        out[name] = {}
        for split, ds in (("train", trained.train), ("test", trained.test)):
            h, z = embed(module, ds.x)
            out[name][split] = {"h": h, "z": z}
    return out
