"""Fig. 12 analogue: CL-NSCL alignment against the CL-NSCL accuracy gap, across settings.

From accuracy evaluations (:mod:`empirics.studies.alignment_accuracy`): one point per
setting (seeds averaged), ``x`` the CL-NSCL CKA the run measured at its end (test reference
set, cosine CKA on ``h``), ``y`` the accuracy gap ``acc(NSCL) - acc(CL)`` of the final
weights (NCC, full test split). The title gives Spearman's rho with its percentile 95%
interval from a seeded bootstrap over the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from figures import style

__all__ = ["figure_alignment_accuracy", "plot_alignment_accuracy"]


def plot_alignment_accuracy(ax, result: Mapping[str, Any], *, features: str = "h",
                            probe: str = "ncc") -> None:
    """Scatter of the settings with the rank correlation in the title."""
    pts = result["settings"]
    x = [p["cka"] for p in pts]
    y = [100 * p["gap"] for p in pts]
    ax.scatter(x, y, color=style.METHOD_COLORS["nscl"], s=22, zorder=3)
    ax.axhline(0.0, color="#BBBBBB", linewidth=0.8, zorder=0)
    ax.set_xlabel(f"CL-NSCL CKA ({features}, end of training)")
    ax.set_ylabel(f"acc(NSCL) - acc(CL), points ({probe.upper()})")
    rho, lo, hi = result["spearman"], result["ci_low"], result["ci_high"]
    txt = "n/a" if rho != rho else f"{rho:+.2f}"
    ci = "" if lo != lo else f" [{lo:+.2f}, {hi:+.2f}]"
    ax.set_title(f"Fig. 12 analogue: Spearman {txt}{ci}, {result['n_settings']} settings",
                 fontsize=8)


def figure_alignment_accuracy(evaluations, *, missing: str = "", resamples: int = 2000):
    """One panel (:func:`plot_alignment_accuracy`)."""
    import warnings

    from empirics.studies.alignment_accuracy import fig12, points
    from figures.derived import notice

    fig, axes = style.new_figure(1, 1, width=4.0, height=3.2)
    ax = axes[0, 0]
    pts = points(evaluations) if evaluations else []
    if not pts:
        notice(ax, missing or "no accuracy evaluations",
               "Fig. 12 analogue: CKA vs accuracy gap")
        return fig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # too few settings: NaN, titled n/a
        res = fig12(pts, resamples=resamples)
    plot_alignment_accuracy(ax, res)
    return fig
