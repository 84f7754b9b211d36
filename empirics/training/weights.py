"""Weight-space distance between two models ([P2] Theorem 2 and Figs. 1 and 6; THEORY.md s8, s12).

Theorem 2 says the weights of the CL and NSCL models may drift apart while their
similarity matrices stay close; these are the measured sides of that comparison. Two
definitions, and every number says which (``metrics.csv`` columns):

- :func:`weight_gap` -- the toolkit's: every parameter tensor (backbone and projector,
  biases included), ``||W_a - W_b|| / ||W_b||`` with ``b`` the reference (NSCL);
  columns ``weight_gap``, ``weight_gap_sum``, ``weight_angle``; and the absolute distance
  ``||w_a - w_b||_2`` of the full parameter vectors, the left side of Theorem 2
  (``weight_distance``);
- :func:`weight_gap_official` -- the official code's of [P2] (THEORY.md s13): backbone
  weight tensors only (projector and biases excluded), normalised by the mean of the two
  norms; column ``weight_gap_official``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["weight_gap", "weight_gap_official"]


_SAFE = (2.0**-450, 2.0**450)  # a norm from a plain sum of squares is exact in here


def _scaled_norm(v: torch.Tensor) -> float:
    """``||v||_2`` without over- or underflow: of ``v`` scaled by its largest entry."""
    top = float(v.abs().max()) if v.numel() else 0.0
    return 0.0 if top == 0.0 else top * float(torch.linalg.vector_norm(v / top))


def _named_tensors(model: object, name: str) -> dict[str, torch.Tensor]:
    if isinstance(model, nn.Module):
        return {k: v.detach() for k, v in model.named_parameters()}
    if isinstance(model, Mapping):  # a state_dict: its floating-point tensors
        return {
            k: v.detach()
            for k, v in model.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
        }
    raise TypeError(
        f"Expected `{name}` to be an nn.Module or a state_dict mapping, got {type(model).__name__}"
    )


def _float64_pairs(ta: dict, tb: dict, what: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The tensors of both models, matched by name, as flat float64 pairs on ``a``'s device.

    Raises:
        ValueError: the models list different names (or in another order), or one name has
            two shapes.
    """
    if list(ta) != list(tb):
        only_a, only_b = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
        raise ValueError(
            f"Expected the same {what} names in both models, got only in model_a: "
            f"{only_a[:5]}, only in model_b: {only_b[:5]}"
        )
    pairs = []
    for k, a in ta.items():
        b = tb[k]
        if a.shape != b.shape:
            raise ValueError(
                f"Expected parameter {k!r} to have the same shape in both models, "
                f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
            )
        pairs.append((a.to(torch.float64).reshape(-1), b.to(a.device, torch.float64).reshape(-1)))
    return pairs


