"""Scale-out overheads: DDP (gloo, CPU) against one process, and sweep executors.

Two measurements, each also runnable as a script that prints a Markdown table:

    python -m pytest benchmarks/bench_scaling.py --benchmark-only -s
    python benchmarks/bench_scaling.py [ddp] [sweep]

1. **DDP step time.** The real lockstep trainer
   (:class:`empirics.training.lockstep.LockstepTrainer`,
   objectives CL, NSCL, SCL, CE; an MLP on synthetic vectors and a CNN on digits) takes
   ``STEPS`` steps after ``WARMUP`` warm-up steps; each setting runs in freshly spawned
   processes: 1 process x 1 thread, 1 process x 2 threads, and 2 gloo processes x 1
   thread on the same global batch. Rank 0 reports the wall time per step between two
   barriers (data loading, start-up and evaluation are excluded).
   The CPU column sums ``time.process_time`` over ranks: extra CPU is the cost of DDP
   (gathers, all-reduces, the augmentation and loss every rank repeats on the global
   batch), measurable even on a machine shared with other jobs.
2. **Sweep executors.** ``python -m empirics.sweep`` as users run it (interpreter start
   included) over tiny surrogate runs (about a millisecond each, so the time is the
   executor's) and medium ones: serial, the local process pool and Ray (``ray.init``
   included); then ``ray.init`` alone and a sweep on a running Ray instance. Every sweep
   launches its points through :func:`empirics.runs.launch`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

WARMUP, STEPS = 3, 20
POINTS = 16
WORKLOADS = {  # the lockstep trainer's four models, global batch B = 256
    "mlp-synthetic": {"dataset": "synthetic", "classes": 10, "batch_size": 256,
                      "train_size": 4096, "steps": 100, "device": "cpu"},
    "cnn-digits": {"dataset": "digits", "classes": 10, "batch_size": 256, "arch": "cnn",
                   "steps": 100, "device": "cpu"},
}


# ------------------------------------------------------------------ DDP
def _ddp_worker(rank: int, world: int, threads: int, port: int, out: str,
                workload: str) -> None:
    from empirics.training.config import TrainConfig
    from empirics.training.distributed import SINGLE, init_process
    from empirics.training.lockstep import LockstepTrainer

    torch.set_num_threads(threads)
    dctx = SINGLE if world == 1 else init_process(
        rank, world, init_method=f"tcp://127.0.0.1:{port}", backend="gloo", device="cpu")
    trainer = LockstepTrainer(TrainConfig.from_dict(WORKLOADS[workload]), dist=dctx)
    for t in range(WARMUP):
        trainer.train_step(t)
    dctx.barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in range(WARMUP, WARMUP + STEPS):
        trainer.train_step(t)
    cpu = torch.tensor([time.process_time() - c0], dtype=torch.float64)
    dctx.barrier()
    wall = time.perf_counter() - t0
    dctx.all_reduce_(cpu)  # CPU seconds of all ranks together
    if rank == 0:
        Path(out).write_text(json.dumps({"per_step_s": wall / STEPS,
                                         "cpu_per_step_s": cpu.item() / STEPS}))
    dctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_step_time(world: int, threads: int, workload: str = "mlp-synthetic") -> dict[str, float]:
    """Wall and total CPU seconds per lockstep step (4 models), ``world`` x ``threads``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        mp.start_processes(_ddp_worker, args=(world, threads, _free_port(), out, workload),
                           nprocs=world,
                           start_method="spawn")
        return json.loads(Path(out).read_text())


# ------------------------------------------------------------------ sweeps
TINY = ["C=2", "N=16", "B=4", "steps=1"]  # ~1 ms per point: the time is the executor's
MEDIUM = ["C=10", "N=128", "B=16", "steps=300"]  # ~0.5-1 s per point


