"""Minimum wall time of ``AlignmentAccumulator(...).update(X, Y).compute()`` (contention-robust).

A plain script, not a pytest-benchmark item: it compares two trees of the toolkit on a shared
machine, where medians under load say little and the minimum of many calls estimates the
uncontended cost. Run it once per tree, alternating, from that tree's root:

    PYTHONPATH=. python benchmarks/metrics_minima.py [--threads 1|2] [--calls 60]

and compare the printed minima (milliseconds; ``d = e = 128``, float64, standard normal
features, seed 0). ``cos`` is the theory's metrics (CKA, RSA, gap, rho, r); ``cos+lin`` also
keeps the raw-feature statistics of the paper code's CKA.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from empirics.metrics import AlignmentAccumulator


def minimum_ms(X, Y, *, linear: bool, calls: int) -> float:
    def once():
        acc = AlignmentAccumulator(linear=linear)
        acc.update(X, Y)
        return acc.compute()

    for _ in range(3):
        once()
    best = float("inf")
    for _ in range(calls):
        t = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    p.add_argument("--calls", type=int, default=30, help="timed calls per item (default: 30)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    out = {}
    for N in (1_000, 10_000, 100_000):
        X = torch.from_numpy(rng.standard_normal((N, 128)))
        Y = torch.from_numpy(rng.standard_normal((N, 128)))
        calls = a.calls if N <= 10_000 else max(3, a.calls // 6)
        for linear in (False, True):
            key = f"N={N} {'cos+lin' if linear else 'cos'}"
            out[key] = round(minimum_ms(X, Y, linear=linear, calls=calls), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