def weight_gap(model_a, model_b, *, weights_only: bool = False) -> dict[str, float]:
    """Per-tensor relative Frobenius distance and the angle between two models' weights.

    For every parameter tensor ``l`` (matched by name; shapes must agree)::

        gap_l = ||W_a^l - W_b^l||_F / ||W_b^l||_F
        weight_gap_mean = mean_l gap_l,   weight_gap_sum = sum_l gap_l
        weight_angle = arccos( <w_a, w_b> / (|w_a| |w_b|) )   in degrees
        weight_distance = ||w_a - w_b||_2 = sqrt(sum_l ||W_a^l - W_b^l||_F^2)   ([P2] Thm 2)

    ``w`` the flattened concatenation of all tensors (float64, never concatenated; the
    angle is evaluated as ``2 atan2(|a^ - b^|, |a^ + b^|)``, exact near 0 degrees).
    [P2] Theorem 2 / Figs. 1 and 6 (THEORY.md s8, s12): ``model_b`` is the reference (NSCL).

    A tensor whose reference norm ``||W_b^l||`` is 0 (e.g. zero-initialised biases) has no
    relative gap: it is left out of the mean and sum and counted in ``n_skipped``; a
    ``RuntimeWarning`` is raised only if such a tensor also differs between the models.
    If every tensor is skipped the gaps are NaN.

    Args:
        model_a, model_b: ``nn.Module`` (its parameters) or a state dict (its float tensors).
        weights_only: use only tensors with ``dim >= 2`` (drop biases and norm scales).

    Returns:
        dict with ``weight_gap_mean``, ``weight_gap_sum``, ``weight_angle`` (degrees),
        ``weight_distance``, ``n_tensors`` and ``n_skipped``.

    Raises:
        TypeError: not a module/mapping. ValueError: different parameter names or shapes.

    Example:
        >>> a = nn.Linear(3, 2); b = nn.Linear(3, 2); _ = b.load_state_dict(a.state_dict())
        >>> weight_gap(a, b)["weight_gap_mean"], round(weight_gap(a, b)["weight_angle"], 3)
        (0.0, 0.0)
    """
    ta, tb = _named_tensors(model_a, "model_a"), _named_tensors(model_b, "model_b")
    if weights_only:
        ta = {k: v for k, v in ta.items() if v.dim() >= 2}
        tb = {k: v for k, v in tb.items() if v.dim() >= 2}
    pairs = _float64_pairs(ta, tb, "parameter")
    if not pairs:
        raise ValueError("Expected at least one parameter tensor to compare, got none")
    tensors = [(a64 - b64, a64, b64) for a64, b64 in pairs]
    plain = [tuple(float(torch.linalg.vector_norm(t)) for t in ts) for ts in tensors]
    if all(_SAFE[0] < v < _SAFE[1] or (v == 0.0 and not bool(t.any()))
           for ts, vs in zip(tensors, plain, strict=True) for t, v in zip(ts, vs, strict=True)):
        norms = plain  # a plain sum of squares is exact here (and bitwise as before)
    else:  # extreme scales: every norm of the scaled tensor, none over- or underflows
        norms = [tuple(_scaled_norm(t) for t in ts) for ts in tensors]
    gaps, skipped, skipped_differ = [], 0, 0
    for diff, _, nb in norms:
        if nb == 0.0:
            skipped += 1
            skipped_differ += diff > 0.0
            continue
        gaps.append(diff / nb)
    if skipped_differ:
        warnings.warn(
            f"weight_gap: {skipped_differ} parameter tensor(s) are zero in model_b but not in "
            "model_a; their relative gap is undefined and left out",
            RuntimeWarning,
            stacklevel=2,
        )
    if gaps:
        mean, total = math.fsum(gaps) / len(gaps), math.fsum(gaps)
    else:
        warnings.warn("weight_gap: every reference tensor is zero; returning NaN",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        mean = total = float("nan")
    if norms is plain:  # the square root of the summed squares
        na = math.sqrt(sum(float((a64 * a64).sum()) for a64, _ in pairs))
        nb = math.sqrt(sum(n[2] * n[2] for n in norms))
    else:
        na, nb = math.hypot(*(n[1] for n in norms)), math.hypot(*(n[2] for n in norms))
    if na > 0 and nb > 0:
        # angle = 2 atan2(|a^ - b^|, |a^ + b^|) for unit a^, b^: accurate near 0 and 180 deg,
        # unlike arccos of the cosine
        minus = plus = 0.0
        for a64, b64 in pairs:
            ua, ub = a64 / na, b64 / nb
            minus += float(((ua - ub) ** 2).sum())
            plus += float(((ua + ub) ** 2).sum())
        angle = math.degrees(2.0 * math.atan2(math.sqrt(minus), math.sqrt(plus)))
    else:
        warnings.warn("weight_gap: a model has all-zero weights; the angle is NaN",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        angle = float("nan")
    return {
        "weight_gap_mean": mean,
        "weight_gap_sum": total,
        "weight_angle": angle,
        "weight_distance": math.hypot(*(n[0] for n in norms)),  # exact at any scale
        "n_tensors": len(ta),
        "n_skipped": skipped,
    }


def weight_gap_official(model_a, model_b, *, backbone: str = "encoder.") -> dict[str, float]:
    """The weight gap of the official code of [P2]: per backbone layer, averaged.

    For every backbone weight tensor ``l`` (the names starting with ``backbone`` and ending
    in ``.weight``: linear and convolution kernels and normalisation scales; biases and the
    projector excluded), THEORY.md s13 [stated]::

        gap_l = ||W_a^l - W_b^l||_F / (0.5 (||W_a^l||_F + ||W_b^l||_F))
        weight_gap_official = mean_l gap_l

    Symmetric in ``a`` and ``b``, in ``[0, 2]``. A layer whose two norms are both 0 has no
    gap and is left out, as in the official code; if every layer is left out the gap is
    NaN with a ``RuntimeWarning``.

    Args:
        model_a, model_b: ``ContrastiveModel`` (backbone ``encoder``, projector
            ``projector``) or their state dicts.
        backbone: the name prefix of the backbone's tensors.

    Returns:
        dict with ``weight_gap_official``, ``n_layers`` (layers averaged) and ``n_skipped``.

    Raises:
        TypeError: not a module/mapping. ValueError: no backbone weight tensor, or different
            names or shapes.

    Example:
        >>> a = {"encoder.0.weight": torch.eye(2), "encoder.0.bias": torch.ones(2),
        ...      "projector.0.weight": torch.eye(2)}
        >>> b = {**a, "encoder.0.weight": -torch.eye(2), "projector.0.weight": torch.zeros(2, 2)}
        >>> weight_gap_official(a, b)["weight_gap_official"]  # ||2I||/||I||; bias, projector out
        2.0
    """
    ta, tb = _named_tensors(model_a, "model_a"), _named_tensors(model_b, "model_b")

    def layers(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in t.items() if k.startswith(backbone) and k.endswith(".weight")}

    la, lb = layers(ta), layers(tb)
    pairs = _float64_pairs(la, lb, "backbone weight")
    if not pairs:
        raise ValueError(f"Expected backbone weight tensors named {backbone!r}...'.weight', "
                         "got none")
    gaps, skipped = [], 0
    for a64, b64 in pairs:
        mean_norm = 0.5 * (float(torch.linalg.vector_norm(a64))
                           + float(torch.linalg.vector_norm(b64)))
        if mean_norm == 0.0:
            skipped += 1
            continue
        gaps.append(float(torch.linalg.vector_norm(a64 - b64)) / mean_norm)
    if gaps:
        value = math.fsum(gaps) / len(gaps)
    else:
        warnings.warn("weight_gap_official: every backbone layer is zero in both models; "
                      "returning NaN", RuntimeWarning, stacklevel=2)
        value = float("nan")
    return {"weight_gap_official": value, "n_layers": len(gaps), "n_skipped": skipped}
