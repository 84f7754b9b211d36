"""Trends of CL-NSCL alignment, one factor varied at a time around a base, over seeds.

Two studies, both thin clients of :mod:`empirics.runs` (run specs in, run directories
out):

- :func:`surrogate_trend_rows`: the surrogate ([P2] Theorem 1's setting, THEORY.md s9):
  final ``sim_gap`` and state CKA against ``C``, ``tau`` and ``B`` (at a fixed ``lr`` and
  with ``lr = 2B``, the linear rule in state units);
- :func:`trainer_rows`: lockstep CL/NSCL training on synthetic data: final ``sim_gap`` and
  cosine CKA of ``z`` on the train reference set against ``classes``, ``tau`` and
  ``batch_size``, next to the run's own Theorem 1 (its ``bounds.csv``), and, for the same
  trained pairs, the real networks' gap on reference sets of growing ``N``
  (:func:`realnet_rows`).

**Real networks against the surrogate bound.** Theorem 1 ([P2], THEORY.md s6) bounds the
surrogate's ``||Sigma^CL - Sigma^NSCL||_F`` and does not depend on ``N``; the gap between
two trained encoders' similarity matrices does. For a finished lockstep run,
:func:`realnet_rows` measures ``sim_gap(N) = ||Sigma^CL - Sigma^NSCL||_F`` on ``z`` of a
class-stratified train subset of ``N`` for each ``N``, beside the run's own Theorem 1. The
trained models are read from the run's checkpoint (:func:`empirics.studies.trained.
load_trainer`; no training happens here); the subsets are drawn from ``rng(seed,
"reference", "realnet")`` (:mod:`empirics.seeds`), independent of the run's own reference
sets. Table: docs/surrogate.md section 5 (``realnet.csv``).

The base setting appears on every axis; it is one run spec, so it is trained once.
Tables: docs/surrogate.md section 4 (``python -m empirics.studies surrogate-trends`` and
``... trainer``).

>>> specs = surrogate_trend_specs((0,), {"C": (2, 10)}, {**SURROGATE_BASE, "steps": 5})
>>> [(factor, value, s.config["C"]) for factor, value, s in specs]
[('C', 2, 2), ('C', 10, 10)]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from empirics.objectives import THEOREM_PAIR, pair_name
from empirics.runs import RunSpec, read_run
from empirics.studies.plan import launch_study, run_folder
from empirics.studies.report import progress

__all__ = [
    "REALNET_N",
    "realnet_rows",
    "SURROGATE_AXES",
    "SURROGATE_BASE",
    "TRAIN_AXES",
    "TRAIN_BASE",
    "surrogate_trend_rows",
    "surrogate_trend_specs",
    "trainer_rows",
    "trainer_specs",
]

SURROGATE_BASE = dict(C=10, N=256, B=32, tau=1.0, steps=200, lr=64.0)
SURROGATE_AXES = {"C": (2, 5, 10, 20, 50), "tau": (0.2, 0.5, 1.0, 2.0), "B": (16, 32, 64, 128)}
TRAIN_BASE = dict(
    dataset="synthetic", classes=10, train_size=1024, test_size=128, reference_size=256,
    objectives=THEOREM_PAIR, batch_size=64, steps=120, eval_every=120,
    checkpoint_every=120, warmup_steps=10, lr=1.2, lr_rule="linear", schedule="cosine",
    tau=0.5, device="cpu", feature_dim=64, proj_dim=32,
)
TRAIN_AXES = {"classes": (2, 5, 10, 20), "tau": (0.2, 0.5, 1.0), "batch_size": (32, 64, 128)}
REALNET_N = (32, 64, 128, 256, 512, 1024)


# ------------------------------------------------------------------------------ surrogate
def surrogate_trend_specs(seeds: Sequence[int], axes: Mapping[str, Sequence[Any]],
                          base: Mapping[str, Any]) -> list[tuple[str, Any, RunSpec]]:
    """``(factor, value, spec)`` per factor value and seed; ``B`` twice (``lr`` fixed, and
    ``lr = 2B`` as factor ``"B(lr=2B)"``)."""
    sweeps = [(k, v, {k: v}) for k, vals in axes.items() for v in vals]
    sweeps += [("B(lr=2B)", B, {"B": B, "lr": 2.0 * B}) for B in axes.get("B", ())]
    return [(factor, value, RunSpec("surrogate", {**base, **change, "seed": seed}))
            for factor, value, change in sweeps for seed in seeds]


def surrogate_trend_rows(seeds: Sequence[int] = (0, 1, 2),
                         axes: Mapping[str, Sequence[Any]] | None = None,
                         base: Mapping[str, Any] | None = None, *,
                         out: str | os.PathLike | None = None, executor: str = "serial",
                         workers: int | None = None, device: str | None = None) -> list[dict]:
    """Final ``sim_gap``, CKA, ``rho`` and certificate of the surrogate, one row per factor
    value and seed (aggregate with :func:`empirics.studies.report.aggregate`).

    Args:
        seeds: the root seeds.
        axes: ``{field: values}`` varied one at a time (default :data:`SURROGATE_AXES`).
        base: the fixed surrogate fields (default :data:`SURROGATE_BASE`).
        out: keep the runs in ``out/runs``; None: a temporary folder.
        executor, workers, device: as for :func:`empirics.runs.launch` (``device``
            ``None``: each run's own).
    """
    planned = surrogate_trend_specs(seeds, axes or SURROGATE_AXES, base or SURROGATE_BASE)
    with run_folder(out) as root:
        results = launch_study([s for _, _, s in planned], root, executor=executor,
                               workers=workers, device=device, desc="surrogate trends")
        summaries = [read_run(Path(r.path)).summary for r in results]
    rows = []
    for (factor, value, spec), f in zip(planned, summaries, strict=True):
        rows.append({"factor": factor, "value": value, "seed": spec.config["seed"],
                     "sim_gap": f["measured"], "cka": f["cka"], "rho": f["rho"],
                     "certificate": f["certificate"]})
    return rows


# ------------------------------------------------------------------------------ trainer
def trainer_specs(seeds: Sequence[int], axes: Mapping[str, Sequence[Any]],
                  base: Mapping[str, Any]) -> list[tuple[str, Any, RunSpec]]:
    """``(factor, value, spec)`` per factor value and seed (lockstep training runs)."""
    return [(factor, value, RunSpec("train", {**base, factor: value, "seed": seed}))
            for factor, vals in axes.items() for value in vals for seed in seeds]


def _theorem1(run) -> tuple[float, float]:
    """The run's own Theorem 1 at its last step (``bounds.csv``): value (inf when it
    overflows float64) and log10."""
    last = run.bounds.iloc[-1]
    th = float(last["sim_gap"])
    return (th if th == th else float("inf")), float(last["log10_sim_gap"])


def trainer_rows(seeds: Sequence[int] = (0, 1, 2), axes: Mapping[str, Sequence[Any]] | None = None,
                 base: Mapping[str, Any] | None = None, realnet_N: Sequence[int] = REALNET_N, *,
                 out: str | os.PathLike | None = None, executor: str = "serial",
                 workers: int | None = None, device: str | None = None
                 ) -> tuple[list[dict], list[dict]]:
    """Train CL/NSCL pairs (one factor at a time, over seeds); trends and real-network gaps.

    Returns ``(trend_rows, realnet_rows)``. Trend rows: final CL-NSCL ``sim_gap``, cosine
    CKA and ``rho`` of ``z`` on the train reference set (the run's ``summary.json``), the
    run's Theorem 1 (``bounds.csv``, last row: the run's ``C``, ``tau``, ``B``, realised
    ``pi_max`` and exact ``sum_eta``) and its wall time. Real-network rows: one per distinct
    run and ``N`` of ``realnet_N`` (:func:`realnet_rows`).

    Args:
        seeds: the root seeds.
        axes: ``{field: values}`` varied one at a time (default :data:`TRAIN_AXES`).
        base: the fixed training fields (default :data:`TRAIN_BASE`).
        realnet_N: reference-set sizes of the real-network gaps (those above the run's
            training set are skipped).
        out: keep the runs in ``out/runs``; None: a temporary folder.
        executor, workers, device: as for :func:`empirics.runs.launch` (``device``
            ``None``: each run's own).
    """
    planned = trainer_specs(seeds, axes or TRAIN_AXES, base or TRAIN_BASE)
    trend, realnet, seen = [], [], set()
    with run_folder(out) as root:
        results = launch_study([s for _, _, s in planned], root, executor=executor,
                               workers=workers, device=device, desc="trainer")
        for (factor, value, spec), res in zip(planned, results, strict=True):
            run = read_run(Path(res.path))
            s = run.summary
            z = s["alignment"][pair_name(*THEOREM_PAIR)]["train"]["z"]
            th, log10_th = _theorem1(run)
            trend.append({"factor": factor, "value": value, "seed": spec.config["seed"],
                          "sim_gap": z["sim_gap"], "cka": z["cka"], "rho": z["rho"],
                          "N_ref": run.config["reference_size"], "sum_eta": s["sum_eta"],
                          "theorem1": th, "log10_theorem1": log10_th,
                          "wall_s": s["wall_seconds"]})
            progress(f"trainer {factor}={value} seed={spec.config['seed']}: "
                     f"sim_gap={z['sim_gap']:.3g} cka={z['cka']:.3f} theorem1={th:.3g}")
            if res.name in seen:  # the base setting, on every axis: measured once
                continue
            seen.add(res.name)
            realnet += realnet_rows(res.path, realnet_N, theorem1=th)
    return trend, realnet


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
    from empirics.studies.trained import load_trainer

    trainer = load_trainer(Path(run_dir))
    cfg = trainer.config
    members = {m.name: m for m in trainer.members}
    cl, nscl = THEOREM_PAIR
    rows = []
    for n in Ns:
        if n > trainer.N:
            continue
        ref = reference_set(trainer.train_set, n, cfg.seed, "realnet")
        z = {}
        for name in THEOREM_PAIR:
            net = members[name].module
            net.eval()
            with torch.no_grad():
                z[name] = net(ref.x)[1].double().cpu().numpy()  # (n, d_z)
        gap = similarity_gap(z[cl], z[nscl])
        rows.append({"C": trainer.C, "tau": cfg.tau, "B": cfg.batch_size, "seed": cfg.seed,
                     "sum_eta": float(trainer.cum_eta[trainer.T]), "N": n, "sim_gap": gap,
                     "rms_entry": gap / n, "cka": cka(z[cl], z[nscl]),
                     "theorem1": theorem1, "covered": bool(gap <= theorem1)})
    return rows
