"""Tests for empirics.surrogate.memory: the estimate is the real peak, and a state that
would not fit is refused before anything is allocated."""

from __future__ import annotations

import tracemalloc

import numpy as np
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


def test_estimate_covers_the_initial_features_peak():
    # d >> N: the 2N x d features, not the 2N x 2N states, decide the peak (an init_dim of
    # 10^8 was not counted and ran the machine out of memory)
    from empirics.surrogate.state import initial_state, make_labels

    c = SurrogateConfig(C=4, N=16, B=8, steps=2, init_dim=20_000)
    labels = make_labels(c.N, c.C, np.random.default_rng(0))
    tracemalloc.start()
    try:
        initial_state(c, labels, np.random.default_rng(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    features = memory.estimate_bytes(c) - memory.estimate_bytes(c.replace(init="identity"))
    assert features > 0
    assert 0.9 * peak <= memory.estimate_bytes(c) <= 1.3 * peak
    with pytest.raises(ValueError, match="`N` = 16 and `init_dim` = 20000000, which needs"):
        memory.check_memory(c.replace(init_dim=20_000_000, max_memory_gib=1.0))
    with pytest.raises(ValueError, match=r"`steps` = 10000000000 \(with `B` = 8\)"):
        memory.check_memory(c.replace(steps=10**10, max_memory_gib=1.0))


def test_the_figures_in_the_docs_are_the_estimate():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "surrogate.md").read_text()
    guard = " ".join(doc[doc.index("**Memory guard.**"):doc.index("## 2.")].split())
    gib = {N: memory.estimate_bytes(SurrogateConfig(N=N)) / 2**30 for N in (4096, 8192)}
    assert f"`N = 4096` needs about {gib[4096]:.2g} GiB" in guard
    assert f"`N = 8192` about {gib[8192]:.2g} GiB" in guard
    assert f"about {memory.estimate_bytes(SurrogateConfig(N=1_000_000)) / 2**30:.3g} GiB" \
        in guard
    assert f"`PEAK_MATRICES = {memory.PEAK_MATRICES}`" in guard
    assert f"`FEATURE_ARRAYS = {memory.FEATURE_ARRAYS}`" in guard
