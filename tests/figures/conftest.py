"""Tiny run directories in the real format, written with the real writers.

Training runs go through :class:`empirics.rundir.RunDir` (the trainer's own writer) with a
real resolved :class:`empirics.config.TrainConfig` and the run's own bounds from
:func:`bounds.evaluate`; the numbers are synthetic but shaped like training curves. The
surrogate run is a real (tiny) :func:`empirics.surrogate.simulate` written by
:func:`empirics.surrogate.write_run`. Format drift in either writer breaks these tests.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from figures import runs  # noqa: E402

PAIRS = {"scl": "cl-scl", "nscl": "cl-nscl", "ce": "cl-ce", "ntxent": "cl-ntxent"}
# How far each partner drifts from CL (NSCL closest, as [P2] reports).
DRIFT = {"cl-nscl": 0.15, "cl-ntxent": 0.1, "cl-scl": 0.6, "cl-ce": 0.9}


def write_train_run(path: Path, config: dict) -> Path:
    """Write a complete lockstep run directory for ``config`` (TrainConfig keys)."""
    import bounds
    from empirics.config import TrainConfig
    from empirics.rundir import RunDir

    cfg = TrainConfig.from_dict({**config, "out": str(path)})
    rd = RunDir(path)
    rd.create(cfg.to_dict())
    seed = zlib.crc32(repr(sorted(config.items())).encode())
    rng = np.random.default_rng(seed)
    C, tau, B, T = cfg.classes, cfg.tau, cfg.batch_size, cfg.steps
    N = cfg.train_size
    n_ref = cfg.reference_size
    steps = sorted(set(range(0, T + 1, cfg.eval_every)) | {T})
    eta = bounds.schedule(cfg.schedule, bounds.lr_from_rule(cfg.lr_rule, cfg.lr, B), T,
                          cfg.warmup_steps)
    partners = [o for o in cfg.objectives if o != "cl"]
    # Alignment grows with C and tau, as in [P2]; noise is small.
    strength = 1.0 - 0.5 / math.sqrt(C) * (0.5 / tau) ** 0.3
    for t in steps:
        frac = t / T
        epoch = t * B / N
        mrows, lrows = [], []
        for other in partners:
            pair = PAIRS[other]
            d = DRIFT[pair] * frac * (2 - strength)
            for split in ("train", "test"):
                for kind in ("z", "h"):
                    cka = float(np.clip(1 - d + 0.01 * rng.standard_normal(), 0, 1))
                    rsa = float(np.clip(cka - 0.05, -1, 1))
                    rho = (1 - cka) / (1 + cka) * 1.1
                    r = (1 - rsa) / (1 + rsa) * 1.1
                    mrows.append({
                        "step": t, "epoch": epoch, "pair": pair, "split": split,
                        "features": kind, "n": n_ref, "cka": cka, "cka_linear": cka * 0.95,
                        "rsa": rsa, "sim_gap": 1e-3 + d * n_ref * 0.3, "rho": rho, "r": r,
                        "cka_lower_from_rho": (1 - rho) / (1 + rho),
                        "rsa_lower_from_r": (1 - r) / (1 + r),
                        "weight_gap": 0.02 + 0.5 * frac * DRIFT[pair] * 4,
                        "weight_gap_sum": 0.1 + 2 * frac * DRIFT[pair] * 4,
                        "weight_angle": 80 * frac ** 0.5 * min(1, DRIFT[pair] * 5),
                        "repr_angle": 90 * d,
                    })
        for model in cfg.objectives:
            for split in ("train", "test"):
                n_max = math.ceil(B / C) + 1
                bound = float(bounds.loss_gap_bound(tau, n_max=n_max, N=B, form="tight"))
                gap = bound * (0.3 + 0.2 * rng.random())
                lrows.append({
                    "step": t, "epoch": epoch, "model": model, "split": split,
                    "n_batches": 2, "batch_size": B, "n_max": n_max,
                    "loss_own": 5.0 - frac, "loss_cl": 5.0 - frac + gap,
                    "loss_nscl": 5.0 - frac, "loss_gap": gap, "loss_gap_min": gap * 0.8,
                    "loss_gap_bound": bound, "loss_gap_bound_form": "tight",
                    "p1_holds": True, "accuracy": 0.5 + 0.4 * frac, "accuracy_z": 0.5,
                    "head_accuracy": "",
                })
        rd.append_metrics(mrows)
        rd.append_losses(lrows)
        if t > 0:
            res = bounds.evaluate(C, tau, B, eta=eta[:t], delta=cfg.delta, pi_max=1 / C,
                                  N_ref=n_ref)
            brow = {"step": t, "epoch": epoch, "sum_eta_so_far": float(eta[:t].sum()),
                    "normalisers": "etf", "corollary_form": "paper"}
            for k, v in res.items():
                a = np.asarray(v)
                if a.ndim == 0 and a.dtype.kind in "biuf":
                    brow[k] = a.item()
            rd.append_bounds([brow])
    rd.write_summary({"steps": T, "fixture": True})
    return path


def write_surrogate_run(path: Path, config: dict) -> Path:
    """A real, tiny surrogate run written by the surrogate's own writer."""
    from empirics.surrogate import SurrogateConfig, simulate, write_run

    return Path(write_run(simulate(SurrogateConfig.from_dict(dict(config))), path))


def populate_cache(cache: Path, plan: runs.Plan) -> None:
    """Write a fixture run at the cache location of every spec of ``plan``."""
    for spec in plan.all_specs():
        out = runs.run_path(cache, spec)
        if spec.kind == "train":
            write_train_run(out, dict(spec.config))
        else:
            write_surrogate_run(out, dict(spec.config))


@pytest.fixture(scope="session")
def tiny_plan() -> runs.Plan:
    return runs.make_plan("tiny")


@pytest.fixture(scope="session")
def fixture_cache(tmp_path_factory, tiny_plan) -> Path:
    """A run cache holding fixture runs for every spec of the tiny plan."""
    cache = tmp_path_factory.mktemp("figcache")
    populate_cache(cache, tiny_plan)
    return cache


@pytest.fixture(scope="session")
def fixture_runs(fixture_cache, tiny_plan):
    """``{group: [RunData, ...]}`` of the tiny plan, loaded from the fixture cache."""
    from figures import io

    return {g: [io.load_run(runs.run_path(fixture_cache, s)) for s in specs]
            for g, specs in tiny_plan.groups().items()}
