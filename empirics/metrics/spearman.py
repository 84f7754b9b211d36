"""RSA with Spearman's rank correlation: the one metric that needs all ``N(N-1)/2`` pairs.

Ranks are global, so no d x d identity exists: the dissimilarities ``1 - cos`` of the
strict upper triangle are materialised in row blocks, ranked with
``scipy.stats.rankdata`` (average ranks for ties) and correlated. A memory guard refuses,
with a ``ValueError`` naming the estimate and the limit, when ``48 M`` bytes exceed
``max_memory``. Each dissimilarity is computed as half the squared distance of the
centred unit rows, ``(g_i + g_j)/2 - w_i.w_j``, so it keeps its precision near collapse.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from empirics.metrics.moments import centred_unit_rows, checked_norms

__all__ = ["SPEARMAN_BYTES_PER_PAIR", "SPEARMAN_MAX_MEMORY", "spearman_rsa"]

SPEARMAN_MAX_MEMORY = 2**30  # default guard for rsa(method="spearman"): 1 GiB
SPEARMAN_BYTES_PER_PAIR = 48  # a and b (float64) + the ranking's temporaries, per pair
_SPEARMAN_BLOCK = 1 << 22  # entries per materialised block of dissimilarities


def _pairs(w: np.ndarray) -> np.ndarray:
    """``a_ij = (g_i + g_j)/2 - w_i.w_j`` for ``i < j``, row-major, in blocks."""
    N = w.shape[0]
    g = np.einsum("ij,ij->i", w, w)
    out = np.empty(N * (N - 1) // 2, dtype=np.float64)
    pos, i = 0, 0
    while i < N - 1:
        rows = max(1, min(N - 1 - i, _SPEARMAN_BLOCK // max(1, N - i)))
        block = (g[i : i + rows, None] + g[None, i:]) / 2.0 - w[i : i + rows] @ w[i:].T
        vals = block[np.triu_indices(rows, k=1, m=N - i)]
        out[pos : pos + vals.size] = vals
        pos, i = pos + vals.size, i + rows
    return out


def _centred_units(Z: torch.Tensor, name: str) -> np.ndarray | None:
    z = Z.to("cpu", torch.float64)
    w, _, zero = centred_unit_rows(z, *checked_norms(z, f"`{name}`"))
    if zero:
        warnings.warn(
            f"rsa: cosine similarity is undefined for the {zero} zero rows of `{name}`; "
            "returning NaN",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    w = w.numpy()
    return w - w.mean(axis=0)  # about the mean: the smallest centred rows


def spearman_rsa(X: torch.Tensor, Y: torch.Tensor, max_memory: int) -> float:
    """Spearman correlation of the dissimilarities ``1 - cos`` of X and Y over ``i < j``.

    Args:
        X, Y: ``(N, d)``, ``(N, e)`` tensors (checked by the caller); max_memory: bytes.

    Returns:
        float in [-1, 1]; NaN plus ``RuntimeWarning`` for zero rows or constant
        dissimilarities.

    Raises:
        ValueError: ``48 M`` bytes exceed ``max_memory``; NaN or inf in the input.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(30, 4, generator=g, dtype=torch.float64)
        >>> round(spearman_rsa(X, 5 * X, 2**20), 12)
        1.0
    """
    N = X.shape[0]
    M = N * (N - 1) // 2
    need = SPEARMAN_BYTES_PER_PAIR * M
    if need > max_memory:
        raise ValueError(
            f"rsa(method='spearman') on N={N} rows ranks M={M} pairs and needs about "
            f"{need / 2**20:.0f} MiB, over the limit max_memory={max_memory} bytes "
            f"({max_memory / 2**20:.0f} MiB); pass subsample=n with a seed, or raise max_memory"
        )
    Wx, Wy = _centred_units(X, "X"), _centred_units(Y, "Y")
    if Wx is None or Wy is None:
        return float("nan")
    from scipy.stats import rankdata  # here: importing the metrics does not pay for scipy

    ra = rankdata(_pairs(Wx))  # average ranks for ties
    rb = rankdata(_pairs(Wy))
    mean = (M + 1) / 2.0  # the mean of average ranks is exact
    ra -= mean
    rb -= mean
    va, vb = float(ra @ ra), float(rb @ rb)
    if not (va > 0 and vb > 0):
        warnings.warn(
            "rsa: the dissimilarities of X or Y are constant; returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return max(-1.0, min(1.0, float(ra @ rb) / math.sqrt(va * vb)))
