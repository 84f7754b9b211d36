"""[P1] Proposition 1 against the measured m-shot error, per objective.

From the accuracy evaluations' ``fewshot.csv`` (:mod:`empirics.studies.fewshot_bound`):
the bound ``(C'-1)[8 Vt_f + (8/sqrt m) Vs_f + (8/sqrt m) V_f + (4/m) V_f]`` (dotted) and the
measured error of the m-shot nearest-class-mean classifier (solid), both averaged over
seeds, against ``m`` on log axes. An error rate is at most 1: the band above 1 is shaded
and labelled *vacuous*; a bound there is drawn where it is, never clipped. A measured error
of exactly 0, which the log axis cannot show, is a marker at the axis floor, counted in the
legend (:func:`figures.style.floor_marks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from figures import style
from figures.accuracy import ORDER, pick_setting

__all__ = ["figure_fewshot", "plot_bound_vs_error"]

TITLE = "[P1] Proposition 1: bound vs measured"


def plot_bound_vs_error(ax, fewshot: Sequence[Mapping[str, Any]], *, features: str = "h",
                        setting: str | None = None) -> None:
    """Bound (dotted) and measured m-shot error (solid) per objective, log-log."""
    setting = setting or pick_setting(fewshot)
    rows = [r for r in fewshot if r["setting"] == setting and r["features"] == features]
    models = [m for m in ORDER if any(r["model"] == m for r in rows)]
    top = 1.0
    floor = (0, 0)
    for m in models:
        sel = sorted((r for r in rows if r["model"] == m), key=lambda r: r["m"])
        x = [r["m"] for r in sel]
        c = style.method_color(m)
        ax.plot(x, [r["error_mean"] for r in sel], marker="o", color=c)
        z, n = style.floor_marks(ax, x, [r["error_mean"] for r in sel], color=c)
        floor = (floor[0] + z, floor[1] + n)
        b = [r["bound_mean"] for r in sel]
        ax.plot(x, b, marker="s", color=c, linestyle=":", linewidth=1.6)
        top = max([top, *[v for v in b if v == v]])
    ax.axhspan(1.0, top * 2.0, **style.VACUOUS_STYLE)
    ax.axhline(1.0, color="#777777", linewidth=0.8)
    ax.set_yscale("log")
    style.shots_axis(ax, [r["m"] for r in rows])
    ax.set_ylabel(f"test error of the m-shot NCC ({features})")
    ax.set_title(f"{TITLE} ({features})")
    ax.legend(handles=_handles(models, floor), loc="center right", fontsize=6)


def _handles(models, floor=(0, 0)):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = [Line2D([], [], color=style.method_color(m), marker="o",
                  label=style.METHOD_LABELS.get(m, m)) for m in models]
    out += [Line2D([], [], color="#555555", label="measured error"),
            Line2D([], [], color="#555555", linestyle=":", marker="s", label="bound"),
            Patch(label="vacuous (bound > 1)", **style.VACUOUS_STYLE)]
    if any(floor):
        out.append(Line2D([], [], color="#555555", label=style.floor_label(*floor, "error"),
                          **style.FLOOR_STYLE))
    return out


def figure_fewshot(evaluations, *, missing: str = ""):
    """The bound against the measured error on ``h`` and on ``z``."""
    from empirics.studies import accuracy
    from figures.derived import notice

    fig, axes = style.new_figure(1, 2, width=3.8, height=3.2)
    few = accuracy.fewshot_table(evaluations) if evaluations else []
    if not few:
        for ax, kind in zip(axes[0], ("h", "z"), strict=True):
            notice(ax, missing or "no m-shot rows: every m is above the smallest class",
                   f"{TITLE} ({kind})")
        return fig
    setting = pick_setting(few)
    for ax, kind in zip(axes[0], ("h", "z"), strict=True):
        plot_bound_vs_error(ax, few, features=kind, setting=setting)
    fig.suptitle(setting or "", fontsize=8)
    return fig
