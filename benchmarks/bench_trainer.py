"""The lockstep trainer's throughput: its overhead over a bare loop, and lockstep vs
independent runs.

**Overhead** (``test_overhead_against_bare_loop``; issue 12, target <= 1.25x): the time of
``LockstepTrainer.train_step`` against a bare loop of the same four models (cl, nscl, scl,
ce: copies of the same initialisation, ``torch.optim.SGD`` with the run's settings) on the
same batches and views: the bare loop indexes the same permutations, draws the views with
the same augmenter from generators seeded with the same per-step seeds (computed before
the clock starts), sets the same learning rate, and calls the losses directly. No
evaluation, no logging, no checkpoints, no finiteness check. After the warm-up the two
sets of models are checked to be bitwise equal, so the two loops do the same work. Rounds
alternate bare / lockstep so both see the same machine load; torch's deterministic mode is
on, as in a run (``train`` sets it).

**Lockstep vs independent** (``test_four_models``): the four objectives in one lockstep
trainer (one batch and one set of views per step) against four independent
single-objective trainers (each drawing and augmenting its own batches), and the lockstep
trainer with ``backend="vmap"``. One torch thread for all, as in the trainer's default.

    python -m pytest benchmarks/bench_trainer.py --benchmark-only -s

``BENCH_DEVICE=cuda`` runs the overhead benchmark on a GPU.
"""

from __future__ import annotations

import copy
import os
import statistics
import time

import pytest
import torch

from empirics.augment import make_views
from empirics.losses import ce_loss, cl_loss, nscl_loss, scl_loss
from empirics.seeds import derive_seed
from empirics.training.config import TrainConfig
from empirics.training.lockstep import LockstepTrainer
from empirics.training.trainer import _set_deterministic

OBJECTIVES = ("cl", "nscl", "scl", "ce")
STEPS = 10
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")
SETTINGS = {
    # the default run: synthetic vectors (64-d), MLP, vector augmentations
    "synthetic-mlp": dict(dataset="synthetic", classes=10, batch_size=256, arch="mlp"),
    # real 8x8 images, small CNN, image augmentations (crop, flip, jitter, noise)
    "digits-cnn": dict(dataset="digits", classes=10, batch_size=256, arch="cnn"),
}
_RESULTS: dict[str, dict[str, float]] = {}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def deterministic():
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    _set_deterministic(True, warn_only=DEVICE != "cpu")
    yield
    _set_deterministic(before[0], warn_only=before[1])


def _trainer(setting: str, objectives, backend: str = "loop",
             device: str = "cpu") -> LockstepTrainer:
    kw = SETTINGS[setting]
    return LockstepTrainer(
        TrainConfig(**kw, objectives=objectives, steps=1000, device=device, reference_size=64,
                    backend=backend)
    )


# ----------------------------------------------------------------------------- overhead
class BareLoop:
    """The same models, batches, views and learning rates as ``tr``, in plain PyTorch."""

    def __init__(self, tr: LockstepTrainer, steps: int) -> None:
        cfg = tr.config
        self.tr, self.tau, self.K = tr, cfg.tau, cfg.views
        self.nets = [copy.deepcopy(m.net) for m in tr.members]
        self.objectives = [m.objective for m in tr.members]
        self.opts = [torch.optim.SGD([p for p in n.parameters() if p.requires_grad],
                                     lr=float(tr.eta[0]), momentum=cfg.momentum,
                                     weight_decay=cfg.weight_decay) for n in self.nets]
        # what a bare loop would hold before its first step: indices, seeds, rates
        self.idx = [tr.batch_indices(t) for t in range(steps)]
        self.seeds = [derive_seed(cfg.seed, "augment", t) for t in range(steps)]
        self.eta = [float(e) for e in tr.eta[:steps]]
        self.gen = torch.Generator(device=tr.device)

    def step(self, t: int) -> None:
        idx = self.idx[t]
        x, y = self.tr.train_set.x[idx], self.tr.train_set.y[idx]
        views = make_views(x, self.tr.augmenter, self.gen.manual_seed(self.seeds[t]), K=self.K)
        K, B = views.shape[:2]
        flat = views.reshape(K * B, *views.shape[2:])
        for net, opt, obj in zip(self.nets, self.opts, self.objectives, strict=True):
            for group in opt.param_groups:
                group["lr"] = self.eta[t]
            if obj == "ce":
                loss = ce_loss(net(flat)[2], y.repeat(K))
            else:
                z = net(flat)[1].reshape(K, B, -1)
                loss = (cl_loss(z, tau=self.tau) if obj == "cl"
                        else nscl_loss(z, y, tau=self.tau) if obj == "nscl"
                        else scl_loss(z, y, tau=self.tau))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def _sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _timed(step, start: int) -> float:
    _sync()
    t0 = time.perf_counter()
    for t in range(start, start + STEPS):
        step(t)
    _sync()
    return time.perf_counter() - t0


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_overhead_against_bare_loop(benchmark, setting, deterministic):
    rounds = 7
    tr = _trainer(setting, OBJECTIVES, device=DEVICE)
    bare = BareLoop(tr, STEPS * (rounds + 2))
    _timed(tr.train_step, 0)  # warm-up, and the same steps for both
    _timed(bare.step, 0)
    for m, net in zip(tr.members, bare.nets, strict=True):
        for a, b in zip(m.net.parameters(), net.parameters(), strict=True):
            assert torch.equal(a, b), "the bare loop must do the same work"
    times: dict[str, list[float]] = {"lockstep": [], "bare": []}
    start = [STEPS]

    def one_round() -> None:  # bare, then lockstep, on the same steps
        times["bare"].append(_timed(bare.step, start[0]))
        times["lockstep"].append(_timed(tr.train_step, start[0]))
        start[0] += STEPS

    benchmark.group = f"trainer-overhead-{setting}"
    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["lockstep"] / med["bare"]
    best = min(times["lockstep"]) / min(times["bare"])
    benchmark.extra_info.update(
        lockstep_median_s=med["lockstep"], bare_median_s=med["bare"], ratio_of_medians=ratio,
        ratio_of_minima=best, steps_per_round=STEPS, device=DEVICE)
    print(f"\n{setting} ({DEVICE}): {STEPS} steps, lockstep {med['lockstep']:.4f} s, bare "
          f"{med['bare']:.4f} s (medians of {rounds}); overhead {ratio:.3f}x (minima "
          f"{best:.3f}x)")


