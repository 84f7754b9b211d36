"""Fig. 17 analogue: merging the weights of CL and NSCL (and, as contrast, SCL and CE).

In a lockstep run every objective starts from one initialisation (shared randomness,
THEORY.md s1), so the linear path between two trained models is meaningful ([P2] Fig. 17;
THEORY.md s13 [derived])::

    theta(a) = (1 - a) theta_CL + a theta_X,     a in {0, 0.1, ..., 1} (``points`` values)

for ``X`` = NSCL, and SCL and CE as contrast. Every parameter of the shared architecture
(encoder and projector) is interpolated; CE's linear head is not part of the path (the
probes read the features). At each ``a`` the merged model's all-way test accuracy is
measured with the two probes of Table 1 (nearest class centre and the ridge linear probe,
fitted on the full training split, scored on the full test split; :mod:`accuracy
<empirics.studies.accuracy>`), on ``h`` and ``z``. ``a = 0`` and ``a = 1`` are the two
trained models themselves: ``(1 - a) x + a y`` is exactly ``x`` at ``a = 0`` and ``y`` at
``a = 1`` in floating point (tested, weights and accuracy).

**BatchNorm statistics** (ResNet-18; the default MLP and CNN have none): running means
and variances are not weights, and the statistics of a merged network are not the
interpolation of its ends' statistics. ``bn="recompute"`` (default) resets them at every
``a`` (ends included, so every point is treated alike) and re-estimates them with one pass
over the training inputs in batches of 512, BatchNorm layers in training mode with
``momentum=None`` (PyTorch's cumulative average of the batch statistics; the REPAIR /
"reset BN" practice of the model-merging literature). ``bn="interpolate"`` interpolates
them like the weights. ``num_batches_tracked`` is taken from the CL model.

**The interior point is chosen on held-out data, never on the test set.** The training
split is cut into a fit part and a validation part (``validation`` = 20% by default, a
permutation from ``rng(run seed, "split", "merging", "validation")``); at every ``a`` the
probes are fitted on the fit part and scored on the validation part (``validation.csv``),
and fitted on the whole training split and scored on the test split (``metrics.csv``, the
path the figure draws). ``a*`` is the interior ``a`` (ends excluded) with the best
validation accuracy (ties: the smallest ``a``); it is then scored once on the test split.
Picking the maximum of the interior points' *test* accuracies instead would bias the gain
upward (the maximum of nine noisy numbers); that oracle is reported beside it
(``oracle_interior``), not used.

The summary of a path: the test accuracy at both ends and at ``a*``, and the gains
``acc(a*) - acc(CL)`` (against CL) and ``acc(a*) - max(acc(CL), acc(partner))`` (against
both ends; ``beats_both`` when positive). Over seeds, :func:`merging_summary` reports the
seeds where ``a*`` beats both ends and both gains with Student-t 95% intervals.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_nscl_align.options import Options, in_open_unit, in_range, option
from empirics.objectives import OBJECTIVES, THEOREM_PAIR, paper_objectives
from empirics.studies.accuracy import FEATURES, model_order, setting_label, summary_label
from empirics.studies.evaluations import setting_key, setting_of, source_dir
from empirics.studies.statistics import t_interval

__all__ = [
    "BN_MODES",
    "MergingOptions",
    "alphas",
    "evaluate_into",
    "has_batchnorm",
    "interpolate_state",
    "merged_model",
    "merging_summary",
    "path_summary",
    "recompute_batchnorm",
    "validation_split",
]

BN_MODES = ("recompute", "interpolate")
#: The model every path starts from: CL (the first of the theorems' pair).
CL = THEOREM_PAIR[0]
#: The largest number of path points the command line takes (a larger one is a typo).
MAX_POINTS = 1001
#: The split held out to choose ``a*`` (what every evaluation made before the option used).
VALIDATION = 0.2


def _partners(name: str, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError(f"Expected at least one objective in `{name}` (the paths from "
                         f"{CL}), got none")


@dataclass(frozen=True)
class MergingOptions(Options):
    """merging (Fig. 17)

    The options of a merging evaluation (:func:`evaluate_into`), declared once for the
    command line (``python -m empirics.studies merging``), the figures and the evaluation.

    >>> MergingOptions().partners
    ('nscl', 'scl', 'ce')
    >>> MergingOptions(partners=("cl",))
    Traceback (most recent call last):
    ...
    ValueError: Expected `partners` among ntxent, nscl, scl, ce, got 'cl'
    """

    points: int = option(11, "values of a in [0, 1]", check=in_range(2, MAX_POINTS))
    bn: str = option("recompute", "BatchNorm statistics of a merged model: re-estimated on "
                     "the training inputs, or interpolated", choices=BN_MODES)
    partners: tuple[str, ...] = option(
        tuple(o for o in paper_objectives() if o != CL),
        "paths from CL towards these objectives",
        choices=lambda: tuple(o for o in OBJECTIVES.names() if o != CL), check=_partners)
    validation: float = option(VALIDATION, "fraction of the training split held out to "
                               "choose the interior point a*", check=in_open_unit)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MergingOptions:
        """The options of an evaluation's configuration (its other keys are ignored)."""
        return cls.from_dict({k: config[k] for k in cls.field_names() if k in config})

    def config(self) -> dict[str, Any]:
        """The evaluation's configuration of these options; ``validation`` only where it is
        not the 0.2 every evaluation made before the option used (their cache keys stay)."""
        out = {"points": self.points, "bn": self.bn, "partners": list(self.partners)}
        if self.validation != VALIDATION:
            out["validation"] = self.validation
        return out


