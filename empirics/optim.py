"""Optimisers for lockstep training: SGD with momentum, LARS and AdamW.

LARS (layer-wise adaptive rate scaling) follows You, Gitman and Ginsburg (2017), "Large
Batch Training of Convolutional Networks", arXiv 1708.03888, Algorithm 1, in the form
SimCLR uses (the form [P2] trains with, THEORY.md s11 [stated]): for a parameter tensor
``w`` with gradient ``g``,

    d     = g + wd * w
    q     = trust * ||w|| / ||d||        (1 when ||w|| = 0 or ||d|| = 0)
    v    <- momentum * v + q * d
    w    <- w - lr * v

Biases and normalisation parameters (every tensor with ``ndim <= 1``) are excluded from
both the weight decay and the trust ratio (``q = 1``, ``wd = 0``), as in SimCLR; a
parameter group can also set ``lars_exclude=True`` explicitly. The learning rate ``lr``
is the schedule's ``eta_t`` so the run's ``sum_eta`` is exactly ``bounds.sum_eta``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["LARS", "make_optimizer"]


class LARS(torch.optim.Optimizer):
    """LARS with momentum (You et al. 2017), biases and norm parameters excluded.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (overwritten per step by the trainer's schedule).
        momentum: heavy-ball momentum in [0, 1).
        weight_decay: L2 coefficient added to the gradient before the trust ratio.
        trust_coefficient: ``eta`` of You et al. (2017), typically 1e-3.
        model_dims: leading dimensions that stack independent models (0, or 1 for the
            ``vmap`` backend's stacked parameters, ``empirics.training.batched``): norms and the
            bias/norm-parameter exclusion (``ndim <= 1`` per model) are then per model slice,
            so one step equals one LARS step per model.

    >>> w = torch.nn.Parameter(torch.ones(3, 2))
    >>> opt = LARS([w], lr=1.0, momentum=0.0, weight_decay=0.0, trust_coefficient=0.1)
    >>> w.grad = torch.full((3, 2), 2.0)
    >>> opt.step()
    >>> round(float(w.detach()[0, 0]), 6)  # q = 0.1 * ||w|| / ||g|| = 0.05, step = 0.05 * 2
    0.9
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
        *,
        model_dims: int = 0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"Expected `lr` >= 0, got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"Expected `momentum` in [0, 1), got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"Expected `weight_decay` >= 0, got {weight_decay!r}")
        if trust_coefficient <= 0:
            raise ValueError(f"Expected `trust_coefficient` > 0, got {trust_coefficient!r}")
        if model_dims not in (0, 1):
            raise ValueError(f"Expected `model_dims` in (0, 1), got {model_dims!r}")
        self.model_dims = model_dims
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            lars_exclude=None,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim.Optimizer API
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lead = self.model_dims
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                exclude = group["lars_exclude"]
                if exclude is None:
                    exclude = p.ndim <= 1 + lead  # biases and normalisation parameters
                if not exclude:
                    d = g.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else g
                    dims = None if lead == 0 else tuple(range(lead, p.ndim))
                    w_norm = torch.linalg.vector_norm(p, dim=dims, keepdim=lead > 0)
                    d_norm = torch.linalg.vector_norm(d, dim=dims, keepdim=lead > 0)
                    q = torch.where(
                        (w_norm > 0) & (d_norm > 0),
                        group["trust_coefficient"] * w_norm / d_norm,
                        torch.ones_like(w_norm),
                    )
                    d = d * q
                else:
                    d = g
                state = self.state[p]
                if group["momentum"]:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.clone()
                    else:
                        buf.mul_(group["momentum"]).add_(d)
                    d = buf
                p.add_(d, alpha=-group["lr"])
        return loss


def make_optimizer(
    name: str,
    params: list[torch.nn.Parameter],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    lars_trust: float = 1e-3,
    model_dims: int = 0,
) -> torch.optim.Optimizer:
    """Build ``sgd`` (momentum, L2 decay), ``lars`` or ``adamw`` (betas ``(momentum, 0.999)``).

    ``model_dims=1``: the parameters are stacked along a leading model dimension (only LARS
    needs to know; SGD and AdamW are elementwise, so one step on the stack is one per model).
    """
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "lars":
        return LARS(
            params,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=lars_trust,
            model_dims=model_dims,
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    raise ValueError(f"Expected `optimizer` among sgd, lars, adamw, got {name!r}")
