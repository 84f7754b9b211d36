"""One step of the surrogate: the batch's masks, the closed-form gradient, the batch loss.

Anchor ``a`` in ``[0, 2N)`` is view ``a // N`` of sample ``a % N``; its positive is
``p(a) = (a + N) mod 2N``. A batch ``S`` of ``B`` distinct samples gives the ``2B`` anchors
``A = [S, S + N]``, and the mean of their per-anchor losses ([P2], THEORY.md s2, s9):

    l_a(Sigma) = -Sigma_{a,p(a)}/tau + log sum_{b in D_a} exp(Sigma_{ab}/tau)
    CL   (decoupled): D_a = {views of samples j in S, j != i(a)}
    NSCL:             D_a = the same, restricted to y_j != y_i(a)
    L_t(Sigma) = (1/(2B)) sum_{a in A} l_a(Sigma)

Closed-form gradient [derived] (row-wise; the state's entries are independent variables):

    G_t[a, b] = (w_ab - [b = p(a)]) / (2 B tau)   for a in A,   G_t = 0 outside rows A,

with ``w_a = softmax(Sigma_{a, D_a}/tau)`` on ``D_a`` and 0 elsewhere. Every formula works
on numpy arrays and torch tensors alike (:mod:`empirics.surrogate.arrays`).
"""

from __future__ import annotations

import numpy as np

from empirics.surrogate.arrays import ops
from empirics.surrogate.config import OBJECTIVES

__all__ = ["anchor_gradient", "array_masks", "batch_gradient", "batch_loss", "batch_masks"]


def _check_batch(batch, N: int) -> np.ndarray:
    batch = np.asarray(batch)
    if batch.ndim != 1 or batch.size < 2 or not np.issubdtype(batch.dtype, np.integer):
        raise ValueError(f"Expected `batch` to be a 1-D integer array of >= 2 sample ids, got "
                         f"shape {batch.shape} dtype {batch.dtype}")
    if batch.min() < 0 or batch.max() >= N or np.unique(batch).size != batch.size:
        raise ValueError(f"Expected `batch` to hold distinct sample ids in [0, {N}), got "
                         f"{batch.tolist()!r}")
    return batch


def batch_masks(batch, labels, *, positive_in_denominator: bool = False) -> dict:
    """Masks over the batch's ``2B x 2B`` anchor block (THEORY.md s2, s9).

    Block rows/columns are the anchors ``A = [S, S + N]`` (view 0 of the batch, then view 1).

    Args:
        batch: ``(B,)`` distinct sample ids.
        labels: ``(N,)`` integer class labels.
        positive_in_denominator: NT-Xent-style variant (positive added to both denominators).

    Returns:
        dict of numpy bool arrays ``(2B, 2B)``: ``pos`` (the positive ``p(a)``), ``cl`` and
        ``nscl`` (the denominators ``D_a``), and ``same_class_negative`` (in CL's, not
        NSCL's); plus ``q`` ``(B,)``: each sample's same-class fraction among its ``B - 1``
        batch negatives.

    Raises:
        ValueError: ``batch`` is not distinct sample ids of ``labels``.

    >>> m = batch_masks(np.array([0, 1, 2]), np.array([0, 0, 1]))
    >>> m["cl"].sum(1).tolist(), m["nscl"].sum(1).tolist()
    ([4, 4, 4, 4, 4, 4], [2, 2, 4, 2, 2, 4])
    """
    labels = np.asarray(labels)
    batch = _check_batch(batch, labels.shape[0])
    B = batch.size
    s = np.concatenate([batch, batch])  # sample id of each block anchor
    y = labels[s]
    same_sample = s[:, None] == s[None, :]
    pos = same_sample & ~np.eye(2 * B, dtype=bool)
    neg = ~same_sample  # CL: every view of every other batch sample
    diff_class = y[:, None] != y[None, :]
    cl = neg | pos if positive_in_denominator else neg
    # NSCL: drop same-class samples from the denominator.
    nscl = (neg & diff_class) | pos if positive_in_denominator else neg & diff_class
    yb = labels[batch]
    q = ((yb[:, None] == yb[None, :]).sum(1) - 1) / (B - 1)
    return {"pos": pos, "cl": cl, "nscl": nscl, "same_class_negative": neg & ~diff_class,
            "q": q}


def array_masks(ref, masks: dict) -> dict:
    """The boolean masks of :func:`batch_masks` in ``ref``'s array library (``q`` left out)."""
    xp = ops(ref)
    return {k: xp.like(ref, v) for k, v in masks.items() if k != "q"}