# ----------------------------------------------------------------------------- vs independent
def _run(trainers: list[LockstepTrainer], start: list[int]) -> None:
    for tr in trainers:
        for t in range(start[0], start[0] + STEPS):
            tr.train_step(t % tr.T)
    start[0] += STEPS


#: The three ways to train the four objectives: one lockstep trainer (loop or vmap
#: backend) or four independent single-objective trainers. Run in this order, so the
#: independent run can print both ratios.
MODES = {
    "lockstep": lambda setting: [_trainer(setting, OBJECTIVES)],
    "vmap": lambda setting: [_trainer(setting, OBJECTIVES, backend="vmap")],
    "independent": lambda setting: [_trainer(setting, (o,)) for o in OBJECTIVES],
}


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_four_models(benchmark, mode, setting):
    trainers = MODES[mode](setting)
    start = [0]
    _run(trainers, start)  # warm-up
    benchmark.group = f"trainer-{setting}"
    benchmark.pedantic(_run, args=(trainers, start), rounds=5, iterations=1)
    median = benchmark.stats.stats.median
    _RESULTS.setdefault(setting, {})[mode] = median
    benchmark.extra_info["steps_per_second"] = STEPS / median
    if mode != "independent":
        return
    for other in ("lockstep", "vmap"):
        if other in _RESULTS[setting]:
            ratio = _RESULTS[setting][other] / median
            benchmark.extra_info[f"{other}_over_independent"] = ratio
            print(f"\n{setting}: {other}/independent time ratio = {ratio:.3f}")


def test_shared_data_path(benchmark):
    """The part lockstep shares: one step's batch indices and augmented views (digits)."""
    tr = _trainer("digits-cnn", OBJECTIVES)
    step = [0]

    def shared():
        t = step[0] = step[0] + 1
        return tr.views_for(t, tr.train_set.x[tr.batch_indices(t)])

    benchmark.group = "trainer-shared-data-path"
    views = benchmark(shared)
    assert views.shape[:2] == (2, 256)


def alternate(setting: str, rounds: int = 40, steps: int = 5) -> dict[str, float]:
    """A contention-robust overhead check: ``rounds`` alternating rounds of ``steps`` steps
    (bare, then lockstep), per-step minima and medians (one thread, deterministic mode)."""
    torch.set_num_threads(1)
    _set_deterministic(True, warn_only=DEVICE != "cpu")
    tr = _trainer(setting, OBJECTIVES, device=DEVICE)
    bare = BareLoop(tr, steps * (rounds + 1))

    def timed(step, start):
        _sync()
        t0 = time.perf_counter()
        for t in range(start, start + steps):
            step(t)
        _sync()
        return (time.perf_counter() - t0) / steps

    timed(tr.train_step, 0)
    timed(bare.step, 0)
    lock, plain = [], []
    for r in range(1, rounds + 1):
        plain.append(timed(bare.step, steps * r))
        lock.append(timed(tr.train_step, steps * r))
    return {"lockstep_min_ms": 1e3 * min(lock), "lockstep_median_ms": 1e3 * statistics.median(lock),
            "bare_min_ms": 1e3 * min(plain), "bare_median_ms": 1e3 * statistics.median(plain),
            "ratio_of_minima": min(lock) / min(plain),
            "ratio_of_medians": statistics.median(lock) / statistics.median(plain)}


if __name__ == "__main__":  # python benchmarks/bench_trainer.py [setting] [rounds]
    import sys

    name = sys.argv[1] if len(sys.argv) > 1 else "synthetic-mlp"
    out = alternate(name, int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    print(name, DEVICE, " ".join(f"{k}={v:.4g}" for k, v in out.items()))