def alphas(points: int) -> list[float]:
    """``points`` equally spaced values of ``a`` in ``[0, 1]``, exactly 0 and 1 at the ends.

    >>> alphas(11)[:3], alphas(11)[-1]
    ([0.0, 0.1, 0.2], 1.0)
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"Expected `points` >= 2, got {points!r}")
    return [round(i / (points - 1), 12) for i in range(points)]


def interpolate_state(a_state: Mapping[str, Any], b_state: Mapping[str, Any], alpha: float,
                      *, buffers: bool = True) -> dict[str, Any]:
    """``(1 - alpha) A + alpha B`` for every floating tensor of two state dicts.

    Integer tensors (``num_batches_tracked``) are taken from ``A``. With ``buffers=False``
    the BatchNorm running statistics are taken from ``A`` too (to be re-estimated).

    Raises:
        ValueError: the state dicts differ in keys or shapes.

    Example:
        >>> import torch
        >>> s = interpolate_state({"w": torch.tensor([0.0, 2.0])},
        ...                       {"w": torch.tensor([4.0, 2.0])}, 0.25)
        >>> s["w"].tolist()
        [1.0, 2.0]
    """
    if set(a_state) != set(b_state):
        diff = sorted(set(a_state) ^ set(b_state))
        raise ValueError(f"Expected two state dicts of one architecture, got different keys "
                         f"{diff[:3]!r}")
    a = float(alpha)
    out = {}
    for k, x in a_state.items():
        y = b_state[k]
        if tuple(x.shape) != tuple(y.shape):
            raise ValueError(f"Expected {k!r} of one shape in both models, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        stat = k.endswith(("running_mean", "running_var"))
        if not x.is_floating_point() or (stat and not buffers):
            out[k] = x.clone()
        else:
            out[k] = (1.0 - a) * x + a * y  # exactly x at a = 0 and y at a = 1
    return out


def has_batchnorm(module) -> bool:
    """Whether ``module`` holds a BatchNorm layer with running statistics."""
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
               for m in module.modules())


def recompute_batchnorm(module, x, *, batch_size: int = 512) -> None:
    """Re-estimate every BatchNorm layer's running statistics on inputs ``x`` (in place).

    Statistics reset, BatchNorm layers in training mode with ``momentum=None`` (the
    cumulative average over the batches), one pass without gradients; every other layer
    stays in eval mode. The module is left in eval mode with its momenta restored.
    """
    import torch
    from torch import nn

    bns = [m for m in module.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    module.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    device = next(module.parameters()).device
    try:
        with torch.no_grad():
            for s in range(0, x.shape[0], batch_size):
                chunk = x[s:s + batch_size]
                if chunk.shape[0] < 2 and s > 0:
                    break  # a one-sample batch has no variance; it is left out
                module(chunk.to(device))
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        module.eval()


def merged_model(module_a, module_b, alpha: float, *, bn: str = "recompute", bn_inputs=None,
                 batch_size: int = 512):
    """A copy of ``module_a`` with the weights ``(1 - alpha) theta_a + alpha theta_b``.

    Args:
        module_a, module_b: two models of one architecture (e.g. CL and NSCL of one run).
        alpha: the mixing weight, ``0 <= alpha <= 1``.
        bn: ``"recompute"`` (BatchNorm statistics re-estimated on ``bn_inputs``) or
            ``"interpolate"``; without BatchNorm layers both are the same.
        bn_inputs: training inputs for ``bn="recompute"`` (required when there is BatchNorm).

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, an unknown ``bn``, different
            architectures, or ``bn="recompute"`` on a BatchNorm model without inputs.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"Expected `alpha` in [0, 1], got {alpha!r}")
    if bn not in BN_MODES:
        raise ValueError(f"Expected `bn` among {', '.join(BN_MODES)}, got {bn!r}")
    recompute = bn == "recompute" and has_batchnorm(module_a)
    if recompute and bn_inputs is None:
        raise ValueError("Expected `bn_inputs` (training inputs) to re-estimate the "
                         "BatchNorm statistics, got None")
    model = copy.deepcopy(module_a)
    model.load_state_dict(interpolate_state(module_a.state_dict(), module_b.state_dict(),
                                            alpha, buffers=not recompute))
    if recompute:
        recompute_batchnorm(model, bn_inputs, batch_size=batch_size)
    model.eval()
    return model


