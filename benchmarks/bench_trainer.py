"""Lockstep training of 4 models vs 4 independent single-model runs on the same data.

Lockstep computes each step's batch and augmented views once and feeds them to all four
models (cl, nscl, scl, ce); the independent runs each draw and augment their own. The
ratio ``time(lockstep) / sum(time(independent))`` is the saving from sharing the data
path (target <= 0.8). ``vmap`` is the same lockstep run with ``backend="vmap"``: the four
models' forward/backward as one ``torch.func.vmap``-batched computation (empirics/batched.py).
One torch thread for all, as in the trainer's default.

    python -m pytest benchmarks/bench_trainer.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch
from empirics.config import TrainConfig
from empirics.trainer import LockstepTrainer

OBJECTIVES = ("cl", "nscl", "scl", "ce")
STEPS = 10
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


def _trainer(setting: str, objectives, backend: str = "loop") -> LockstepTrainer:
    kw = SETTINGS[setting]
    return LockstepTrainer(
        TrainConfig(**kw, objectives=objectives, steps=1000, device="cpu", reference_size=64,
                    backend=backend)
    )


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
