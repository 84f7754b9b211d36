"""Plan and launch the runs the figures read, reusing every run already on disk.

Each figure needs a few lockstep runs (``empirics.trainer.train``) or surrogate runs
(``empirics.surrogate.simulate``). A run is identified by its resolved configuration: the
cache key is a hash of the configuration (without output path, device and progress), so a
run needed by two figures is trained once, and a second ``python -m figures`` call trains
nothing. A cached run is complete when its ``summary.json`` exists (written last).

Two plans are built in: ``quick`` (tiny synthetic runs; the whole gallery in a few minutes
on 2 CPU cores) and ``full`` (larger runs, three seeds, GPU when present). ``tiny`` exists
for smoke tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Execution knobs that do not change a run's results: not part of the cache key.
NON_RESULT_KEYS = ("out", "device", "backend", "threads")

KINDS = ("train", "surrogate")


@dataclass(frozen=True)
class RunSpec:
    """One run: ``kind`` ("train" or "surrogate") and its configuration overrides."""

    kind: str
    config: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Expected `kind` in {KINDS}, got {self.kind!r}")

    def resolved(self) -> dict[str, Any]:
        """The full configuration after the run's own defaults are applied."""
        if self.kind == "train":
            from empirics.config import TrainConfig

            return TrainConfig.from_dict(dict(self.config)).to_dict()
        from empirics.surrogate import SurrogateConfig

        return SurrogateConfig.from_dict(dict(self.config)).to_dict()

    def key(self) -> str:
        """Cache key: the first 16 hex digits of the SHA-256 of the resolved configuration."""
        cfg = {k: v for k, v in self.resolved().items() if k not in NON_RESULT_KEYS}
        blob = json.dumps({"kind": self.kind, "config": cfg}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Plan:
    """The runs behind every figure, grouped by role."""

    base: RunSpec  # one run with cl, nscl, scl, ce (Fig. 1, 2, 6, bound vs measured)
    classes: list[RunSpec]  # CL-NSCL runs over C (Fig. 3 and [P1])
    tau: list[RunSpec]  # CL-NSCL runs over tau (Fig. 4)
    batch: list[RunSpec]  # CL-NSCL runs over B x lr rule (Fig. 5)
    surrogate: RunSpec  # one surrogate run (bound vs measured)
    name: str = "quick"
    notes: list[str] = field(default_factory=list)

    def groups(self) -> dict[str, list[RunSpec]]:
        return {"base": [self.base], "classes": self.classes, "tau": self.tau,
                "batch": self.batch, "surrogate": [self.surrogate]}

    def all_specs(self) -> list[RunSpec]:
        seen, out = set(), []
        for specs in self.groups().values():
            for s in specs:
                if s.key() not in seen:
                    seen.add(s.key())
                    out.append(s)
        return out


#: Run sizes per plan. ``steps`` fixed for every trainer run of a group.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(train_size=256, test_size=64, reference_size=32, batch_size=32, steps=12,
                 eval_every=4, warmup_steps=2, classes_grid=(2, 4), tau_grid=(0.5, 1.0),
                 batch_grid=(16, 32), rules=("linear", "sqrt"), seeds=(0,), base_steps=12,
                 batch_steps=8, sur=dict(C=4, N=32, B=8, steps=20)),
    "quick": dict(train_size=1024, test_size=256, reference_size=128, batch_size=64,
                  steps=200, eval_every=20, warmup_steps=10, classes_grid=(2, 5, 10, 20, 50),
                  tau_grid=(0.1, 0.5, 1.0), batch_grid=(32, 64, 128, 256),
                  rules=("linear", "sqrt", "fourth-root"), seeds=(0,), base_steps=300, base_eval=30,
                  batch_steps=120, sur=dict(C=10, N=128, B=32, steps=150)),
    "full": dict(train_size=8192, test_size=2048, reference_size=1024, batch_size=256,
                 steps=3000, eval_every=150, warmup_steps=100,
                 classes_grid=(2, 5, 10, 20, 50, 100, 200), tau_grid=(0.1, 0.5, 1.0),
                 batch_grid=(64, 128, 256, 512, 1024),
                 rules=("linear", "sqrt", "fourth-root"), seeds=(0, 1, 2), base_steps=6000,
                 batch_steps=2000, sur=dict(C=10, N=512, B=64, steps=2000)),
}


def make_plan(size: str = "quick", *, dataset: str = "synthetic", lr: float | None = None
              ) -> Plan:
    """The built-in plan of runs for ``size`` in {"tiny", "quick", "full"}."""
    if size not in SIZES:
        raise ValueError(f"Expected `size` in {tuple(SIZES)}, got {size!r}")
    s = SIZES[size]
    # Tiny runs are cheaper to redo than to checkpoint; full runs checkpoint so that an
    # interrupted call resumes them.
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

    max_c = 10 if dataset in ("digits", "cifar10") else None
    classes_grid = [c for c in s["classes_grid"] if max_c is None or c <= max_c]
    plan = Plan(
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
        name=size,
    )
    return plan


