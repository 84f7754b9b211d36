"""Fig. 12 analogue: CL-NSCL alignment against the CL-NSCL accuracy gap, across settings.

[P2] Fig. 12 (THEORY.md s13): across settings, higher CL-NSCL alignment goes with a
smaller CL-NSCL accuracy gap. For every *setting* (a run configuration without its seed;
the settings of the claims study, or any folder of runs) and every seed:

- ``cka``: the CL-NSCL CKA the run itself measured at its last evaluation, on the test
  reference set (``metrics.csv``; cosine CKA, THEORY.md s7), on ``features`` (default
  ``h``, the backbone, as the paper's figures; ``z`` also available);
- ``gap``: ``acc_NSCL - acc_CL``, all-way test accuracy of the final weights with the
  probe ``probe`` (default ``ncc``) on the same feature kind, from the accuracy
  evaluation of the run (:mod:`empirics.studies.accuracy`: fitted on the full training
  split, scored on the full test split), in accuracy points (fractions).

Seeds are averaged within a setting; across settings, :func:`fig12` reports Spearman's
rank correlation of ``cka`` and ``gap`` with a percentile 95% interval from a bootstrap
over the settings (``resamples`` draws with replacement from ``rng(seed, "bootstrap",
"fig12")``; :func:`empirics.studies.statistics.spearman_bootstrap`). The paper's reading
predicts a negative correlation. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cl_nscl_align.options import Options, at_least, in_range, option
from empirics.objectives import THEOREM_PAIR
from empirics.studies.accuracy import FEATURES, summary_label
from empirics.studies.evaluations import setting_key
from empirics.studies.statistics import spearman_bootstrap

__all__ = ["Fig12Options", "PROBES", "fig12", "points", "setting_points"]

#: The probes of the accuracy gap.
PROBES = ("ncc", "linear")


@dataclass(frozen=True)
class Fig12Options(Options):
    """Fig. 12

    >>> Fig12Options(features="q")
    Traceback (most recent call last):
    ...
    ValueError: Expected `features` among h, z, got 'q'
    """

    features: str = option("h", "feature kind of CKA and accuracy", choices=FEATURES)
    probe: str = option("ncc", "probe of the accuracy gap", choices=PROBES)
    bootstrap: int = option(2000, "bootstrap resamples of the settings",
                            check=in_range(1, 1000000))
    bootstrap_seed: int = option(0, "root seed of the bootstrap", check=at_least(0))


def points(evaluations, *, features: str = "h", probe: str = "ncc",
           labels: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One point per evaluated run: its setting, seed, CL-NSCL CKA and accuracy gap.

    Args:
        evaluations: accuracy evaluations (run folders or read runs).
        features: ``h`` or ``z``; probe: ``ncc`` or ``linear``.
        labels: ``{source path: {"claim": [...], "setting": [...]}}`` to show.

    Raises:
        ValueError: a bad ``features`` / ``probe``; an evaluation without CL and NSCL.
    """
    from empirics.runs import read_run

    Fig12Options(features=features, probe=probe)  # one sentence naming a bad value
    cl, nscl = THEOREM_PAIR
    out = []
    for e in evaluations:
        run = e if hasattr(e, "metrics") else read_run(e)
        s = run.summary
        df = run.metrics
        sel = df[(df["features"] == features) & (df["probe"] == probe)]
        acc = {r["model"]: float(r["accuracy"]) for r in sel.to_dict("records")}
        if not {cl, nscl} <= set(acc):
            raise ValueError(f"Expected accuracies of {cl} and {nscl} in {str(run.path)!r}, "
                             f"got {sorted(acc)}")
        lab = (labels or {}).get(str(s.get("source")), {})
        out.append({"setting_key": setting_key(s.get("setting", {})),
                    "setting": summary_label(s),
                    "claims": "+".join(str(c) for c in lab.get("claim", [])),
                    "seed": s.get("seed"), "cka": s.get(f"cka_{features}", float("nan")),
                    "acc_cl": acc[cl], "acc_nscl": acc[nscl],
                    "gap": acc[nscl] - acc[cl], "source": s.get("source_name", "")})
    return out


def setting_points(pts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The points averaged over the seeds of each setting, sorted by setting (so the seeded
    bootstrap does not depend on the order the runs were found in)."""
    import numpy as np

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in pts:
        groups.setdefault(p["setting_key"], []).append(p)
    out = []
    for _, ps in sorted(groups.items()):
        def mean(k, ps=ps):
            return float(np.mean([float(p[k]) for p in ps]))

        out.append({"setting": ps[0]["setting"], "claims": ps[0]["claims"],
                    "n_seeds": len(ps), "cka": mean("cka"), "gap": mean("gap"),
                    "acc_cl": mean("acc_cl"), "acc_nscl": mean("acc_nscl")})
    return out


def fig12(pts: Sequence[Mapping[str, Any]], *, resamples: int = 2000, seed: int = 0
          ) -> dict[str, Any]:
    """Spearman's rho of CKA and gap across settings, with its bootstrap interval.

    Returns:
        ``{"settings": [...], "spearman", "ci_low", "ci_high", "n_settings", "resamples",
        "dropped", "seed"}`` (see :func:`empirics.studies.statistics.spearman_bootstrap`).

    Example:
        >>> pts = [{"setting_key": str(i), "setting": str(i), "claims": "", "cka": c,
        ...         "gap": g, "acc_cl": 0.5, "acc_nscl": 0.5 + g}
        ...        for i, (c, g) in enumerate([(0.9, 0.01), (0.7, 0.05), (0.5, 0.1)])]
        >>> fig12(pts, resamples=100)["spearman"]
        -1.0
    """
    settings = setting_points(pts)
    stats = spearman_bootstrap([s["cka"] for s in settings], [s["gap"] for s in settings],
                               resamples=resamples, seed=seed, key="fig12")
    return {"settings": settings, **stats, "seed": seed}
