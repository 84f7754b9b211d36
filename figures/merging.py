"""Fig. 17 analogue: accuracy along the weight path from CL to NSCL (and to SCL, CE).

From merging evaluations (:mod:`empirics.studies.merging`): the all-way test accuracy of
``theta(a) = (1 - a) theta_CL + a theta_X`` for ``a`` in ``[0, 1]``, NCC and LP on ``h``,
mean over seeds (the band spans the seeds' smallest and largest values), for one setting
(:func:`one_setting`). The title of each panel says in how many seeds an interior ``a``
beats both ends of the CL -> NSCL path.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from empirics.studies.accuracy import summary_label
from figures import style

__all__ = ["figure_merging", "one_setting", "path_table", "plot_merging_path"]


def path_table(evaluations) -> pd.DataFrame:
    """Every merging row of every evaluation, with its seed and setting label."""
    frames = []
    for e in evaluations:
        df = e.metrics.copy()
        df["seed"] = e.summary.get("seed")
        df["setting"] = summary_label(e.summary)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_merging_path(ax, table: pd.DataFrame, *, probe: str = "ncc", features: str = "h",
                      summary: Sequence[dict] | None = None) -> None:
    """Accuracy (%) against ``a``, one line per partner (mean over seeds, min-max band)."""
    sel = table[(table["probe"] == probe) & (table["features"] == features)]
    for partner in [p for p in ("nscl", "scl", "ce", "ntxent") if p in set(sel["partner"])]:
        g = sel[sel["partner"] == partner].groupby("alpha")["accuracy"]
        a = g.mean().index.to_numpy(dtype=float)
        c = style.method_color(partner)
        ax.plot(a, 100 * g.mean().to_numpy(), marker="o", markersize=3, color=c,
                label=f"CL -> {style.METHOD_LABELS.get(partner, partner)}")
        if g.size().max() > 1:
            ax.fill_between(a, 100 * g.min().to_numpy(), 100 * g.max().to_numpy(), color=c,
                            alpha=0.15, linewidth=0)
    ax.set_xlabel(r"$a$ in $(1-a)\,\theta_{CL} + a\,\theta_X$")
    ax.set_ylabel(f"{probe.upper() if probe == 'ncc' else 'LP'} test accuracy (%) on "
                  f"{features}")
    title = f"merging, {'NCC' if probe == 'ncc' else 'LP'}"
    if summary:
        s = [r for r in summary if r["probe"] == probe and r["features"] == features
             and r["partner"] == "nscl"]
        if s:
            title += f" (NSCL: interior beats ends in {s[0]['seeds_beating']}/" \
                     f"{s[0]['n_seeds']} seeds)"
    ax.set_title(title, fontsize=8)
    ax.legend(loc="best")
    ax.set_xlim(-0.02, 1.02)
    ax.margins(y=0.1)


def one_setting(evaluations) -> list:
    """The evaluations of the one setting a figure shows (:func:`figures.accuracy.pick_setting`:
    the most partners, the most seeds, the middle temperature)."""
    from figures.accuracy import pick_setting

    label = {id(e): summary_label(e.summary) for e in evaluations}
    count: dict[str, int] = {}
    for e in evaluations:
        count[label[id(e)]] = count.get(label[id(e)], 0) + 1
    rows = [{"setting": label[id(e)], "model": p, "n_seeds": count[label[id(e)]],
             "setting_tau": e.summary.get("setting", {}).get("tau")}
            for e in evaluations for p in e.summary.get("partners", [])]
    chosen = pick_setting(rows)
    return [e for e in evaluations if label[id(e)] == chosen]


def figure_merging(evaluations, *, missing: str = ""):
    """NCC and LP along the paths, on ``h``."""
    from empirics.studies.merging import merging_summary
    from figures.derived import notice

    fig, axes = style.new_figure(1, 2, width=3.8, height=3.0)
    if not evaluations:
        for ax, probe in zip(axes[0], ("NCC", "LP"), strict=True):
            notice(ax, missing or "no merging evaluations", f"merging, {probe}")
        return fig
    evaluations = one_setting(evaluations)
    table = path_table(evaluations)
    summary = merging_summary(evaluations)
    for ax, probe in zip(axes[0], ("ncc", "linear"), strict=True):
        plot_merging_path(ax, table, probe=probe, summary=summary)
    bn = evaluations[0].summary.get("bn", "")
    fig.suptitle(f"{summary_label(evaluations[0].summary)}; BatchNorm: {bn}",
                 fontsize=8)
    return fig
