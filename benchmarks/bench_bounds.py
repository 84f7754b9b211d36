"""Benchmarks of bounds: Theorem 1 + both corollaries on a 10^6-point grid, and the CLI.

Run: python -m pytest benchmarks/bench_bounds.py --benchmark-only
Target: >= 10^6 grid points per second (2-core machine); the CLI answers in < 1 s.
"""

import subprocess
import sys

import numpy as np
import pytest

import bounds
from bounds import numeric as num

# 100 x 100 x 100 = 10^6 grid points over C, tau, B.
C = np.unique(np.round(np.geomspace(2, 10**5, 130)))[:100][:, None, None]
TAU = np.geomspace(1e-3, 10, 100)[None, :, None]
B = np.unique(np.round(np.geomspace(2, 65536, 140)))[:100][None, None, :]
POINTS = C.size * TAU.size * B.size
T = bounds.steps_from_epochs(300, 50000, B)
S = bounds.sum_eta("cosine", bounds.lr_from_rule("linear", 0.3, B), T,
                   10 * np.ceil(50000 / B))


def theorem1_and_corollaries():
    """Theorem 1 and Corollaries 1-2 (NSCL-optimum normalisers) in log space."""
    log_D = num.log_Delta(B, TAU, 0.05, T, 1.0 / C)
    log_s = num.log_theorem1(S, TAU, B, log_D)
    N_ref = 10000.0
    with np.errstate(divide="ignore"):  # sigma_a = 0 at C = N_ref: r = inf (vacuous)
        return _corollaries(log_s, N_ref)


def _corollaries(log_s, N_ref):
    Cc = np.minimum(C, N_ref)
    log_rho = num.log_rho_bound(log_s, bounds.etf_K_norm(N_ref, Cc))
    log_r = num.log_r_bound(log_s, bounds.etf_sigma_a(N_ref, Cc), N_ref)
    return num.lower_from_log_ratio(log_rho, 0.0), num.lower_from_log_ratio(log_r, -1.0)


def test_grid_theorem1_corollaries(benchmark):
    cka, rsa = benchmark(theorem1_and_corollaries)
    assert cka.shape == rsa.shape == (100, 100, 100) and POINTS == 10**6
    rate = POINTS / benchmark.stats.stats.mean
    benchmark.extra_info["points_per_second"] = rate
    print(f"\ntheorem1+corollaries: {rate:.3g} points/s")
    assert rate >= 1e6


def test_grid_evaluate_all_outputs(benchmark):
    """Every output of bounds.evaluate_bounds (T and sum_eta given: product form in closed
    form)."""
    Cc = np.minimum(C, 10000)
    out = benchmark(bounds.evaluate_bounds, Cc, TAU, B, T=T, sum_eta=S)
    assert out["sim_gap"].shape == (100, 100, 100)
    rate = POINTS / benchmark.stats.stats.mean
    benchmark.extra_info["points_per_second"] = rate
    print(f"\nevaluate (all outputs): {rate:.3g} points/s")


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_cli_answer(benchmark, fmt):
    cmd = [sys.executable, "-m", "bounds.evaluate", "--C", "100", "--tau", "0.5",
           "--format", fmt]
    p = benchmark.pedantic(subprocess.run, args=(cmd,), kwargs=dict(capture_output=True),
                           rounds=5, iterations=1)
    assert p.returncode == 0
    print(f"\nCLI ({fmt}): mean {benchmark.stats.stats.mean:.3f} s")
    assert benchmark.stats.stats.mean < 1.0
