"""Benchmarks of the surrogate (THEORY.md s9): closed-form gradient, full runs, and a run
written to its run directory (rows, checkpoints, resumable).

    python -m pytest benchmarks/bench_surrogate.py --benchmark-only
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from empirics.surrogate import (
    SurrogateConfig,
    anchor_gradient,
    batch_masks,
    run_into,
    simulate,
)


@pytest.mark.parametrize("B", [32, 256])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_anchor_gradient(benchmark, B, backend):
    rng = np.random.default_rng(0)
    N = 4 * B
    labels = np.arange(N) % 10
    m = batch_masks(np.arange(B), labels)
    block = rng.uniform(-1, 1, (2 * B, 2 * B))
    den, pos = m["nscl"], m["pos"]
    if backend == "torch":
        block, den, pos = (torch.as_tensor(v) for v in (block, den, pos))
    g = benchmark(anchor_gradient, block, den, pos, 0.5)
    assert tuple(g.shape) == (2 * B, 2 * B)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_simulate_default(benchmark, backend):
    c = SurrogateConfig(backend=backend)  # N=256, B=32, T=200
    res = benchmark.pedantic(simulate, args=(c,), rounds=3, iterations=1)
    assert res.measured[-1] <= res.certificate[-1]


def test_run_into_default(benchmark, tmp_path):
    """The default run written as a run directory: metrics.csv and bounds.csv at every
    evaluation, checkpoints at steps 0, 100 and 200 (the price of a resumable run)."""
    c = SurrogateConfig()
    fresh = (tmp_path / f"run{i}" for i in itertools.count())
    out = benchmark.pedantic(run_into, setup=lambda: ((c, next(fresh)), {}), rounds=3,
                             iterations=1)
    assert (out / "summary.json").is_file()


def test_simulate_large(benchmark):
    c = SurrogateConfig(N=1024, B=256, steps=50, C=100)
    res = benchmark.pedantic(simulate, args=(c,), rounds=1, iterations=1)
    assert res.event_held
