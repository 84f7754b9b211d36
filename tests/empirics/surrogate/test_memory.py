"""Tests for empirics.surrogate.memory: the estimate is the real peak, and a state that
would not fit is refused before anything is allocated."""

from __future__ import annotations

import tracemalloc

import pytest

from empirics.surrogate import Simulation, SurrogateConfig, memory, simulate


def test_estimate_matches_the_measured_peak():
    import empirics.metrics.kernels  # noqa: F401  (torch is imported before measuring)

    c = SurrogateConfig(N=512, B=32, steps=12)
    tracemalloc.start()
    try:
        simulate(c)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.9 * peak <= memory.estimate_bytes(c) <= 1.3 * peak


def test_a_state_too_large_is_refused_before_allocating(monkeypatch):
    c = SurrogateConfig(N=1_000_000, max_memory_gib=100.0)
    with pytest.raises(ValueError) as exc:
        Simulation(c)
    text = str(exc.value)
    assert "`N` = 1000000" in text and "GiB" in text and "limit 100 GiB" in text
    need = memory.estimate_bytes(c) / 2**30
    assert f"{need:.3g} GiB" in text and need > 29 * 2**10  # more than 29 TiB
    # the default limit: 80% of the memory available now
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 * 2**30)
    with pytest.raises(ValueError, match="limit 8 GiB, 80% of the memory available"):
        Simulation(SurrogateConfig(N=20_000))
    assert memory.check_memory(SurrogateConfig(N=256)) > 0
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    assert memory.check_memory(SurrogateConfig(N=1_000_000)) > 0  # no limit known


def test_available_memory_is_known_here():
    assert memory.available_bytes() is None or memory.available_bytes() > 0
