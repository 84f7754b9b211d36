"""The largest eigenvalue of the surrogate's batch-loss Hessian, by power iteration.

A diagnostic beside the certificate's constants (docs/surrogate.md s2): the certificate
uses the valid upper bound ``L_box`` of :func:`~empirics.surrogate.certificate.lipschitz_box`;
this measures how far below it the realised curvature stays. The Hessian is block diagonal
over rows, row ``a``'s block ``(diag(w_a) - w_a w_a^T) / (R tau^2)`` [derived], so one
Hessian-vector product costs ``O(R^2)``:

    (H v)_a = (w_a * v_a - w_a (w_a . v_a)) / (R tau^2)

The start vector is the fixed stream ``np.random.default_rng(0)``: 30 iterations do not
converge to the golden tolerance, so the pinned golden value (``lipschitz_measured``)
depends on that start (a stream of :mod:`empirics.seeds` moves it by about 2e-3).
"""

from __future__ import annotations

import math

import numpy as np

from empirics.surrogate.arrays import sqnorm

__all__ = ["hessian_top_eigenvalue"]


def hessian_top_eigenvalue(block, den, tau: float, iters: int = 30,
                           rng: np.random.Generator | None = None) -> float:
    """Largest eigenvalue of the batch loss's Hessian at ``block`` (power iteration, numpy).

    Args:
        block: ``(R, R)`` similarities of the batch's anchors.
        den: ``(R, R)`` bool denominator mask of the objective.
        tau: temperature > 0.
        iters: power iterations.
        rng: source of the start vector (default ``np.random.default_rng(0)``).

    Returns:
        The Rayleigh quotient after ``iters`` steps (0.0 when the Hessian vanishes).

    >>> den = np.ones((4, 4), dtype=bool)
    >>> block = np.where(np.arange(4) < 2, 1.0, -1.0) * np.ones((4, 1))
    >>> round(hessian_top_eigenvalue(block, den, 0.01, iters=200), 6)  # 1/(4 tau^2 (R/2))
    1250.0
    """
    block = np.asarray(block, dtype=np.float64)
    R = block.shape[0]
    x = np.where(den, block / tau, -np.inf)
    m = x.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(den, np.exp(x - m), 0.0)
    Z = e.sum(1, keepdims=True)
    w = e / np.where(Z > 0, Z, 1.0)
    rng = np.random.default_rng(0) if rng is None else rng
    v = np.where(den, rng.standard_normal(block.shape), 0.0)
    lam = 0.0
    for _ in range(iters):
        nv = math.sqrt(sqnorm(v))
        if nv == 0:
            return 0.0
        v = v / nv
        hv = (w * v - w * (w * v).sum(1, keepdims=True)) / (R * tau * tau)
        lam = float((v * hv).sum())
        v = hv
    return lam
