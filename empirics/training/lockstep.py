"""Lockstep training of the objectives of a run under shared randomness.

One loop trains every objective of a :class:`~empirics.training.config.TrainConfig` together
(THEORY.md s1, "shared randomness" [stated]): all models start from **one
initialisation** copied to each (a ``kind = "head"`` objective, CE, additionally gets a
``LinearHead`` on the backbone, initialised from its own generator), see the **same batch
order**, the **same augmented views** (computed once per step and fed to every model) and
the **same hyperparameters**; only the loss differs. Each loss is its registry entry's
(:func:`empirics.objectives.objective_loss`), so an objective installed as a plugin trains
in lockstep exactly as the built-ins do. The loop reads top to bottom::

    for t in range(start, T):
        idx   = batch_indices(t)                     # shared batch order
        views = views_for(t, idx)                    # shared augmentations, once per step
        for each model: set lr = eta[t]; loss(views) -> backward -> optimiser step
        t + 1: evaluate every k steps; checkpoint every k steps

**Randomness** is split by purpose from one root seed (:func:`empirics.seeds.derive_seed`):
data, reference sets, batch order, augmentation, initialisation, CE head, evaluation views.
The batch order of epoch ``e`` and the augmentation of step ``t`` come from generators seeded by
``(root, purpose, e)`` and ``(root, purpose, t)``: a pure function of the step, so a
resumed run draws exactly the batches and views an uninterrupted one would, and no
function touches global random state (initialisation runs inside ``torch.random.fork_rng``).
An epoch is ``ceil(N/B)`` steps (as in ``bounds.steps_from_epochs``); every batch holds
``B`` distinct samples (see :meth:`LockstepTrainer.batch_indices`).

**Learning rate.** ``eta = bounds.schedule(schedule, bounds.lr_from_rule(lr_rule, lr, B),
T, warmup_steps, unit=schedule_unit, steps_per_epoch=ceil(N/B))`` (:func:`run_schedule`)
and ``eta[t]`` is set before step ``t``, so the run's ``sum_eta`` after ``t`` steps is
exactly ``eta[:t].sum()`` -- the ``S`` that ``bounds.evaluate`` receives for the run's own
Theorem 1 (``bounds.csv``). ``schedule_unit = "epoch"`` holds each rate for an epoch, as the
official code of [P2] steps its scheduler (THEORY.md s13).

**Batch composition** (Corollary 3's event, as the surrogate records it): every step
records ``q_max``, the largest same-class fraction of a sample's ``B - 1`` batch negatives
(:mod:`empirics.training.run_bounds`); ``bounds.csv`` reports it against
``pi_max + eps``.

**Backends.** ``backend = "loop"`` runs the members one after another as above;
``backend = "vmap"`` (:mod:`empirics.training.batched`) runs all members' forward and backward as
one ``torch.func.vmap``-batched computation over stacked parameters and steps a stacked
optimiser (equal to the loop to float tolerance). There the stacked tensors are the
truth while training: the member modules are refreshed before every evaluation and
checkpoint (``Member.optimizer`` is unused; the stacked optimiser state is checkpointed
under ``"batched"``). One process only.

**Distributed.** ``dist`` is an :class:`empirics.training.distributed.DistContext`; every rank
builds the global batch and views, keeps its shard, gathers ``z`` (and CE logits) back
to the global batch for the loss; DDP averages gradients. Only the main rank writes.
Evaluation runs on the full reference sets on every rank (small; no communication).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from empirics.objectives import OBJECTIVES, objective_loss
from empirics.optim import make_optimizer
from empirics.seeds import PURPOSES, derive_seed, torch_generator
from empirics.training.config import MAX_STEPS, TrainConfig
from empirics.training.errors import check_finite
from empirics.training.evaluator import Evaluator
from empirics.training.run_bounds import BatchEvent, batch_q_max, bounds_rows

__all__ = ["LockstepTrainer", "Member", "RunSchedule", "check_config_against_data",
           "run_schedule"]

CHECKPOINT_FORMAT = 2  # 2: tables' text in the checkpoint (empirics.runs.writer)


class _WithHead(nn.Module):
    """A contrastive model plus CE's linear head on the backbone features ``h``.

    ``forward`` returns ``(h, logits)``: CE never uses the projector, so it is not run, and
    DDP (``find_unused_parameters``) sees the projector's parameters as unused instead of
    waiting for gradients that never come.
    """

    def __init__(self, model: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        h = self.model.encoder(x)
        return h, self.head(h.flatten(1))


@dataclass
class Member:
    """One model of the lockstep run."""

    name: str  # unique name (the objective, or e.g. "cl#2" in tests)
    objective: str  # a name of empirics.objectives.OBJECTIVES
    net: nn.Module  # what is trained (possibly DDP-wrapped; a head objective: model + head)
    module: nn.Module  # the unwrapped ContrastiveModel (eval, weights, checkpoints)
    head: nn.Module | None  # the LinearHead of a head objective (CE; unwrapped), else None
    optimizer: torch.optim.Optimizer
    last_loss: float = float("nan")


def _resolve_device(requested: str, dist) -> torch.device:
    if hasattr(dist, "device_for"):
        return torch.device(dist.device_for(requested))
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("Expected a CUDA device for `device` 'cuda', got none available")
    return torch.device(requested)


class RunSchedule(NamedTuple):
    """The steps and learning rates of a run (:func:`run_schedule`)."""

    T: int  # steps
    warmup_steps: int  # W (a multiple of steps_per_epoch for the epoch unit)
    steps_per_epoch: int  # P = ceil(N/B)
    base_lr: float  # lr after the batch-size rule
    eta: np.ndarray  # (T,) eta_t, float64


def run_schedule(config: TrainConfig, N: int) -> RunSchedule:
    """The run's ``T``, warm-up and ``eta_t`` for ``N`` training samples (THEORY.md s11, s13).

    ``T = epochs * ceil(N/B)`` when ``epochs`` is set, else ``steps``. The warm-up is
    ``warmup_steps``, or by default ``min(20, T // 10)`` (rounded down to whole epochs for
    ``schedule_unit = "epoch"``). ``eta = bounds.schedule(...)`` with the run's unit, so
    ``eta.sum()`` is :func:`bounds.evaluate_bounds`'s ``sum_eta`` for the same setting.

    Raises:
        ValueError: a cosine warm-up of ``>= T`` steps; with the epoch unit, a
            ``warmup_steps`` that is not a whole number of epochs.

    >>> cfg = TrainConfig(epochs=3, batch_size=4, warmup_steps=3, schedule_unit="epoch")
    >>> r = run_schedule(cfg, 10)   # 3 steps per epoch, one warm-up epoch
    >>> r.T, r.steps_per_epoch, [round(float(e) / r.base_lr, 3) for e in r.eta]
    (9, 3, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    """
    from bounds import lr_from_rule, schedule, steps_from_epochs
    from bounds.schedules import epoch_steps

    B = config.batch_size
    P = int(epoch_steps(N, B))
    T = int(steps_from_epochs(config.epochs, N, B)) if config.epochs is not None \
        else int(config.steps)
    if T > MAX_STEPS:  # epochs * ceil(N/B): refused before the schedule is allocated
        raise ValueError(f"Expected `epochs` * ceil(N/B) <= {MAX_STEPS} steps, got "
                         f"{config.epochs} epochs of {P} steps = {T}")
    by_epoch = config.schedule_unit == "epoch"
    if config.warmup_steps is None:  # min(20, T // 10), so that short runs work too
        W = min(20, T // 10)
        W = W - W % P if by_epoch else W
    else:
        W = int(config.warmup_steps)
    if config.schedule == "cosine" and W >= T:
        raise ValueError(f"Expected `warmup_steps` < the run's {T} steps, got {W}")
    if by_epoch and config.schedule == "cosine" and W % P:
        raise ValueError(f"Expected `warmup_steps` to be a whole number of epochs (a multiple "
                         f"of the {P} steps per epoch) for `schedule_unit` 'epoch', got {W}")
    base = float(lr_from_rule(config.lr_rule, config.lr, B))
    eta = np.asarray(schedule(config.schedule, base, T, W, unit=config.schedule_unit,
                              steps_per_epoch=P), dtype=np.float64)
    return RunSchedule(T, W, P, base, eta)


def check_config_against_data(config: TrainConfig) -> None:
    """Checks that need the machine or the data set's metadata, before any data is loaded."""
    import os

    cores = os.cpu_count() or 1
    if config.threads > cores:  # torch would start them all (and may crash trying)
        raise ValueError(f"Expected `threads` <= {cores} (the CPU cores of this machine; 0 = "
                         f"torch's default), got {config.threads}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "Expected a CUDA device for `device` = 'cuda', got none "
            "(torch.cuda.is_available() is False; use --device auto or cpu)"
        )
    if config.dataset == "synthetic":
        return
    from empirics.data import num_available_classes

    available = int(num_available_classes(config.dataset, root=config.data_root))
    if config.classes is not None and config.classes > available:
        default = TrainConfig.defaults()["classes"]
        raise ValueError(
            f"Expected `classes` <= {available} (the classes of dataset "
            f"{config.dataset!r}; none = all of them), got {config.classes}"
            + (" (the default)" if config.classes == default else "")
        )


class LockstepTrainer:
    """Builds data, models, optimisers and the evaluator of a run, and steps them together.

    Args:
        config: the run's configuration (validated).
        dist: a ``DistContext``; ``None`` uses ``empirics.training.distributed.SINGLE``.
    """

    def __init__(self, config: TrainConfig, *, dist=None) -> None:
        from empirics.data import load_dataset, reference_set

        if not isinstance(config, TrainConfig):
            raise TypeError(f"Expected `config` to be a TrainConfig, got {type(config).__name__}")
        if dist is None:
            from empirics.training.distributed import SINGLE

            dist = SINGLE
        self.config, self.dist = config, dist
        check_config_against_data(config)
        self.device = _resolve_device(config.device, dist)
        seed = config.seed

        # -- data ------------------------------------------------------------------------
        kw: dict[str, Any] = {}
        if config.dataset == "synthetic":
            kw["difficulty"] = float(config.difficulty)
            kw["prototypes"] = config.prototypes
            if config.image_size is not None:
                kw["image_shape"] = (3, config.image_size, config.image_size)
        train, test = load_dataset(
            config.dataset,
            classes=config.classes,
            seed=seed,
            root=config.data_root,
            train_size=config.train_size,
            test_size=config.test_size,
            **kw,
        )
        self.N = int(train.x.shape[0])
        self.C = int(train.num_classes)
        if config.batch_size > self.N:
            raise ValueError(
                f"Expected `batch_size` <= the {self.N} training samples, got {config.batch_size}"
            )
        counts = torch.bincount(train.y, minlength=self.C).double()
        self.pi_max = float(counts.max() / counts.sum())
        self.train_set = train.to(self.device)
        self.references = {
            split: reference_set(ds, min(config.reference_size, len(ds)), seed, split)
            for split, ds in (("train", train), ("test", test))
        }
        self.references = {k: v.to(self.device) for k, v in self.references.items()}

        # -- schedule: the run's eta_t is bounds' schedule, exactly --------------------------
        sched = run_schedule(config, self.N)
        self.T, self.warmup_steps, self.base_lr, self.eta = (sched.T, sched.warmup_steps,
                                                             sched.base_lr, sched.eta)
        self.cum_eta = np.concatenate([[0.0], np.cumsum(self.eta)])  # S after t steps

        # -- Corollary 3's batch-composition event, from the labels on the CPU -------------
        from bounds import eps

        self._labels_cpu = train.y.cpu()
        self.batch_event = BatchEvent(self.pi_max, float(eps(config.batch_size, config.delta,
                                                             self.T)))

        # -- augmentation ------------------------------------------------------------------
        kind = config.augment
        if kind == "auto":
            kind = "vector" if train.kind == "vector" else "image"
        self.augment_kind = kind
        from empirics.augment import make_augmenter

        self.augmenter = make_augmenter(kind)  # "none" = identity views

        # -- models: one initialisation, copied ---------------------------------------------
        from empirics.models import build_model

        arch = config.arch
        if arch == "auto":
            arch = "mlp" if train.kind == "vector" else "cnn"
        self.arch = arch
        init = build_model(
            arch,
            tuple(train.x.shape[1:]),
            feature_dim=config.feature_dim,
            proj_dim=config.proj_dim,
            num_classes=self.C,
            width=config.width,
            generator=torch_generator(seed, "init"),
        )
        self.init_model = init.to(self.device)
        self.feature_dim = self._feature_dim(self.init_model)
        self.init_head = None
        if any(OBJECTIVES[o].kind == "head" for o in config.objectives):
            from empirics.losses import LinearHead

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(seed, "head"))
                self.init_head = LinearHead(self.feature_dim, self.C)
            self.init_head = self.init_head.to(self.device)
        self.members: list[Member] = [self.make_member(o, o) for o in config.objectives]
        self.batched = self._make_batched() if config.backend == "vmap" else None

        self.evaluator = Evaluator(config, self.references, self.augmenter, self.device,
                                   dist=self.dist)
        self._perm_cache: dict[int, torch.Tensor] = {}

    # ------------------------------------------------------------------------------------
    def _feature_dim(self, model: nn.Module) -> int:
        d = getattr(model, "feature_dim", None)
        if isinstance(d, int):
            return d
        was = model.training
        model.eval()
        with torch.no_grad():
            h, _ = model(self.train_set.x[:2])
        model.train(was)
        return int(h.flatten(1).shape[1])

    def _make_batched(self):
        """The ``vmap`` backend's stacked members (:mod:`empirics.training.batched`)."""
        from empirics.training.batched import BatchedMembers

        if int(getattr(self.dist, "world_size", 1)) > 1:
            raise ValueError(
                "Expected `backend` 'loop' for a distributed run (DDP wraps each model), "
                f"got 'vmap' with world size {self.dist.world_size}"
            )
        cfg = self.config
        kw = dict(lr=float(self.eta[0]), momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                  lars_trust=cfg.lars_trust)

        def factory(kind: str, params: list[torch.Tensor]) -> torch.optim.Optimizer:
            model_dims = 1 if kind == "stacked" else 0
            return make_optimizer(cfg.optimizer, params, model_dims=model_dims, **kw)

        return BatchedMembers(
            [m.module for m in self.members],
            [m.head for m in self.members],
            factory,
            self.train_set.x[:2],
        )

    def make_member(self, name: str, objective: str) -> Member:
        """A fresh copy of the shared initialisation with its own optimiser."""
        cfg = self.config
        module = copy.deepcopy(self.init_model)
        head = copy.deepcopy(self.init_head) if OBJECTIVES[objective].kind == "head" else None
        net: nn.Module = _WithHead(module, head) if head is not None else module
        net = self.dist.wrap(net, find_unused_parameters=head is not None)
        params = [p for p in self.dist.unwrap(net).parameters() if p.requires_grad]
        optimizer = make_optimizer(
            cfg.optimizer,
            params,
            lr=float(self.eta[0]),
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            lars_trust=cfg.lars_trust,
        )
        return Member(name, objective, net, module, head, optimizer)

    # -- shared randomness ----------------------------------------------------------------
    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perm_cache:
            gen = torch_generator(self.config.seed, "batch", epoch)
            self._perm_cache = {epoch: torch.randperm(self.N, generator=gen)}
        return self._perm_cache[epoch]

    def batch_indices(self, t: int) -> torch.Tensor:
        """Global sample indices of step ``t`` on the run's device (:meth:`batch_indices_cpu`)."""
        return self.batch_indices_cpu(t).to(self.device)

    def batch_indices_cpu(self, t: int) -> torch.Tensor:
        """Global sample indices of step ``t``: ``B`` distinct samples, the same for every model.

        Epoch ``e = t // ceil(N/B)`` uses the permutation ``pi_e`` of its own seed; its
        batches are consecutive slices of ``pi_e``, and the last, partial one is filled up
        from the start of ``pi_e`` (``pi_e[-r:] ++ pi_e[:B-r]``). So an epoch is exactly
        ``ceil(N/B)`` steps (``bounds.steps_from_epochs``), sees every sample at least once,
        and no batch repeats a sample (a repeated sample would be its own negative).
        """
        B, N = self.config.batch_size, self.N
        per_epoch = -(-N // B)
        e, j = divmod(t, per_epoch)
        perm = self._perm(e)
        start = j * B
        if start + B <= N:
            return perm[start : start + B]
        return torch.cat([perm[start:], perm[: start + B - N]])

    def views_for(self, t: int, x: torch.Tensor) -> torch.Tensor:
        """The ``K`` augmented views of step ``t``: shape ``(K, B, ...)``, computed once."""
        K = self.config.views
        if self.augmenter is None:
            return x.unsqueeze(0).expand(K, *x.shape).clone()
        from empirics.augment import make_views

        gen = torch_generator(self.config.seed, "augment", t, device=self.device)
        return make_views(x, self.augmenter, gen, K=K)

    # -- one step -------------------------------------------------------------------------
    def train_step(self, t: int) -> dict[str, float]:
        """Run step ``t`` (0-based) for every member; returns each member's loss."""
        from empirics.losses import ce_loss

        cfg, dist = self.config, self.dist
        idx_cpu = self.batch_indices_cpu(t)  # (B,) global
        self.batch_event.update(batch_q_max(self._labels_cpu[idx_cpu]))  # no device sync
        idx = idx_cpu.to(self.device)
        x, y = self.train_set.x[idx], self.train_set.y[idx]
        views = self.views_for(t, x)  # (K, B, ...) global, shared by every model
        local = dist.shard(views, dim=1)  # (K, b, ...)
        K, b = local.shape[0], local.shape[1]
        flat = local.reshape(K * b, *local.shape[2:])
        eta_t = float(self.eta[t])
        if self.batched is not None:
            return self._batched_step(t, flat, y, K, b, eta_t)
        out = {}
        for m in self.members:
            for group in m.optimizer.param_groups:
                group["lr"] = eta_t
            if m.head is not None:  # CE: the head on the backbone (THEORY.md s2)
                _, logits = m.net(flat)
                logits = dist.gather(logits.reshape(K, b, -1), dim=1)  # (K, B, C)
                loss = ce_loss(logits.reshape(K * y.shape[0], -1), y.repeat(K))
            else:
                _, z = m.net(flat)
                z = dist.gather(z.reshape(K, b, -1), dim=1)  # (K, B, d)
                loss = objective_loss(m.objective, z, y, cfg)
            value = float(loss.detach())
            check_finite(value, m.name, t)
            m.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            m.optimizer.step()
            m.last_loss = out[m.name] = value
        return out

    def _batched_step(self, t, flat, y, K: int, b: int, eta_t: float) -> dict[str, float]:
        """Step ``t`` of the ``vmap`` backend: one batched forward/backward of all members."""
        from empirics.losses import ce_loss

        cfg, bm = self.config, self.batched
        bm.set_lr(eta_t)
        h_all, z_all = bm.forward(flat)  # (M, K*b, ...): member m's outputs are slice m
        losses = []
        for i, m in enumerate(self.members):
            if m.head is not None:
                logits = m.head(h_all[i].flatten(1)).reshape(K, b, -1)
                loss = ce_loss(logits.reshape(K * y.shape[0], -1), y.repeat(K))
            else:
                loss = objective_loss(m.objective, z_all[i].reshape(K, b, -1), y, cfg)
            losses.append(loss)
        values = torch.stack([loss.detach() for loss in losses]).tolist()
        for m, value in zip(self.members, values, strict=True):
            check_finite(value, m.name, t)
        bm.step(losses)
        out = {}
        for m, value in zip(self.members, values, strict=True):
            m.last_loss = out[m.name] = value
        return out

    # -- evaluation and bounds ------------------------------------------------------------
    def epoch_of(self, t: int) -> float:
        """Epochs completed after ``t`` steps: ``t / ceil(N/B)``."""
        return t / -(-self.N // self.config.batch_size)

    def evaluate(self, t: int) -> dict[str, Any]:
        if self.batched is not None:
            self.batched.unstack()  # the member modules hold the stacked weights again
        result = self.evaluator(t, self.epoch_of(t), self.members)
        feats = result.get("cl_features")
        event = self.batch_event.close_window()  # steps since the previous evaluation
        result["bounds"] = bounds_rows(self, t, result["metrics"], feats,
                                       event) if t > 0 else []
        return result

    def replay_batch_event(self, start: int) -> None:
        """Rebuild :attr:`batch_event` after ``start`` steps from the batch order (a pure
        function of the step): for a checkpoint written before the record existed."""
        every = self.config.eval_every
        for t in range(start):
            self.batch_event.update(batch_q_max(self._labels_cpu[self.batch_indices_cpu(t)]))
            done = t + 1
            if done % every == 0 or done == self.T:
                self.batch_event.close_window()

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self, t: int, extra: dict[str, Any]) -> dict[str, Any]:
        if self.batched is not None:
            self.batched.unstack()
            extra = {**extra, "batched": self.batched.state_dict()}
        return {
            "format": CHECKPOINT_FORMAT,
            "step": t,
            "T": self.T,
            "config": self.config.to_dict(),
            "seeds": {p: derive_seed(self.config.seed, p) for p in PURPOSES},
            "members": {
                m.name: {
                    "objective": m.objective,
                    "model": m.module.state_dict(),
                    "head": None if m.head is None else m.head.state_dict(),
                    # vmap: the stacked optimiser's state is under "batched"
                    "optimizer": None if self.batched else m.optimizer.state_dict(),
                }
                for m in self.members
            },
            "batch_event": self.batch_event.state_dict(),
            **extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> int:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"Expected checkpoint format {CHECKPOINT_FORMAT}, got {state.get('format')!r} "
                "(a run written by an older version: start it again)")
        for m in self.members:
            saved = state["members"][m.name]
            m.module.load_state_dict(saved["model"])
            if m.head is not None:
                m.head.load_state_dict(saved["head"])
            if self.batched is None:
                m.optimizer.load_state_dict(saved["optimizer"])
        if self.batched is not None:
            self.batched.restack()
            self.batched.load_state_dict(state["batched"])
        if "batch_event" in state:
            self.batch_event.load_state_dict(state["batch_event"])
        else:  # written before the record existed
            self.replay_batch_event(int(state["step"]))
        return int(state["step"])
