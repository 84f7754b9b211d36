"""Benchmark: contrastive loss forward + backward on a (2, 1024, 128) batch (docs/benchmarks.md).

    python -m pytest benchmarks/bench_losses.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from empirics.losses import cl_loss, nscl_loss, ntxent_loss, scl_loss

K, B, D, C = 2, 1024, 128, 10

LOSSES = {
    "cl": lambda v, y: cl_loss(v, 0.5),
    "ntxent": lambda v, y: ntxent_loss(v, 0.5),
    "nscl": lambda v, y: nscl_loss(v, y, 0.5),
    "nscl_pid": lambda v, y: nscl_loss(v, y, 0.5, positive_in_denominator=True),
    "scl": lambda v, y: scl_loss(v, y, 0.5),
}


@pytest.mark.benchmark(group="loss-fwd-bwd-2x1024x128")
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_forward_backward(benchmark, name):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(K, B, D, generator=g).requires_grad_(True)
    y = torch.randint(0, C, (B,), generator=g)
    fn = LOSSES[name]

    def step():
        v.grad = None
        loss = fn(v, y)
        loss.backward()
        return loss

    loss = benchmark.pedantic(step, rounds=10, iterations=1, warmup_rounds=1)
    assert torch.isfinite(loss) and torch.isfinite(v.grad).all()