# --- cache ----------------------------------------------------------------------------------
def run_path(cache: str | Path, spec: RunSpec) -> Path:
    return Path(cache) / spec.kind / spec.key()


def is_complete(path: Path) -> bool:
    return (path / "summary.json").is_file() and (path / "metrics.csv").is_file()


def missing(cache: str | Path, specs: Iterable[RunSpec]) -> list[RunSpec]:
    return [s for s in specs if not is_complete(run_path(cache, s))]


def execute(spec: RunSpec, out: Path, *, device: str = "auto", progress: bool = False) -> Path:
    """Run one spec into ``out`` (through the public ``empirics`` APIs)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if spec.kind == "train":
        from empirics.config import TrainConfig
        from empirics.trainer import train

        cfg = TrainConfig.from_dict({**spec.config, "out": str(out), "device": device})
        # An incomplete run in the cache (an interrupted call) continues from its last
        # checkpoint; if it cannot (its saved configuration differs), it starts again.
        resume = (out / "config.json").exists()
        try:
            path = Path(train(cfg, progress=progress, resume=resume))
        except ValueError as e:
            if not resume or "saved configuration" not in str(e):
                raise
            import shutil

            shutil.rmtree(out)
            path = Path(train(cfg, progress=progress))
    else:
        from empirics.surrogate import SurrogateConfig, simulate, write_run

        extra = {}
        if device in ("auto", "cuda") and "backend" not in spec.config:
            import torch

            if torch.cuda.is_available():  # same result up to float round-off; not in the key
                extra = {"backend": "torch", "device": "cuda"}
        cfg = SurrogateConfig.from_dict({**spec.config, **extra})
        path = Path(write_run(simulate(cfg, progress=progress), out))
    from empirics.io import atomic_write_json

    atomic_write_json(path / "figures_spec.json", {"kind": spec.kind, "config": spec.config,
                                                   "key": spec.key()})
    return path


def _worker(args) -> tuple[str, float, float, str | None]:
    spec, out, device = args
    import torch

    torch.set_num_threads(1)  # two workers share the cores; the runs are small
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        execute(spec, Path(out), device=device)
        err = None
    except Exception as e:  # reported, the others continue
        err = f"{type(e).__name__}: {e}"
    return str(out), time.perf_counter() - t0, time.process_time() - c0, err


def ensure(cache: str | Path, specs: Sequence[RunSpec], *, device: str = "auto",
           workers: int = 1, allow_run: bool = True,
           log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Make sure every spec has a complete run under ``cache``; return ``{key: path}``.

    Missing runs are launched (``workers`` processes, one torch thread each); complete ones
    are reused. With ``allow_run=False`` a missing run raises ``FileNotFoundError``.
    A failing run raises ``RuntimeError`` after the others finished.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    cache = Path(cache)
    todo = missing(cache, specs)
    uniq = {s.key(): s for s in todo}
    if uniq and not allow_run:
        first = next(iter(uniq.values()))
        raise FileNotFoundError(
            f"Expected a cached run for {first.kind} config {dict(first.config)!r} under "
            f"{str(cache)!r}, got none ({len(uniq)} missing)")
    if uniq:
        log(f"figures: {len(uniq)} run(s) to launch, {len(set(s.key() for s in specs)) - len(uniq)}"
            f" reused from {cache}")
    jobs = [(s, str(run_path(cache, s)), device) for s in uniq.values()]
    errors = []
    cpu_total = 0.0
    t0 = time.perf_counter()
    if workers > 1 and len(jobs) > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for i, (out, dt, cpu, err) in enumerate(pool.map(_worker, jobs), 1):
                cpu_total += cpu
                log(f"figures: [{i}/{len(jobs)}] {Path(out).name} {dt:.1f}s (cpu {cpu:.1f}s)"
                    + (f" FAILED {err}" if err else ""))
                if err:
                    errors.append(err)
    else:
        for i, job in enumerate(jobs, 1):
            out, dt, cpu, err = _worker(job)
            cpu_total += cpu
            log(f"figures: [{i}/{len(jobs)}] {Path(out).name} {dt:.1f}s (cpu {cpu:.1f}s)"
                + (f" FAILED {err}" if err else ""))
            if err:
                errors.append(err)
    if jobs:
        log(f"figures: runs finished in {time.perf_counter() - t0:.1f}s "
            f"({cpu_total:.1f} CPU seconds in the runs)")
    if errors:
        raise RuntimeError(f"{len(errors)} run(s) failed; first: {errors[0]}")
    return {s.key(): run_path(cache, s) for s in specs}


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
