"""The ``vmap`` execution backend: all lockstep models as one batched computation.

Every lockstep model is a copy of one initialisation of one architecture, fed the same
views, so their forward passes differ only in the parameters. This module stacks the
``M`` members' parameters along a new leading model dimension
(``torch.func.stack_module_state``) and runs

    h, z = vmap(functional_call(base, params_m, x), in_dims=(0, 0, None))   # (M, K*b, ...)

i.e. one batched forward over the model dimension with the shared input ``x``. Member
``m``'s loss is computed on its own slice ``z[m]`` (CE: its separate ``LinearHead`` on
``h[m]``); one backward of ``sum_m loss_m`` gives each slice exactly its own gradient,
because the members share no parameter (``d loss_m / d theta_m' = 0`` for ``m' != m``).

**Optimiser equality.** SGD (momentum, L2 decay) and AdamW are elementwise, so one step on
the stacked tensor equals ``M`` per-model steps. LARS's trust ratio uses per-layer norms
``||w||`` and ``||d||``; :class:`empirics.optim.LARS` with ``model_dims=1`` takes them
over each model's slice (all dimensions but the first) and excludes ``ndim <= 2`` stacked
tensors (``ndim <= 1`` per model), so it equals per-model LARS steps.

**Unused parameters.** In the loop backend a parameter that does not reach a member's loss
(CE's projector) has no gradient and the optimiser skips it (no decay, no momentum). The
stacked tensor has a zero-gradient slice there, which weight decay would still move; so
those slices are found once (``unused_parameters``) and restored after every step.

The stacked tensors are the source of truth while training; :meth:`BatchedMembers.unstack`
copies them into the member modules (before evaluation and checkpointing) and
:meth:`BatchedMembers.restack` copies member modules back (after loading a checkpoint).
Results equal the loop backend to float tolerance (batched kernels sum in another order),
not bitwise; within the ``vmap`` backend runs are deterministic and resumable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["BatchedMembers", "unused_parameters"]


def unused_parameters(module: nn.Module, head: nn.Module | None, example: torch.Tensor) -> set[str]:
    """Names of ``module``'s parameters that get no gradient from the member's output.

    The output is ``head(h)`` when a CE ``head`` is given, else ``z``; probed by one
    backward on copies (``example``: a few inputs), so nothing of the member is touched.
    """
    module = copy.deepcopy(module)
    h, z = module(example)
    out = copy.deepcopy(head)(h.flatten(1)) if head is not None else z
    out.sum().backward()
    return {n for n, p in module.named_parameters() if p.requires_grad and p.grad is None}


class BatchedMembers:
    """The stacked parameters, optimisers and batched forward of lockstep members.

    Args:
        modules: the members' ``ContrastiveModel`` s (same architecture), in member order.
        heads: each member's CE ``LinearHead`` or ``None`` (trained by its own optimiser,
            outside the batched forward).
        optimizer_factory: ``factory(name, params)`` building an optimiser, as the loop
            backend's ``make_optimizer`` with the run's hyperparameters.
        example: a few training inputs (to find unused parameters).

    Raises:
        ValueError: no members, or members with BatchNorm running statistics (buffers
            updated in place are not supported under ``vmap`` here).
    """

    def __init__(
        self,
        modules: Sequence[nn.Module],
        heads: Sequence[nn.Module | None],
        optimizer_factory: Callable[[str, list[torch.Tensor]], torch.optim.Optimizer],
        example: torch.Tensor,
    ) -> None:
        if len(modules) == 0:
            raise ValueError("Expected at least one member in `modules`, got none")
        if len(heads) != len(modules):
            raise ValueError(f"Expected one head per module ({len(modules)}), got {len(heads)}")
        for mod in modules:
            if any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in mod.modules()):
                raise ValueError(
                    "Expected models without BatchNorm for `backend` 'vmap' (running "
                    "statistics are in-place buffer updates), got arch "
                    f"{getattr(mod, 'arch', '?')!r}"
                )
        self.modules, self.heads, self.M = list(modules), list(heads), len(modules)
        params, buffers = stack_module_state(self.modules)
        self.names = list(params)
        self.params = params  # name -> (M, ...) leaf tensor, requires_grad
        self.buffers = buffers
        self.base = copy.deepcopy(self.modules[0]).to("meta")
        self.optimizer = optimizer_factory("stacked", list(params.values()))
        self.head_optimizers = [
            None if h is None else optimizer_factory("head", list(h.parameters()))
            for h in self.heads
        ]
        pairs = zip(self.modules, self.heads, strict=True)
        frozen = [unused_parameters(m, h, example[:2]) for m, h in pairs]
        #: name -> member indices whose slice of that parameter must not move
        self.frozen = {n: [i for i, f in enumerate(frozen) if n in f] for n in self.names}
        self.frozen = {n: ix for n, ix in self.frozen.items() if ix}

        def one(p, b, x):
            return functional_call(self.base, (p, b), (x,))

        self._forward = vmap(one, in_dims=(0, 0, None))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, z)`` of every member on the shared input ``x``: shapes ``(M, n, ...)``."""
        return self._forward(self.params, self.buffers, x)

    def set_lr(self, lr: float) -> None:
        for opt in (self.optimizer, *self.head_optimizers):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr

    def step(self, losses: list[torch.Tensor]) -> None:
        """One backward of ``sum(losses)`` and one optimiser step for every member."""
        for opt in (self.optimizer, *self.head_optimizers):
            if opt is not None:
                opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        kept = {n: self.params[n].detach()[ix].clone() for n, ix in self.frozen.items()}
        self.optimizer.step()
        for opt in self.head_optimizers:
            if opt is not None:
                opt.step()
        with torch.no_grad():
            for n, ix in self.frozen.items():
                self.params[n][ix] = kept[n]

    @torch.no_grad()
    def unstack(self) -> None:
        """Copy the stacked parameters and buffers into the member modules."""
        for i, mod in enumerate(self.modules):
            named = dict(mod.named_parameters())
            for n in self.names:
                named[n].copy_(self.params[n][i])
            named_b = dict(mod.named_buffers())
            for n, b in self.buffers.items():
                named_b[n].copy_(b[i])

    @torch.no_grad()
    def restack(self) -> None:
        """Copy the member modules' parameters and buffers into the stacked tensors."""
        for i, mod in enumerate(self.modules):
            named = dict(mod.named_parameters())
            for n in self.names:
                self.params[n][i] = named[n]
            named_b = dict(mod.named_buffers())
            for n, b in self.buffers.items():
                b[i] = named_b[n]

    def state_dict(self) -> dict[str, Any]:
        """Optimiser states (stacked and heads'); parameters live in the member modules."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "heads": [None if o is None else o.state_dict() for o in self.head_optimizers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (call :meth:`restack` for the parameters)."""
        self.optimizer.load_state_dict(state["optimizer"])
        for opt, saved in zip(self.head_optimizers, state["heads"], strict=True):
            if opt is not None:
                opt.load_state_dict(saved)
