"""Evaluation of a lockstep run every ``k`` steps, on fixed train and test reference sets.

What is measured, at each evaluation step (THEORY.md s3, s7; DESIGN.md run directory):

**Alignment of every pair of models** (``metrics.csv``). Pairs are *all* pairs of the
trained objectives in the canonical order of :data:`empirics.objectives.OBJECTIVES` (so
``cl-nscl``, ``cl-scl``, ``cl-ce``, ...); the first model of a pair is the normaliser of
``rho`` and ``r`` (THEORY.md s7: normalised by CL). For each pair, split
(``train``/``test``) and feature kind (:func:`metrics_columns`):

- one column per similarity measure of :data:`empirics.measures.MEASURES`, named by it, in
  its order. The moment measures come from one :class:`~empirics.metrics.AlignmentAccumulator`
  pass (:func:`empirics.metrics.quantities.alignment`): ``cka`` -- linear CKA of
  row-L2-normalised features = the centred cosine Gram CKA of the theory ([P2] corollary,
  THEORY.md s7 [stated]); ``cka_linear`` -- linear CKA of the raw features (what the paper's
  code computes, THEORY.md s12); ``rsa`` (Pearson on the upper triangle of ``1 - Sigma``),
  ``sim_gap`` = ``||Sigma_a - Sigma_b||_F``, ``rho``, ``r``; ``procrustes`` (Williams et al.
  2021, raw features). The row measures (``mutual_knn`` and every plugin of group
  ``cl_nscl_align.metrics``) are ``Measure.of_rows`` of the float64 features of the
  reference set (:func:`empirics.measures.row_values`); one undefined there (e.g.
  ``mutual_knn`` with fewer than ``k + 2`` reference rows) is NaN, with one warning;
- ``cka_lower_from_rho`` = ``(1 - rho)/(1 + rho)`` when ``rho < 1`` else the trivial 0,
  ``rsa_lower_from_r`` = ``(1 - r)/(1 + r)`` when ``r < 1`` else the trivial -1 (the
  corollaries' inequalities applied to the *measured* rho and r; they hold for any two
  feature sets, so ``cka >= cka_lower_from_rho`` is a check, not a prediction);
- ``weight_gap`` (the toolkit's: mean over every parameter tensor, projector included, of
  ``||Wa - Wb|| / ||Wb||``), ``weight_gap_sum``, ``weight_angle`` (degrees between
  flattened parameter vectors of the shared architecture, CE's linear head excluded),
  ``repr_angle`` (degrees) and ``weight_gap_official`` (the official code's of [P2]: mean
  over the backbone's weight tensors, projector and biases excluded, of
  ``||Wa - Wb|| / (0.5 (||Wa|| + ||Wb||))``; THEORY.md s13,
  :func:`empirics.training.weights.weight_gap_official`) and ``weight_distance``
  (``||w_a - w_b||_2`` of the full parameter vectors, float64: the left side of [P2]
  Theorem 2, THEORY.md s8).

**Feature kind** (``eval_features``): ``z`` is the projector output, the embedding the
contrastive losses see and the one Theorem 1 is about; ``h`` is the backbone output,
the one the paper's CKA code uses (THEORY.md s12). ``both`` (the default) writes one row
per kind, labelled in the ``features`` column. For CE the projector receives no gradient
(the head sits on ``h``), so CE's ``z`` is its backbone seen through the *shared initial*
projector; compare CE on ``h`` first.

**Losses of every model** (``losses.csv``). On fixed evaluation batches (the reference
set in a fixed shuffled order, cut into batches of ``min(B, n_ref)``, with ``K`` views drawn
once from the evaluation generator and reused at every evaluation and for every model),
both ``loss_cl`` and ``loss_nscl`` of the model's embeddings ``z`` (float64; the losses of
:data:`empirics.objectives.THEOREM_PAIR`), their gap,
and the [P1] bound ``bounds.loss_gap_bound(tau, n_max=..., N=..., form=...)`` with each
batch's own ``n_max`` and ``N`` ([P1], THEORY.md s3: holds per batch, for any encoder).
A row averages the batches: ``loss_gap_bound`` is the mean of the per-batch bounds (a
valid bound on the mean gap), ``loss_gap_min`` the smallest per-batch gap, and
``p1_holds`` is true when *every* batch satisfied ``0 <= gap_b <= bound_b``. With
``positive_in_denominator`` both losses are the NT-Xent-style variants (the bound holds
for both, THEORY.md s2-3). ``loss_own`` is the model's own training objective on the
same batches (a head objective, CE: on its head's logits).

**Accuracy** (``probe``): nearest class centre (cosine) or a closed-form ridge probe,
fitted on the train reference set and scored on the test reference set, on ``h``
(``accuracy``) and ``z`` (``accuracy_z``); for CE also its own head (``head_accuracy``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bounds import cka_lower, rsa_lower
from empirics.losses import ce_loss
from empirics.measures import MEASURES, row_values
from empirics.objectives import THEOREM_PAIR, objective_loss, pair_name
from empirics.seeds import torch_generator
from empirics.training.errors import TrainingDiverged
from empirics.training.probe import probe_accuracy

__all__ = ["Evaluator", "FEATURE_KINDS", "LOSSES_COLUMNS", "alignment_columns", "alignment_keys",
           "measure_columns", "metrics_columns", "model_pairs", "weight_columns"]

#: metrics.csv columns before the measures: what a row is of.
_ROW_KEYS = ("step", "epoch", "pair", "split", "features", "n")
#: metrics.csv columns after the measures: the corollaries on the measured rho and r, and
#: the weight-space distances.
_AFTER = ("cka_lower_from_rho", "rsa_lower_from_r", "weight_gap", "weight_gap_sum",
          "weight_angle", "repr_angle", "weight_gap_official", "weight_distance")
#: summary.json's alignment entries beside the measures.
_SUMMARY_EXTRA = ("weight_gap", "weight_angle", "repr_angle", "weight_gap_official",
                  "weight_distance")

#: losses.csv columns (one row per evaluation step, model and split).
LOSSES_COLUMNS = [
    "step", "epoch", "model", "split", "n_batches", "batch_size", "n_max",
    "loss_own", "loss_cl", "loss_nscl", "loss_gap", "loss_gap_min", "loss_gap_bound",
    "loss_gap_bound_form", "p1_holds", "accuracy", "accuracy_z", "head_accuracy",
]  # fmt: skip

FEATURE_KINDS = {"z": ("z",), "h": ("h",), "both": ("z", "h")}


def measure_columns() -> list[str]:
    """The similarity measures of ``metrics.csv``: every name of
    :data:`empirics.measures.MEASURES`, in its order (a plugin whose name is one of the
    other columns is left out, with one warning)."""
    taken = set(_ROW_KEYS) | set(_AFTER)
    names = []
    for name in MEASURES.names():
        if name in taken:
            warnings.warn(f"the similarity measure {name!r} is left out of metrics.csv: the "
                          "column is taken", RuntimeWarning, stacklevel=2)
            continue
        names.append(name)
    return names


def metrics_columns() -> list[str]:
    """``metrics.csv`` columns (one row per evaluation step, model pair, split and feature
    kind): what the row is of, every measure (:func:`measure_columns`), then the
    corollaries' bounds on the measured ``rho`` and ``r`` and the weight-space distances.

    >>> metrics_columns()[6:14]
    ['cka', 'cka_linear', 'rsa', 'sim_gap', 'rho', 'r', 'procrustes', 'mutual_knn']
    """
    return [*_ROW_KEYS, *measure_columns(), *_AFTER]


def alignment_keys() -> list[str]:
    """The entries of one pair, split and feature kind in ``summary.json``'s ``alignment``:
    every measure, the weight gaps and angles."""
    return [*measure_columns(), *_SUMMARY_EXTRA]


def cell_number(value: Any) -> float | None:
    """A table cell as a float (``None`` for an empty or NaN cell: JSON has no NaN)."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def alignment_summary(metrics, step: int) -> dict[str, Any]:
    """``summary.json``'s ``alignment`` from the ``metrics.csv`` rows of ``step``:
    ``{pair: {split: {features: {key: value}}}}`` over :func:`alignment_keys` (a column an
    older run lacks is ``None``)."""
    keys = alignment_keys()
    out: dict[str, Any] = {}
    rows = metrics[metrics["step"] == step] if "step" in metrics.columns else metrics
    for r in rows.to_dict("records"):
        entry = out.setdefault(r["pair"], {}).setdefault(r["split"], {})
        entry[r["features"]] = {k: cell_number(r.get(k)) for k in keys}
    return out


