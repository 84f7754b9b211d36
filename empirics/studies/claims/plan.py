"""The runs of a protocol: one run spec per setting point and seed, shared wherever they
coincide, and the manifest (``runs.csv``) that names each use.

Every claim describes its runs as :class:`~empirics.runs.RunSpec` objects built from the
protocol's base run (its ``[train]`` table) with a few fields changed. Two claims that
need the same configuration build equal specs, hence one cache key and one directory name
(:func:`run_name` depends on the configuration only), and the launcher trains it once:

- the **base run** (``[train]``; CL, NSCL, SCL and CE in lockstep) is C1's run and the
  point of C2's real subsets at the base ``C``, of C3 at the base ``tau`` and of C4 at the
  base ``B`` (every rule, when the rules are matched there). Under shared randomness the
  CL and NSCL members do not see the other members, so their metrics equal those of a
  CL + NSCL run;
- C2's **synthetic runs** keep the samples per class fixed (``train_size = n C``) and use
  orthonormal prototypes (``prototypes = "orthogonal"``), so neither the data per class
  nor the prototypes' separation changes with ``C``; one reference-set size for all ``C``;
- the **long run** (the base setting for ``c5_steps`` steps, CL + NSCL) serves C5 and C6;
- C7 reads C2's runs; the theorem checks read every run;
- C5's **long-run task** (Theorem 2's constants, and the weight distance at every
  evaluation: read from ``metrics.csv``, or by a replay of an older run) runs on each
  finished long run
  (:mod:`empirics.studies.claims.longrun`), launched like a run.

The C2, C3 and C4 runs are evaluated only at their start and end (``final_only``): their
statistics read the final values, and evaluations are a large part of a short run's cost.

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

from empirics.objectives import THEOREM_PAIR, paper_objectives
from empirics.runs import RunSpec
from empirics.studies.claims.protocol import Protocol

__all__ = [
    "LABEL_FIELDS",
    "LONGRUN_TARGET",
    "MANIFEST_FIELDS",
    "PlannedRun",
    "base_config",
    "cost",
    "long_config",
    "longrun_tasks",
    "manifest_rows",
    "plan_runs",
    "run_name",
    "unique_runs",
]

LONGRUN_TARGET = "empirics.studies.claims.longrun:measure"
#: Fields of a run's readable directory name (then its cache key).
LABEL_FIELDS = ("dataset", "classes", "tau", "batch_size", "lr_rule", "steps", "seed")
#: Configuration fields written to runs.csv for every run (the protocol's choices).
MANIFEST_FIELDS = (
    "dataset", "classes", "train_size", "test_size", "difficulty", "prototypes",
    "image_size", "arch", "feature_dim", "width", "proj_dim", "reference_size",
    "objectives", "tau", "batch_size", "steps", "eval_every", "optimizer", "lr", "lr_rule",
    "schedule", "warmup_steps", "seed", "data_root",
)  # fmt: skip


@dataclass(frozen=True)
class PlannedRun:
    """One use of one run by one claim.

    Attributes:
        claim: ``C1`` .. ``C7``.
        setting: the run group within the claim (``base``, ``real``, ``synthetic``,
            ``tau``, ``<rule>/<budget>``, ``long``, ``longrun``); claims.csv settings start
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
        return "longrun" if self.spec.target is not None else self.spec.kind


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


def base_config(p: Protocol, seed: int, **changes: Any) -> dict[str, Any]:
    """The base run (``[train]``, the paper's four objectives
    (:func:`empirics.objectives.paper_objectives`), one checkpoint at the end), with
    ``changes``; a change of ``steps`` moves the checkpoint with it."""
    cfg: dict[str, Any] = dict(p.train)
    cfg.update(objectives=list(paper_objectives()), seed=seed)
    cfg.update(changes)
    steps = int(cfg.get("steps") or p.base("steps"))
    cfg.setdefault("checkpoint_every", steps)
    if "steps" in changes and "checkpoint_every" not in changes:
        cfg["checkpoint_every"] = steps
    return cfg


def pair_config(p: Protocol, seed: int, **changes: Any) -> dict[str, Any]:
    """The base setting with CL and NSCL only; evaluated at start and end when
    ``final_only`` (and ``eval_every`` is not changed)."""
    cfg = base_config(p, seed, objectives=list(THEOREM_PAIR), **changes)
    if p.final_only and "eval_every" not in changes:
        cfg["eval_every"] = int(cfg.get("steps") or p.base("steps"))
    return cfg


