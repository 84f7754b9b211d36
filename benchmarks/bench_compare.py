"""Benchmark of ``python -m empirics.compare --layers all`` at ``N`` rows (docs/compare.md).

    python -m pytest benchmarks/bench_compare.py --benchmark-only            # N = 10^3 .. 10^5
    python -m pytest benchmarks/bench_compare.py --benchmark-only -k 1000rows   # the smallest

Two independently initialised toolkit MLPs (``build_model("mlp", (64,))``: 8 layers, 64
layer pairs) are saved as state dicts and compared layer by layer on ``N`` rows of the
synthetic data set, each size in a fresh process that runs the command and reports its
wall time, its CPU time and its peak resident memory (``ru_maxrss`` of the child):

    python -m empirics.compare mlp1.pt mlp2.pt --arch mlp --dataset synthetic \\
        --classes 10 --n N --layers all --out DIR --no-progress

Memory should not grow with ``N`` (docs/compare.md: the layers' moments are
``O(sum_l d_l^2 + D_A D_B)``, the row measures' kept rows ``O(--layer-rows)``). ``N = 10^5``
takes minutes; run it on a quiet machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Rows compared; the largest is the documented measurement.
SIZES = [10**3, 2 * 10**4, 10**5]

_RUN = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys, time
    import torch
    from empirics.models import build_model

    N, folder = int(sys.argv[1]), sys.argv[2]
    for seed in (1, 2):
        torch.manual_seed(seed)
        torch.save(build_model("mlp", (64,)).state_dict(), f"{folder}/mlp{seed}.pt")
    argv = [sys.executable, "-m", "empirics.compare", f"{folder}/mlp1.pt",
            f"{folder}/mlp2.pt", "--arch", "mlp", "--dataset", "synthetic", "--classes", "10",
            "--n", str(N), "--layers", "all", "--out", f"{folder}/out", "--no-progress"]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"N": N, "returncode": done.returncode, "stderr": done.stderr[-2000:],
                      "seconds": seconds, "user_seconds": usage.ru_utime,
                      "system_seconds": usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "loadavg_1min": os.getloadavg()[0]}))
    """
)


def _measure(N: int, folder) -> dict:
    res = subprocess.run([sys.executable, "-c", _RUN, str(N), str(folder)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="compare-layers")
@pytest.mark.parametrize("N", SIZES, ids=[f"{n}rows" for n in SIZES])
def test_layers_at_N_rows(benchmark, N, tmp_path):
    result: dict = {}

    def run():
        result.update(_measure(N, tmp_path))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["returncode"] == 0, result["stderr"]
    lines = (tmp_path / "out" / "layers.csv").read_text().splitlines()
    assert len(lines) == 1 + 64 and f",{N}," in lines[1]  # 64 layer pairs over N rows
    print(f"\ncompare --layers all, N={N}: {result['seconds']:.1f} s wall, "
          f"{result['user_seconds']:.1f} s user + {result['system_seconds']:.1f} s system, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB, load {result['loadavg_1min']:.1f}")
