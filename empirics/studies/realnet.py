"""Real networks against the surrogate bound: the trained pair's gap on growing reference sets.

Theorem 1 ([P2], THEORY.md s6) bounds the surrogate's ``||Sigma^CL - Sigma^NSCL||_F`` and
does not depend on ``N``; the gap between two trained encoders' similarity matrices does.
For a finished lockstep run (CL and NSCL), :func:`realnet_rows` measures

    sim_gap(N) = ||Sigma^CL - Sigma^NSCL||_F   on z of a class-stratified train subset of N

for each ``N``, beside the run's own Theorem 1. The trained models are read from the run's
checkpoint (``checkpoints/last.pt``, written at the last step, loaded with
``weights_only``) into the trainer's own :class:`~empirics.training.lockstep.LockstepTrainer`,
which rebuilds the run's data, architecture and members from its saved configuration; no
training happens here. The subsets are drawn from ``rng(seed, "reference", "realnet")``
(:mod:`empirics.seeds`), independent of the run's own reference sets.

Table: docs/surrogate.md section 5 (``python -m empirics.studies trainer``, ``realnet.csv``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["load_trained", "realnet_rows"]


def load_trained(run_dir: str | os.PathLike):
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


def realnet_rows(run_dir: str | os.PathLike, Ns: Sequence[int], *,
                 theorem1: float) -> list[dict[str, Any]]:
    """One row per ``N`` of ``Ns`` (those above the training set are skipped): the CL-NSCL
    ``sim_gap`` and cosine CKA of ``z`` on ``N`` train samples, ``rms_entry = sim_gap / N``
    and whether ``theorem1`` covers the gap.

    Args:
        run_dir: a finished lockstep run training ``cl`` and ``nscl``.
        Ns: reference-set sizes.
        theorem1: the run's Theorem 1 (inf when it overflows float64).
    """
    import torch

    from empirics.data import reference_set
    from empirics.metrics import cka, similarity_gap

    trainer = load_trained(Path(run_dir))
    cfg = trainer.config
    members = {m.name: m for m in trainer.members}
    rows = []
    for n in Ns:
        if n > trainer.N:
            continue
        ref = reference_set(trainer.train_set, n, cfg.seed, "realnet")
        z = {}
        for name in ("cl", "nscl"):
            net = members[name].module
            net.eval()
            with torch.no_grad():
                z[name] = net(ref.x)[1].double().cpu().numpy()  # (n, d_z)
        gap = similarity_gap(z["cl"], z["nscl"])
        rows.append({"C": trainer.C, "tau": cfg.tau, "B": cfg.batch_size, "seed": cfg.seed,
                     "sum_eta": float(trainer.cum_eta[trainer.T]), "N": n, "sim_gap": gap,
                     "rms_entry": gap / n, "cka": cka(z["cl"], z["nscl"]),
                     "theorem1": theorem1, "covered": bool(gap <= theorem1)})
    return rows
