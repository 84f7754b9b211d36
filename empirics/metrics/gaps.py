"""Exact gaps between nearly identical representations: the one-shot fallback (THEORY.md s7).

From Gram moments a gap is a difference of squares, e.g.
``||K_X - K_Y||^2 = ||Cxx||^2 + ||Cyy||^2 - 2 ||Cxy||^2``; when ``K_Y`` is close to ``K_X`` (a
rotation, or the same class geometry with small within-class differences) the rounding of
the moments, about ``1e-16`` of ``||K||^2``, leaves the gap known only to about
``1e-8 ||K||``. Difference moments (``d == e``) remove that floor except where the gap
cancels within the differences themselves (a rotation ``X W``: about
``1e-8 |W - I| ||K||``). A triangular factor has no floor: with ``P = [1, W, Z, g, h]`` (the
centred unit rows of X and Y about one pilot, and ``g = |w|^2``, ``h = |z|^2``) and ``P = Q R``
(Householder, column-wise backward stable, built chunk by chunk as ``qr([R; P_chunk])``):

- ``A_X - A_Y = P Omega P^T`` for the dissimilarities ``a_ij = (g_i + g_j)/2 - w_i.w_j``, with
  ``Omega`` pairing ``1`` with ``(g - h)/2`` and ``-I``, ``+I`` on W, Z; so
  ``||Sigma(X) - Sigma(Y)||_F = ||R Omega R^T||_F``, a norm of a difference formed entry by
  entry;
- the ones column comes first, so ``R[1:, 1:]`` is the factor of the *centred* columns and
  ``||K_X - K_Y||_F = ||R_W R_W^T - R_Z R_Z^T||_F`` with ``R_W = R[1:, W]``, ``R_Z = R[1:, Z]``.

Both are exact to about ``1e-16`` of the scale, so a zero gap comes out as about ``1e-16``,
not ``1e-8``. Cost ``O(N (d + e)^2)`` (about 3x the moments), paid only when the moments say
the gap is poorly conditioned (:data:`GAP_RTOL`) and the features are at hand. With
difference moments (cosine, ``d == e``; :mod:`empirics.metrics.quantities`) that is only a
gap that cancels within the differences (a rotation); without them (``d != e``) every gap
far below the scale of ``Sigma``.
"""

from __future__ import annotations

import math

import torch

from empirics.metrics.rows import centred_unit_rows, checked_norms

__all__ = ["GAP_RTOL", "exact_gaps"]

GAP_RTOL = 1e-5  # a squared gap below this share of its scale is recomputed from R
_CHUNK_ROWS = 8192


def _factor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``R`` of ``P = [1, W, Z, g, h]`` over all rows (TSQR in chunks), float64."""
    R = px = py = None
    for i in range(0, x.shape[0], _CHUNK_ROWS):
        xc = x[i : i + _CHUNK_ROWS].to(torch.float64)
        yc = y[i : i + _CHUNK_ROWS].to(torch.float64)
        w, px, _ = centred_unit_rows(xc, *checked_norms(xc, "`X` and `Y`"), px)
        z, py, _ = centred_unit_rows(yc, *checked_norms(yc, "`X` and `Y`"), py)
        g = torch.linalg.vector_norm(w, dim=1).square_()[:, None]
        h = torch.linalg.vector_norm(z, dim=1).square_()[:, None]
        P = torch.cat((torch.ones_like(g), w, z, g, h), dim=1)
        R = torch.linalg.qr(P if R is None else torch.cat((R, P)), mode="r").R
    return R


def exact_gaps(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``||Sigma(X) - Sigma(Y)||_F`` and ``||K_X - K_Y||_F`` from a Householder factor.

    Args:
        x, y: ``(N, d)``, ``(N, e)`` features without zero rows (checked by the caller).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(40, 5, generator=g, dtype=torch.float64)
        >>> Q = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64)).Q
        >>> [v < 1e-13 for v in exact_gaps(X, X @ Q)]  # a rotation: both gaps are 0
        [True, True]
    """
    d, e = x.shape[1], y.shape[1]
    R = _factor(x, y)
    W, Z, g, h = slice(1, 1 + d), slice(1 + d, 1 + d + e), 1 + d + e, 2 + d + e
    RO = torch.zeros_like(R)  # R Omega, column by column
    RO[:, 0] = (R[:, g] - R[:, h]) / 2.0
    RO[:, W] = -R[:, W]
    RO[:, Z] = R[:, Z]
    RO[:, g] = R[:, 0] / 2.0
    RO[:, h] = -R[:, 0] / 2.0
    sim_gap = float(torch.linalg.matrix_norm(RO @ R.T))
    Rw, Rz = R[1:, W], R[1:, Z]
    k_gap = float(torch.linalg.matrix_norm(Rw @ Rw.T - Rz @ Rz.T))
    return sim_gap, k_gap


def poorly_conditioned(gap2: float, scale2: float) -> bool:
    """Whether a squared gap from moments is too close to its rounding to be trusted."""
    return math.isfinite(gap2) and gap2 < GAP_RTOL * scale2
