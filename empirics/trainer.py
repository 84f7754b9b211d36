"""Lockstep training of CL / NT-Xent / NSCL / SCL / CE models under shared randomness.

One loop trains every objective of a :class:`~empirics.config.TrainConfig` together
(THEORY.md s1, "shared randomness" [stated]): all models start from **one
initialisation** copied to each (CE additionally gets a ``LinearHead`` on the backbone,
initialised from its own generator), see the **same batch order**, the **same augmented
views** (computed once per step and fed to every model) and the **same hyperparameters**;
only the loss differs. The loop reads top to bottom::

    for t in range(start, T):
        idx   = batch_indices(t)                     # shared batch order
        views = views_for(t, idx)                    # shared augmentations, once per step
        for each model: set lr = eta[t]; loss(views) -> backward -> optimiser step
        t + 1: evaluate every k steps; checkpoint every k steps

**Randomness** is split by purpose from one root seed (``derive_seed``): data, reference
sets, batch order, augmentation, initialisation, CE head, evaluation views. The batch
order of epoch ``e`` and the augmentation of step ``t`` come from generators seeded by
``(root, purpose, e)`` and ``(root, purpose, t)``: a pure function of the step, so a
resumed run draws exactly the batches and views an uninterrupted one would, and no
function touches global random state (initialisation runs inside ``torch.random.fork_rng``).
An epoch is ``ceil(N/B)`` steps (as in ``bounds.steps_from_epochs``); every batch holds
``B`` distinct samples (see :meth:`LockstepTrainer.batch_indices`).

**Learning rate.** ``eta = bounds.schedule(schedule, bounds.lr_from_rule(lr_rule, lr, B),
T, warmup_steps)`` and ``eta[t]`` is set before step ``t``, so the run's
``sum_eta`` after ``t`` steps is exactly ``eta[:t].sum()`` -- the ``S`` that
``bounds.evaluate`` receives for the run's own Theorem 1 (``bounds.csv``).

**Backends.** ``backend = "loop"`` runs the members one after another as above;
``backend = "vmap"`` (:mod:`empirics.batched`) runs all members' forward and backward as
one ``torch.func.vmap``-batched computation over stacked parameters and steps a stacked
optimiser (equal to the loop to float tolerance). There the stacked tensors are the
truth while training: the member modules are refreshed before every evaluation and
checkpoint (``Member.optimizer`` is unused; the stacked optimiser state is checkpointed
under ``"batched"``). One process only.

**Distributed.** ``dist`` is an :class:`empirics.distributed.DistContext`; every rank
builds the global batch and views, keeps its shard, gathers ``z`` (and CE logits) back
to the global batch for the loss; DDP averages gradients. Only the main rank writes.
Evaluation runs on the full reference sets on every rank (small; no communication).
"""

from __future__ import annotations

import copy
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from empirics.config import TrainConfig
from empirics.evaluation import Evaluator, objective_loss
from empirics.optim import make_optimizer
from empirics.rundir import RunDir

__all__ = ["LockstepTrainer", "Member", "RunInterrupted", "derive_seed", "train"]

#: Purposes of the generators derived from the root seed (one stream each).
SEED_PURPOSES = {
    "data": 1,
    "reference": 2,
    "batch": 3,
    "augment": 4,
    "init": 5,
    "head": 6,
    "eval_views": 7,
}
CHECKPOINT_FORMAT = 1


