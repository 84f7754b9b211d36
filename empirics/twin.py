"""A NSCL twin for your own training loop: how far is your model from its supervised twin?

[P2] compares a self-supervised contrastive model (CL) with its negatives-only supervised
twin (NSCL) trained under *shared randomness*: the same initial weights, the same batches,
the same augmented views, the same hyperparameters; only the loss differs (THEORY.md s1).
:class:`NSCLTwin` gives any PyTorch loop that twin. Your loop changes by three lines::

    twin = NSCLTwin(encoder, projector, optimizer=make_opt, tau=0.5,   # 1: before training
                    reference=(x_ref, y_ref), out="runs/twin", every=50)
    for step in range(twin.steps, T):
        views, y = ...                        # (K, B, ...) your augmented views, labels
        loss = my_loss(views); opt.zero_grad(); loss.backward(); opt.step()
        twin.step(views, y)                   # 2: after your optimiser step
    twin.close()                              # 3: summary.json, the run is done

At construction the twin deep-copies your model's *initial* weights and builds its own
optimiser with your factory (``optimizer(params) -> torch.optim.Optimizer``); each
:meth:`~NSCLTwin.step` takes one NSCL step on the very views and labels your step used
(``nscl_loss``, [P2] s2 [stated]: CL with same-class samples dropped from the denominator;
``positive_in_denominator=True`` for the NT-Xent-style pair of the official code). Pass
``lr=`` to :meth:`~NSCLTwin.step` to follow your schedule. The twin never touches your model
or your random streams (its forward runs under ``torch.random.fork_rng``), so your run is
the same with or without it.

Every ``every`` steps it writes, to a run directory of the toolkit's format
(:mod:`empirics.runs`: ``config.json``, ``metrics.csv``, ``losses.csv``,
``checkpoints/last.pt``, ``summary.json``):

- ``metrics.csv``: the evaluator's columns (:func:`empirics.training.evaluator.
  metrics_columns`) for the pair ``cl-nscl`` on the fixed reference set (split ``test``):
  every similarity measure of :data:`empirics.measures.MEASURES` (CKA cosine and linear,
  RSA, similarity gap, rho, r, Procrustes, mutual kNN and any installed plugin), the
  corollaries' lower bounds, the weight gaps (toolkit's, official, and the distance
  ``||w_CL - w_NSCL||``), the weight and representation angles; one row for ``z``
  (projector output) and one for ``h`` (encoder output) when a projector is given;
- ``losses.csv``: both models' ``L_CL``, ``L_NSCL``, their gap and the [P1] bound on the
  last training batch (split ``train``), and the leave-one-out NCC accuracy of each model
  on the reference set.

``python -m figures fig2 --runs DIR`` draws it, ``python -m empirics.compare DIR:cl DIR:nscl``
compares it (the checkpoint holds the reference features of both models), and
:func:`empirics.runs.read_run` reads it. Every file is written atomically; a run killed at
any instant resumes (``resume=True``) from its last checkpoint with byte-identical tables,
putting your model (and ``cl_optimizer``, when given) back to that step: continue your loop
from :attr:`NSCLTwin.steps`.

Example:
    >>> import tempfile
    >>> enc = torch.nn.Linear(4, 3)
    >>> x, y = torch.randn(20, 4), torch.arange(20) % 2
    >>> twin = NSCLTwin(enc, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), tau=0.5,
    ...                 reference=(x, y), out=tempfile.mkdtemp(), every=2)
    >>> views = torch.stack([x[:8], x[:8] + 0.01])      # (K, B, ...) of one step
    >>> loss = twin.step(views, y[:8])
    >>> twin.close().name != ""
    True
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from empirics.objectives import THEOREM_PAIR, pair_name

__all__ = ["PRODUCER", "NSCLTwin"]

#: Your model and its twin: the theorems' pair.
CL, NSCL = THEOREM_PAIR

#: ``config.json``'s ``producer`` of a twin run (what ``empirics.compare`` looks for).
PRODUCER = "empirics.twin"
_FORMAT = 1


class _Pair(nn.Module):
    """``forward(x) -> (h, z)``: the encoder output and the projector's (``z = h`` without
    a projector). Parameter names carry ``encoder.`` / ``projector.`` as the toolkit's."""

    def __init__(self, encoder: nn.Module, projector: nn.Module | None) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector if projector is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h, self.projector(h)


