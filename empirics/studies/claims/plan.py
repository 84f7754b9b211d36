"""The runs of a protocol: one run spec per setting point and seed, shared wherever they
coincide, and the manifest (``runs.csv``) that names each use.

Every claim describes its runs as :class:`~empirics.runs.RunSpec` objects built from the
protocol's base setting with a few fields changed. Two claims that need the same
configuration build equal specs, hence one cache key and one directory name
(:func:`run_name` depends on the configuration only), and the launcher trains it once:

- the **base run** (real data, ``C = classes``, ``tau``, ``B``, the base rule; CL, NSCL,
  SCL and CE in lockstep) is C1's run, the C2 point at the base ``C``, the C3 point at the
  base ``tau``, the C4 point at the base ``B`` (every rule, when the rules are matched
  there) and C6's short run. Under shared randomness the CL and NSCL members do not see
  the other members, so their metrics equal those of a CL + NSCL run;
- the **long run** (the base setting, ``c5_steps`` steps, CL + NSCL) serves C5 and C6;
- C7 reads C2's runs (the gap against ``C``) and every run of its seed (the bound at
  every evaluation);
- C5's curvature (``beta``, ``G``, ``||w_CL - w_NSCL||``) is a task of its own on each
  finished long run (:mod:`empirics.studies.claims.curvature`), launched like a run.

>>> from empirics.studies.claims.protocol import load_protocol
>>> runs = plan_runs(load_protocol("tiny"))
>>> base = [r for r in runs if r.claim == "C1"][0]
>>> any(r.claim == "C3" and r.name == base.name for r in runs)
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from empirics.runs import RunSpec
from empirics.studies.claims.protocol import Protocol

__all__ = [
    "ALL_OBJECTIVES",
    "CURVATURE_TARGET",
    "LABEL_FIELDS",
    "MANIFEST_FIELDS",
    "PlannedRun",
    "base_config",
    "cost",
    "curvature_runs",
    "long_config",
    "manifest_rows",
    "plan_runs",
    "run_name",
    "unique_runs",
]

ALL_OBJECTIVES = ("cl", "nscl", "scl", "ce")
PAIR_OBJECTIVES = ("cl", "nscl")
CURVATURE_TARGET = "empirics.studies.claims.curvature:measure"
#: Fields of a run's readable directory name (then its cache key).
LABEL_FIELDS = ("dataset", "classes", "tau", "batch_size", "lr_rule", "steps", "seed")
#: Configuration fields written to runs.csv for every run (the protocol's choices).
MANIFEST_FIELDS = (
    "dataset", "classes", "train_size", "test_size", "difficulty", "image_size", "arch",
    "feature_dim", "width", "proj_dim", "reference_size", "objectives", "tau", "batch_size",
    "steps", "eval_every", "optimizer", "lr", "lr_rule", "schedule", "warmup_steps", "seed",
    "data_root",
)  # fmt: skip


@dataclass(frozen=True)
class PlannedRun:
    """One use of one run by one claim.

    Attributes:
        claim: ``C1`` .. ``C7``.
        setting: the run group within the claim (``base``, ``real``, ``synthetic``,
            ``tau``, ``linear/steps``, ``long``, ``curvature``); claims.csv settings start
            with it.
        seed: the root seed.
        point: the values that vary within the group (``{"classes": 5}``).
        spec: the run spec (equal specs are one run).
        name: the run's directory name under ``DIR/runs``.
    """

    claim: str
    setting: str
    seed: int
    point: Mapping[str, Any]
    spec: RunSpec
    name: str = field(default="")

    @property
    def kind(self) -> str:
        return "curvature" if self.spec.target is not None else self.spec.kind


def run_name(spec: RunSpec) -> str:
    """The directory name of a training spec, a function of its configuration only: a
    readable stem of :data:`LABEL_FIELDS`, then the cache key.

    >>> run_name(RunSpec("train", {"dataset": "digits", "classes": 5, "tau": 0.5,
    ...                            "batch_size": 64, "lr_rule": "sqrt", "steps": 200,
    ...                            "seed": 1}))[:-16]
    'digits-C5-tau0.5-B64-sqrt-T200-s1__'
    """
    cfg = spec.config
    short = {"dataset": "", "classes": "C", "tau": "tau", "batch_size": "B", "lr_rule": "",
             "steps": "T", "seed": "s"}
    parts = [f"{short[k]}{cfg[k]:g}" if isinstance(cfg.get(k), float)
             else f"{short[k]}{cfg[k]}" for k in LABEL_FIELDS if cfg.get(k) is not None]
    return spec.dirname(re.sub(r"[^A-Za-z0-9_.+-]", "-", "-".join(parts)))


def _clean(x: float) -> float:
    """A learning rate rounded to 12 significant digits (stable cache keys)."""
    return float(f"{x:.12g}")


def _common(p: Protocol, seed: int) -> dict[str, Any]:
    cfg: dict[str, Any] = dict(
        reference_size=p.reference_size, proj_dim=p.proj_dim, optimizer=p.optimizer,
        lr=p.lr, lr_rule=p.lr_rule, schedule=p.schedule, tau=p.tau,
        batch_size=p.batch_size, steps=p.steps, eval_every=p.eval_every,
        checkpoint_every=p.steps, objectives=list(PAIR_OBJECTIVES), seed=seed,
    )
    if p.warmup_steps is not None:
        cfg["warmup_steps"] = p.warmup_steps
    return cfg


def base_config(p: Protocol, seed: int, **changes: Any) -> dict[str, Any]:
    """The base setting on the real data set (four objectives), with ``changes``.

    A change of ``steps`` also sets ``checkpoint_every`` to it (one checkpoint, the last)
    unless ``checkpoint_every`` is changed too.
    """
    cfg = _common(p, seed)
    cfg.update(dataset=p.dataset, classes=p.classes, arch=p.arch,
               objectives=list(ALL_OBJECTIVES))
    for key in ("data_root", "train_size", "test_size", "feature_dim", "width"):
        if getattr(p, key) is not None:
            cfg[key] = getattr(p, key)
    if "steps" in changes and "checkpoint_every" not in changes:
        cfg["checkpoint_every"] = changes["steps"]
    cfg.update(changes)
    return cfg


def pair_config(p: Protocol, seed: int, **changes: Any) -> dict[str, Any]:
    """The base setting with CL and NSCL only (the runs of C2-C6 off the base point)."""
    return base_config(p, seed, objectives=list(PAIR_OBJECTIVES), **changes)


def synthetic_config(p: Protocol, seed: int, C: int) -> dict[str, Any]:
    """A synthetic CL + NSCL run with ``C`` classes, otherwise the base setting."""
    cfg = _common(p, seed)
    cfg.update(dataset="synthetic", classes=C, train_size=p.synthetic_train_size,
               test_size=p.synthetic_test_size, difficulty=p.synthetic_difficulty,
               arch=p.synthetic_arch)
    if p.synthetic_image_size is not None:
        cfg["image_size"] = p.synthetic_image_size
    return cfg


def long_config(p: Protocol, seed: int) -> dict[str, Any]:
    """The long run of C5 and C6: the base setting for ``c5_steps`` steps, CL + NSCL."""
    every = p.c5_eval_every
    return pair_config(p, seed, steps=p.c5_steps, eval_every=every,
                       checkpoint_every=min(p.c5_steps, 5 * every))


def c4_config(p: Protocol, seed: int, rule: str, B: int, budget: str) -> dict[str, Any]:
    """The C4 run of ``rule`` at batch size ``B`` (the base spec at the base ``B`` when the
    rules are matched there, and for the base rule)."""
    from bounds.schedules import lr_from_rule

    B0 = p.batch_size
    if B == B0 and (rule == p.lr_rule or p.c4_match_lr):
        return base_config(p, seed)  # every rule gives the base run's rate at B0
    lr = p.lr
    if p.c4_match_lr and rule != p.lr_rule:
        base_eta = float(lr_from_rule(p.lr_rule, p.lr, B0))
        lr = _clean(base_eta / float(lr_from_rule(rule, 1.0, B0)))
    steps = p.steps if budget == "steps" else max(2, int(round(p.steps * B0 / B)))
    # C4 reads final values only: evaluate at the start and the end
    return pair_config(p, seed, lr=lr, lr_rule=rule, batch_size=B, steps=steps,
                       eval_every=steps)


def _planned(claim: str, setting: str, seed: int, point: Mapping[str, Any],
             cfg: Mapping[str, Any]) -> PlannedRun:
    spec = RunSpec("train", cfg)
    return PlannedRun(claim, setting, seed, dict(point), spec, run_name(spec))


def plan_runs(p: Protocol) -> list[PlannedRun]:
    """Every use of a training run by the protocol's claims, in claim order.

    Raises:
        ValueError / TypeError: a run configuration the trainer rejects (naming the field).
    """
    out: list[PlannedRun] = []
    claims = set(p.claims)
    seeds = range(p.seeds)
    for s in seeds:
        if "C1" in claims:
            out.append(_planned("C1", "base", s, {}, base_config(p, s)))
        if claims & {"C2", "C7"}:
            for claim in [c for c in ("C2", "C7") if c in claims]:
                for C in p.ints("c2_real_classes"):
                    cfg = base_config(p, s) if C == p.classes else pair_config(p, s, classes=C)
                    out.append(_planned(claim, "real", s, {"classes": C}, cfg))
                for C in p.ints("c2_synthetic_classes"):
                    out.append(_planned(claim, "synthetic", s, {"classes": C},
                                        synthetic_config(p, s, C)))
        if "C3" in claims:
            for tau in p.floats("c3_taus"):
                cfg = base_config(p, s) if tau == p.tau else pair_config(p, s, tau=tau)
                out.append(_planned("C3", "tau", s, {"tau": tau}, cfg))
        if "C4" in claims:
            for budget in p.c4_budgets:
                for rule in p.c4_rules:
                    for B in p.ints("c4_batch_sizes"):
                        out.append(_planned("C4", f"{rule}/{budget}", s,
                                            {"lr_rule": rule, "batch_size": B},
                                            c4_config(p, s, rule, B, budget)))
        if "C5" in claims:
            out.append(_planned("C5", "long", s, {}, long_config(p, s)))
        if "C6" in claims:
            out.append(_planned("C6", "base", s, {}, base_config(p, s)))
            out.append(_planned("C6", "long", s, {}, long_config(p, s)))
    for run in out:
        run.spec.options()  # one sentence naming the field, before any work
    return out


def curvature_runs(p: Protocol, long_runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """C5's curvature task of each long run (a user target of the launcher)."""
    out = []
    for run in long_runs:
        cfg = {"run": run.name, "iters": p.c5_power_iters, "batches": p.c5_batches}
        spec = RunSpec("custom", cfg, target=CURVATURE_TARGET)
        out.append(PlannedRun("C5", "curvature", run.seed, {}, spec,
                              spec.dirname(f"curvature__{run.name.rsplit('__', 1)[-1]}")))
    return out