def alignment_columns(al: Mapping[str, Any], rows: Mapping[str, float]) -> dict[str, Any]:
    """The measure columns of one ``metrics.csv`` row, and those derived from them.

    Args:
        al: :meth:`empirics.metrics.AlignmentAccumulator.compute` of the pair (``linear``
            on): every moment measure, ``n``, ``repr_angle``.
        rows: :func:`empirics.measures.row_values` of the pair's float64 features.
    """
    out: dict[str, Any] = {"n": int(al["n"])}
    for name in measure_columns():
        out[name] = float(al[name]) if MEASURES[name].basis == "moments" else rows[name]
    rho, r = float(al["rho"]), float(al["r"])
    out["cka_lower_from_rho"], out["rsa_lower_from_r"] = cka_lower(rho), rsa_lower(r)
    # = metrics.representation_angle(X, Y): arccos of cosine CKA
    out["repr_angle"] = float(al["repr_angle"])
    return out


def weight_columns(model_a, model_b) -> dict[str, float]:
    """The weight-space columns of a pair's ``metrics.csv`` rows
    (:mod:`empirics.training.weights`; ``model_b`` is the reference)."""
    from empirics.training.weights import weight_gap, weight_gap_official

    wg = weight_gap(model_a, model_b)
    return {"weight_gap": float(wg["weight_gap_mean"]),
            "weight_gap_sum": float(wg["weight_gap_sum"]),
            "weight_angle": float(wg["weight_angle"]),
            "weight_gap_official": weight_gap_official(model_a, model_b)["weight_gap_official"],
            "weight_distance": float(wg["weight_distance"])}


