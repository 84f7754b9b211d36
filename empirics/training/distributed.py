"""One training run on several processes or GPUs, with ``torch.distributed`` (DDP).

A :class:`DistContext` is what the trainer sees of the process group. Its rules keep a
``K``-rank run equal to the single-process run on the same global batch:

1. **Shared randomness.** Every rank builds the same *global* batch of indices and the
   same augmented views from the same generators (THEORY.md s1 [stated]: same batches,
   same augmentations, same initialisation), then keeps its contiguous part with
   :meth:`DistContext.shard`. ``DistributedDataParallel`` broadcasts rank 0's initial
   weights, so the initialisation is shared as well.
2. **Global negatives.** Every per-sample output that enters a loss (embeddings ``z``,
   logits) is gathered back to the global batch with :meth:`DistContext.gather`, and
   the loss is computed on the global batch exactly as in one process. The contrastive
   denominators therefore run over all ``B`` samples, not over a rank's ``B/K``.
3. **Gradients.** Every rank holds the same global loss ``L``. The backward of
   :meth:`~DistContext.gather` sums the incoming gradients over ranks, so rank ``r``
   receives ``K * dL/dz_r`` for its rows ``z_r``; DDP then averages the parameter
   gradients over the ``K`` ranks::

       (1/K) sum_r J_r^T (K dL/dz_r) = sum_r J_r^T dL/dz_r = dL/dtheta

   which is the single-process gradient (``J_r`` the Jacobian of rank ``r``'s rows).
   One DDP wrapper per lockstep model (:meth:`DistContext.wrap`); every model keeps its
   own gradient buckets, so the models stay independent.
4. **Metrics.** Streaming alignment statistics are additive (float64 ``n``, column
   sums, cross-products); each rank accumulates its shard of the reference set and
   :meth:`DistContext.reduce_accumulator_` sums them (``all_reduce`` SUM). Summing is
   exact up to float64 rounding, so the merged metrics equal the one-process ones.
5. **Files.** Rank 0 writes (:attr:`DistContext.is_main`); every rank reads the same
   checkpoint to resume (:meth:`DistContext.save_checkpoint`,
   :meth:`DistContext.load_checkpoint`).

Launch with ``torchrun --nproc_per_node=K -m empirics.train ...``; the trainer calls
:func:`init_from_env`, which returns :data:`SINGLE` (a no-op context) when the process
was not started by ``torchrun``. Backends: ``nccl`` for CUDA, ``gloo`` on CPU.

>>> SINGLE.world_size, SINGLE.is_main
(1, True)
>>> import torch
>>> SINGLE.shard(torch.arange(6)).tolist()
[0, 1, 2, 3, 4, 5]
>>> DistContext.shard_bounds_for(10, rank=1, world_size=3)
(4, 7)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn

__all__ = ["SINGLE", "DistContext", "init_from_env", "init_process"]

_REDUCE_OPS = ("sum", "mean", "max", "min")


class DistContext:
    """The process group of one run as the trainer sees it: rank, size, and collectives.

    ``DistContext()`` (and :data:`SINGLE`) is the one-process context: every collective
    is the identity, :meth:`shard` returns its input and :meth:`wrap` returns the model
    unchanged, so the trainer has a single code path.

    Args:
        rank: this process's rank in ``[0, world_size)``.
        world_size: number of processes ``K``.
        local_rank: rank on this node (selects the CUDA device under ``torchrun``).
        backend: ``"gloo"`` or ``"nccl"``; ``None`` for the one-process context.
        group: the process group (``None`` = the default group).

    Raises:
        ValueError: when ``world_size`` < 1 or ``rank`` is outside ``[0, world_size)``,
            or when ``world_size`` > 1 and no process group is initialised.
    """

    def __init__(
        self,
        rank: int = 0,
        world_size: int = 1,
        *,
        local_rank: int | None = None,
        backend: str | None = None,
        group: Any = None,
    ) -> None:
        for name, value in (("rank", rank), ("world_size", world_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Expected `{name}` to be an int, got {value!r}")
        if world_size < 1:
            raise ValueError(f"Expected `world_size` >= 1, got {world_size!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"Expected `rank` in [0, {world_size}), got {rank!r}")
        if world_size > 1 and not tdist.is_initialized():
            raise ValueError(
                f"Expected an initialised process group for `world_size` {world_size}, got none"
            )
        self.rank = rank
        self.world_size = world_size
        self.local_rank = rank if local_rank is None else int(local_rank)
        self.backend = backend
        self.group = group

    # ---------------------------------------------------------------- identity
    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes files and shows progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when there is more than one process."""
        return self.world_size > 1

    def __repr__(self) -> str:
        return (
            f"DistContext(rank={self.rank}, world_size={self.world_size}, "
            f"local_rank={self.local_rank}, backend={self.backend!r})"
        )

    def device_for(self, requested: str | torch.device = "auto") -> torch.device:
        """The device this rank trains on: ``cuda:local_rank`` for CUDA under ``torchrun``.

        ``requested`` is a config's ``device`` field: ``"auto"`` (CUDA when present),
        ``"cpu"``, ``"cuda"`` or an explicit device.

        >>> SINGLE.device_for("cpu")
        device(type='cpu')
        """
        dev = torch.device("cuda" if requested == "auto" and torch.cuda.is_available()
                           else "cpu" if requested == "auto" else requested)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", self.local_rank if self.is_distributed else 0)
        return dev

    # ---------------------------------------------------------------- sharding
    @staticmethod
    def shard_bounds_for(n: int, *, rank: int, world_size: int) -> tuple[int, int]:
        """``[start, stop)`` of rank ``rank``'s contiguous part of ``n`` items.

        The first ``n mod K`` ranks take ``ceil(n/K)`` items, the others ``floor(n/K)``
        (the split of :func:`torch.tensor_split`), so the parts tile ``range(n)`` in
        rank order and concatenating them in rank order restores the global order.
        """
        base, extra = divmod(n, world_size)
        start = rank * base + min(rank, extra)
        return start, start + base + (1 if rank < extra else 0)

    def shard_sizes(self, n: int) -> list[int]:
        """Sizes of every rank's part of ``n`` items, in rank order."""
        return [b - a for a, b in (self.shard_bounds_for(n, rank=r, world_size=self.world_size)
                                   for r in range(self.world_size))]

    def shard(self, x: Any, dim: int = 0) -> Any:
        """This rank's contiguous part of the SAME global ``x`` (every rank passes the same).

        Works on tensors and arrays (along ``dim``) and on sequences (``dim`` must be 0):
        ``shard(batch_idx)`` for the global index vector of a step, and
        ``shard(views, dim=1)`` for the global views of shape ``(K, B, ...)``. Parts
        tile ``x`` in rank order (see :meth:`shard_bounds_for`), so
        ``gather(shard(x, dim), dim)`` is ``x``.

        Raises:
            ValueError: when ``x`` has fewer than ``world_size`` items along ``dim``.
            TypeError: when ``x`` is not a tensor, array or sequence.
        """
        if isinstance(x, (torch.Tensor, np.ndarray)):
            n = x.shape[dim]
        elif isinstance(x, (Sequence, range)) and not isinstance(x, (str, bytes)):
            if dim != 0:
                raise ValueError(f"Expected `dim` 0 for a sequence, got {dim!r}")
            n = len(x)
        else:
            raise TypeError(
                f"Expected a tensor, array or sequence to shard, got {type(x).__name__}"
            )
        if self.world_size == 1:
            return x
        if n < self.world_size:
            raise ValueError(
                f"Expected at least `world_size` ({self.world_size}) items to shard, got {n}"
            )
        start, stop = self.shard_bounds_for(n, rank=self.rank, world_size=self.world_size)
        if isinstance(x, torch.Tensor):
            return x.narrow(dim, start, stop - start)
        if isinstance(x, np.ndarray):
            index = [slice(None)] * x.ndim
            index[dim] = slice(start, stop)
            return x[tuple(index)]
        return x[start:stop]

    # ---------------------------------------------------------------- collectives
    def gather(self, z: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """All ranks' parts of ``z`` concatenated along ``dim`` in rank order, autograd-aware.

        Forward: ``all_gather`` (parts may differ in size by one, as :meth:`shard` makes
        them). Backward: the gradient of the concatenation is summed over ranks
        (``all_reduce`` SUM; ``reduce_scatter`` on NCCL) and each rank keeps the slice
        of its own rows. With the same global loss on every rank and DDP's average this
        gives the single-process gradient (module docstring, rule 3).

        Args:
            z: this rank's rows, any shape; parts agree on every dimension except ``dim``.
            dim: the batch dimension (1 for views of shape ``(K, b, d)``).

        Returns:
            The global tensor; ``z`` itself in the one-process context.
        """
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"Expected `z` to be a torch.Tensor, got {type(z).__name__}")
        if z.dim() == 0:
            raise ValueError("Expected `z` with at least one dimension, got a 0-d tensor")
        if not -z.dim() <= dim < z.dim():
            raise ValueError(f"Expected `dim` in [-{z.dim()}, {z.dim()}) of `z`, got {dim!r}")
        if self.world_size == 1:
            return z
        dim = dim % z.dim()
        size = torch.tensor([z.shape[dim]], dtype=torch.int64, device=z.device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        tdist.all_gather(sizes, size, group=self.group)
        return _GatherFunction.apply(z, dim, tuple(int(s.item()) for s in sizes), self)

    def all_reduce_(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``t`` over ranks in place (``"sum"`` default, ``"mean"``, ``"max"``, ``"min"``).

        Returns ``t`` (identity in the one-process context). Not autograd-aware: use
        it for statistics, counters and logged scalars.
        """
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"Expected `t` to be a torch.Tensor, got {type(t).__name__}")
        if op not in _REDUCE_OPS:
            raise ValueError(f"Expected `op` among {', '.join(_REDUCE_OPS)}, got {op!r}")
        if self.world_size == 1:
            return t
        red = {"sum": tdist.ReduceOp.SUM, "mean": tdist.ReduceOp.SUM,
               "max": tdist.ReduceOp.MAX, "min": tdist.ReduceOp.MIN}[op]
        tdist.all_reduce(t, op=red, group=self.group)
        if op == "mean":
            t.div_(self.world_size)
        return t

    def broadcast_(self, t: torch.Tensor, src: int = 0) -> torch.Tensor:
        """Overwrite ``t`` on every rank with rank ``src``'s ``t`` (in place); returns ``t``."""
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"Expected `t` to be a torch.Tensor, got {type(t).__name__}")
        self._check_src(src)
        if self.world_size > 1:
            tdist.broadcast(t, src=src, group=self.group)
        return t

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """Rank ``src``'s picklable ``obj`` on every rank (e.g. the run directory of rank 0)."""
        self._check_src(src)
        if self.world_size == 1:
            return obj
        box = [obj if self.rank == src else None]
        tdist.broadcast_object_list(box, src=src, group=self.group)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""
        if self.world_size > 1:
            tdist.barrier(group=self.group)

    def _check_src(self, src: int) -> None:
        if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < self.world_size:
            raise ValueError(f"Expected `src` in [0, {self.world_size}), got {src!r}")

    # ---------------------------------------------------------------- metrics
    def reduce_accumulator_(self, acc: Any) -> Any:
        """Combine an accumulator's statistics over ranks, in place; returns ``acc``.

        ``acc`` is an :class:`empirics.metrics.AlignmentAccumulator` (or anything with
        ``stats_tensor()`` giving a flat float64 vector and ``from_stats_tensor(t)`` loading
        one). Call it on every rank after each rank has updated ``acc`` with its shard of
        the reference set; afterwards every rank's ``acc.compute()`` is the metric of the
        whole reference set. Statistics that merge by a rule rather than a sum (an
        accumulator with ``merge_stats_``: moments about per-rank shifts, merged by Chan's
        update) are gathered and merged in rank order, so every rank ends with the same
        state; plain additive statistics are summed (``all_reduce`` SUM).
        """
        if not hasattr(acc, "stats_tensor") or not hasattr(acc, "from_stats_tensor"):
            raise TypeError(
                f"Expected an accumulator with stats_tensor/from_stats_tensor, "
                f"got {type(acc).__name__}"
            )
        if self.world_size == 1:
            return acc
        stats = acc.stats_tensor()
        device = torch.device("cuda", torch.cuda.current_device()) \
            if self.backend == "nccl" else torch.device("cpu")
        buf = torch.as_tensor(stats, dtype=torch.float64).to(device).clone()
        if hasattr(acc, "merge_stats_"):
            rows = self.gather(buf.unsqueeze(0), dim=0).cpu()  # (world_size, L), rank order
            acc.reset()
            for row in rows:
                acc.merge_stats_(row)
            return acc
        self.all_reduce_(buf)
        loaded = acc.from_stats_tensor(buf.cpu())
        # from_stats_tensor may load in place (returns None/acc) or build a new object.
        if loaded is not None and loaded is not acc:
            if hasattr(acc, "load_state_dict") and hasattr(loaded, "state_dict"):
                acc.load_state_dict(loaded.state_dict())
            else:
                acc.__dict__.update(loaded.__dict__)
        return acc

    # ---------------------------------------------------------------- models
    def wrap(
        self,
        model: nn.Module,
        *,
        find_unused_parameters: bool = False,
        sync_batchnorm: bool = True,
        **ddp_kwargs: Any,
    ) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` (one wrapper per lockstep model).

        The model must already be on :meth:`device_for`'s device. DDP broadcasts rank
        0's parameters and buffers at construction, so all ranks start from the same
        initialisation, and averages gradients over ranks in backward. With CUDA,
        BatchNorm layers become ``SyncBatchNorm`` (batch statistics of the global
        batch); ``SyncBatchNorm`` needs CUDA, so on CPU BatchNorm statistics stay per
        rank and a ``RuntimeWarning`` says that the run then differs from one process.
        Pass ``find_unused_parameters=True`` when a loss leaves parameters unused (e.g.
        a CE model that never calls its projector). Identity in the one-process context.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"Expected `model` to be a torch.nn.Module, got {type(model).__name__}")
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        params = list(model.parameters())
        on_cuda = bool(params) and params[0].device.type == "cuda"
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if has_bn and on_cuda and sync_batchnorm:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=self.group)
        elif has_bn:
            warnings.warn(
                "BatchNorm statistics are computed per rank (SyncBatchNorm needs CUDA), so "
                "this multi-process run is not equal to the single-process run",
                RuntimeWarning,
                stacklevel=2,
            )
        if on_cuda:
            ddp_kwargs.setdefault("device_ids", [params[0].device.index])
            ddp_kwargs.setdefault("output_device", params[0].device.index)
        return DistributedDataParallel(
            model,
            process_group=self.group,
            find_unused_parameters=find_unused_parameters,
            **ddp_kwargs,
        )

    @staticmethod
    def unwrap(model: nn.Module) -> nn.Module:
        """The plain module inside a DDP wrapper (the model itself otherwise).

        Use it for ``state_dict``, weight comparisons and evaluation forwards, so that
        checkpoints load into an unwrapped model and have no ``module.`` prefix.
        """
        from torch.nn.parallel import DistributedDataParallel

        return model.module if isinstance(model, DistributedDataParallel) else model

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, obj: Any, path: str | os.PathLike) -> None:
        """Rank 0 writes ``obj`` atomically to ``path``; every rank waits until it is on disk.

        Save unwrapped state (``unwrap(model).state_dict()``): every rank holds the same
        parameters after a DDP step, so rank 0's copy is the run's.
        """
        if self.is_main:
            from empirics.runs.writer import save_checkpoint

            save_checkpoint(obj, path)
        self.barrier()

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None) -> Any:
        """Every rank loads the same checkpoint (after a barrier, so none reads early), with
        ``weights_only=True`` (:func:`empirics.runs.writer.load_checkpoint`)."""
        from empirics.runs.writer import load_checkpoint

        self.barrier()
        return load_checkpoint(path, map_location="cpu" if map_location is None else map_location)

    def close(self) -> None:
        """Destroy the process group (call once at the end of a ``torchrun`` program)."""
        if self.world_size > 1 and tdist.is_initialized():
            tdist.destroy_process_group()


class _GatherFunction(torch.autograd.Function):
    """All-gather with a gradient: forward concatenates, backward sums over ranks.

    ``dL/dz_r = sum_{r'} [d L_{r'} / d gather(z)]_{rows of r}`` where ``L_{r'}`` is the
    loss computed on rank ``r'``.
    """

    @staticmethod
    def forward(ctx, z, dim, sizes, dctx):  # noqa: D401 - autograd signature
        ctx.dim, ctx.sizes, ctx.dctx = dim, sizes, dctx
        m = max(sizes)
        local = z.contiguous()
        if local.shape[dim] < m:  # pad to the largest part: all_gather needs equal shapes
            pad_shape = list(local.shape)
            pad_shape[dim] = m - local.shape[dim]
            local = torch.cat([local, local.new_zeros(pad_shape)], dim=dim)
        parts = [torch.empty_like(local) for _ in sizes]
        tdist.all_gather(parts, local, group=dctx.group)
        parts = [p.narrow(dim, 0, s) for p, s in zip(parts, sizes, strict=True)]
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad):
        dim, sizes, dctx = ctx.dim, ctx.sizes, ctx.dctx
        start = sum(sizes[: dctx.rank])
        if dctx.backend == "nccl" and len(set(sizes)) == 1 and dim == 0:
            out = grad.new_empty(grad.narrow(0, 0, sizes[0]).shape)
            tdist.reduce_scatter_tensor(out, grad.contiguous(), group=dctx.group)
            return out, None, None, None
        total = grad.contiguous().clone()
        tdist.all_reduce(total, op=tdist.ReduceOp.SUM, group=dctx.group)
        return total.narrow(dim, start, sizes[dctx.rank]).contiguous(), None, None, None


#: The one-process context: collectives are identities, :meth:`DistContext.wrap` is a no-op.
SINGLE = DistContext()


def _backend_for(device: str | torch.device) -> str:
    dev = str(device)
    use_cuda = torch.cuda.is_available() and (dev == "auto" or dev.startswith("cuda"))
    return "nccl" if use_cuda else "gloo"


def init_process(
    rank: int,
    world_size: int,
    *,
    init_method: str = "env://",
    backend: str | None = None,
    device: str | torch.device = "auto",
    local_rank: int | None = None,
    timeout_s: float = 600.0,
) -> DistContext:
    """Join (or create) the default process group and return its :class:`DistContext`.

    ``backend=None`` picks ``nccl`` when ``device`` is CUDA (or ``"auto"`` with CUDA
    present) and ``gloo`` otherwise. ``world_size == 1`` returns :data:`SINGLE` without
    creating a group. Use :func:`init_from_env` under ``torchrun``; this form serves
    ``torch.multiprocessing.spawn`` launchers (``init_method="file://..."`` or
    ``"tcp://host:port"``).

    Raises:
        ValueError: for a ``backend`` other than gloo/nccl, or a bad ``rank``/``world_size``.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"Expected `world_size` >= 1, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"Expected `rank` in [0, {world_size}), got {rank!r}")
    if world_size == 1:
        return SINGLE
    backend = _backend_for(device) if backend is None else backend
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"Expected `backend` among gloo, nccl, got {backend!r}")
    local_rank = rank if local_rank is None else local_rank
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not tdist.is_initialized():
        tdist.init_process_group(
            backend,
            init_method=init_method,
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_s),
        )
    return DistContext(rank, world_size, local_rank=local_rank, backend=backend)


def init_from_env(
    device: str | torch.device = "auto", *, backend: str | None = None
) -> DistContext:
    """The context of a ``torchrun`` worker (from ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

    Returns :data:`SINGLE` when ``WORLD_SIZE`` is unset or 1, so a plain
    ``python -m empirics.train`` needs no process group. ``MASTER_ADDR`` and
    ``MASTER_PORT`` (set by ``torchrun``) locate the rendezvous.

    Raises:
        ValueError: when ``RANK``, ``WORLD_SIZE`` or ``LOCAL_RANK`` is not an integer.
    """
    values = {}
    for key, default in (("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", None)):
        raw = os.environ.get(key, default)
        if raw is None:
            values[key] = None
            continue
        try:
            values[key] = int(raw)
        except ValueError:
            raise ValueError(
                f"Expected environment variable `{key}` to be an int, got {raw!r}"
            ) from None
    if values["WORLD_SIZE"] == 1:
        return SINGLE
    return init_process(
        values["RANK"],
        values["WORLD_SIZE"],
        init_method="env://",
        backend=backend,
        device=device,
        local_rank=values["LOCAL_RANK"],
    )
