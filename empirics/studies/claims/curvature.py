"""C5's curvature task: ``beta`` and ``G`` of Theorem 2, estimated on a finished long run.

Theorem 2 ([P2], THEORY.md s8) bounds the CL-NSCL weight gap by
``(G / (beta tau)) Delta (exp(beta S) - 1)`` with ``beta`` the smoothness of the loss in
the weights and ``G`` a bound on the Jacobian of the similarities in the weights (both
[open] in the sources). On a finished lockstep run (CL and NSCL; the weights of its last
checkpoint, :func:`empirics.studies.realnet.load_trained`) this task measures, with the
trainer's own estimators (:mod:`empirics.training.curvature`):

- ``beta`` = the largest ``|dominant eigenvalue|`` of the Hessian of the CL loss (the mean
  over the run's first ``batches`` training batches and their views), at the shared
  initialisation and at the CL model's final weights (power iteration with
  Hessian-vector products, ``iters`` at most);
- ``G`` = the largest ``L_Sigma = ||dSigma/dw||_{2->2}`` on the ``K B`` views of the first
  batch, at the initialisation and at the final CL and NSCL weights (power iteration with
  Jacobian-vector products);
- ``weight_distance`` = ``||w_CL - w_NSCL||`` (every parameter, float64) at the end;
- ``log10_theorem2`` = ``log10`` of Theorem 2 with those ``beta`` and ``G``, the run's
  ``tau``, ``S = sum eta`` and ``Delta(B; tau)`` (its ``T``, realised ``pi_max`` and
  ``delta``); ``None`` when ``Delta`` is vacuous (``pi_max + eps >= 1``).

The estimates are lower bounds of the maxima along the path (two or three points of it),
which the summary says. It runs as a launcher task (a user target,
:func:`measure`), so it is resumable, cached and skipped once done.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["TOL", "measure"]

#: Relative change of a power iteration's estimate that stops it (the bound is read on a
#: log10 scale; four digits are plenty).
TOL = 1e-4


def measure(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """The launcher target: curvature of the run ``config["run"]`` (a sibling folder).

    Args:
        config: ``{"run": <directory name of the long run>, "iters": int, "batches": int}``.
        run_dir: this task's own folder (its parent holds the long run).

    Returns:
        The summary (``summary.json``): ``beta``, ``beta_init``, ``beta_final``, ``G``,
        ``G_init``, ``G_cl``, ``G_nscl``, ``weight_distance``, ``sum_eta``, ``tau``, ``B``,
        ``T``, ``pi_max``, ``log10_Delta``, ``log10_theorem2``, ``estimator``.

    Raises:
        ValueError: an unfinished run; a run without CL and NSCL.
    """
    import torch

    threads = torch.get_num_threads()
    # one intra-op thread: the task runs beside the pool's workers (each on one thread);
    # more threads than cores make every spin-waiting thread pool crawl
    torch.set_num_threads(1)
    try:
        return _measure(config, run_dir)
    finally:
        torch.set_num_threads(threads)


def _measure(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    import torch

    import bounds
    from empirics.studies.realnet import load_trained
    from empirics.training import curvature as cv
    from empirics.training.objectives import objective_loss

    iters, n_batches = int(config["iters"]), int(config["batches"])
    trainer = load_trained(Path(run_dir).parent / str(config["run"]))  # on the CPU
    cfg = trainer.config
    # float64 power iterations: on the GPU when there is one (the result is the same to
    # float64 rounding; the device is not part of the task's cache key)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    trainer.init_model.to(device)
    members = {m.name: m.module.to(device) for m in trainer.members}
    if not {"cl", "nscl"} <= set(members):
        raise ValueError(f"Expected a run training cl and nscl, got {sorted(members)}")
    batches = []
    for t in range(n_batches):
        idx = trainer.batch_indices(t)
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
            total = total + objective_loss("cl", z.reshape(K, B, -1), y, cfg)
        return total / len(batches)

    was = model.training
    model.eval()
    try:
        beta_init = abs(cv.hessian_top_eigenvalue(cl_loss, cv.parameters(model), iters=iters,
                                                  tol=TOL, seed=cfg.seed))
        beta_final = abs(cv.hessian_top_eigenvalue(cl_loss, cv.parameters(members["cl"]),
                                                   iters=iters, tol=TOL, seed=cfg.seed))
    finally:
        model.train(was)
    views0 = batches[0][0]
    x0 = views0.reshape(views0.shape[0] * views0.shape[1], *views0.shape[2:])
    G = {name: cv.jacobian_norm(net, x0, iters=iters, tol=TOL, seed=cfg.seed)
         for name, net in (("init", model), ("cl", members["cl"]),
                           ("nscl", members["nscl"]))}
    wa, wb = cv.parameters(members["cl"]), cv.parameters(members["nscl"])
    distance = math.sqrt(sum(float(((wa[k] - wb[k]) ** 2).sum()) for k in wa))
    beta = max(beta_init, beta_final)
    G_max = max(G.values())
    S = float(trainer.cum_eta[trainer.T])
    log_delta = float(bounds.log_Delta(cfg.batch_size, cfg.tau, cfg.delta, trainer.T,
                                       trainer.pi_max))
    log10_th2 = None
    if math.isfinite(log_delta) and beta > 0 and G_max > 0:
        log10_th2 = float(bounds.log_theorem2(G_max, beta, cfg.tau, log_delta, S)) / math.log(10)
    return {
        "run": str(config["run"]), "seed": cfg.seed, "beta": beta, "beta_init": beta_init,
        "beta_final": beta_final, "G": G_max, "G_init": G["init"], "G_cl": G["cl"],
        "G_nscl": G["nscl"], "weight_distance": distance, "sum_eta": S, "tau": cfg.tau,
        "B": cfg.batch_size, "T": trainer.T, "pi_max": trainer.pi_max,
        "log10_Delta": log_delta / math.log(10) if math.isfinite(log_delta) else None,
        "log10_theorem2": log10_th2, "iters": iters, "batches": n_batches,
        "device": str(device),
        "estimator": "empirics.training.curvature (power iteration; lower bounds of the "
                     "maxima at init and at the end)",
    }
