"""Benchmarks for empirics.metrics / empirics.accumulator (numbers in docs/benchmarks.md).

    python -m pytest benchmarks/bench_metrics.py --benchmark-only

1. ``N = 10^4``, ``d = 128``: the exact O(N d^2) path (CKA, RSA-Pearson, similarity gap, rho, r
   in one pass over the cosine statistics) against the N x N Gram form of CKA, RSA and the
   gap (float64, vectorised torch).
2. Streaming scaling ``N = 10^3 .. 10^6`` at ``d = 128``: batches of 8192 rows stream through an
   ``AlignmentAccumulator``; each size runs in a fresh subprocess that reports its wall time
   and its peak-RSS increase (``VmHWM`` after minus ``VmRSS`` before the stream: the torch import
   and the 32 MiB input pool are not counted, everything the accumulator allocates is).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from empirics.metrics import AlignmentAccumulator

N_EXACT, D = 10_000, 128


def _features(N, d=D, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, d, generator=g, dtype=torch.float64)
    Y = torch.tanh(X @ torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5)
    return X, Y + 0.5 * torch.randn(N, d, generator=g, dtype=torch.float64)


def nxn_form(X, Y):
    """CKA (cosine), RSA-Pearson and the similarity gap through the N x N Gram matrices."""
    Xn = X / X.norm(dim=1, keepdim=True)
    Yn = Y / Y.norm(dim=1, keepdim=True)
    S1, S2 = Xn @ Xn.T, Yn @ Yn.T  # (N, N) each
    gap = float((S1 - S2).norm())
    upper = torch.ones_like(S1, dtype=torch.bool).triu(1)
    a, b = 1.0 - S1[upper], 1.0 - S2[upper]
    a, b = a - a.mean(), b - b.mean()
    rsa = float(a @ b / (a.norm() * b.norm()))
    del a, b, upper

    def centre(S):  # H S H in place
        S -= S.mean(dim=0, keepdim=True)
        S -= S.mean(dim=1, keepdim=True)
        return S

    K1, K2 = centre(S1), centre(S2)
    cka = float((K1 * K2).sum() / (K1.norm() * K2.norm()))
    return {"cka": cka, "rsa": rsa, "sim_gap": gap}


@pytest.fixture(scope="module")
def exact_inputs():
    return _features(N_EXACT)


@pytest.mark.benchmark(group="metrics-N1e4-d128")
def test_exact_gram_identities(benchmark, exact_inputs):
    X, Y = exact_inputs

    # like for like: the cosine statistics only (what cka/rsa/similarity_gap use); compute()
    # then gives CKA, RSA, the gap, rho and r together
    def exact():
        return AlignmentAccumulator(linear=False).update(X, Y).compute()

    out = benchmark.pedantic(exact, rounds=5, iterations=1)
    ref = nxn_form(X, Y)
    for k in ref:
        assert out[k] == pytest.approx(ref[k], rel=1e-9)


@pytest.mark.benchmark(group="metrics-N1e4-d128")
def test_nxn_gram_form(benchmark, exact_inputs):
    X, Y = exact_inputs
    benchmark.pedantic(lambda: nxn_form(X, Y), rounds=2, iterations=1)


_STREAM = textwrap.dedent(
    """
    import json, os, sys, time
    import torch
    from empirics.metrics import AlignmentAccumulator
    N, d, linear, b = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", 8192
    g = torch.Generator().manual_seed(0)
    W = torch.randn(d, d, generator=g) / d**0.5
    # a pool of 4 input batches, cycled (generating 10^6 x 128 normals would time the RNG)
    pool = []
    for _ in range(4):
        x = torch.randn(b, d, generator=g)
        pool.append((x, torch.tanh(x @ W) + 0.5 * torch.randn(b, d, generator=g)))
    def status_mb(key):  # VmRSS / VmHWM of this process (HWM resets at exec, unlike ru_maxrss)
        with open("/proc/self/status") as f:
            line = next(li for li in f if li.startswith(key + ":"))
        return int(line.split()[1]) / 1024
    before = status_mb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    acc = AlignmentAccumulator(linear=linear)
    for k, i in enumerate(range(0, N, b)):
        x, y = pool[k % 4]
        acc.update(x[: N - i], y[: N - i])
    out = acc.compute()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"N": acc.n, "seconds": seconds, "cpu_seconds": cpu,
                      "peak_increase_mb": status_mb("VmHWM") - before, "rss_before_mb": before,
                      "pool_mb": 4 * 2 * b * d * 4 / 2**20, "threads": torch.get_num_threads(),
                      "loadavg_1min": os.getloadavg()[0],
                      "cka": out["cka"], "rsa": out["rsa"], "sim_gap": out["sim_gap"]}))
    """
)


def _stream(N, linear):
    res = subprocess.run(
        [sys.executable, "-c", _STREAM, str(N), str(D), "1" if linear else "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="metrics-streaming-d128")
@pytest.mark.parametrize("N", [10**3, 10**4, 10**5, 10**6])
@pytest.mark.parametrize("linear", [False, True], ids=["cosine", "cosine+linear"])
def test_streaming_scaling(benchmark, N, linear):
    result = {}

    def run():
        result.update(_stream(N, linear))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["N"] == N
    print(f"\nstreaming N={N} linear={linear}: {result['seconds']:.2f} s wall, "
          f"{result['cpu_seconds']:.2f} s CPU, peak RSS increase "
          f"{result['peak_increase_mb']:.1f} MB, load {result['loadavg_1min']:.1f}")  # fmt: skip