def sweep_time(executor: str, points: int = POINTS, fixed=TINY, workers: int = 2) -> float:
    """Wall seconds of ``python -m empirics.sweep`` (interpreter start and, for Ray,
    ``ray.init`` included) over ``points`` surrogate runs."""
    import subprocess

    seeds = ",".join(str(i) for i in range(points))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "empirics.sweep", "--kind", "surrogate", "--grid",
               f"seed={seeds}", *fixed, "--executor", executor, "--workers", str(workers),
               "--out", tmp, "--no-progress"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def ray_dispatch_time(points: int = POINTS, workers: int = 2) -> tuple[float, float]:
    """(``ray.init`` seconds, seconds of a tiny sweep on the running instance)."""
    import ray

    from empirics.sweep import run_sweep

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    init = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_sweep({"seed": list(range(points))}, base={"C": 2, "N": 16, "B": 4, "steps": 1},
                      kind="surrogate", executor="ray", out=tmp, progress=False)
            return init, time.perf_counter() - t0
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ pytest-benchmark
@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize(("world", "threads"), [(1, 1), (1, 2), (2, 1)])
def test_ddp_step(benchmark, world, threads, workload):
    r = benchmark.pedantic(ddp_step_time, args=(world, threads, workload), rounds=1,
                           iterations=1)
    benchmark.extra_info.update({k: 1e3 * v for k, v in r.items()})
    print(f"\nDDP {workload} {world} x {threads}: {1e3 * r['per_step_s']:.1f} ms/step wall, "
          f"{1e3 * r['cpu_per_step_s']:.1f} ms/step CPU")


@pytest.mark.parametrize("size", ["tiny", "medium"])
@pytest.mark.parametrize("executor", ["serial", "local", "ray"])
def test_sweep_executor(benchmark, executor, size):
    if executor == "ray":
        pytest.importorskip("ray")
    fixed, points = (TINY, POINTS) if size == "tiny" else (MEDIUM, 8)
    wall = benchmark.pedantic(sweep_time, args=(executor, points, fixed), rounds=1,
                              iterations=1)
    print(f"\nsweep {executor} {size}: {wall:.2f} s for {points} points")


def test_ray_dispatch(benchmark):
    pytest.importorskip("ray")
    init, wall = benchmark.pedantic(ray_dispatch_time, rounds=1, iterations=1)
    benchmark.extra_info["ray_init_s"] = init
    print(f"\nray.init {init:.2f} s; {POINTS} tiny points on the running instance {wall:.2f} s")


# ------------------------------------------------------------------ script
def main() -> None:
    load = os.getloadavg()[0]
    print(f"load average before: {load:.1f}; cpus: {os.cpu_count()}; torch {torch.__version__}")
    print("| what | setting | wall | CPU (all ranks) |\n|---|---|---|---|")
    only = sys.argv[1:] or ["ddp", "sweep"]
    for workload in WORKLOADS if "ddp" in only else ():
        for w, t in ((1, 1), (1, 2), (2, 1)):
            r = ddp_step_time(w, t, workload)
            print(f"| DDP step, {workload} | {w} process(es) x {t} thread(s) | "
                  f"{1e3 * r['per_step_s']:.1f} ms | {1e3 * r['cpu_per_step_s']:.1f} ms |",
                  flush=True)
    if "sweep" not in only:
        return
    try:
        import ray  # noqa: F401
        executors = ("serial", "local", "ray")
    except ImportError:
        executors = ("serial", "local")
    for size, fixed, points in (("tiny", TINY, POINTS), ("medium", MEDIUM, 8)):
        for ex in executors:
            wall = sweep_time(ex, points, fixed)
            print(f"| sweep CLI, {points} {size} surrogate points | {ex}, 2 workers | "
                  f"{wall:.2f} s | |", flush=True)
    if "ray" in executors:
        init, wall = ray_dispatch_time()
        print(f"| ray.init, local instance | 2 CPUs | {init:.2f} s | |")
        print(f"| run_sweep, {POINTS} tiny points, Ray instance up | ray | {wall:.2f} s | |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
