"""The one planner of runs: every run size of the toolkit, and the launching of a plan.

Run sizes live here and nowhere else:

- :data:`GALLERY_SIZES` and :func:`gallery_plan` -- the runs the paper-figure gallery draws
  (``python -m figures``: ``tiny`` for tests, ``quick`` a few minutes on 2 CPU cores,
  ``full``);
- :data:`EXPERIMENT_SIZES` and :func:`experiment_specs` -- the accuracy, merging and Fig. 12
  studies' own runs when no study folder is given (``python -m empirics.studies``);
- :data:`CLAIMS_SIZES` -- the claims study's sizes, whose runs are declared by the committed,
  pre-registered protocol files ``empirics/studies/claims/protocols/<size>.toml`` (a plan
  fixed before its run is data, not code; :mod:`empirics.studies.claims.plan` expands it).

A plan is a list of :class:`~empirics.runs.RunSpec`; :func:`launch_study` and
:func:`ensure` hand it to :func:`empirics.runs.launch` (finished runs are reused,
interrupted ones resumed). Nothing here imports the trainer, the surrogate or torch.

>>> plan = gallery_plan("tiny")
>>> [s.kind for s in plan.groups()["base"] + plan.groups()["surrogate"]]
['train', 'surrogate']
>>> sorted(s.config["classes"] for s in plan.classes)
[2, 4]
>>> [(s.config["dataset"], s.config["tau"]) for s in plan.linearization]
[('digits', 0.5), ('digits', 0.1)]
>>> with run_folder(None) as root:
...     root.is_dir()
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empirics.data.catalog import DATASET_CLASSES
from empirics.objectives import THEOREM_PAIR, paper_objectives
from empirics.runs import RunResult, RunSpec, label, launch, pending, run_dir_of

__all__ = ["CLAIMS_SIZES", "EXPERIMENT_SIZES", "GALLERY_SIZES", "LINEARIZATION_TAUS",
           "MissingRunError", "Plan", "RunFailedError", "default_workers", "ensure",
           "experiment_specs", "gallery_plan", "launch_study", "run_folder", "run_path",
           "unique"]

#: The claims study's sizes (one committed protocol file each; ``tiny`` is for tests).
CLAIMS_SIZES = ("tiny", "quick", "medium", "full")

@contextlib.contextmanager
def run_folder(out: str | os.PathLike | None, name: str = "runs") -> Iterator[Path]:
    """``out/<name>`` (created) when ``out`` is given, else a temporary folder removed on
    exit."""
    if out is not None:
        root = Path(out) / name
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as tmp:
        yield Path(tmp)


def launch_study(specs: Sequence[RunSpec], root: str | os.PathLike, *, executor: str = "serial",
                 workers: int | None = None, device: str | None = None, desc: str = "study",
                 names: Sequence[str] | None = None, progress: bool | None = None,
                 what: str = "run of the study") -> list[RunResult]:
    """Launch ``specs`` under ``root`` (finished runs are reused); one result per spec.

    ``device`` (``None``: each run's own), ``names``, ``progress`` and ``desc`` go to
    :func:`empirics.runs.launch`; ``what`` names a run in the error.

    Raises:
        RuntimeError: a run failed (a study needs all of them); names the first failure
            and where its traceback is.
    """
    results = launch(list(specs), root, names=names, executor=executor, workers=workers,
                     device=device, progress=progress, desc=desc)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        raise RuntimeError(f"Expected every {what} to finish, got {len(failed)} "
                           f"failed; first {first.name}: {first.error} (traceback in "
                           f"{first.path / 'error.txt'})")
    return results


# ----------------------------------------------------------------------------- gallery
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


#: The gallery's run sizes. ``steps`` fixed for every trainer run of a group.
GALLERY_SIZES: dict[str, dict[str, Any]] = {
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


def gallery_plan(size: str = "quick", *, dataset: str = "synthetic", lr: float | None = None
                 ) -> Plan:
    """The gallery's runs for ``size`` in {"tiny", "quick", "full"} (``python -m figures``).

    Raises:
        ValueError: an unknown ``size``.
    """
    if size not in GALLERY_SIZES:
        raise ValueError(f"Expected `size` among {', '.join(GALLERY_SIZES)}, got {size!r}")
    s = GALLERY_SIZES[size]
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
               "warmup_steps": s["warmup_steps"], "objectives": list(THEOREM_PAIR),
               "classes": 10, "tau": 0.5, "seed": 0}
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
        base=train(objectives=list(paper_objectives()), steps=s["base_steps"],
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
           log: Callable[[str], None] | None = None, who: str = "figures"
           ) -> dict[str, Path]:
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
        who: the command named in those notices.

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
        log(f"{who}: {len(todo)} run(s) to launch, {len(specs) - len(todo)} reused from "
            f"{root}")
        count = [0]

        def report(res: RunResult) -> None:
            count[0] += 1
            log(f"{who}: [{count[0]}/{len(todo)}] {res.name} {res.status} "
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


# ----------------------------------------------------------------------------- experiments
#: The studies' own runs (without --runs): four objectives in lockstep from one
#: initialisation, an MLP encoder and AdamW at a constant 1e-3 (on these small CPU runs
#: the toolkit's default SGD leaves the contrastive models nearly untrained).
EXPERIMENT_SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(steps=8, batch_size=32, train_size=160, test_size=80, reference_size=32,
                 feature_dim=16, proj_dim=8, warmup_steps=1),
    "quick": dict(steps=400, batch_size=128, reference_size=256, warmup_steps=20,
                  synthetic=dict(train_size=2048, test_size=512)),
    "full": dict(steps=3000, batch_size=256, reference_size=512, warmup_steps=100,
                 synthetic=dict(train_size=8192, test_size=2048)),
}


def experiment_specs(size: str, datasets: Sequence[str], seeds: Sequence[int],
               taus: Sequence[float] = (), classes: Sequence[int] = (),
               data_root: str | None = None):
    """The studies' own runs: every data set at ``tau = 0.5`` (Table 1), the first data set
    at each of ``taus`` (Table 2) and at each of ``classes`` (more settings for Fig. 12),
    for every seed. Equal configurations are one run.

    >>> [s.config["dataset"] for s in experiment_specs("tiny", ["digits"], [0], taus=(0.5, 1.0))]
    ['digits', 'digits']
    """
    s = dict(EXPERIMENT_SIZES[size])
    synth = s.pop("synthetic", {})
    base = dict(objectives=list(paper_objectives()), arch="mlp", optimizer="adamw",
                lr=1e-3, lr_rule="constant", tau=0.5, eval_every=s["steps"],
                checkpoint_every=s["steps"], **s)
    if size == "full":
        base["arch"] = "auto"  # CNN for images at full size

    def spec(dataset: str, seed: int, **kw) -> RunSpec:
        cfg = {**base, "dataset": dataset, "seed": seed, "classes": 10, **kw}
        if dataset == "synthetic":
            cfg.update(synth)
        if dataset in ("cifar10", "cifar100"):
            cfg["data_root"] = data_root
            if size != "tiny":
                cfg.pop("train_size", None)
        return RunSpec("train", cfg)

    specs = [spec(d, seed) for d in datasets for seed in seeds]
    first = datasets[0]
    specs += [spec(first, seed, tau=t) for t in taus for seed in seeds]
    specs += [spec(first, seed, classes=c) for c in classes for seed in seeds]
    seen: dict[str, Any] = {}
    for sp in specs:
        seen.setdefault(sp.key(), sp)
    return list(seen.values())