def anchor_gradient(block, den, pos, tau: float):
    """Closed-form gradient of the mean per-anchor loss w.r.t. the anchor block [derived].

    ``G[a, b] = (w_ab - [b = p(a)]) / (R tau)`` with ``R`` the number of rows (``2B``) and
    ``w_a = softmax(block[a, den_a]/tau)`` (0 outside ``den_a``; a row with an empty
    denominator gets ``w_a = 0``, i.e. only its positive term, see docs/surrogate.md).

    Args:
        block: ``(R, R)`` similarities (numpy or torch), rows = anchors.
        den: ``(R, R)`` bool denominator mask (same library as ``block``).
        pos: ``(R, R)`` bool positive mask.
        tau: temperature.

    Returns:
        ``(R, R)`` gradient, same library and dtype as ``block``.

    >>> g = anchor_gradient(np.zeros((2, 2)), np.eye(2, dtype=bool), ~np.eye(2, dtype=bool), 1.0)
    >>> g.tolist()
    [[0.5, -0.5], [-0.5, 0.5]]
    """
    xp = ops(block)
    R = block.shape[0]
    x = block / tau
    neg_inf = xp.like(x, np.array(-np.inf), dtype=x.dtype)
    xm = xp.where(den, x, neg_inf)
    m = xp.row_max(xm)
    m = xp.where(m == neg_inf, x[:, :1] * 0, m)  # empty rows: any finite shift
    e = xp.where(den, xp.exp(xm - m), x * 0)
    Z = xp.row_sum(e)
    w = e / xp.where(Z > 0, Z, Z * 0 + 1)
    return (w - xp.as_float(pos, x)) / (R * tau)


def _prepare(Sigma, batch, labels, tau, objective, pid):
    if objective not in OBJECTIVES:
        raise ValueError(f"Expected `objective` in {OBJECTIVES}, got {objective!r}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
        raise ValueError(f"Expected `tau` > 0, got {tau!r}")
    labels = np.asarray(labels)
    N = labels.shape[0]
    if tuple(Sigma.shape) != (2 * N, 2 * N):
        raise ValueError(f"Expected `Sigma` of shape ({2 * N}, {2 * N}) for {N} labels, got "
                         f"{tuple(Sigma.shape)}")
    batch = _check_batch(batch, N)
    masks = batch_masks(batch, labels, positive_in_denominator=pid)
    return np.concatenate([batch, batch + N]), masks


def batch_gradient(Sigma, batch, labels, tau: float, *, objective: str = "cl",
                   positive_in_denominator: bool = False):
    """``G_t``: gradient of the batch loss w.r.t. the full ``2N x 2N`` state (THEORY.md s9).

    Zero outside the batch rows (and outside the batch anchors' columns). See
    :func:`anchor_gradient` for the closed form.

    Args:
        Sigma: ``(2N, 2N)`` state (numpy or torch).
        batch: ``(B,)`` distinct sample ids.
        labels: ``(N,)`` integer labels.
        tau: temperature > 0.
        objective: ``"cl"`` or ``"nscl"``.
        positive_in_denominator: NT-Xent-style variant.

    Returns:
        ``(2N, 2N)`` gradient, same library as ``Sigma``.

    Raises:
        ValueError: wrong shapes, objective, batch or ``tau``.

    >>> G = batch_gradient(np.eye(4), [0, 1], np.array([0, 1]), 1.0)
    >>> float(G.sum()), float(G[0, 2])
    (0.0, -0.25)
    """
    A, masks = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    xp = ops(Sigma)
    Ab = xp.like(Sigma, A)
    idx = (Ab[:, None], Ab[None, :])
    bm = array_masks(Sigma, masks)
    g = anchor_gradient(Sigma[idx], bm[objective], bm["pos"], tau)
    G = Sigma * 0
    G[idx] = g
    return G


def batch_loss(Sigma, batch, labels, tau: float, *, objective: str = "cl",
               positive_in_denominator: bool = False):
    """Mean per-anchor loss of the batch's ``2B`` anchors on the state (THEORY.md s2, s9).

    ``(1/(2B)) sum_a [-Sigma_{a,p(a)}/tau + logsumexp_{b in D_a} Sigma_ab/tau]``; a row with
    an empty denominator contributes only its positive term. Works with torch autograd.

    Args and raises: as :func:`batch_gradient`.

    Returns:
        A 0-d array (numpy) or tensor (torch).

    >>> bool(batch_loss(np.eye(4), [0, 1], np.array([0, 1]), 1.0) == np.log(2))  # 2 negatives at 0
    True
    """
    A, masks = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    xp = ops(Sigma)
    Ab = xp.like(Sigma, A)
    block = Sigma[(Ab[:, None], Ab[None, :])]
    bm = array_masks(Sigma, masks)
    x = block / tau
    den = bm[objective]
    neg_inf = xp.like(x, np.array(-np.inf), dtype=x.dtype)
    xm = xp.where(den, x, neg_inf)
    m = xp.row_max(xm)
    m = xp.where(m == neg_inf, x[:, :1] * 0, m)
    Z = xp.row_sum(xp.where(den, xp.exp(xm - m), x * 0))
    has = Z > 0
    lse = xp.where(has, m + xp.log(xp.where(has, Z, Z * 0 + 1)), Z * 0)
    pos_term = xp.row_sum(xp.where(bm["pos"], x, x * 0))
    return (lse - pos_term).mean()
