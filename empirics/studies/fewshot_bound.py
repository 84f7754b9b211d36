"""[P1] Proposition 1, evaluated: the few-shot bound against the measured m-shot error.

For one model and feature kind, with the class statistics of the *test* split (the
distribution ``D_i`` the queries come from; :mod:`empirics.metrics.fewshot`)::

    V_f  = mean_{i != j} tr(Sigma_i) / ||mu_i - mu_j||^2
    Vt_f = mean_{i != j} Var_{x~D_i} <f(x) - mu_i, u_ij> / ||mu_i - mu_j||^2
    bound(m) = (C' - 1) [8 Vt_f + (8/sqrt(m)) Vs_f + (8/sqrt(m)) V_f + (4/m) V_f]

(the registry entry ``fewshot_p1``, :mod:`bounds.registry`; ``C'`` = all classes of the
run), beside the measured error of the ``m``-shot nearest-class-mean classifier averaged
over the random support sets. ``Vs_f`` is not defined in the sources (THEORY.md s13
[open]); the option ``vs`` chooses it:

- ``support`` (default): the directional quantity estimated on the support set, averaged
  over the support draws: ``mean_{s in S_i} <f(x_s) - mu_i, u_ij>^2 / ||mu_i - mu_j||^2``
  (:func:`empirics.metrics.fewshot.support_variability`);
- ``directional``: ``Vs_f = Vt_f`` (its expectation when the support is drawn from
  ``D_i``);
- ``total``: ``Vs_f = V_f`` (the most conservative).

Features are L2-normalised rows by default (``normalize``; the cosine geometry of the
contrastive losses; the classifier and the statistics see the same rows). The support is
drawn from the training split and the statistics come from the test split: the bound
assumes both come from one distribution, which trained features only approximate (they
are tighter on the samples they were trained on).

A bound above 1 says nothing about an error rate: ``vacuous`` is true there and the value
is reported as computed, never clipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["fewshot_rows"]


def _unit(x, normalize: bool):
    import torch

    return torch.nn.functional.normalize(x, dim=1) if normalize else x


def fewshot_rows(features: Mapping[str, Mapping[str, Mapping[str, Any]]], y_train, y_test,
                 num_classes: int, supports: Sequence[Mapping[int, Any]], *,
                 vs: str = "support", normalize: bool = True,
                 kinds: Sequence[str] = ("h", "z")) -> list[dict[str, Any]]:
    """One row per model, feature kind and ``m``: the measured m-shot accuracy (mean and
    standard deviation over the support sets), its error, ``V_f``, ``Vt_f``, ``Vs_f``, the
    Proposition 1 bound, ``vacuous`` (bound > 1) and ``holds`` (error <= bound).

    Args:
        features: ``{model: {"train"|"test": {"h"|"z": (N, d)}}}``.
        y_train, y_test: labels of the two splits (tensors).
        num_classes: ``C' = C``.
        supports: one ``{m: training indices}`` per repetition
            (:func:`empirics.studies.accuracy.support_indices`).
        vs: ``support``, ``directional`` or ``total`` (module docstring).
        normalize: L2-normalise the rows first.

    Raises:
        ValueError: an unknown ``vs``; no support set.
    """
    import numpy as np

    from bounds.registry import get
    from empirics.metrics.fewshot import (
        class_moments,
        nearest_mean_accuracy,
        pair_mean,
        support_variability,
        variabilities,
    )

    if vs not in ("support", "directional", "total"):
        raise ValueError(f"Expected `vs` among support, directional, total, got {vs!r}")
    if not supports:
        raise ValueError("Expected at least one support set, got none")
    import torch

    bound_of = get("fewshot_p1").numeric
    C = int(num_classes)
    supports = [{m: torch.as_tensor(np.asarray(idx), dtype=torch.long) for m, idx in s.items()}
                for s in supports]
    rows = []
    for model, f in features.items():
        for kind in kinds:
            tr = _unit(f["train"][kind].double(), normalize)
            te = _unit(f["test"][kind].double(), normalize)
            pop = class_moments(te, y_test, C)
            V, Vt, reasons = variabilities(pop)
            if reasons:
                import warnings

                warnings.warn(f"few-shot bound of {model} on {kind}: {'; '.join(reasons)}; "
                              "NaN", RuntimeWarning, stacklevel=2)
            v, vt = pair_mean(V), pair_mean(Vt)
            for m in sorted(supports[0]):
                accs, vss = [], []
                for sup in supports:
                    idx = sup[m]
                    accs.append(nearest_mean_accuracy(tr[idx], y_train[idx], te, y_test, C))
                    if vs == "support":
                        vss.append(pair_mean(support_variability(pop, tr[idx], y_train[idx])))
                vs_value = {"support": float(np.mean(vss)) if vss else math.nan,
                            "directional": vt, "total": v}[vs]
                b = float(bound_of(C_prime=C, m=m, V_f=v, Vt_f=vt, Vs_f=vs_value))
                err = 1.0 - float(np.mean(accs))
                finite = math.isfinite(b)
                rows.append({
                    "model": model, "features": kind, "m": int(m), "repeats": len(supports),
                    "accuracy": float(np.mean(accs)),
                    "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else None,
                    "error": err, "C_prime": C, "V_f": v, "Vt_f": vt, "Vs_f": vs_value,
                    "vs": vs, "normalize": bool(normalize), "bound": b,
                    "vacuous": (b > 1.0) if finite else None,
                    "holds": (err <= b) if finite else None,
                })
    return rows
