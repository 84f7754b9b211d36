"""The runs each figure reads, as run specs; missing ones are launched by the runs layer.

A figure needs a few lockstep runs (kind ``train``) or surrogate runs (kind
``surrogate``). This module only *plans* them, as :class:`empirics.runs.RunSpec` lists,
and asks :func:`empirics.runs.launch` for the ones not yet finished in the run cache. Their
directory names, cache keys, the done rule, resume and the executors are the runs
layer's: a run needed by two figures (or by a figure and a study) is trained once, and a
second ``python -m figures`` call trains nothing. Nothing here imports the trainer, the
surrogate or torch.

Three plans are built in: ``tiny`` (smoke tests), ``quick`` (tiny synthetic runs; the
whole gallery in a few minutes on 2 CPU cores) and ``full`` (larger runs, three seeds).
The ``linearization`` group ([P2] Appendix D) trains on a real data set: the plan's own
when it is one, else the bundled digits.

>>> plan = make_plan("tiny")
>>> [s.kind for s in plan.groups()["base"] + plan.groups()["surrogate"]]
['train', 'surrogate']
>>> sorted(s.config["classes"] for s in plan.classes)
[2, 4]
>>> [(s.config["dataset"], s.config["tau"]) for s in plan.linearization]
[('digits', 0.5), ('digits', 0.1)]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empirics.data.catalog import DATASET_CLASSES
from empirics.runs import RunResult, RunSpec, label, launch, pending, run_dir_of

__all__ = ["LINEARIZATION_TAUS", "MissingRunError", "Plan", "RunFailedError", "SIZES",
           "default_workers", "ensure", "make_plan", "run_path", "unique"]


class MissingRunError(FileNotFoundError):
    """A run a figure needs is not in the cache and launching was refused (``--no-run``)."""


class RunFailedError(RuntimeError):
    """A launched run failed (its traceback is in its ``error.txt``)."""


@dataclass
class Plan:
    """The runs behind every figure, grouped by role."""

    base: RunSpec  # one run with cl, nscl, scl, ce (Fig. 1, 2, 6, bound vs measured)
    classes: list[RunSpec]  # CL-NSCL runs over C (Fig. 3 and [P1])
    tau: list[RunSpec]  # CL-NSCL runs over tau (Fig. 4)
    batch: list[RunSpec]  # CL-NSCL runs over B x lr rule (Fig. 5)
    surrogate: RunSpec  # one surrogate run (bound vs measured)
    # CL-NSCL runs on real data measuring [P2] Appendix D (linearization.csv), one per tau
    linearization: list[RunSpec] = field(default_factory=list)
    name: str = "quick"

    def groups(self) -> dict[str, list[RunSpec]]:
        return {"base": [self.base], "classes": self.classes, "tau": self.tau,
                "batch": self.batch, "surrogate": [self.surrogate],
                "linearization": self.linearization}

    def all_specs(self) -> list[RunSpec]:
        """Every run of the plan, once."""
        return unique(s for specs in self.groups().values() for s in specs)


#: Run sizes per plan. ``steps`` fixed for every trainer run of a group.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(train_size=256, test_size=64, reference_size=32, batch_size=32, steps=12,
                 eval_every=4, warmup_steps=2, classes_grid=(2, 4), tau_grid=(0.5, 1.0),
                 batch_grid=(16, 32), rules=("linear", "sqrt"), seeds=(0,), base_steps=12,
                 batch_steps=8, sur=dict(C=4, N=32, B=8, steps=20), lin_size=16),
    "quick": dict(train_size=1024, test_size=256, reference_size=128, batch_size=64,
                  steps=200, eval_every=20, warmup_steps=10, classes_grid=(2, 5, 10, 20, 50),
                  tau_grid=(0.1, 0.5, 1.0), batch_grid=(32, 64, 128, 256),
                  rules=("linear", "sqrt", "fourth-root"), seeds=(0,), base_steps=300,
                  base_eval=30, batch_steps=120, sur=dict(C=10, N=128, B=32, steps=150),
                  lin_size=64),
    "full": dict(train_size=8192, test_size=2048, reference_size=1024, batch_size=256,
                 steps=3000, eval_every=150, warmup_steps=100,
                 classes_grid=(2, 5, 10, 20, 50, 100, 200), tau_grid=(0.1, 0.5, 1.0),
                 batch_grid=(64, 128, 256, 512, 1024),
                 rules=("linear", "sqrt", "fourth-root"), seeds=(0, 1, 2), base_steps=6000,
                 batch_steps=2000, sur=dict(C=10, N=512, B=64, steps=2000), lin_size=128),
}


#: Temperatures of the Appendix D runs: the plan's default and one 25x larger in
#: ``sum eta / (tau^2 B)``, the quantity the surrogate's validity depends on (THEORY.md s13).
LINEARIZATION_TAUS = (0.5, 0.1)


def make_plan(size: str = "quick", *, dataset: str = "synthetic", lr: float | None = None
              ) -> Plan:
    """The built-in plan of runs for ``size`` in {"tiny", "quick", "full"}.

    Raises:
        ValueError: an unknown ``size``.
    """
    if size not in SIZES:
        raise ValueError(f"Expected `size` among {', '.join(SIZES)}, got {size!r}")
    s = SIZES[size]
    # Tiny and quick runs are cheaper to redo than to checkpoint often; full runs
    # checkpoint so that an interrupted call resumes them.
    ckpt = 10 * s["eval_every"] if size == "full" else 10**6
    common = {"dataset": dataset, "train_size": s["train_size"], "test_size": s["test_size"],
              "reference_size": s["reference_size"], "eval_every": s["eval_every"],
              "checkpoint_every": ckpt}
    if lr is not None:
        common["lr"] = lr
    if dataset != "synthetic":
        common.pop("train_size")
        common.pop("test_size")

    def train(**kw) -> RunSpec:
        cfg = {**common, "batch_size": s["batch_size"], "steps": s["steps"],
               "warmup_steps": s["warmup_steps"], "objectives": ["cl", "nscl"], "classes": 10,
               "tau": 0.5, "seed": 0}
        cfg.update(kw)
        return RunSpec("train", cfg)

    max_c = DATASET_CLASSES.get(dataset)  # the catalog's fixed class count, if any
    classes_grid = [c for c in s["classes_grid"] if max_c is None or c <= max_c]

    def appendix_d(tau: float) -> RunSpec:
        # The plan's data set when it is real, else the bundled digits (all of it); measured
        # at every evaluation, on the first lin_size samples of the train reference set.
        cfg = {k: v for k, v in train(tau=tau).config.items()
               if k not in ("train_size", "test_size")}
        cfg.update(dataset="digits" if dataset == "synthetic" else dataset,
                   linearization_every=s["eval_every"], linearization_size=s["lin_size"])
        return RunSpec("train", cfg)

    return Plan(
        base=train(objectives=["cl", "nscl", "scl", "ce"], steps=s["base_steps"],
                   eval_every=s.get("base_eval", s["eval_every"])),
        classes=[train(classes=C, seed=seed) for C in classes_grid for seed in s["seeds"]],
        tau=[train(tau=tau, seed=seed) for tau in s["tau_grid"] for seed in s["seeds"]],
        # Fig. 5 reads final values only: evaluate at the start and the end.
        batch=[train(batch_size=B, lr_rule=rule, steps=s["batch_steps"], seed=seed,
                     warmup_steps=min(s["warmup_steps"], s["batch_steps"] // 4),
                     eval_every=s["batch_steps"])
               for rule in s["rules"] for B in s["batch_grid"] for seed in s["seeds"][:1]],
        surrogate=RunSpec("surrogate", {**s["sur"], "tau": 1.0, "seed": 0}),
        linearization=[appendix_d(tau) for tau in LINEARIZATION_TAUS],
        name=size,
    )


def unique(specs) -> list[RunSpec]:
    """``specs`` without repeats (equal cache keys), in order."""
    seen: dict[str, RunSpec] = {}
    for spec in specs:
        seen.setdefault(spec.key(), spec)
    return list(seen.values())


def run_path(root: str | os.PathLike, spec: RunSpec) -> Path:
    """Where the runs layer keeps ``spec``'s run under ``root``."""
    return run_dir_of(root, spec)