def unique_runs(runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """One planned use per run directory, the costliest first (the long runs start first,
    so two workers do not end with one of them alone on a long run)."""
    seen: dict[str, PlannedRun] = {}
    for run in runs:
        seen.setdefault(run.name, run)
    return sorted(seen.values(), key=lambda r: -cost(r.spec))


def cost(spec: RunSpec) -> float:
    """A relative cost of a training spec: steps x models x batch size (x evaluations)."""
    if spec.target is not None:
        return 0.0
    c = spec.config
    steps = int(c.get("steps") or 1)
    models = len(c.get("objectives") or ALL_OBJECTIVES)
    evals = math.ceil(steps / int(c.get("eval_every") or steps)) + 1
    return steps * models * int(c.get("batch_size", 256)) + evals * models * 2000


def manifest_rows(runs: Sequence[PlannedRun]) -> list[dict[str, Any]]:
    """``runs.csv``: one row per use (claim, setting, point, seed) of a training run.

    Columns: ``claim``, ``setting``, ``point`` (the varying values, ``k=v`` joined by
    ``;``), ``seed``, ``run_dir`` (relative to the study folder), ``key`` (the cache key),
    then :data:`MANIFEST_FIELDS` as the run was configured (empty: the trainer's default;
    ``objectives`` joined by ``+``).
    """
    rows = []
    for run in runs:
        if run.spec.target is not None:
            continue
        cfg = run.spec.config
        row: dict[str, Any] = {
            "claim": run.claim, "setting": run.setting,
            "point": ";".join(f"{k}={v}" for k, v in run.point.items()),
            "seed": run.seed, "run_dir": f"runs/{run.name}", "key": run.spec.key(),
        }
        for k in MANIFEST_FIELDS:
            v = cfg.get(k)
            row[k] = "+".join(v) if isinstance(v, (list, tuple)) else v
        rows.append(row)
    return rows
