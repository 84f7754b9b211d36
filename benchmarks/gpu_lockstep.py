"""Lockstep vs independent training of a CIFAR-style ResNet-18 on synthetic 32x32 images.

A standalone script for a GPU machine (it also runs on CPU with tiny sizes, as a smoke
test). Four models (cl, nscl, scl, ce) train in lockstep with ``B = 512`` for 200 steps;
then each objective trains alone for the same steps on the same data. It reports the
median step time, the peak memory, the ratio ``lockstep / sum(independent)``, and
(optionally) how a ``torch.func`` batched forward/backward of the four models (stacked
parameters, ``vmap``) compares with the plain loop over models.

    python benchmarks/gpu_lockstep.py                          # GPU: the full measurement
    python benchmarks/gpu_lockstep.py --device cpu --steps 2 --batch-size 16 \\
        --width 4 --image-size 16 --independent-steps 2        # CPU smoke test (~1 min)

Prints one JSON object (and writes it to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from empirics.training.config import TrainConfig
from empirics.training.lockstep import LockstepTrainer

OBJECTIVES = ("cl", "nscl", "scl", "ce")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(tr: LockstepTrainer, steps: int, warmup: int) -> list[float]:
    times = []
    for t in range(warmup + steps):
        _sync(tr.device)
        t0 = time.perf_counter()
        tr.train_step(t % tr.T)
        _sync(tr.device)
        if t >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def func_comparison(tr: LockstepTrainer, repeats: int) -> dict:
    """Forward+backward of the contrastive members: loop over models vs torch.func vmap."""
    from torch.func import functional_call, stack_module_state, vmap

    from empirics.objectives import objective_loss

    members = [m for m in tr.members if m.objective != "ce"]
    models = [m.module for m in members]
    idx = tr.batch_indices(0)
    x, y = tr.train_set.x[idx], tr.train_set.y[idx]
    views = tr.views_for(0, x)
    K, B = views.shape[:2]
    flat = views.reshape(K * B, *views.shape[2:])
    cfg = tr.config

    def loop_step():
        for m in members:
            _, z = m.module(flat)
            loss = objective_loss(m.objective, z.reshape(K, B, -1), y, cfg)
            loss.backward()

    params, buffers = stack_module_state(models)
    base = models[0]

    def one(p, b, xx):
        return functional_call(base, (p, b), (xx,))[1]

    def vmap_step():
        z = vmap(one, in_dims=(0, 0, None))(params, buffers, flat)  # (M, K*B, d)
        total = 0.0
        for i, m in enumerate(members):
            total = total + objective_loss(m.objective, z[i].reshape(K, B, -1), y, cfg)
        total.backward()  # parameters are disjoint: grad of the sum = each model's grad

    out = {}
    for name, fn in (("loop", loop_step), ("vmap", vmap_step)):
        try:
            fn()  # warm-up
            times = []
            for _ in range(repeats):
                _sync(tr.device)
                t0 = time.perf_counter()
                fn()
                _sync(tr.device)
                times.append(time.perf_counter() - t0)
            out[f"{name}_fwd_bwd_s"] = statistics.median(times)
        except Exception as exc:  # report, do not hide: vmap may not support every layer
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
    if "loop_fwd_bwd_s" in out and "vmap_fwd_bwd_s" in out:
        out["vmap_over_loop"] = out["vmap_fwd_bwd_s"] / out["loop_fwd_bwd_s"]
    out["models"] = [m.objective for m in members]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument(
        "--independent-steps",
        type=int,
        default=None,
        help="steps per independent run (default: --steps)",
    )
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=None, help="ResNet base width (default 64)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--no-func", action="store_true", help="skip the torch.func comparison")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)

    n_train = max(2 * args.batch_size, 10 * args.classes)
    cfg = TrainConfig(
        dataset="synthetic", image_size=args.image_size, classes=args.classes,
        train_size=n_train, test_size=max(args.batch_size, 2 * args.classes),
        reference_size=min(256, args.batch_size), arch="resnet18", width=args.width,
        feature_dim=None if args.width is None else 8 * args.width,
        batch_size=args.batch_size, steps=args.steps + args.warmup + 1, warmup_steps=0,
        objectives=OBJECTIVES, device=args.device, deterministic=False, threads=args.threads,
    )  # fmt: skip
    if args.threads:
        torch.set_num_threads(args.threads)
    lock = LockstepTrainer(cfg)
    device = lock.device
    _peak_reset(device)
    lock_times = _time_steps(lock, args.steps, args.warmup)
    result = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "width": args.width or 64,
        "steps": args.steps,
        "lockstep_step_s": statistics.median(lock_times),
        "lockstep_peak_mib": _peak(device),
    }
    del lock
    ind_steps = args.independent_steps or args.steps
    ind = {}
    for o in OBJECTIVES:
        tr = LockstepTrainer(cfg.replace(objectives=(o,)))
        _peak_reset(tr.device)
        ind[o] = statistics.median(_time_steps(tr, ind_steps, args.warmup))
        result[f"independent_{o}_peak_mib"] = _peak(tr.device)
        del tr
    result["independent_step_s"] = ind
    result["independent_sum_step_s"] = sum(ind.values())
    result["lockstep_over_independent"] = result["lockstep_step_s"] / sum(ind.values())
    if not args.no_func:
        tr = LockstepTrainer(cfg)
        result["torch_func"] = func_comparison(tr, repeats=max(1, min(args.steps, 10)))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from cl_nscl_align.atomic import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
