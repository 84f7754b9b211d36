"""C5's task on a finished long run: the absolute weight distance at every evaluation, and
``beta`` and ``G`` of Theorem 2.

**The weight distance** ``d_w(t) = ||w_CL(t) - w_NSCL(t)||`` (every parameter of the
shared architecture, float64) is what Theorem 2 bounds ([P2], THEORY.md s8). The trainer
records it in ``metrics.csv`` (its ``weight_distance`` column), and the task reads it there
(:func:`recorded_distances`). Only a run written before that column existed is **replayed**
(:func:`replay`, the fallback that keeps old study folders readable): the task builds the
run's own :class:`~empirics.training.lockstep.LockstepTrainer` from its saved configuration
and repeats its training steps (the trainer is deterministic: the same batches, views and
updates; evaluations draw no randomness), measuring ``d_w`` at every evaluation step of
``metrics.csv``. A replay is checked against the run at every evaluation (its relative
weight gap against ``metrics.csv``'s ``weight_gap``) and at the end (its weights against
``checkpoints/last.pt``); a replay that does not reproduce the run fails the task (its
statistics are then NaN with a note), it is never used.

**Theorem 2's constants**, with the trainer's own estimators
(:mod:`empirics.training.curvature`), at the shared initialisation and at the final
weights:

- ``beta`` = the largest ``|dominant eigenvalue|`` of the Hessian of the CL loss (the mean
  over the run's first ``batches`` training batches and their views), power iteration with
  Hessian-vector products, ``iters`` at most;
- ``G`` = the largest ``L_Sigma = ||dSigma/dw||_{2->2}`` on the ``K B`` views of the first
  batch, at the initialisation and at the final CL and NSCL weights;
- ``log10_theorem2`` = ``log10`` of ``(G / (beta tau)) Delta (exp(beta S) - 1)`` with the
  run's ``tau``, ``S`` and ``Delta(B; tau)`` (its ``T``, realised ``pi_max`` and ``delta``);
  ``None`` when ``Delta`` is vacuous (``pi_max + eps >= 1``).

The estimates are lower bounds of the maxima along the path (two or three points of it).
The task is a launcher target (:func:`measure`): resumable, cached, skipped once done.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["REPLAY_TOLERANCE", "TOL", "measure", "recorded_distances", "replay"]

#: Relative change of a power iteration's estimate that stops it (the bound is read on a
#: log10 scale; four digits are plenty).
TOL = 1e-4
#: Largest relative difference between the replay and the run (weight gap at every
#: evaluation; weights at the end, relative to the largest weight) that is accepted. On the
#: CPU the replay is bitwise the run (0); a GPU may differ in the last bits.
REPLAY_TOLERANCE = 1e-6


def measure(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """The launcher target: the long run ``config["run"]`` (a sibling folder) measured.

    Args:
        config: ``{"run": <directory name of the long run>, "iters": int, "batches": int}``.
        run_dir: this task's own folder (its parent holds the long run).

    Returns:
        The summary (``summary.json``): ``distances`` (one ``{"step", "S",
        "weight_distance"}`` per evaluation), ``replay_max_rel_diff``, ``beta``,
        ``beta_init``, ``beta_final``, ``G``, ``G_init``, ``G_cl``, ``G_nscl``,
        ``weight_distance`` (at the end), ``sum_eta``, ``tau``, ``B``, ``T``, ``pi_max``,
        ``log10_Delta``, ``log10_theorem2``, ``estimator``, ``wall_seconds`` and
        ``cpu_seconds`` (this task's).

    Raises:
        ValueError: an unfinished run; a run without CL and NSCL; a replay that does not
            reproduce the run.
    """
    import time

    import torch

    threads = torch.get_num_threads()
    # one intra-op thread, as the runs: the task runs beside the pool's workers, and more
    # threads than cores make every spin-waiting thread pool crawl
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        out = _measure(config, run_dir)
    finally:
        torch.set_num_threads(threads)
    return {**out, "wall_seconds": time.perf_counter() - t0,
            "cpu_seconds": time.thread_time() - c0}


def recorded_distances(run_path: Path) -> list[dict[str, float]] | None:
    """``d_w`` at every evaluation from the run's ``metrics.csv`` (its ``weight_distance``
    column, :func:`empirics.studies.claims.drift.recorded_distance`, with ``S`` from
    ``bounds.csv``), or ``None`` when the run did not record it."""
    from empirics.runs import read_run
    from empirics.studies.claims.drift import recorded_distance
    from empirics.studies.claims.measures import sum_eta_by_step

    run = read_run(run_path)
    recorded = recorded_distance(run)
    if recorded is None:
        return None
    S = sum_eta_by_step(run)
    return [{"step": t, "S": S.get(t, math.nan), "weight_distance": d}
            for t, d in recorded.items()]


def replay(run_path: Path):
    """The run's trainer, replayed to its end, and its weight distance at every evaluation.

    Returns:
        ``(trainer, rows, max_rel_diff)``: ``rows`` one ``{"step", "S",
        "weight_distance"}`` per evaluation step of ``metrics.csv``.

    Raises:
        ValueError: the run lacks CL or NSCL, or the replay does not reproduce it.
    """
    import torch

    from empirics.objectives import THEOREM_PAIR, pair_name
    from empirics.runs import RunDir, read_run
    from empirics.runs.writer import load_checkpoint, read_config
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer
    from empirics.training.trainer import _set_deterministic
    from empirics.training.weights import weight_gap

    run = RunDir(run_path)
    config = TrainConfig.from_dict(read_config(run)).replace(device="cpu", out=None)
    cl, nscl = THEOREM_PAIR
    if not set(THEOREM_PAIR) <= set(config.objectives):
        raise ValueError(f"Expected a run training {cl} and {nscl}, got "
                         f"{list(config.objectives)}")
    metrics = read_run(run_path).metrics
    pair = metrics[(metrics["pair"] == pair_name(cl, nscl))]
    recorded = {int(s): float(v) for s, v in zip(pair["step"], pair["weight_gap"],
                                                  strict=True)}
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    _set_deterministic(config.deterministic, warn_only=True)
    try:
        trainer = LockstepTrainer(config)
        members = {m.name: m.module for m in trainer.members}
        rows, worst = [], 0.0

        def record(t: int) -> None:
            nonlocal worst
            # the trainer's own function: d_w is the trainer's weight_distance, bitwise
            wg = weight_gap(members[cl], members[nscl])
            rows.append({"step": t, "S": float(trainer.cum_eta[t]),
                         "weight_distance": float(wg["weight_distance"])})
            if t in recorded and recorded[t] > 0:
                mine = float(wg["weight_gap_mean"])
                worst = max(worst, abs(mine - recorded[t]) / recorded[t])

        if 0 in recorded:
            record(0)
        for t in range(trainer.T):
            trainer.train_step(t)
            if t + 1 in recorded:
                record(t + 1)
    finally:
        _set_deterministic(before[0], warn_only=before[1])
    state = load_checkpoint(run.last)
    if int(state.get("step", -1)) != trainer.T:
        raise ValueError(f"Expected the checkpoint of a finished run (step {trainer.T}) in "
                         f"{str(run.last)!r}, got step {state.get('step')!r}")
    for name, module in members.items():
        saved = state["members"][name]["model"]
        for key, value in module.state_dict().items():
            ref = saved[key].double()
            scale = max(float(ref.abs().max()), 1e-30) if ref.numel() else 1.0
            worst = max(worst, float((value.double() - ref).abs().max()) / scale
                        if ref.numel() else 0.0)
    if not worst <= REPLAY_TOLERANCE:
        raise ValueError(f"Expected the replay of {str(run_path)!r} to reproduce the run "
                         f"(relative difference <= {REPLAY_TOLERANCE:g}), got {worst:.3g}")
    return trainer, rows, worst


def _measure(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    import torch

    import bounds
    from empirics.objectives import THEOREM_PAIR, objective_loss
    from empirics.training import curvature as cv

    cl, nscl = THEOREM_PAIR

    iters, n_batches = int(config["iters"]), int(config["batches"])
    run_path = Path(run_dir).parent / str(config["run"])
    recorded = recorded_distances(run_path)
    if recorded is None:
        trainer, distances, worst = replay(run_path)
        source = "replay"
    else:
        from empirics.studies.trained import load_trainer

        trainer, distances, worst, source = load_trainer(run_path), recorded, 0.0, "metrics.csv"
    cfg = trainer.config
    # float64 power iterations: on the GPU when there is one (the result is the same to
    # float64 rounding; the device is not part of the task's cache key)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    trainer.init_model.to(device)
    members = {m.name: m.module.to(device) for m in trainer.members}
    batches = []
    for t in range(n_batches):
        idx = trainer.batch_indices(t).cpu()
        x, y = trainer.train_set.x[idx], trainer.train_set.y[idx]
        batches.append((trainer.views_for(t, x).to(device), y.to(device)))  # (K, B, ...)
    model = trainer.init_model
    buffers = {k: (b.detach().double() if b.is_floating_point() else b)
               for k, b in model.named_buffers()}

    def cl_loss(params):  # the mean CL loss of the batches, as a function of the weights
        total = 0.0
        for views, y in batches:
            K, B = views.shape[0], views.shape[1]
            flat = views.reshape(K * B, *views.shape[2:]).double()
            _, z = torch.func.functional_call(model, {**buffers, **params}, (flat,))
            total = total + objective_loss(cl, z.reshape(K, B, -1), y, cfg)
        return total / len(batches)

    was = model.training
    model.eval()
    try:
        beta_init = abs(cv.hessian_top_eigenvalue(cl_loss, cv.parameters(model), iters=iters,
                                                  tol=TOL, seed=cfg.seed))
        beta_final = abs(cv.hessian_top_eigenvalue(cl_loss, cv.parameters(members[cl]),
                                                   iters=iters, tol=TOL, seed=cfg.seed))
    finally:
        model.train(was)
    views0 = batches[0][0]
    x0 = views0.reshape(views0.shape[0] * views0.shape[1], *views0.shape[2:])
    G = {name: cv.jacobian_norm(net, x0, iters=iters, tol=TOL, seed=cfg.seed)
         for name, net in (("init", model), (cl, members[cl]), (nscl, members[nscl]))}
    distance = distances[-1]["weight_distance"] if distances else math.nan
    beta = max(beta_init, beta_final)
    G_max = max(G.values())
    S = float(trainer.cum_eta[trainer.T])
    log_delta = float(bounds.log_Delta(cfg.batch_size, cfg.tau, cfg.delta, trainer.T,
                                       trainer.pi_max))
    log10_th2 = None
    if math.isfinite(log_delta) and beta > 0 and G_max > 0:
        log10_th2 = float(bounds.log_theorem2(G_max, beta, cfg.tau, log_delta, S)) / math.log(10)
    return {
        "run": str(config["run"]), "seed": cfg.seed, "distances": distances,
        "distances_from": source, "replay_max_rel_diff": worst, "beta": beta,
        "beta_init": beta_init,
        "beta_final": beta_final, "G": G_max, "G_init": G["init"], "G_cl": G[cl],
        "G_nscl": G[nscl], "weight_distance": distance, "sum_eta": S, "tau": cfg.tau,
        "B": cfg.batch_size, "T": trainer.T, "pi_max": trainer.pi_max,
        "log10_Delta": log_delta / math.log(10) if math.isfinite(log_delta) else None,
        "log10_theorem2": log10_th2, "iters": iters, "batches": n_batches,
        "device": str(device),
        "estimator": "empirics.training.curvature (power iteration; lower bounds of the "
                     "maxima at init and at the end); distances from " + source,
    }
