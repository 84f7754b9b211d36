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

The summary of a path: the accuracy at both ends, the best interior ``a`` and whether it
*beats both ends* (strictly above the larger end). Over seeds,
:func:`merging_summary` reports the fraction of seeds where an interior ``a`` wins and the
gain ``best interior - best end`` with a Student-t 95% interval.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from empirics.studies.accuracy import setting_label, summary_label
from empirics.studies.evaluations import setting_key, setting_of, source_dir
from empirics.studies.intervals import t_interval

__all__ = [
    "BN_MODES",
    "DEFAULTS",
    "alphas",
    "evaluate_into",
    "has_batchnorm",
    "interpolate_state",
    "merged_model",
    "merging_summary",
    "path_summary",
    "recompute_batchnorm",
]

BN_MODES = ("recompute", "interpolate")
DEFAULTS: dict[str, Any] = {"points": 11, "bn": "recompute", "partners": ["nscl", "scl", "ce"]}


def alphas(points: int) -> list[float]:
    """``points`` equally spaced values of ``a`` in ``[0, 1]``, exactly 0 and 1 at the ends.

    >>> alphas(11)[:3], alphas(11)[-1]
    ([0.0, 0.1, 0.2], 1.0)
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"Expected `points` >= 2, got {points!r}")
    return [round(i / (points - 1), 12) for i in range(points)]


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The merging options with defaults, checked (one sentence per problem)."""
    out = {**DEFAULTS, **dict(options)}
    unknown = sorted(set(out) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Expected merging options among {', '.join(DEFAULTS)}, got "
                         f"{unknown!r}")
    alphas(out["points"])
    if out["bn"] not in BN_MODES:
        raise ValueError(f"Expected `bn` among {', '.join(BN_MODES)}, got {out['bn']!r}")
    partners = out["partners"]
    if not isinstance(partners, (list, tuple)) or not partners \
            or any(p == "cl" or not isinstance(p, str) for p in partners):
        raise ValueError(f"Expected `partners`, objectives other than cl, got {partners!r}")
    out["partners"] = list(partners)
    return out


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
    """Ends, best interior point and ``beats_both`` of one path (rows of one partner,
    feature kind and probe, one per ``alpha``)."""
    rows = sorted(rows, key=lambda r: r["alpha"])
    ends = (rows[0]["accuracy"], rows[-1]["accuracy"])
    interior = rows[1:-1]
    best = max(interior, key=lambda r: r["accuracy"]) if interior else None
    best_acc = best["accuracy"] if best else float("nan")
    return {"acc_cl": ends[0], "acc_partner": ends[1], "best_interior": best_acc,
            "alpha_best": best["alpha"] if best else None,
            "gain": best_acc - max(ends), "beats_both": bool(best_acc > max(ends))}


def evaluate_into(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """The runs layer's target: the merging paths of the source run of ``config``.

    Writes ``metrics.csv`` (one row per partner, ``alpha``, feature kind and probe) and
    returns the summary (per path: :func:`path_summary`; the BatchNorm treatment).
    """
    from empirics.runs import read_run
    from empirics.studies.report import progress, write_csv
    from empirics.studies.trained import embed, load_trained
    from empirics.training.probe import linear_probe_accuracy, ncc_accuracy

    opts = check_options({k: v for k, v in config.items() if k in DEFAULTS})
    src = source_dir(config, run_dir)
    source_run = read_run(src)
    trained = load_trained(src)
    modules = trained.modules()
    if "cl" not in modules:
        raise ValueError(f"Expected a run with objective cl in {str(src)!r}, got "
                         f"{sorted(modules)}")
    partners = [p for p in opts["partners"] if p in modules]
    if not partners:
        raise ValueError(f"Expected one of {opts['partners']} beside cl in {str(src)!r}, "
                         f"got {sorted(modules)}")
    bn_used = opts["bn"] if has_batchnorm(modules["cl"]) else "none (no BatchNorm layer)"
    y_tr, y_te = trained.train.y, trained.test.y
    probes = {"ncc": ncc_accuracy, "linear": linear_probe_accuracy}
    rows = []
    for partner in partners:
        for a in alphas(opts["points"]):
            model = merged_model(modules["cl"], modules[partner], a, bn=opts["bn"],
                                 bn_inputs=trained.train.x)
            f = {s: dict(zip(("h", "z"), embed(model, ds.x), strict=True))
                 for s, ds in (("train", trained.train), ("test", trained.test))}
            for kind in ("h", "z"):
                for probe, fn in probes.items():
                    rows.append({"partner": partner, "alpha": a, "features": kind,
                                 "probe": probe,
                                 "accuracy": fn(f["train"][kind], y_tr, f["test"][kind],
                                                y_te)})
        progress(f"merging: {src.name}: path cl -> {partner} done")
    write_csv(rows, Path(run_dir) / "metrics.csv")
    paths = {}
    for partner in partners:
        for kind in ("h", "z"):
            for probe in probes:
                sel = [r for r in rows if (r["partner"], r["features"], r["probe"])
                       == (partner, kind, probe)]
                paths[f"{partner}/{kind}/{probe}"] = path_summary(sel)
    setting = setting_of(source_run.config)
    return {"source": str(src), "source_name": src.name, "seed": int(trained.config.seed),
            "setting": setting, "setting_label": setting_label(setting),
            "partners": partners, "points": opts["points"], "bn": bn_used,
            "paths": paths}


def merging_summary(evaluations) -> list[dict[str, Any]]:
    """Over seeds, per setting, partner, feature kind and probe: the seeds where an
    interior ``a`` beats both ends, and the gain ``best interior - best end`` (mean and
    Student-t 95% interval)."""
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
        out.append({"setting": ps[0]["label"], "partner": partner, "features": kind,
                    "probe": probe, "n_seeds": len(ps),
                    "seeds_beating": sum(p["beats_both"] for p in ps),
                    "gain_mean": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                    "acc_cl": t_interval([p["acc_cl"] for p in ps])["mean"],
                    "acc_partner": t_interval([p["acc_partner"] for p in ps])["mean"],
                    "best_interior": t_interval([p["best_interior"] for p in ps])["mean"],
                    "bn": ps[0]["bn"],
                    "per_seed": "; ".join(f"{p['seed']}:{'yes' if p['beats_both'] else 'no'}"
                                          f"@{p['alpha_best']}" for p in ps)})
    order = {p: i for i, p in enumerate(("ntxent", "nscl", "scl", "ce"))}
    return sorted(out, key=lambda r: (r["setting"], order.get(r["partner"], 9),
                                      r["features"], r["probe"] != "ncc"))