def model_pairs(names: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """All pairs of ``names`` in their given (canonical) order.

    >>> model_pairs(("a", "b", "c"))
    [('a', 'b'), ('a', 'c'), ('b', 'c')]
    """
    return list(itertools.combinations(names, 2))


@dataclass
class _Split:
    x: torch.Tensor  # reference inputs (n, ...)
    y: torch.Tensor  # labels (n,)
    views: torch.Tensor  # fixed evaluation views (K, n_used, ...) in batch order
    y_views: torch.Tensor  # labels in the same order (n_used,)
    batch: int  # evaluation batch size
    n_batches: int
    n_max: list[int]  # per-batch largest class count
    bound: list[float]  # per-batch [P1] bound


class Evaluator:
    """Everything measured at an evaluation step (see the module docstring).

    Args:
        config: the run's :class:`~empirics.training.config.TrainConfig` (its ``seed`` is
            the root of the evaluation order and views, streams ``eval_order`` and
            ``eval_views`` keyed by the split).
        references: ``{"train": Dataset, "test": Dataset}`` reference sets on the device.
        augmenter: the run's augmenter (``None`` = identical views).
        device: torch device of the models.
        dist: a ``DistContext``; ``None`` = one process. Under ``torchrun`` every rank
            embeds its shard of each reference set, the alignment statistics are
            merged (:class:`~empirics.metrics.AlignmentAccumulator`) and
            the features the losses and probes need are gathered; the numbers equal the
            one-process ones.
    """

    def __init__(self, config, references: dict[str, Any], augmenter, device,
                 dist=None) -> None:
        from bounds import loss_gap_bound
        from empirics.training.distributed import SINGLE

        self.config = config
        self.dist = SINGLE if dist is None else dist
        self.device = torch.device(device)
        self.kinds = FEATURE_KINDS[config.eval_features]
        self.splits: dict[str, _Split] = {}
        for split, ds in sorted(references.items()):
            n = int(ds.x.shape[0])
            b = min(config.batch_size, n)
            n_batches = max(1, n // b)
            gen = torch_generator(config.seed, "eval_order", split)
            order = torch.randperm(n, generator=gen)[: n_batches * b].to(self.device)
            x_used, y_used = ds.x[order], ds.y[order]
            views = _make_views(x_used, augmenter, config.views,
                                torch_generator(config.seed, "eval_views", split,
                                                device=self.device))
            n_max, bound = [], []
            for j in range(n_batches):
                counts = torch.bincount(y_used[j * b : (j + 1) * b])
                n_max.append(int(counts.max()))
                bound.append(
                    float(
                        loss_gap_bound(config.tau, n_max=n_max[-1], N=b, form=config.loss_gap_form)
                    )
                )
            self.splits[split] = _Split(ds.x, ds.y, views, y_used, b, n_batches, n_max, bound)

    # ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _local_features(
        self, model, x: torch.Tensor, chunk: int = 1024
    ) -> tuple[torch.Tensor, ...]:
        """Features ``(h, z)`` of this rank's shard of ``x`` (all of ``x`` in one process)."""
        x = self.dist.shard(x)
        hs, zs = [], []
        for s in range(0, x.shape[0], chunk):
            h, z = model(x[s : s + chunk])
            hs.append(h.flatten(1))
            zs.append(z)
        return torch.cat(hs), torch.cat(zs)

    @torch.no_grad()
    def _features(self, model, x: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, ...]:
        """Features ``(h, z)`` of all of ``x``: embedded in shards, gathered in order."""
        h, z = self._local_features(model, x, chunk)
        return self.dist.gather(h), self.dist.gather(z)

    @torch.no_grad()
    def __call__(self, step: int, epoch: float, members: list) -> dict[str, Any]:
        """Evaluate every member; returns ``{"metrics": rows, "losses": rows, "headline"}``."""
        from empirics.metrics import AlignmentAccumulator

        modes = {m.name: m.module.training for m in members}
        for m in members:
            m.module.eval()
            if m.head is not None:
                m.head.eval()
        try:
            feats: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
            local: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
            loss_rows = []
            for m in members:
                feats[m.name], local[m.name] = {}, {}
                for split, sp in self.splits.items():
                    h, z = self._local_features(m.module, sp.x)
                    local[m.name][split] = {"h": h.double(), "z": z.double()}
                    feats[m.name][split] = {
                        k: self.dist.gather(v) for k, v in local[m.name][split].items()
                    }
                    for kind, f in feats[m.name][split].items():
                        if not bool(torch.isfinite(f).all()):
                            raise TrainingDiverged(
                                f"training diverged by step {step}: model {m.name!r} gives "
                                f"non-finite features {kind} on the {split} reference set "
                                "(lower `lr` or change `optimizer`)")
                for split, sp in self.splits.items():
                    loss_rows.append(self._loss_row(step, epoch, m, split, sp, feats))
            metric_rows = []
            names = [m.name for m in members]
            modules = {m.name: m.module for m in members}
            # the row measures' inputs, copied to the host once per model, not once per pair
            host = {n: {split: {kind: v.cpu().numpy() for kind, v in by_kind.items()}
                        for split, by_kind in feats[n].items()} for n in names}
            labels = {split: sp.y.cpu().numpy() for split, sp in self.splits.items()}
            for a, b in model_pairs(names):
                weights = weight_columns(modules[a], modules[b])
                for split in self.splits:
                    for kind in self.kinds:
                        # one O(N d^2) pass over this rank's rows; the additive
                        # statistics are summed over ranks (STYLE.md rule 4)
                        acc = AlignmentAccumulator("cosine", linear=True)
                        acc.update(local[a][split][kind], local[b][split][kind])
                        al = self.dist.reduce_accumulator_(acc).compute()
                        rows = row_values(host[a][split][kind], host[b][split][kind],
                                          labels[split])
                        metric_rows.append({"step": step, "epoch": epoch,
                                            "pair": pair_name(a, b), "split": split,
                                            "features": kind, **alignment_columns(al, rows),
                                            **weights})
        finally:
            for m in members:
                m.module.train(modes[m.name])
                if m.head is not None:
                    m.head.train(modes[m.name])
        cl_features = None  # the normalisers of the run's own corollaries (bounds.csv)
        if THEOREM_PAIR[0] in feats:
            cl_features = feats[THEOREM_PAIR[0]]["train"]["z"].cpu().numpy()
        return {
            "metrics": metric_rows,
            "losses": loss_rows,
            "headline": _headline(metric_rows),
            "cl_features": cl_features,
        }

    def _loss_row(self, step, epoch, m, split, sp: _Split, feats) -> dict[str, Any]:
        cfg = self.config
        K, n_used = sp.views.shape[0], sp.views.shape[1]
        flat = sp.views.reshape(K * n_used, *sp.views.shape[2:])
        h, z = self._features(m.module, flat)
        z = z.double().reshape(K, n_used, -1)  # (K, n_used, d)
        h = h.reshape(K, n_used, -1)
        lcl, lnscl, lown, gaps = [], [], [], []
        holds = True
        for j in range(sp.n_batches):
            sl = slice(j * sp.batch, (j + 1) * sp.batch)
            zb, yb = z[:, sl], sp.y_views[sl]
            a, b = (float(objective_loss(o, zb, yb, cfg)) for o in THEOREM_PAIR)
            lcl.append(a)
            lnscl.append(b)
            gaps.append(a - b)
            holds = holds and (0.0 <= a - b <= sp.bound[j])
            if m.head is not None:  # CE: its own loss is on its head's logits
                dtype = next(m.head.parameters()).dtype
                logits = m.head(h[:, sl].reshape(K * sp.batch, -1).to(dtype))
                lown.append(float(ce_loss(logits, yb.repeat(K))))
            else:
                lown.append(float(objective_loss(m.objective, zb, yb, cfg)))
        accuracy = probe_accuracy(
            cfg.probe,
            feats[m.name]["train"]["h"],
            self.splits["train"].y,
            feats[m.name]["test"]["h"],
            self.splits["test"].y,
        )
        accuracy_z = probe_accuracy(
            cfg.probe,
            feats[m.name]["train"]["z"],
            self.splits["train"].y,
            feats[m.name]["test"]["z"],
            self.splits["test"].y,
        )
        head_accuracy = None
        if m.head is not None:
            test = self.splits["test"]
            h_test = feats[m.name]["test"]["h"].to(next(m.head.parameters()).dtype)
            pred = m.head(h_test).argmax(1)
            head_accuracy = float((pred == test.y).double().mean())
        return {
            "step": step,
            "epoch": epoch,
            "model": m.name,
            "split": split,
            "n_batches": sp.n_batches,
            "batch_size": sp.batch,
            "n_max": max(sp.n_max),
            "loss_own": float(np.mean(lown)),
            "loss_cl": float(np.mean(lcl)),
            "loss_nscl": float(np.mean(lnscl)),
            "loss_gap": float(np.mean(gaps)),
            "loss_gap_min": float(np.min(gaps)),
            "loss_gap_bound": float(np.mean(sp.bound)),
            "loss_gap_bound_form": cfg.loss_gap_form,
            "p1_holds": bool(holds),
            "accuracy": accuracy,
            "accuracy_z": accuracy_z,
            "head_accuracy": head_accuracy,
        }


def _make_views(x, augmenter, K, gen):
    if augmenter is None:
        return x.unsqueeze(0).expand(K, *x.shape).clone()
    from empirics.augment import make_views

    return make_views(x, augmenter, gen, K=K)


def _headline(rows: list[dict[str, Any]]) -> float | None:
    """The CKA shown in the progress bar: first pair, test split, first feature kind."""
    for row in rows:
        if row["split"] == "test":
            return row["cka"]
    return rows[0]["cka"] if rows else None
