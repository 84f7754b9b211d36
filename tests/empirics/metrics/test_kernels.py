"""Tests for empirics.metrics.kernels: kernel_alignment of two given similarity matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirics.metrics import kernel_alignment

LD = np.longdouble


def _twin(S1, S2) -> dict:
    """Long-double N x N twin: K = H S H, every difference formed before its norm."""
    S1, S2 = np.asarray(S1).astype(LD), np.asarray(S2).astype(LD)
    N = S1.shape[0]
    H = np.eye(N, dtype=LD) - np.ones((N, N), dtype=LD) / N
    K1, K2 = H @ S1 @ H, H @ S2 @ H
    fro = lambda A: np.sqrt((A * A).sum())  # noqa: E731
    return {
        "cka": float((K1 * K2).sum() / (fro(K1) * fro(K2))),
        "rho": float(fro(H @ (S1 - S2) @ H) / fro(K1)),
        "sim_gap": float(fro(S1 - S2)),
    }


def _states(seed, N=24, noise=0.1):
    g = np.random.default_rng(seed)
    Z = g.normal(size=(N, 6))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    S1 = Z @ Z.T
    S2 = np.clip(S1 + noise * g.normal(size=S1.shape), -1, 1)  # a surrogate-like state
    return S1, S2


@pytest.mark.parametrize("noise", [0.3, 1e-3, 1e-9, 0.0])
def test_equals_the_long_double_twin_down_to_a_zero_gap(noise):
    S1, S2 = _states(0, noise=noise)
    got, want = kernel_alignment(S1, S2), _twin(S1, S2)
    for k in ("cka", "rho", "sim_gap"):
        assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-15), k
    assert -1.0 <= got["cka"] <= 1.0


def test_range_safe_at_extreme_scales_and_for_torch_inputs():
    S1, S2 = _states(2)
    want = kernel_alignment(S1, S2)
    huge = kernel_alignment(torch.from_numpy(S1 * 1e300), S2 * 1e300)
    tiny = kernel_alignment(S1 * 1e-300, S2 * 1e-300)
    assert huge["cka"] == pytest.approx(want["cka"], rel=1e-14)
    assert tiny["rho"] == pytest.approx(want["rho"], rel=1e-14)
    assert huge["sim_gap"] == pytest.approx(want["sim_gap"] * 1e300, rel=1e-14)


def test_a_constant_state_gives_nan_with_a_warning():
    S1, S2 = _states(3)
    with pytest.warns(RuntimeWarning, match=r"H S2 H is zero"):
        out = kernel_alignment(S1, np.ones_like(S1))
    assert math.isnan(out["cka"]) and out["rho"] == pytest.approx(1.0)
    with pytest.warns(RuntimeWarning, match=r"H S1 H is zero.*no normaliser"):
        out = kernel_alignment(np.full_like(S1, 0.5), S2)
    assert math.isnan(out["cka"]) and math.isnan(out["rho"]) and out["sim_gap"] > 0


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((np.ones((3, 4)), np.ones((3, 4))), ValueError, r"`S1` of shape \(N, N\)"),
        ((np.ones((3, 3)), np.ones((4, 4))), ValueError, "same shape"),
        ((np.ones((1, 1)), np.ones((1, 1))), ValueError, "N >= 2"),
        ((np.full((3, 3), np.nan), np.ones((3, 3))), ValueError, "finite values in `S1`"),
        (([[1.0, 0.0], [0.0, 1.0]], np.eye(2)), TypeError, "numpy array or torch tensor"),
        ((np.eye(2), np.eye(2).astype(complex)), TypeError, "real-valued `S2`"),
    ],
)
def test_invalid_inputs_raise(args, exc, match):
    with pytest.raises(exc, match=match):
        kernel_alignment(*args)


def test_importing_kernels_does_not_import_torch():
    """The surrogate's numpy backend imports this module: it must not pay for torch."""
    import subprocess
    import sys

    code = "import sys, empirics.metrics.kernels; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("scale", [2.0**-500, 2.0**-300, 2.0**300, 2.0**500])
def test_rescaling_changes_no_bit_where_it_is_not_needed(scale):
    """Inside [2^-400, 2^400] no scaled copy is made; outside it one is. Powers of two
    commute with every rounding, so both give the values of the unscaled matrices."""
    S1, S2 = _states(4, noise=1e-6)
    want, got = kernel_alignment(S1, S2), kernel_alignment(S1 * scale, S2 * scale)
    assert got["cka"] == want["cka"] and got["rho"] == want["rho"]
    assert got["sim_gap"] == want["sim_gap"] * scale
