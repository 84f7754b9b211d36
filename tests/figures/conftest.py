"""Run directories for the figure tests, in the one run-directory format, by its writer.

Training runs are written by :class:`empirics.runs.writer.RunWriter` (``config.json`` with
``kind``, the trainer's own ``metrics.csv`` / ``losses.csv`` columns, ``bounds.csv`` from
:func:`bounds.evaluate_bounds`, ``summary.json`` last) under the directory name the runs
layer gives each spec of the tiny plan, so :func:`empirics.studies.plan.ensure` finds them done.
Their numbers are synthetic but shaped like training curves, and every cell differs (a
figure that reads the wrong column, split, pair or feature kind draws different numbers).
A run of one objective has no pair rows: its ``metrics.csv`` is the header alone, as the
trainer writes it; a run without CL has the pairs of its own objectives (``nscl-scl``).
Every registered measure the writer has a column for (:data:`empirics.measures.MEASURES`:
Procrustes, mutual kNN, and any plugin) gets values too, inside its range and on the
aligned side when CKA is high (:func:`measure_value`). The surrogate run is a real tiny
surrogate run, launched through the runs layer. A spec
with ``linearization_every`` also gets a ``linearization.csv`` (Appendix D), every cell
different, its relative remainders crossing 0.1 and 1.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from empirics.studies import plan as runs  # noqa: E402

PAIRS = {"scl": "cl-scl", "nscl": "cl-nscl", "ce": "cl-ce", "ntxent": "cl-ntxent"}
# How far each partner drifts from CL (NSCL closest, as [P2] reports).
DRIFT = {"cl-nscl": 0.15, "cl-ntxent": 0.1, "cl-scl": 0.6, "cl-ce": 0.9}
# Training samples of a real data set's fixture run (digits' training split).
REAL_TRAIN_SIZE = 1347


def measure_value(measure, cka: float, rng) -> float:
    """A value of a registered measure that follows ``cka`` (more aligned when it is high),
    inside the measure's range (0 to 1 where the range is unbounded)."""
    lo, hi = measure.range
    lo, hi = (lo if math.isfinite(lo) else 0.0), (hi if math.isfinite(hi) else 1.0)
    aligned = cka if measure.direction == "higher" else 1 - cka
    return lo + (hi - lo) * float(np.clip(aligned * (0.9 + 0.1 * rng.random()), 0, 1))


def write_train_run(path: Path, config: dict) -> Path:
    """Write a finished lockstep run directory for ``config`` (TrainConfig fields)."""
    import bounds
    from empirics.measures import MEASURES
    from empirics.runs.writer import RunWriter
    from empirics.training.config import TrainConfig
    from empirics.training.evaluator import LOSSES_COLUMNS, metrics_columns, model_pairs
    from empirics.training.linearization import LINEARIZATION_COLUMNS

    metric_columns = metrics_columns()

    cfg = TrainConfig.from_dict({**config, "out": str(path)})
    writer = RunWriter(path, kind="train", columns={"metrics": metric_columns,
                                                    "losses": LOSSES_COLUMNS, "bounds": None,
                                                    "linearization": LINEARIZATION_COLUMNS})
    writer.open(cfg.to_dict(), resume=False)
    rng = np.random.default_rng(zlib.crc32(repr(sorted(config.items())).encode()))
    C, tau, B, T = cfg.classes, cfg.tau, cfg.batch_size, cfg.steps
    N, n_ref = cfg.train_size or REAL_TRAIN_SIZE, cfg.reference_size
    steps = sorted(set(range(0, T + 1, cfg.eval_every)) | {T})
    base_lr = bounds.lr_from_rule(cfg.lr_rule, cfg.lr, B)
    eta = bounds.schedule(cfg.schedule, base_lr, T, cfg.warmup_steps)
    if "cl" in cfg.objectives:
        pairs = [PAIRS[o] for o in cfg.objectives if o != "cl"]
    else:  # the trainer's pairs of the objectives, in their order
        pairs = [f"{a}-{b}" for a, b in model_pairs(list(cfg.objectives))]
    if not pairs:  # as the trainer: a run without a pair of models, metrics.csv's header
        (path / "metrics.csv").write_text(",".join(metric_columns) + "\n")
    # Alignment grows with C and tau, as in [P2].
    strength = 1.0 - 0.5 / math.sqrt(C) * (0.5 / tau) ** 0.3
    for t in steps:
        frac, epoch = t / T, t * B / N
        mrows, lrows = [], []
        for pair in pairs:
            d = DRIFT.get(pair, 0.5) * frac * (2 - strength)
            weights = {  # the weights do not depend on the split or the feature kind
                "weight_gap": 0.02 + 2 * frac * DRIFT.get(pair, 0.5) + 0.01 * rng.random(),
                "weight_gap_sum": 0.1 + 8 * frac * DRIFT.get(pair, 0.5) + 0.01 * rng.random(),
                "weight_angle": 80 * frac ** 0.5 * min(1, DRIFT.get(pair, 0.5) * 5)
                + rng.random(),
            }
            for split in ("train", "test"):
                for kind in ("z", "h"):
                    cka = float(np.clip(1 - d - 0.02 * rng.random(), 0, 1))
                    rsa = float(np.clip(cka - 0.05 - 0.02 * rng.random(), -1, 1))
                    rho = (1 - cka) / (1 + cka) * (1.05 + 0.1 * rng.random())
                    r = (1 - rsa) / (1 + rsa) * (1.05 + 0.1 * rng.random())
                    mrows.append({
                        "step": t, "epoch": epoch, "pair": pair, "split": split,
                        "features": kind, "n": n_ref, "cka": cka,
                        "cka_linear": cka * (0.9 + 0.05 * rng.random()), "rsa": rsa,
                        "sim_gap": 1e-3 + d * n_ref * (0.25 + 0.1 * rng.random()),
                        "rho": rho, "r": r,
                        "cka_lower_from_rho": float(bounds.cka_lower(rho)),
                        "rsa_lower_from_r": float(bounds.rsa_lower(r)),
                        "repr_angle": 90 * d + rng.random(), **weights,
                    })
                    mrows[-1].update({m.name: measure_value(m, cka, rng) for m in MEASURES
                                      if m.name in metric_columns and m.name not in mrows[-1]})
        n_max = math.ceil(B / C) + 1
        bound = float(bounds.loss_gap_bound(tau, n_max=n_max, N=B, form="tight"))
        for model in cfg.objectives:
            for split in ("train", "test"):
                gap = bound * (0.3 + 0.2 * rng.random())
                lrows.append({
                    "step": t, "epoch": epoch, "model": model, "split": split,
                    "n_batches": 2, "batch_size": B, "n_max": n_max,
                    "loss_own": 5.0 - frac, "loss_cl": 5.0 - frac + gap,
                    "loss_nscl": 5.0 - frac, "loss_gap": gap, "loss_gap_min": gap * 0.8,
                    "loss_gap_bound": bound, "loss_gap_bound_form": "tight",
                    "p1_holds": True, "accuracy": 0.5 + 0.4 * frac, "accuracy_z": 0.5,
                    "head_accuracy": None,
                })
        writer.append("metrics", mrows)
        writer.append("losses", lrows)
        if t > 0:  # as the trainer: the run's own bounds after t steps
            res = bounds.evaluate_bounds(C, tau, B, eta=eta[:t], delta=cfg.delta,
                                         pi_max=1 / C, N_ref=n_ref)
            brow = {"step": t, "epoch": epoch, "sum_eta_so_far": float(eta[:t].sum()),
                    "normalisers": "etf", "corollary_form": "paper"}
            for k, v in res.items():
                a = np.asarray(v)
                if a.ndim == 0 and a.dtype.kind in "biuf":
                    brow[k] = a.item()
            writer.append("bounds", [brow])
        if cfg.linearization_every and t % cfg.linearization_every == 0 and t < T:
            writer.append("linearization", linearization_rows(cfg, t, epoch, eta, rng))
    writer.finish({"steps": T, "base_lr": float(base_lr), "N_train": N,
                   "sum_eta": float(eta.sum()), "fixture": True})
    return path


