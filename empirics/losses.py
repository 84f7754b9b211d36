"""Contrastive losses of [P1]/[P2] (THEORY.md s2) on one masked log-sum-exp core, plus CE.

Every contrastive loss here is the same computation,

    loss(a) = sum_p w_ap * ( log D_ap - s_ap ),      s = z z^T / tau  (z row-L2-normalised)

over the ``M = K*B`` anchors ``a`` (all views of all samples), and differs from the others
only in its positive weights ``w`` and its denominator ``D``:

- ``cl_loss`` (CL, decoupled, DCL): positives = the same sample in the other views;
  ``D_ap = sum_{c: sample(c) != sample(a)} e^{s_ac}`` -- the positive is NOT in the denominator.
- ``ntxent_loss`` (NT-Xent, SimCLR): as CL, but the positive IS in the denominator,
  ``D_ap = e^{s_ap} + sum_{c: sample(c) != sample(a)} e^{s_ac}``.
- ``nscl_loss`` (NSCL): as CL, but same-CLASS samples are dropped from the denominator,
  ``D_ap = sum_{c: y_c != y_a} e^{s_ac}``; ``positive_in_denominator=True`` adds ``e^{s_ap}``
  as the papers' code does.
- ``scl_loss`` (SupCon, Khosla et al. 2020): positives = every other anchor with the same
  label (weight ``1/|P(a)|``), ``D_a = sum_{c != a} e^{s_ac}`` (everything but the anchor).

View pairs ([P2] as written vs the SimCLR convention; THEORY.md s2): ``pairs="distinct"``
(default) averages over the ordered view pairs ``l1 != l2`` (``w = 1/(K-1)`` on each other
view of the same sample); ``pairs="all"`` is the papers' ``1/(K^2 B) sum_{l1,l2}`` form whose
``l1 = l2`` terms have the anchor itself as positive (numerator ``e^{1/tau}``).

All losses return the mean over the ``K*B`` anchors, or with ``per_anchor=True`` the
per-anchor losses, shape ``(K, B)`` (view-major, as ``views``).

Exact at any finite scale (:func:`_unit_rows`): each row is multiplied by a power of two
``2^-k`` (exact) that brings its largest entry to ``[0.5, 1)`` before it is normalised, so
the sum of squares in its norm neither overflows nor underflows. The losses of ``c * views``
equal those of ``views`` (up to the rounding of ``c * views`` itself) for every finite
``c > 0`` (tested: float64 ``1e-300 .. 1e300``,
float32 ``1e-40 .. 1e38``, subnormals included; rows of different scales in one batch;
docs/metrics.md). Where the plain ``F.normalize`` was right (its sum of squares did not
overflow or underflow, and the norm was above its ``eps = 1e-12``) values and gradients are
bitwise unchanged (tests pin both). A zero row has no direction: the losses
that touch it are NaN with a ``RuntimeWarning`` (``F.normalize`` would map it to the zero
vector, i.e. similarity 0 with everything, a made-up value with a ``1e12`` gradient). NaN or
inf entries propagate as NaN, without an error, so that a trainer reports the divergence at
its own step.

With ``K = 2`` and default arguments the values equal lightly's ``DCLLoss`` (``cl_loss``) and
``NTXentLoss`` (``ntxent_loss``) and pytorch-metric-learning's ``SupConLoss`` on the
concatenated views with repeated labels (``scl_loss``); tests pin this.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["cl_loss", "ntxent_loss", "nscl_loss", "scl_loss", "ce_loss", "LinearHead"]

_PAIRS = ("distinct", "all")


# ----------------------------------------------------------------------------- validation
def _check_views(views: object) -> Tensor:
    if not isinstance(views, Tensor):
        raise TypeError(f"Expected `views` to be a torch.Tensor, got {type(views).__name__}")
    if views.dim() != 3:
        raise ValueError(f"Expected `views` of shape (K, B, d), got shape {tuple(views.shape)}")
    K, B, d = views.shape
    if K < 2:
        raise ValueError(f"Expected at least K=2 views in `views`, got K={K}")
    if B < 2:
        raise ValueError(f"Expected a batch of B >= 2 samples in `views`, got B={B}")
    if d < 1:
        raise ValueError(f"Expected an embedding dimension d >= 1 in `views`, got d={d}")
    if not views.is_floating_point():
        raise TypeError(f"Expected floating-point `views`, got dtype {views.dtype}")
    return views


def _check_tau(tau: object, dtype: torch.dtype | None = None) -> float:
    """``tau`` as a float; with ``dtype`` also checks that ``1 / tau`` is finite in it."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise TypeError(f"Expected `tau` to be a real number, got {type(tau).__name__}")
    tau = float(tau)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"Expected `tau` > 0, got {tau!r}")
    if dtype is not None and 1.0 / tau > torch.finfo(dtype).max:  # logits s = cos / tau
        raise ValueError(
            f"Expected `tau` >= {1.0 / torch.finfo(dtype).max:.3g} for {dtype} `views` "
            f"(1/tau overflows), got {tau!r}"
        )
    return tau