def synthetic_config(p: Protocol, seed: int, C: int) -> dict[str, Any]:
    """C2's synthetic CL + NSCL run with ``C`` classes: ``c2_train_per_class`` samples per
    class, orthonormal prototypes unless ``[synthetic]`` says otherwise, one reference-set
    size for every ``C`` of the grid (the smallest set's)."""
    smallest = min(p.ints("c2_synthetic_classes"))
    ref = min(int(p.base("reference_size")), smallest * p.c2_test_per_class,
              smallest * p.c2_train_per_class)
    changes: dict[str, Any] = {"dataset": "synthetic", "classes": C,
                               "train_size": C * p.c2_train_per_class,
                               "test_size": C * p.c2_test_per_class, "reference_size": ref,
                               "prototypes": "orthogonal"}
    if p.train.get("data_root") is not None:
        changes["data_root"] = None  # the base run's local data
    changes.update(p.synthetic)
    return pair_config(p, seed, **changes)


def long_config(p: Protocol, seed: int) -> dict[str, Any]:
    """The long run of C5 and C6: the base setting for ``c5_steps`` steps, CL + NSCL,
    evaluated every ``c5_eval_every`` steps (checkpoints every fifth evaluation)."""
    every = p.c5_eval_every
    return base_config(p, seed, objectives=list(THEOREM_PAIR), steps=p.c5_steps,
                       eval_every=every, checkpoint_every=min(p.c5_steps, 5 * every))


def c4_config(p: Protocol, seed: int, rule: str, B: int, budget: str) -> dict[str, Any]:
    """The C4 run of ``rule`` at batch size ``B`` (the base run at the base ``B`` when the
    rules are matched there, and for the base rule)."""
    from bounds.schedules import lr_from_rule

    B0, rule0, lr = int(p.base("batch_size")), p.base("lr_rule"), float(p.base("lr"))
    if B == B0 and (rule == rule0 or p.c4_match_lr):
        return base_config(p, seed)  # every rule gives the base run's rate at B0
    if p.c4_match_lr and rule != rule0:
        base_eta = float(lr_from_rule(rule0, lr, B0))
        lr = _clean(base_eta / float(lr_from_rule(rule, 1.0, B0)))
    steps0 = int(p.base("steps"))
    steps = steps0 if budget == "steps" else max(2, int(round(steps0 * B0 / B)))
    return pair_config(p, seed, lr=lr, lr_rule=rule, batch_size=B, steps=steps)


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
    real = p.base("dataset") != "synthetic"
    C0, tau0 = p.base("classes"), float(p.base("tau"))
    for s in range(max(p.seeds_of(c) for c in p.claims)):
        claims = {c for c in p.claims if s < p.seeds_of(c)}
        if "C1" in claims:
            out.append(_planned("C1", "base", s, {}, base_config(p, s)))
        for claim in [c for c in ("C2", "C7") if c in claims]:
            for C in (p.ints("c2_real_classes") if real else ()):
                cfg = base_config(p, s) if C == C0 else pair_config(p, s, classes=C)
                out.append(_planned(claim, "real", s, {"classes": C}, cfg))
            for C in p.ints("c2_synthetic_classes"):
                out.append(_planned(claim, "synthetic", s, {"classes": C},
                                    synthetic_config(p, s, C)))
        if "C3" in claims:
            for tau in p.floats("c3_taus"):
                cfg = base_config(p, s) if tau == tau0 else pair_config(p, s, tau=tau)
                out.append(_planned("C3", "tau", s, {"tau": tau}, cfg))
        if "C4" in claims:
            for budget in p.c4_budgets:
                for rule in p.c4_rules:
                    for B in p.ints("c4_batch_sizes"):
                        out.append(_planned("C4", f"{rule}/{budget}", s,
                                            {"lr_rule": rule, "batch_size": B},
                                            c4_config(p, s, rule, B, budget)))
        for claim in [c for c in ("C5", "C6") if c in claims]:
            out.append(_planned(claim, "long", s, {}, long_config(p, s)))
    for run in out:
        run.spec.options()  # one sentence naming the field, before any work
    return out


def longrun_tasks(p: Protocol, long_runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """C5's task of each long run (a user target of the launcher). The directory keeps the
    ``curvature__`` prefix of earlier versions, which the figures read."""
    out = []
    for run in long_runs:
        cfg = {"run": run.name, "iters": p.c5_power_iters, "batches": p.c5_batches,
               "version": 2}
        spec = RunSpec("custom", cfg, target=LONGRUN_TARGET)
        out.append(PlannedRun("C5", "longrun", run.seed, {}, spec,
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
    models = len(c.get("objectives") or paper_objectives())
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