class NSCLTwin:
    """Keep and log a NSCL twin of your model (module docstring).

    Args:
        encoder: your encoder ``f`` (``nn.Module``), not copied: the twin reads it.
        projector: your projector ``g`` on ``f``'s output, or ``None`` (then ``z = h``).
        optimizer: ``optimizer(params) -> torch.optim.Optimizer``, your factory.
        tau: temperature of the twin's NSCL loss (and of the logged losses).
        reference: ``(x, y)``: fixed inputs ``(n, ...)`` and integer labels ``(n,)`` on which
            the alignment is measured (n >= 4).
        out: the run directory.
        every: log (and checkpoint) every this many steps, and at step 0 and :meth:`close`.
        positive_in_denominator: NT-Xent-style NSCL (and ``loss_cl`` is then NT-Xent).
        pairs: ``"distinct"`` (l1 != l2, the default) or ``"all"`` (the papers' K^2 form).
        resume: continue the run in ``out`` from its last checkpoint.
        cl_optimizer: your optimiser, saved in checkpoints and restored on resume.
        loss_gap_form: the [P1] bound's form, ``"tight"`` or ``"paper"``.

    Raises:
        ValueError, TypeError: a bad argument (one sentence naming it); ``out`` holding a
            run when ``resume`` is false, or holding a different twin run.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module | None = None, *,
                 optimizer: Callable[[Any], torch.optim.Optimizer], tau: float,
                 reference: tuple[torch.Tensor, torch.Tensor], out: str | os.PathLike,
                 every: int = 50, positive_in_denominator: bool = False,
                 pairs: str = "distinct", resume: bool = False,
                 cl_optimizer: torch.optim.Optimizer | None = None,
                 loss_gap_form: str = "tight") -> None:
        from empirics.runs.writer import RunWriter
        from empirics.training.evaluator import LOSSES_COLUMNS, metrics_columns

        for name, m in (("encoder", encoder), ("projector", projector)):
            if m is not None and not isinstance(m, nn.Module):
                raise TypeError(f"Expected `{name}` to be an nn.Module, got {type(m).__name__}")
        if not callable(optimizer):
            raise TypeError(f"Expected `optimizer` to be a factory params -> Optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0 \
                or not math.isfinite(tau):
            raise ValueError(f"Expected `tau` > 0, got {tau!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Expected `every` >= 1, got {every!r}")
        if pairs not in ("distinct", "all"):
            raise ValueError(f"Expected `pairs` in ('distinct', 'all'), got {pairs!r}")
        if loss_gap_form not in ("tight", "paper"):
            raise ValueError(f"Expected `loss_gap_form` in ('tight', 'paper'), got "
                             f"{loss_gap_form!r}")
        self.x_ref, self.y_ref = _check_reference(reference)
        self.tau, self.every, self.pairs = float(tau), every, pairs
        self.pid, self.form = bool(positive_in_denominator), loss_gap_form
        self.cl = _Pair(encoder, projector)
        self.has_projector = projector is not None
        self.nscl = copy.deepcopy(self.cl)  # the shared initialisation
        self.optimizer = optimizer([p for p in self.nscl.parameters() if p.requires_grad])
        if not isinstance(self.optimizer, torch.optim.Optimizer):
            raise TypeError(f"Expected `optimizer` to return a torch.optim.Optimizer, got "
                            f"{type(self.optimizer).__name__}")
        self.cl_optimizer = cl_optimizer
        self.writer = RunWriter(out, kind="train", columns={"metrics": metrics_columns(),
                                                            "losses": LOSSES_COLUMNS})
        self.config = {
            "producer": PRODUCER, "objectives": list(THEOREM_PAIR), "tau": self.tau,
            "eval_every": every, "pairs": pairs, "positive_in_denominator": self.pid,
            "loss_gap_form": loss_gap_form, "reference_size": int(self.x_ref.shape[0]),
            "classes": int(self.y_ref.max()) + 1, "eval_features": self._kinds_text(),
            "arch": type(encoder).__name__, "optimizer": type(self.optimizer).__name__,
        }  # fmt: skip
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None
        self._logged = -1
        key = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:16]
        state = self.writer.open(self.config, resume=resume, key=key, check=_check_state)
        if state is None:
            self.t = 0
            self._log_and_checkpoint()
        else:
            self._load(state)

    # -- the loop ------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Steps taken so far (where a resumed loop continues)."""
        return self.t

    @property
    def path(self) -> Path:
        return self.writer.path

    def step(self, views, labels, *, lr: float | None = None) -> float:
        """One NSCL step of the twin on your step's ``views`` ``(K, B, ...)`` (or a sequence
        of ``K`` tensors ``(B, ...)``) and ``labels`` ``(B,)``; returns the twin's loss.

        Call it after your optimiser step; every ``every`` steps it logs and checkpoints.
        """
        from empirics.losses import nscl_loss

        views = _stack_views(views)
        K, B = views.shape[0], views.shape[1]
        labels = torch.as_tensor(labels).reshape(-1)
        if labels.shape[0] != B:
            raise ValueError(f"Expected `labels` of shape ({B},) for views {tuple(views.shape)}, "
                             f"got {tuple(labels.shape)}")
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = float(lr)
        self.nscl.train()
        with _own_rng(self.nscl):
            _, z = self.nscl(views.reshape(K * B, *views.shape[2:]))
            loss = nscl_loss(z.reshape(K, B, -1), labels.to(z.device), tau=self.tau,
                             positive_in_denominator=self.pid, pairs=self.pairs)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"NSCL twin diverged at step {self.t}: loss {value} "
                                     "(lower its learning rate)")
        self._last = (views.detach(), labels.detach())
        self.t += 1
        if self.t % self.every == 0:
            self._log_and_checkpoint()
        return value

    def close(self) -> Path:
        """Log the last step (if not yet), write ``summary.json``; returns the run directory."""
        if self._logged != self.t:
            self._log_and_checkpoint()
        self.writer.finish(self._summary())
        return self.writer.path

    def __enter__(self) -> NSCLTwin:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()

    # -- evaluation ----------------------------------------------------------------------
    def _kinds_text(self) -> str:
        return "both" if self.has_projector else "z"

    @torch.no_grad()
    def reference_features(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{"cl": {"z", "h"}, "nscl": {...}}``: float64 features of the reference set."""
        out = {}
        for name, model in ((CL, self.cl), (NSCL, self.nscl)):
            was = model.training
            model.eval()
            hs, zs = [], []
            with _own_rng(model):
                for i in range(0, self.x_ref.shape[0], 1024):
                    h, z = model(self.x_ref[i:i + 1024].to(_device(model)))
                    hs.append(h.flatten(1).double().cpu())
                    zs.append(z.flatten(1).double().cpu())
            model.train(was)
            out[name] = {"z": torch.cat(zs)} | ({"h": torch.cat(hs)} if self.has_projector
                                                 else {})
        return out

    def _metric_rows(self, feats) -> list[dict[str, Any]]:
        """The evaluator's rows of the pair (:func:`empirics.training.evaluator.
        alignment_columns`, :func:`~empirics.training.evaluator.weight_columns`)."""
        from empirics.measures import row_values
        from empirics.metrics import AlignmentAccumulator
        from empirics.training.evaluator import alignment_columns, weight_columns

        weights = weight_columns(self.cl, self.nscl)
        labels = self.y_ref.cpu().numpy()
        rows = []
        for kind in feats[CL]:
            x, y = feats[CL][kind], feats[NSCL][kind]
            al = AlignmentAccumulator("cosine", linear=True).update(x, y).compute()
            rows.append({"step": self.t, "epoch": None, "pair": pair_name(CL, NSCL),
                         "split": "test", "features": kind,
                         **alignment_columns(al, row_values(x.numpy(), y.numpy(), labels)),
                         **weights})
        return rows

    def _loss_rows(self, feats) -> list[dict[str, Any]]:
        from empirics.compare.theory import loss_gap, ncc_leave_one_out

        if self._last is None:
            return []
        views, y = self._last
        K, B = views.shape[0], views.shape[1]
        rows = []
        for name, model in ((CL, self.cl), (NSCL, self.nscl)):
            was = model.training
            model.eval()
            with torch.no_grad(), _own_rng(model):
                _, z = model(views.reshape(K * B, *views.shape[2:]))
            model.train(was)
            z = z.double().reshape(K, B, -1)
            gap = loss_gap(iter([(z, y)]), tau=self.tau, pairs=self.pairs,
                           positive_in_denominator=self.pid, form=self.form)
            own = gap["loss_cl"] if name == CL else gap["loss_nscl"]
            f = feats[name]
            rows.append({
                "step": self.t, "epoch": None, "model": name, "split": "train",
                "n_batches": 1, "batch_size": B, "n_max": int(torch.bincount(y).max()),
                "loss_own": own, "loss_cl": gap["loss_cl"], "loss_nscl": gap["loss_nscl"],
                "loss_gap": gap["loss_gap"], "loss_gap_min": gap["loss_gap_min"],
                "loss_gap_bound": gap["loss_gap_bound"], "loss_gap_bound_form": self.form,
                "p1_holds": gap["p1_holds"],
                "accuracy": ncc_leave_one_out(f.get("h", f["z"]), self.y_ref),
                "accuracy_z": ncc_leave_one_out(f["z"], self.y_ref), "head_accuracy": None,
            })  # fmt: skip
        return rows

    def _log_and_checkpoint(self) -> None:
        feats = self.reference_features()
        for name, f in feats.items():
            for kind, x in f.items():
                if not bool(torch.isfinite(x).all()):
                    raise FloatingPointError(f"model {name!r} gives non-finite features "
                                             f"{kind} at step {self.t}")
        self.writer.append("metrics", self._metric_rows(feats))
        self.writer.append("losses", self._loss_rows(feats))
        self.writer.checkpoint(self._state(feats))
        self._logged = self.t

    # -- state ---------------------------------------------------------------------------
    def _state(self, feats) -> dict[str, Any]:
        return {
            "format": _FORMAT, "step": self.t, "config": self.config,
            NSCL: self.nscl.state_dict(), "optimizer": self.optimizer.state_dict(),
            CL: self.cl.state_dict(),
            "cl_optimizer": None if self.cl_optimizer is None else self.cl_optimizer.state_dict(),
            "last_batch": None if self._last is None else {"views": self._last[0].cpu(),
                                                           "labels": self._last[1].cpu()},
            "reference": {"labels": self.y_ref.cpu(), "features": feats},
        }  # fmt: skip

    def _load(self, state: dict[str, Any]) -> None:
        self.nscl.load_state_dict(state[NSCL])
        self.optimizer.load_state_dict(state["optimizer"])
        self.cl.load_state_dict(state[CL])
        if self.cl_optimizer is not None and state.get("cl_optimizer") is not None:
            self.cl_optimizer.load_state_dict(state["cl_optimizer"])
        last = state.get("last_batch")
        if last is not None:
            dev = _device(self.nscl)
            self._last = (last["views"].to(dev), last["labels"].to(dev))
        self.t = self._logged = int(state["step"])

    def _summary(self) -> dict[str, Any]:
        from empirics.runs.reader import read_table
        from empirics.training.evaluator import alignment_summary

        alignment = alignment_summary(read_table(self.writer.metrics), self.t)
        return {"run_dir": str(self.writer.path), "producer": PRODUCER, "steps": self.t,
                "tau": self.tau, "objectives": list(THEOREM_PAIR), "alignment": alignment,
                "N_ref": int(self.x_ref.shape[0])}


def _check_state(state: dict[str, Any]) -> None:
    """A resumed checkpoint's step is the step of the last rows it carries."""
    lines = str(state.get("tables", {}).get("metrics", "")).splitlines()
    last = lines[-1].split(",", 1)[0] if len(lines) > 1 else None
    if state.get("format") != _FORMAT or last != str(state.get("step")):
        raise ValueError(f"Expected a twin checkpoint of format {_FORMAT} whose step is its "
                         f"last logged step ({last}), got format {state.get('format')!r} and "
                         f"step {state.get('step')!r}")


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _own_rng(model: nn.Module):
    """Run the twin without advancing your random streams (CPU, and the model's GPU)."""
    dev = _device(model)
    return torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else [])


def _stack_views(views) -> torch.Tensor:
    if isinstance(views, torch.Tensor):
        v = views
    elif isinstance(views, Sequence) and views and all(isinstance(t, torch.Tensor)
                                                      for t in views):
        v = torch.stack(list(views))
    else:
        raise TypeError(f"Expected `views` as a tensor (K, B, ...) or a sequence of K tensors, "
                        f"got {type(views).__name__}")
    if v.dim() < 3 or v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"Expected `views` of shape (K >= 2, B >= 2, ...), got "
                         f"{tuple(v.shape)}")
    return v.detach()


def _check_reference(reference) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(reference, (tuple, list)) and len(reference) == 2):
        raise TypeError("Expected `reference` = (x, y): inputs and integer labels, got "
                        f"{type(reference).__name__}")
    x, y = torch.as_tensor(reference[0]), torch.as_tensor(reference[1]).reshape(-1)
    if x.dim() < 2 or x.shape[0] < 4:
        raise ValueError(f"Expected reference inputs (n >= 4, ...), got shape {tuple(x.shape)}")
    if y.shape[0] != x.shape[0] or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"Expected reference labels of shape ({x.shape[0]},) and an integer "
                         f"dtype, got shape {tuple(y.shape)} and {y.dtype}")
    if int(y.min()) < 0:
        raise ValueError(f"Expected reference labels >= 0, got {int(y.min())}")
    return x.detach(), y.long().cpu()