def default_workers() -> int:
    """Runs in parallel by default: two, or one on a one-core machine."""
    return max(1, min(2, os.cpu_count() or 1))


def _describe(spec: RunSpec) -> str:
    return f"{spec.kind} run {label(spec.config, max_len=1000) or '(defaults)'}"


def ensure(root: str | os.PathLike, specs: Sequence[RunSpec], *, allow_run: bool = True,
           device: str | None = None, workers: int = 1, executor: str | None = None,
           log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Every spec as a finished run under ``root``: ``{cache key: run directory}``.

    The runs not yet done are launched by :func:`empirics.runs.launch` (finished ones are
    reused, interrupted ones resumed), unless ``allow_run`` is false.

    Args:
        root: the run cache.
        specs: the runs (repeats are launched once).
        allow_run: launch the missing runs; when false a missing run raises.
        device: the device of every launched run (``None``: each kind's default).
        workers: runs in parallel (a local process pool when > 1).
        executor: ``serial``, ``local`` or ``ray`` (default: serial for one worker, else
            local).
        log: where one-line progress notices go (default stderr).

    Raises:
        MissingRunError: ``allow_run`` is false and a run is not done (names it).
        RunFailedError: a launched run failed (after the others finished; names it).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    specs = unique(specs)
    todo = pending(specs, root)
    if todo and not allow_run:
        first = todo[0]
        raise MissingRunError(
            f"Expected a finished {_describe(first)} at {str(run_path(root, first))!r}, got "
            f"none ({len(todo)} of {len(specs)} runs missing; run without --no-run to "
            "launch them)")
    if todo:
        log(f"figures: {len(todo)} run(s) to launch, {len(specs) - len(todo)} reused from "
            f"{root}")
        count = [0]

        def report(res: RunResult) -> None:
            count[0] += 1
            log(f"figures: [{count[0]}/{len(todo)}] {res.name} {res.status} "
                f"{res.seconds:.1f}s" + (f": {res.error}" if res.error else ""))

        results = launch(todo, root, executor=executor or ("local" if workers > 1 else
                                                           "serial"),
                         workers=workers if workers > 1 else None, device=device,
                         progress=False, on_result=report, desc="figure runs")
        failed = [r for r in results if not r.ok]
        if failed:
            raise RunFailedError(
                f"{len(failed)} of {len(todo)} run(s) failed; first: {failed[0].name} "
                f"({failed[0].error}); traceback in {str(failed[0].path / 'error.txt')!r}")
    return {s.key(): run_path(root, s) for s in specs}
