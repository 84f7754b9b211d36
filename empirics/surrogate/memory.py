"""Refuse a surrogate run whose arrays would not fit in memory, before allocating them.

The state is two ``2N x 2N`` float64 matrices (CL and NSCL), ``32 N^2`` bytes each, and an
evaluation (:func:`~empirics.metrics.kernels.kernel_alignment`: the difference and the
centred matrices) briefly holds about four more; the
batch order and the per-step records add ``O(T B)``. Before the states exist,
``init="features"`` draws ``2N x d`` features (``d = init_dim``): about
:data:`FEATURE_ARRAYS` ``N x d`` float64 arrays and two ``2N x 2N`` matrices at that peak.
:func:`estimate_bytes` takes the larger peak plus the rest (checked against the measured
peaks in the tests); :func:`check_memory` compares the sum
with a limit: ``max_memory_gib`` when given, else 80% of the memory available when the run
starts (``MemAvailable`` of ``/proc/meminfo``; elsewhere the physical memory).

>>> from empirics.surrogate.config import SurrogateConfig
>>> round(estimate_bytes(SurrogateConfig(N=1_000_000)) / 2**40)  # TiB
204
>>> check_memory(SurrogateConfig(N=1_000_000, max_memory_gib=64.0))
Traceback (most recent call last):
...
ValueError: Expected a state that fits in memory, got `N` = 1000000, which needs about
2.09e+05 GiB (limit 64 GiB, `max_memory_gib`)
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_FRACTION", "FEATURE_ARRAYS", "PEAK_MATRICES", "available_bytes",
           "check_memory", "estimate_bytes"]

GIB = 2**30
#: ``2N x 2N`` float64 matrices alive at the peak: the two states and an evaluation's
#: temporaries (measured with tracemalloc: 6.05 at N = 512, 6.01 at N = 1024), plus one
#: matrix of margin so that the estimate stays an upper bound.
PEAK_MATRICES = 7
#: ``N x d`` float64 arrays alive at the peak of ``init="features"`` (measured with
#: tracemalloc: 8.08 at N = 128, d = 8192; 8.16 at N = 64, d = 20000), plus one of margin.
FEATURE_ARRAYS = 9
#: Share of the available memory a run may take when ``max_memory_gib`` is not given.
DEFAULT_FRACTION = 0.8


def _state_bytes(config) -> int:
    """The run's peak: the two states and an evaluation's temporaries."""
    return PEAK_MATRICES * (2 * config.N) ** 2 * 8


def _feature_bytes(config) -> int:
    """The peak of ``init="features"``: the features, then ``z z^T`` and its clip (0 for
    ``init="identity"``)."""
    if config.init != "features":
        return 0
    return FEATURE_ARRAYS * config.N * config.init_dim * 8 + 2 * (2 * config.N) ** 2 * 8


def estimate_bytes(config) -> int:
    """Peak bytes of a run of ``config``: the larger of the run's peak (states, evaluation)
    and the initial features' peak, plus the batches and the per-step records."""
    return max(_state_bytes(config), _feature_bytes(config)) + _step_bytes(config)


def _step_bytes(config) -> int:
    """The batch order and the per-step records."""
    N, B, T = config.N, config.B, config.steps
    batches = 3 * (T + N) * B * 8  # the permutations, stacked, and the batch array
    records = 16 * (T + 1) * 8 + 8 * (2 * N) * 8  # per-step arrays, per-row certificate
    return batches + records


def _largest_part(config) -> str:
    """The fields that decide the estimate, as the message names them."""
    parts = {f"`N` = {config.N}": _state_bytes(config),
             f"`N` = {config.N} and `init_dim` = {config.init_dim}": _feature_bytes(config),
             f"`steps` = {config.steps} (with `B` = {config.B})": _step_bytes(config)}
    return max(parts, key=parts.__getitem__)


def available_bytes() -> int | None:
    """Memory available now (``MemAvailable``), else the physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _gib(n: float) -> str:
    return f"{n / GIB:.3g}"


def check_memory(config) -> int:
    """Raise before allocating when a run of ``config`` would not fit; return its estimate.

    Raises:
        ValueError: the estimate exceeds the limit (the message names the fields that
            decide it: ``N``, ``init_dim`` or ``steps``; the GiB it needs and the limit).
    """
    need = estimate_bytes(config)
    if config.max_memory_gib is not None:
        limit, source = config.max_memory_gib * GIB, "`max_memory_gib`"
    else:
        avail = available_bytes()
        if avail is None:
            return need
        limit, source = DEFAULT_FRACTION * avail, "80% of the memory available"
    if need > limit:
        raise ValueError(f"Expected a state that fits in memory, got {_largest_part(config)}, "
                         f"which needs about {_gib(need)} GiB (limit {_gib(limit)} GiB, "
                         f"{source})")
    return need