def derive_seed(root: int, purpose: str, *keys: int) -> int:
    """A 63-bit seed for ``purpose`` (and optional integer ``keys``) from ``root``.

    Uses ``numpy.random.SeedSequence`` so distinct purposes and keys give independent
    streams.

    >>> derive_seed(0, "batch") == derive_seed(0, "batch")
    True
    >>> derive_seed(0, "batch") != derive_seed(0, "augment")
    True
    """
    if purpose not in SEED_PURPOSES:
        raise ValueError(f"Expected `purpose` among {sorted(SEED_PURPOSES)}, got {purpose!r}")
    ss = np.random.SeedSequence([int(root), SEED_PURPOSES[purpose], *(int(k) for k in keys)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


class RunInterrupted(RuntimeError):
    """Raised by :func:`train` when ``stop_after`` steps were run (a simulated kill)."""


class _WithHead(nn.Module):
    """A contrastive model plus CE's linear head on the backbone features ``h``."""

    def __init__(self, model: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        h, z = self.model(x)
        return h, z, self.head(h.flatten(1))


@dataclass
class Member:
    """One model of the lockstep run."""

    name: str  # unique name (the objective, or e.g. "cl#2" in tests)
    objective: str  # cl | ntxent | nscl | scl | ce
    net: nn.Module  # what is trained (possibly DDP-wrapped; CE: model + head)
    module: nn.Module  # the unwrapped ContrastiveModel (eval, weights, checkpoints)
    head: nn.Module | None  # CE's LinearHead (unwrapped), else None
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


def check_config_against_data(config: TrainConfig) -> None:
    """Checks that need the machine or the data set's metadata, before any data is loaded."""
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
        raise ValueError(
            f"Expected `classes` <= {available} (the classes of dataset "
            f"{config.dataset!r}), got {config.classes}"
        )


class LockstepTrainer:
    """Builds data, models, optimisers and the evaluator of a run, and steps them together.

    Args:
        config: the run's configuration (validated).
        dist: a ``DistContext``; ``None`` uses ``empirics.distributed.SINGLE``.
    """

    def __init__(self, config: TrainConfig, *, dist=None) -> None:
        from bounds import lr_from_rule, schedule, steps_from_epochs
        from empirics.data import load_dataset, reference_set

        if not isinstance(config, TrainConfig):
            raise TypeError(f"Expected `config` to be a TrainConfig, got {type(config).__name__}")
        if dist is None:
            from empirics.distributed import SINGLE

            dist = SINGLE
        self.config, self.dist = config, dist
        check_config_against_data(config)
        self.device = _resolve_device(config.device, dist)
        seed = config.seed

        # -- data ------------------------------------------------------------------------
        kw: dict[str, Any] = {}
        if config.dataset == "synthetic":
            C = int(config.classes)
            kw = dict(
                n_per_class=max(1, (config.train_size or 100 * C) // C),
                n_test_per_class=max(1, (config.test_size or 50 * C) // C),
                difficulty=float(config.difficulty),
            )
            if config.image_size is not None:
                kw["image_shape"] = (3, config.image_size, config.image_size)
        train, test = load_dataset(
            config.dataset,
            classes=config.classes,
            seed=derive_seed(seed, "data"),
            root=config.data_root,
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
        ref_seed = derive_seed(seed, "reference")
        self.references = {
            "train": reference_set(train, min(config.reference_size, len(train)), ref_seed),
            "test": reference_set(test, min(config.reference_size, len(test)), ref_seed + 1),
        }
        self.references = {k: v.to(self.device) for k, v in self.references.items()}

        # -- schedule: the run's eta_t is bounds' schedule, exactly --------------------------
        B = config.batch_size
        self.T = (
            int(steps_from_epochs(config.epochs, self.N, B))
            if config.epochs is not None
            else int(config.steps)
        )
        # warm-up: as configured, or by default min(20, T // 10) so short runs work too
        self.warmup_steps = (
            min(20, self.T // 10) if config.warmup_steps is None else int(config.warmup_steps)
        )
        if config.schedule == "cosine" and self.warmup_steps >= self.T:
            raise ValueError(
                f"Expected `warmup_steps` < the run's {self.T} steps, got {self.warmup_steps}"
            )
        self.base_lr = float(lr_from_rule(config.lr_rule, config.lr, B))
        self.eta = np.asarray(
            schedule(config.schedule, self.base_lr, self.T, self.warmup_steps), dtype=np.float64
        )
        self.cum_eta = np.concatenate([[0.0], np.cumsum(self.eta)])  # S after t steps

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
            generator=torch.Generator().manual_seed(derive_seed(seed, "init")),
        )
        self.init_model = init.to(self.device)
        self.feature_dim = self._feature_dim(self.init_model)
        self.init_head = None
        if "ce" in config.objectives:
            from empirics.losses import LinearHead

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(seed, "head"))
                self.init_head = LinearHead(self.feature_dim, self.C)
            self.init_head = self.init_head.to(self.device)
        self.members: list[Member] = [self.make_member(o, o) for o in config.objectives]
        self.batched = self._make_batched() if config.backend == "vmap" else None

        self.evaluator = Evaluator(
            config,
            self.references,
            self.augmenter,
            derive_seed(seed, "eval_views"),
            self.device,
            dist=self.dist,
        )
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
        """The ``vmap`` backend's stacked members (``empirics.batched``)."""
        from empirics.batched import BatchedMembers

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
        head = copy.deepcopy(self.init_head) if objective == "ce" else None
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
            gen = torch.Generator().manual_seed(derive_seed(self.config.seed, "batch", epoch))
            self._perm_cache = {epoch: torch.randperm(self.N, generator=gen)}
        return self._perm_cache[epoch]

    def batch_indices(self, t: int) -> torch.Tensor:
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
            idx = perm[start : start + B]
        else:
            idx = torch.cat([perm[start:], perm[: start + B - N]])
        return idx.to(self.device)

    def views_for(self, t: int, x: torch.Tensor) -> torch.Tensor:
        """The ``K`` augmented views of step ``t``: shape ``(K, B, ...)``, computed once."""
        K = self.config.views
        if self.augmenter is None:
            return x.unsqueeze(0).expand(K, *x.shape).clone()
        from empirics.augment import make_views

        gen = torch.Generator(device=self.device)
        gen.manual_seed(derive_seed(self.config.seed, "augment", t))
        return make_views(x, self.augmenter, gen, K=K)

    # -- one step -------------------------------------------------------------------------
    def train_step(self, t: int) -> dict[str, float]:
        """Run step ``t`` (0-based) for every member; returns each member's loss."""
        from empirics import losses as L

        cfg, dist = self.config, self.dist
        idx = self.batch_indices(t)  # (B,) global
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
            if m.objective == "ce":
                _, _, logits = m.net(flat)
                logits = dist.gather(logits.reshape(K, b, -1), dim=1)  # (K, B, C)
                loss = L.ce_loss(logits.reshape(K * y.shape[0], -1), y.repeat(K))
            else:
                _, z = m.net(flat)
                z = dist.gather(z.reshape(K, b, -1), dim=1)  # (K, B, d)
                loss = objective_loss(m.objective, z, y, cfg, L)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"Expected a finite loss, got {value} for model {m.name!r} at step {t} "
                    "(lower `lr` or change `optimizer`)"
                )
            m.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            m.optimizer.step()
            m.last_loss = out[m.name] = value
        return out

    def _batched_step(self, t, flat, y, K: int, b: int, eta_t: float) -> dict[str, float]:
        """Step ``t`` of the ``vmap`` backend: one batched forward/backward of all members."""
        from empirics import losses as L
        from empirics.batched import check_finite

        cfg, bm = self.config, self.batched
        bm.set_lr(eta_t)
        h_all, z_all = bm.forward(flat)  # (M, K*b, ...): member m's outputs are slice m
        losses = []
        for i, m in enumerate(self.members):
            if m.objective == "ce":
                logits = m.head(h_all[i].flatten(1)).reshape(K, b, -1)
                loss = L.ce_loss(logits.reshape(K * y.shape[0], -1), y.repeat(K))
            else:
                loss = objective_loss(m.objective, z_all[i].reshape(K, b, -1), y, cfg, L)
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
        result["bounds"] = self.bounds_rows(t, result["metrics"], feats) if t > 0 else []
        return result

    def bounds_rows(
        self, t: int, metric_rows: list[dict[str, Any]], features_for_bounds=None
    ) -> list[dict[str, Any]]:
        """The run's own [P2] bounds after ``t`` steps (``bounds.evaluate``), vs measured.

        ``bounds.evaluate`` receives the run's ``C``, ``tau``, ``B``, the realised
        ``pi_max`` of the training set, ``delta`` and the schedule actually used so far,
        ``eta[:t]`` (so ``T = t`` and ``S = sum_eta`` so far, exactly). The corollaries'
        normalisers ``||K_CL||_F`` and ``sigma_a`` come from the CL model's ``z`` on the
        train reference set when CL is trained (``normalisers = cl-features``), else from
        the NSCL-optimum geometry (``etf``).
        """
        from bounds import evaluate

        cfg = self.config
        S = float(self.cum_eta[t])
        features = features_for_bounds
        res = evaluate(
            self.C,
            cfg.tau,
            cfg.batch_size,
            eta=self.eta[:t],
            delta=cfg.delta,
            pi_max=self.pi_max,
            N_ref=int(self.references["train"].x.shape[0]),
            features=features,
            tight=False,
        )
        row: dict[str, Any] = {
            "step": t,
            "epoch": self.epoch_of(t),
            "sum_eta_so_far": S,
            "normalisers": "etf" if features is None else "cl-features",
            "corollary_form": "paper",
        }
        for key, value in res.items():
            arr = np.asarray(value)
            if arr.ndim == 0 and arr.dtype.kind in "biuf":
                row[key] = arr.item()
        measured = [
            r
            for r in metric_rows
            if r["pair"] == "cl-nscl" and r["features"] == "z" and r["split"] == "train"
        ]
        if measured:
            m = measured[0]
            row["measured_sim_gap"] = m["sim_gap"]
            row["measured_cka"] = m["cka"]
            row["measured_rsa"] = m["rsa"]
            bound = row.get("sim_gap")
            ok = isinstance(bound, float) and math.isfinite(bound) and m["sim_gap"] > 0
            row["bound_over_measured"] = bound / m["sim_gap"] if ok else None
        return [row]

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
            "seeds": {p: derive_seed(self.config.seed, p) for p in SEED_PURPOSES},
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
            **extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> int:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"Expected checkpoint format {CHECKPOINT_FORMAT}, got {state.get('format')!r}"
            )
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
        return int(state["step"])


# ----------------------------------------------------------------------------------------
def default_out(config: TrainConfig) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{config.dataset}-C{config.classes}-s{config.seed}-{stamp}")


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    disable = not enabled or not sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        disable=disable,
        file=sys.stderr,
        desc="lockstep",
        leave=True,
    )


def _same_run(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Fields that differ between a saved and a requested config (device/out excepted)."""
    now = config.to_dict()
    return sorted(k for k in now if k not in ("device", "out") and saved.get(k) != now[k])


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    dist=None,
    resume: bool = False,
    stop_after: int | None = None,
    callback: Callable[[int, LockstepTrainer], None] | None = None,
) -> Path:
    """Train ``config``'s objectives in lockstep and write the run directory.

    Args:
        config: the run (validated :class:`TrainConfig`); ``config.out`` is the run
            directory (``None``: ``runs/<dataset>-C<C>-s<seed>-<UTC time>``).
        progress: show a tqdm bar on stderr (only on a TTY, only on the main rank).
        dist: a ``DistContext`` for ``torchrun``; ``None`` = one process.
        resume: continue from ``<out>/checkpoints/last.pt`` (CSV rows beyond its step are
            dropped first); without a checkpoint the run starts from step 0.
        stop_after: stop, as if killed, once this many steps have run in total
            (raises :class:`RunInterrupted` after the step's evaluation/checkpoint).
        callback: ``callback(t, trainer)`` after every step ``t`` (1-based count).

    Returns:
        The run directory.

    Raises:
        FileExistsError: ``out`` already holds a run and ``resume`` is false.
        ValueError: a configuration that contradicts the data (e.g. ``classes`` too
            large), or a resume whose saved configuration differs.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"Expected `config` to be a TrainConfig, got {type(config).__name__}")
    if dist is None:
        from empirics.distributed import SINGLE

        dist = SINGLE
    if config.out is None:
        config = config.replace(out=dist.broadcast_object(default_out(config)))
    run = RunDir(config.out)
    if run.has_results() and not resume:
        raise FileExistsError(
            f"Expected an empty run directory for `out`, got {str(run.path)!r} holding a run "
            "(pass --resume to continue it)"
        )
    if resume and run.config.exists():
        diff = _same_run(run.read_config(), config)
        if diff:
            raise ValueError(f"Expected the saved configuration on resume, got changed {diff!r}")

    det_before = torch.are_deterministic_algorithms_enabled()
    threads_before = torch.get_num_threads()
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=config.device != "cpu")
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(config, run, progress, dist, resume, stop_after, callback)
    finally:
        torch.use_deterministic_algorithms(det_before)
        torch.set_num_threads(threads_before)


def _train(config, run: RunDir, progress, dist, resume, stop_after, callback) -> Path:
    trainer = LockstepTrainer(config, dist=dist)
    main = dist.is_main
    start, elapsed, p1_all = 0, 0.0, True
    if resume and run.last.exists():
        state = dist.load_checkpoint(run.last, map_location=trainer.device)
        start = trainer.load_state_dict(state)
        elapsed, p1_all = float(state.get("elapsed", 0.0)), bool(state.get("p1_all", True))
        if main:
            run.truncate_after(start)
    elif main:
        run.create(config.to_dict())
        for path in (run.metrics, run.losses, run.bounds, run.summary):
            path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    last_cka = None

    def evaluate_and_log(t: int) -> None:
        nonlocal last_cka, p1_all
        result = trainer.evaluate(t)
        last_cka = result["headline"]
        p1_all = p1_all and all(r["p1_holds"] for r in result["losses"])
        if main:
            run.append_metrics(result["metrics"])
            run.append_losses(result["losses"])
            if result["bounds"]:
                run.append_bounds(result["bounds"])

    def checkpoint(t: int) -> None:
        extra = {"elapsed": elapsed + time.perf_counter() - t0, "p1_all": p1_all}
        dist.save_checkpoint(trainer.state_dict(t, extra), run.last)

    if start == 0:
        evaluate_and_log(0)
        checkpoint(0)
    bar = _progress_bar(trainer.T, start, progress and main)
    try:
        for t in range(start, trainer.T):
            losses = trainer.train_step(t)
            done = t + 1
            if done % config.eval_every == 0 or done == trainer.T:
                evaluate_and_log(done)
            if done % config.checkpoint_every == 0 or done == trainer.T:
                checkpoint(done)
            post = {k: f"{v:.3f}" for k, v in losses.items()}
            if last_cka is not None:
                post["cka"] = f"{last_cka:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
            if callback is not None:
                callback(done, trainer)
            if stop_after is not None and done >= stop_after and done < trainer.T:
                raise RunInterrupted(f"stopped after step {done} of {trainer.T} (stop_after)")
    finally:
        bar.close()
    wall = elapsed + time.perf_counter() - t0
    if main:
        run.write_summary(_summary(trainer, run, wall, p1_all))
    return run.path


def _summary(trainer: LockstepTrainer, run: RunDir, wall: float, p1_all: bool) -> dict[str, Any]:
    cfg = trainer.config
    final = trainer.T
    metrics = [r for r in run.read_metrics() if int(r["step"]) == final]
    losses = [r for r in run.read_losses() if int(r["step"]) == final]
    keys = ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r", "weight_gap", "weight_angle",
            "repr_angle")  # fmt: skip
    alignment: dict[str, Any] = {}
    for r in metrics:
        entry = alignment.setdefault(r["pair"], {}).setdefault(r["split"], {})
        entry[r["features"]] = {k: float(r[k]) for k in keys}
    models: dict[str, Any] = {}
    for r in losses:
        if r["split"] != "test":
            continue
        models[r["model"]] = {
            "loss_own": float(r["loss_own"]),
            "loss_cl": float(r["loss_cl"]),
            "loss_nscl": float(r["loss_nscl"]),
            "loss_gap": float(r["loss_gap"]),
            "loss_gap_bound": float(r["loss_gap_bound"]),
            "accuracy": float(r["accuracy"]),
            "accuracy_z": float(r["accuracy_z"]),
            "head_accuracy": float(r["head_accuracy"]) if r["head_accuracy"] else None,
        }
    bounds_final = {}
    if run.bounds.exists():
        from empirics.io import read_csv_rows

        rows = read_csv_rows(run.bounds)[1]
        if rows:
            last = rows[-1]
            for k in (
                "sim_gap",
                "sim_gap_product",
                "cka_lower",
                "rsa_lower",
                "Delta",
                "eps",
                "measured_sim_gap",
                "bound_over_measured",
                "loss_gap",
                "log10_sim_gap",
            ):
                if k in last:
                    bounds_final[k] = float(last[k]) if last[k] not in ("", "None") else None
    return {
        "run_dir": str(run.path),
        "steps": final,
        "epochs": trainer.epoch_of(final),
        "sum_eta": float(trainer.cum_eta[final]),
        "base_lr": trainer.base_lr,
        "C": trainer.C,
        "tau": cfg.tau,
        "B": cfg.batch_size,
        "N_train": trainer.N,
        "pi_max": trainer.pi_max,
        "arch": trainer.arch,
        "augment": trainer.augment_kind,
        "device": str(trainer.device),
        "world_size": int(getattr(trainer.dist, "world_size", 1)),
        "wall_seconds": wall,
        "steps_per_second": final / wall if wall > 0 else None,
        "p1_held_at_every_evaluation": p1_all,
        "alignment": alignment,
        "models": models,
        "bounds": bounds_final,
        "objectives": list(cfg.objectives),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