def _check_flag(value: object, name: str) -> bool:
    """A boolean option (``"no"`` or ``0.5`` is not silently taken as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Expected `{name}` to be a bool, got {value!r}")
    return bool(value)


def _check_pairs(pairs: object) -> str:
    if not (isinstance(pairs, str) and pairs in _PAIRS):
        raise ValueError(f"Expected `pairs` in {_PAIRS}, got {pairs!r}")
    return str(pairs)


def _check_labels(labels: object, B: int, device: torch.device) -> Tensor:
    if not isinstance(labels, Tensor):
        raise TypeError(f"Expected `labels` to be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"Expected integer `labels`, got dtype {labels.dtype}")
    if tuple(labels.shape) != (B,):
        raise ValueError(
            f"Expected `labels` of shape ({B},) to match views (K, {B}, d), "
            f"got shape {tuple(labels.shape)}"
        )
    return labels.to(device)


# ----------------------------------------------------------------------------- the core
def _unit_rows(x: Tensor, stacklevel: int) -> Tensor:
    """``z = x / |x|`` row by row, exact at any finite scale; zero rows give NaN + warning.

    Each row is first multiplied by ``2^-k``, ``k`` the binary exponent of its largest entry
    (``max_j |x_ij| = m 2^k``, ``m`` in ``[0.5, 1)``; ``k`` clamped to ``[-e, e]`` so that
    ``2^-k`` is a normal number of the dtype, :func:`_max_exponent`). Multiplying by a power
    of two is exact, so the row's direction is unchanged, and its sum of squares lies in
    ``[1/4, d)`` (``[2^-46, d)`` for float32 subnormal rows, ``[2^-104, d)`` for float64
    ones): it can neither overflow (the plain one does for float32 rows above ``~1e19``,
    float64 above ``~1e154``) nor underflow (below ``~1e-19`` / ``~1e-154``; and
    ``F.normalize``'s ``eps = 1e-12`` is never reached). Where the plain sum of squares
    neither overflows nor underflows every operation of ``F.normalize``, and of its
    backward, is the same one scaled by a power of two, so values and gradients are
    bitwise unchanged. The factor is a constant for autograd (computed from ``x.detach()``):
    ``dz/dx = 2^-k J(x 2^-k) = J(x)``, ``J`` the Jacobian of ``F.normalize``. Cost: one
    ``amax`` per row and one multiplication, ``O(M d)`` beside the ``O(M^2 d)`` logits.

    Example:
        >>> x = torch.tensor([[3.0, 4.0], [3 * 2.0**600, 4 * 2.0**600], [0.0, 1e-310]],
        ...                  dtype=torch.float64)
        >>> _unit_rows(x, stacklevel=1).tolist()  # F.normalize: [0, 0] and [0, 1e-298] below
        [[0.6, 0.8], [0.6, 0.8], [0.0, 1.0]]
    """
    amax = x.detach().abs().amax(dim=1, keepdim=True)  # (M, 1); 30x faster than ord=inf norm
    emax = _max_exponent(x.dtype)
    k = torch.frexp(amax).exponent.clamp_(-emax, emax)  # NaN, inf and 0 give k = 0
    z = F.normalize(x * torch.ldexp(torch.ones_like(amax), -k), dim=1)  # (M, d)
    zero = amax == 0
    if bool(zero.any()):
        warnings.warn(
            f"{int(zero.sum())} of {x.shape[0]} embeddings are zero rows: their cosine "
            "similarity is undefined, and every loss term that uses them is set to NaN",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
        z = z.masked_fill(zero, float("nan"))
    return z


def _max_exponent(dtype: torch.dtype) -> int:
    """``e`` with ``2^-e`` and ``2^e`` both normal numbers of ``dtype`` (126 for float32)."""
    return int(math.frexp(torch.finfo(dtype).max)[1]) - 2


def _logits(views: Tensor, tau: float) -> Tensor:
    """``s = z z^T / tau`` for the ``M = K*B`` L2-normalised anchors, view-major."""
    K, B, d = views.shape
    z = _unit_rows(views.reshape(K * B, d), stacklevel=4)  # (M, d); user <- loss <- _pair_loss
    return (z / tau) @ z.T  # (M, M); scaling the (M, d) factor saves two (M, M) passes


def _masked_logsumexp(s: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Row-wise ``log sum_{c: mask[a, c]} e^{s_ac}``, and which rows are empty.

    Empty rows give ``-inf`` with a zero (not NaN) gradient: they are filled with zeros
    before the reduction and replaced afterwards.
    """
    empty = ~mask.any(dim=1)  # (M,)
    fill = torch.where(empty[:, None], 0.0, float("-inf")).to(s.dtype)
    lse = torch.logsumexp(torch.where(mask, s, fill), dim=1)  # (M,)
    return torch.where(empty, torch.full_like(lse, float("-inf")), lse), empty


def _contrastive_core(
    s: Tensor,
    pos_logits: Tensor,
    pos_weight: Tensor,
    den_mask: Tensor,
    positive_in_denominator: bool,
) -> Tensor:
    """Per-anchor ``sum_p w_ap (log D_ap - s_ap)`` (module docstring); shape ``(M,)``.

    Args:
        s: logits ``(M, M)``.
        pos_logits: ``(M, P)``, the logits ``s_ap`` of each anchor's ``P`` positive slots.
        pos_weight: ``(M, P)``, non-negative, each row summing to 1.
        den_mask: ``(M, M)`` bool, the terms of the denominator besides the positive.
        positive_in_denominator: add ``e^{s_ap}`` to ``D_ap``.
    """
    lse, empty = _masked_logsumexp(s, den_mask)  # (M,)
    if positive_in_denominator:
        log_den = torch.logaddexp(lse[:, None], pos_logits)  # (M, P); exact with no negatives
        return (pos_weight * (log_den - pos_logits)).sum(dim=1)
    if bool(empty.any()):
        # log(e^{s_ap} / 0): the anchor has no negatives at all (one-class batch).
        warnings.warn(
            f"{int(empty.sum())} of {s.shape[0]} anchors have an empty denominator "
            "(no negatives in the batch); their loss is undefined and set to NaN",
            RuntimeWarning,
            stacklevel=4,
        )
        lse = torch.where(empty, 0.0, lse)
        per_anchor = (pos_weight * (lse[:, None] - pos_logits)).sum(dim=1)
        return torch.where(empty, torch.full_like(per_anchor, float("nan")), per_anchor)
    return lse - (pos_weight * pos_logits).sum(dim=1)  # rows of w sum to 1


def _same_sample_positives(s: Tensor, K: int, B: int, pairs: str) -> tuple[Tensor, Tensor]:
    """Logits and weights of the same sample in the other views (``distinct``) or all views."""
    M = K * B
    a = torch.arange(M, device=s.device)
    idx = (a % B)[:, None] + B * torch.arange(K, device=s.device)[None, :]  # (M, K): view l2
    if pairs == "distinct":
        idx = idx[idx != a[:, None]].reshape(M, K - 1)  # drop l2 == l1
    pos = s.gather(1, idx)  # (M, P)
    return pos, torch.full_like(pos, 1.0 / pos.shape[1])


def _reduce(per_anchor: Tensor, K: int, B: int, per_anchor_out: bool) -> Tensor:
    per_anchor = per_anchor.reshape(K, B)
    return per_anchor if per_anchor_out else per_anchor.mean()


def _pair_loss(views, den_mask_fn, tau, pairs, positive_in_denominator, per_anchor):
    views = _check_views(views)
    tau, pairs = _check_tau(tau, views.dtype), _check_pairs(pairs)
    positive_in_denominator = _check_flag(positive_in_denominator, "positive_in_denominator")
    per_anchor = _check_flag(per_anchor, "per_anchor")
    K, B, _ = views.shape
    s = _logits(views, tau)
    pos, w = _same_sample_positives(s, K, B, pairs)
    den = den_mask_fn(K, B, s.device)
    return _reduce(_contrastive_core(s, pos, w, den, positive_in_denominator), K, B, per_anchor)


def _other_samples(K: int, B: int, device) -> Tensor:
    idx = torch.arange(K * B, device=device) % B
    return idx[:, None] != idx[None, :]  # (M, M): every view of every other sample


# ----------------------------------------------------------------------------- the losses
def cl_loss(
    views: Tensor, tau: float = 0.5, *, pairs: str = "distinct", per_anchor: bool = False
) -> Tensor:
    """Decoupled contrastive loss (CL) of [P1]/[P2].

    ``L_CL = -mean_{a, p} log( e^{s_ap} / sum_{j != i, l3} e^{s(z_i^{l1}, z_j^{l3})} )``,
    ``s = cos / tau``. [P2] s2 [stated] (THEORY.md s2). CL: the positive is NOT in the
    denominator. Equals lightly ``DCLLoss(temperature=tau)`` for ``K = 2``.

    Args:
        views: ``(K, B, d)`` un-normalised embeddings, ``K >= 2``, ``B >= 2``, at any finite
            scale (module docstring); a zero row gives NaN with a ``RuntimeWarning``.
        tau: temperature ``> 0`` (stable down to 0.01 and below; ``1/tau`` must be finite
            in the dtype of ``views``).
        pairs: ``"distinct"`` (mean over ordered view pairs ``l1 != l2``) or ``"all"``
            (the papers' ``K^2`` form, including ``l1 = l2``).
        per_anchor: return the ``(K, B)`` per-anchor losses instead of their mean.

    Returns:
        Scalar tensor (or ``(K, B)``), differentiable.

    Raises:
        TypeError, ValueError: on malformed ``views``, ``tau``, ``pairs`` or ``per_anchor``
            (each message names the argument and the value).

    Example:
        >>> v = torch.zeros(2, 3, 2); v[:, :, 0] = 1.0  # every embedding identical
        >>> round(float(cl_loss(v, tau=1.0)), 6) == round(math.log(4), 6)
        True
        >>> v = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
        >>> bool(cl_loss(v * 2.0**100) == cl_loss(v) == cl_loss(v * 2.0**-120))  # any scale
        True
    """
    # CL: denominator = every view of every other sample; the positive is NOT in it.
    return _pair_loss(views, _other_samples, tau, pairs, False, per_anchor)


def ntxent_loss(
    views: Tensor, tau: float = 0.5, *, pairs: str = "distinct", per_anchor: bool = False
) -> Tensor:
    """NT-Xent (SimCLR) loss: CL with the positive kept in the denominator.

    ``L = -mean_{a, p} log( e^{s_ap} / (e^{s_ap} + sum_{j != i, l3} e^{s(z_i^{l1}, z_j^{l3})}) )``.
    THEORY.md s2 (the official code's NT-Xent-style variant) [stated]. NT-Xent: the
    positive IS in the denominator. Equals lightly ``NTXentLoss(temperature=tau)`` for ``K = 2``;
    identical views give ``log(2B - 1)`` for ``K = 2``.

    Args and returns as :func:`cl_loss`.

    Example:
        >>> v = torch.zeros(2, 4, 3); v[:, :, 1] = 2.0
        >>> round(float(ntxent_loss(v)), 6) == round(math.log(2 * 4 - 1), 6)
        True
    """
    # NT-Xent = CL with the positive kept in the denominator.
    return _pair_loss(views, _other_samples, tau, pairs, True, per_anchor)


def nscl_loss(
    views: Tensor,
    labels: Tensor,
    tau: float = 0.5,
    *,
    positive_in_denominator: bool = False,
    pairs: str = "distinct",
    per_anchor: bool = False,
) -> Tensor:
    """Negatives-only supervised contrastive loss (NSCL) of [P1]/[P2].

    ``L_NSCL = -mean_{a, p} log( e^{s_ap} / sum_{j: y_j != y_i, l3} e^{s(z_i^{l1}, z_j^{l3})} )``.
    [P2] s2 [stated]. NSCL: same-class samples are dropped from the denominator (positives
    are still the same sample in the other views). ``positive_in_denominator=True`` adds
    ``e^{s_ap}`` to the denominator, as the papers' code does. For every input,
    ``nscl_loss <= cl_loss`` and ``0 <= L_CL - L_NSCL <= log(1 + e^{2/tau} n_max/(N - n_max))``
    ([P1], THEORY.md s3), with the same flag on both sides.

    An anchor with no negatives in the batch (a one-class batch) has an undefined loss
    without the positive in the denominator: NaN plus a ``RuntimeWarning``.

    Args:
        views: ``(K, B, d)`` embeddings; labels: integer tensor ``(B,)``; other arguments as
            :func:`cl_loss`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> v, y = torch.randn(2, 8, 4, generator=g), torch.tensor([0, 1] * 4)
        >>> bool(nscl_loss(v, y) <= cl_loss(v))
        True
    """
    views = _check_views(views)
    K, B, _ = views.shape
    y = _check_labels(labels, B, views.device)

    def other_classes(K: int, B: int, device) -> Tensor:
        yy = y.repeat(K)  # (M,), view-major like the anchors
        return yy[:, None] != yy[None, :]

    # NSCL = CL with same-class samples dropped from the denominator.
    return _pair_loss(views, other_classes, tau, pairs, positive_in_denominator, per_anchor)


def scl_loss(
    views: Tensor, labels: Tensor, tau: float = 0.5, *, per_anchor: bool = False
) -> Tensor:
    """Supervised contrastive loss (SupCon ``L^sup_out``, Khosla et al. 2020), a [P2] baseline.

    ``L = mean_a -1/|P(a)| sum_{p in P(a)} log( e^{s_ap} / sum_{c != a} e^{s_ac} )`` over all
    ``K*B`` anchors, ``P(a)`` = every other anchor (any view) with the same label.
    THEORY.md s2 [stated]. SCL: every same-label sample is a positive and everything but the
    anchor is in the denominator. Equals pytorch-metric-learning ``SupConLoss(temperature=tau)``
    on ``views`` concatenated to ``(K*B, d)`` with the labels repeated ``K`` times.

    Args:
        views: ``(K, B, d)``; labels: integer ``(B,)``; tau: temperature; per_anchor: as
            :func:`cl_loss`. There is no ``pairs`` option: positives are all same-label anchors.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> float(scl_loss(torch.randn(2, 6, 3, generator=g), torch.arange(6) % 2)) > 0
        True
    """
    views = _check_views(views)
    tau, per_anchor = _check_tau(tau, views.dtype), _check_flag(per_anchor, "per_anchor")
    K, B, d = views.shape
    M = K * B
    y = _check_labels(labels, B, views.device).repeat(K)  # (M,), view-major like the anchors
    z = _unit_rows(views.reshape(M, d), stacklevel=2)
    s = (z / tau) @ z.T  # as _logits, reusing z below
    not_self = ~torch.eye(M, dtype=torch.bool, device=s.device)
    # mean positive logit without an (M, M) positive mask: per-class sums of z,
    # sum_{p in P(a)} s_ap = (z_a . sum_{c: y_c = y_a} z_c - |z_a|^2) / tau
    _, cls = torch.unique(y, return_inverse=True)  # (M,) class ids 0..C'-1
    class_sum = torch.zeros(int(cls.max()) + 1, d, dtype=z.dtype, device=z.device)
    class_sum = class_sum.index_add(0, cls, z)  # (C', d)
    n_pos = torch.bincount(cls)[cls] - 1  # (M,); >= K - 1 >= 1: the other views
    pos_sum = ((z * class_sum[cls]).sum(dim=1) - (z * z).sum(dim=1)) / tau
    mean_pos = (pos_sum / n_pos.to(z.dtype))[:, None]  # (M, 1)
    # SCL: one positive slot holding the mean positive logit (weight 1); denominator = all c != a
    per_anchor_loss = _contrastive_core(s, mean_pos, torch.ones_like(mean_pos), not_self, False)
    return _reduce(per_anchor_loss, K, B, per_anchor)


# ----------------------------------------------------------------------------- CE baseline
class LinearHead(nn.Module):
    """Linear classification head ``h -> W h + b`` for the CE baseline of [P2] (THEORY.md s2).

    Args:
        d: feature dimension (the backbone's ``h``); C: number of classes.

    Example:
        >>> LinearHead(5, 3)(torch.zeros(2, 5)).shape
        torch.Size([2, 3])
    """

    def __init__(self, d: int, C: int):
        super().__init__()
        for name, v in (("d", d), ("C", C)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"Expected `{name}` to be an int, got {type(v).__name__}")
        d, C = int(d), int(C)
        if d < 1:
            raise ValueError(f"Expected `d` >= 1, got {d!r}")
        if C < 2:
            raise ValueError(f"Expected `C` >= 2, got {C!r}")
        self.d, self.C = d, C
        self.linear = nn.Linear(d, C)

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(h)


def ce_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy ``-mean_i log softmax(logits_i)[y_i]`` (the CE baseline of [P2]).

    No normalisation: ``log_softmax`` subtracts each row's maximum, so any finite logits
    are safe (a loss beyond the dtype's range is ``inf``).

    Args:
        logits: ``(B, C)`` from :class:`LinearHead`, ``B >= 1``, ``C >= 2``, floating point;
            labels: integer ``(B,)`` in ``[0, C)``.

    Raises:
        TypeError, ValueError: on malformed ``logits`` or ``labels`` (a label outside
        ``[0, C)`` included: ``F.cross_entropy`` would skip ``-100`` silently).

    Example:
        >>> round(float(ce_loss(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))), 6) == round(
        ...     math.log(3), 6)
        True
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"Expected `logits` to be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise ValueError(
            f"Expected `logits` of shape (B, C) with B >= 1 and C >= 2, "
            f"got shape {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"Expected floating-point `logits`, got dtype {logits.dtype}")
    y = _check_labels(labels, logits.shape[0], logits.device)
    lo, hi = (int(v) for v in torch.aminmax(y))
    if lo < 0 or hi >= logits.shape[1]:
        bad = lo if lo < 0 else hi
        raise ValueError(f"Expected `labels` in [0, {logits.shape[1]}) (C), got {bad}")
    return F.cross_entropy(logits, y)