def linearization_rows(cfg, t: int, epoch: float, eta, rng) -> list[dict]:
    """Appendix D rows of step ``t`` (as the trainer writes them): ``L_Sigma`` growing over
    training, the relative remainder rising from about 0.01 past 0.1 and 1."""
    frac = t / cfg.steps
    out = []
    for k, model in enumerate(m for m in ("cl", "nscl") if m in cfg.objectives):
        step_norm = 0.01 * (1 + rng.random())
        sim_change = 0.5 * step_norm * (1 + rng.random())
        rel = 10 ** (-2 + 3 * frac + 0.2 * k + 0.1 * rng.random())
        out.append({
            "step": t, "epoch": epoch, "model": model, "n": cfg.linearization_size,
            "update": "optimizer", "eta": float(eta[t]),
            "jacobian_norm": 20 * (1 + (2 - k) * frac) + rng.random(),
            "power_iterations": 20 + int(10 * rng.random()),
            "power_rel_change": 1e-8 * rng.random(),
            "step_norm": step_norm, "sim_change": sim_change,
            "linear_change": sim_change * (1 + rel * (rng.random() - 0.5)),
            "remainder": rel * sim_change, "relative_remainder": rel,
            "remainder_over_step_sq": rel * sim_change / step_norm**2,
        })
    return out


def write_surrogate_run(root: Path, spec) -> Path:
    """A real tiny surrogate run, launched through the runs layer into ``root``."""
    from empirics.runs import launch

    (res,) = launch([spec], root)
    assert res.ok, res.error
    return res.path


def populate_cache(cache: Path, plan: runs.Plan) -> None:
    """A finished run at the cache location of every spec of ``plan``."""
    for spec in plan.all_specs():
        if spec.kind == "train":
            write_train_run(runs.run_path(cache, spec), dict(spec.config))
        else:
            write_surrogate_run(cache, spec)


@pytest.fixture(scope="session")
def write_run():
    """:func:`write_train_run`, for tests that fabricate runs of their own."""
    return write_train_run


@pytest.fixture(scope="session")
def tiny_plan() -> runs.Plan:
    return runs.gallery_plan("tiny")


@pytest.fixture(scope="session")
def fixture_cache(tmp_path_factory, tiny_plan) -> Path:
    """A run cache holding a finished run for every spec of the tiny plan."""
    cache = tmp_path_factory.mktemp("figcache")
    populate_cache(cache, tiny_plan)
    return cache


@pytest.fixture(scope="session")
def fixture_runs(fixture_cache, tiny_plan):
    """``{group: [Run, ...]}`` of the tiny plan, read from the fixture cache."""
    from figures import io

    return {g: [io.load_run(runs.run_path(fixture_cache, s)) for s in specs]
            for g, specs in tiny_plan.groups().items()}