def path_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ends, the validation-chosen interior point ``a*`` and the gains of one path.

    Args:
        rows: one per ``alpha`` of one partner, feature kind and probe, with ``accuracy``
            (test) and ``val_accuracy`` (validation; without it, the test accuracy chooses,
            which only a caller without a validation split should accept).

    Returns:
        ``acc_cl``, ``acc_partner`` (test, the ends), ``alpha_best`` (``a*``, interior:
        ``0 < a < 1``), ``best_interior`` (test accuracy at ``a*``), ``gain_vs_cl``,
        ``gain`` (against the better end), ``beats_both`` and ``oracle_interior`` (the
        largest interior test accuracy, for reference only).

    >>> rows = [{"alpha": a, "accuracy": t, "val_accuracy": v}
    ...         for a, t, v in ((0.0, 0.60, 0.6), (0.5, 0.66, 0.7), (1.0, 0.65, 0.6))]
    >>> s = path_summary(rows)
    >>> s["alpha_best"], round(s["gain"], 3), round(s["gain_vs_cl"], 3)
    (0.5, 0.01, 0.06)
    """
    rows = sorted(rows, key=lambda r: r["alpha"])
    acc_cl, acc_partner = rows[0]["accuracy"], rows[-1]["accuracy"]
    interior = rows[1:-1]  # the ends are the trained models, never a merge
    nan = float("nan")
    if not interior:
        return {"acc_cl": acc_cl, "acc_partner": acc_partner, "best_interior": nan,
                "alpha_best": None, "gain": nan, "gain_vs_cl": nan, "beats_both": False,
                "oracle_interior": nan}

    def chooser(r):
        return r.get("val_accuracy", r["accuracy"])

    best = interior[0]
    for r in interior[1:]:  # the first (smallest a) of the validation maxima
        if chooser(r) > chooser(best):
            best = r
    at = best["accuracy"]
    return {"acc_cl": acc_cl, "acc_partner": acc_partner, "best_interior": at,
            "alpha_best": best["alpha"], "gain": at - max(acc_cl, acc_partner),
            "gain_vs_cl": at - acc_cl, "beats_both": bool(at > max(acc_cl, acc_partner)),
            "oracle_interior": max(r["accuracy"] for r in interior)}


def evaluate_into(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """The runs layer's target: the merging paths of the source run of ``config``.

    Writes ``metrics.csv`` (one row per partner, ``alpha``, feature kind and probe) and
    returns the summary (per path: :func:`path_summary`; the BatchNorm treatment).
    """
    from empirics.runs import read_run
    from empirics.studies.report import progress, write_csv
    from empirics.studies.trained import embed, load_trained
    from empirics.training.probe import linear_probe_accuracy, ncc_accuracy

    opts = MergingOptions.from_config(config)
    src = source_dir(config, run_dir)
    source_run = read_run(src)
    trained = load_trained(src)
    modules = trained.modules()
    if CL not in modules:
        raise ValueError(f"Expected a run with objective {CL} in {str(src)!r}, got "
                         f"{sorted(modules)}")
    partners = [p for p in opts.partners if p in modules]
    if not partners:
        raise ValueError(f"Expected one of {list(opts.partners)} beside {CL} in {str(src)!r}, "
                         f"got {sorted(modules)}")
    bn_used = opts.bn if has_batchnorm(modules[CL]) else "none (no BatchNorm layer)"
    y_tr, y_te = trained.train.y, trained.test.y
    fit, val = validation_split(int(y_tr.shape[0]), opts.validation,
                                seed=int(trained.config.seed))
    probes = {"ncc": ncc_accuracy, "linear": linear_probe_accuracy}
    rows, val_rows = [], []
    for partner in partners:
        for a in alphas(opts.points):
            model = merged_model(modules[CL], modules[partner], a, bn=opts.bn,
                                 bn_inputs=trained.train.x)
            f = {s: dict(zip(("h", "z"), embed(model, ds.x), strict=True))  # embed's order
                 for s, ds in (("train", trained.train), ("test", trained.test))}
            for kind in FEATURES:
                for probe, fn in probes.items():
                    key = {"partner": partner, "alpha": a, "features": kind, "probe": probe}
                    tr = f["train"][kind]
                    rows.append({**key, "accuracy": fn(tr, y_tr, f["test"][kind], y_te)})
                    val_rows.append({**key, "accuracy": fn(tr[fit], y_tr[fit], tr[val],
                                                           y_tr[val])})
        progress(f"merging: {src.name}: path {CL} -> {partner} done")
    write_csv(rows, Path(run_dir) / "metrics.csv")
    write_csv(val_rows, Path(run_dir) / "validation.csv")
    paths = {}
    for partner in partners:
        for kind in FEATURES:
            for probe in probes:
                sel = [dict(r, val_accuracy=v["accuracy"])
                       for r, v in zip(rows, val_rows, strict=True)
                       if (r["partner"], r["features"], r["probe"]) == (partner, kind, probe)]
                paths[f"{partner}/{kind}/{probe}"] = path_summary(sel)
    setting = setting_of(source_run.config)
    return {"source": str(src), "source_name": src.name, "seed": int(trained.config.seed),
            "setting": setting, "setting_label": setting_label(setting),
            "partners": partners, "points": opts.points, "bn": bn_used,
            "validation": opts.validation, "n_fit": int(fit.shape[0]),
            "n_validation": int(val.shape[0]), "paths": paths}


def validation_split(n: int, fraction: float, *, seed: int):
    """``(fit, validation)`` index tensors of ``n`` training samples: a permutation from
    ``rng(seed, "split", "merging", "validation")``, its first ``round(fraction n)`` (at
    least one) held out.

    >>> fit, val = validation_split(10, 0.2, seed=0)
    >>> len(val), len(fit), sorted(set(fit.tolist()) | set(val.tolist())) == list(range(10))
    (2, 8, True)
    """
    import torch

    from empirics.seeds import rng

    perm = torch.from_numpy(rng(seed, "split", "merging", "validation").permutation(n))
    k = min(max(1, round(fraction * n)), n - 1)
    return perm[k:], perm[:k]


def merging_summary(evaluations) -> list[dict[str, Any]]:
    """Over seeds, per setting, partner, feature kind and probe: the seeds where the
    validation-chosen ``a*`` beats both ends on the test split, and the gains against both
    ends (``gain_*``) and against CL (``gain_vs_cl_*``), mean and Student-t 95% interval."""
    from empirics.runs import read_run

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for e in evaluations:
        run = e if hasattr(e, "summary") else read_run(e)
        s = run.summary
        for name, p in s.get("paths", {}).items():
            partner, kind, probe = name.split("/")
            k = (setting_key(s.get("setting", {})), partner, kind, probe)
            groups.setdefault(k, []).append({**p, "seed": s.get("seed"),
                                             "label": summary_label(s),
                                             "bn": s.get("bn")})
    out = []
    for (_, partner, kind, probe), ps in groups.items():
        ci = t_interval([p["gain"] for p in ps])
        cl = t_interval([p.get("gain_vs_cl", float("nan")) for p in ps])
        out.append({"setting": ps[0]["label"], "partner": partner, "features": kind,
                    "probe": probe, "n_seeds": len(ps),
                    "seeds_beating": sum(p["beats_both"] for p in ps),
                    "gain_mean": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                    "gain_vs_cl_mean": cl["mean"], "gain_vs_cl_low": cl["ci_low"],
                    "gain_vs_cl_high": cl["ci_high"],
                    "acc_cl": t_interval([p["acc_cl"] for p in ps])["mean"],
                    "acc_partner": t_interval([p["acc_partner"] for p in ps])["mean"],
                    "best_interior": t_interval([p["best_interior"] for p in ps])["mean"],
                    "bn": ps[0]["bn"],
                    "per_seed": "; ".join(f"{p['seed']}:{'yes' if p['beats_both'] else 'no'}"
                                          f"@{p['alpha_best']}" for p in ps)})
    return sorted(out, key=lambda r: (r["setting"], model_order(r["partner"]),
                                      r["features"], r["probe"] != "ncc"))
