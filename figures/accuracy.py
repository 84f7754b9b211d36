"""Accuracy of the objectives: the Table 1 and Table 2 analogues and m-shot accuracy.

Drawn from accuracy evaluations (:mod:`empirics.studies.accuracy`; tables from its
:func:`~empirics.studies.accuracy.table1`, :func:`~empirics.studies.accuracy.table2` and
:func:`~empirics.studies.accuracy.fewshot_table`): all-way test accuracy of the final
weights of every objective with the nearest-class-centre probe (NCC) and the ridge linear
probe (LP), fitted on the full training split; error bars are Student-t 95% intervals over
seeds (none with one seed). Panels read tables; they never train.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from figures import style

__all__ = ["figure_accuracy", "pick_setting", "plot_fewshot_accuracy", "plot_lp_vs_tau",
           "plot_probe_accuracy"]

ORDER = ("cl", "ntxent", "nscl", "scl", "ce")
TITLES = ("Table 1 analogue", "Table 2 analogue: LP accuracy vs tau",
          "Few-shot accuracy (random supports)")
PROBE_LABELS = {"ncc": "NCC", "linear": "LP"}


def _models(rows) -> list[str]:
    have = {r["model"] for r in rows}
    return [m for m in ORDER if m in have]


def pick_setting(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The setting a panel shows: the most models, then the most seeds, then the middle
    temperature among those left (the base of a tau sweep), then the first label in
    alphabetical order (deterministic whatever order the runs were found in).

    >>> pick_setting([{"setting": "b", "model": "cl", "n_seeds": 1},
    ...               {"setting": "a", "model": "cl", "n_seeds": 1}])
    'a'
    """
    import math

    by: dict[str, set] = {}
    seeds: dict[str, int] = {}
    tau: dict[str, float] = {}
    for r in rows:
        k = r["setting"]
        by.setdefault(k, set()).add(r["model"])
        seeds[k] = max(seeds.get(k, 0), int(r.get("n_seeds") or 0))
        t = r.get("setting_tau")
        tau[k] = math.log(t) if isinstance(t, (int, float)) and t > 0 else 0.0
    if not by:
        return None
    best = min((-len(by[k]), -seeds[k]) for k in by)
    tied = [k for k in by if (-len(by[k]), -seeds[k]) == best]
    mid = sorted(tau[k] for k in tied)[(len(tied) - 1) // 2]
    return sorted(tied, key=lambda k: (abs(tau[k] - mid), k))[0]


def _err(r) -> tuple[float, float]:
    m, lo, hi = r["accuracy_mean"], r["ci_low"], r["ci_high"]
    if lo is None or not np.isfinite(lo):
        return 0.0, 0.0
    return 100 * (m - lo), 100 * (hi - m)


def plot_probe_accuracy(ax, table1: Sequence[Mapping[str, Any]], *, features: str = "h",
                        setting: str | None = None) -> None:
    """Bars of NCC and LP accuracy (%) per objective for one setting (Table 1 analogue)."""
    setting = setting or pick_setting(table1)
    rows = [r for r in table1 if r["setting"] == setting and r["features"] == features]
    models = _models(rows)
    width = 0.38
    for j, probe in enumerate(("ncc", "linear")):
        for i, m in enumerate(models):
            sel = [r for r in rows if r["model"] == m and r["probe"] == probe]
            if not sel:
                continue
            r = sel[0]
            lo, hi = _err(r)
            ax.bar(i + (j - 0.5) * width, 100 * r["accuracy_mean"], width,
                   yerr=[[lo], [hi]] if hi > 0 else None, capsize=2,
                   color=style.method_color(m), alpha=1.0 if probe == "ncc" else 0.55,
                   hatch=None if probe == "ncc" else "//", edgecolor="white",
                   label=PROBE_LABELS[probe] if i == 0 else None)
    ax.set_xticks(range(len(models)), [style.METHOD_LABELS.get(m, m) for m in models])
    ax.set_ylabel(f"all-way test accuracy (%) on {features}")
    n = max((r["n_seeds"] for r in rows), default=0)
    ax.set_title(f"Table 1 analogue ({n} seed{'s' if n != 1 else ''})")
    ax.legend(loc="lower right")
    lo = min((100 * r["accuracy_mean"] for r in rows), default=0.0)
    ax.set_ylim(max(0.0, lo - 15), 100)


def plot_lp_vs_tau(ax, table2: Sequence[Mapping[str, Any]], *, features: str = "h") -> None:
    """LP accuracy (%) against the temperature, one line per objective (Table 2 analogue)."""
    rows = [r for r in table2 if r["features"] == features]
    setting = pick_setting(rows)
    rows = [r for r in rows if r["setting"] == setting]
    for m in _models(rows):
        sel = sorted((r for r in rows if r["model"] == m), key=lambda r: r["tau"])
        x = [r["tau"] for r in sel]
        y = [100 * r["accuracy_mean"] for r in sel]
        err = np.array([_err(r) for r in sel]).T
        ax.errorbar(x, y, yerr=err if err.any() else None, marker="o", capsize=2,
                    color=style.method_color(m), label=style.METHOD_LABELS.get(m, m))
    ax.set_xscale("log")
    taus = sorted({r["tau"] for r in rows})
    ax.set_xticks(taus, [f"{t:g}" for t in taus])
    ax.minorticks_off()
    ax.set_xlabel(r"temperature $\tau$")
    ax.set_ylabel(f"LP test accuracy (%) on {features}")
    ax.set_title(TITLES[1])
    if rows:
        ax.legend(loc="best")


def plot_fewshot_accuracy(ax, fewshot: Sequence[Mapping[str, Any]], *, features: str = "h",
                          setting: str | None = None) -> None:
    """m-shot nearest-class-mean accuracy (%) against ``m``, one line per objective."""
    setting = setting or pick_setting(fewshot)
    rows = [r for r in fewshot if r["setting"] == setting and r["features"] == features]
    for m in _models(rows):
        sel = sorted((r for r in rows if r["model"] == m), key=lambda r: r["m"])
        ax.errorbar([r["m"] for r in sel], [100 * r["accuracy_mean"] for r in sel],
                    yerr=(np.array([_err(r) for r in sel]).T if sel and
                          np.array([_err(r) for r in sel]).any() else None),
                    marker="o", capsize=2, color=style.method_color(m),
                    label=style.METHOD_LABELS.get(m, m))
    style.shots_axis(ax, [r["m"] for r in rows])
    ax.set_ylabel(f"m-shot NCC test accuracy (%) on {features}")
    ax.set_title(TITLES[2])
    if rows:
        ax.legend(loc="lower right")


def figure_accuracy(evaluations, *, missing: str = ""):
    """Three panels: Table 1 bars, Table 2 (LP vs tau), m-shot accuracy."""
    from empirics.studies import accuracy
    from figures.derived import notice

    fig, axes = style.new_figure(1, 3, width=3.6, height=3.0)
    if not evaluations:
        for ax, title in zip(axes[0], TITLES, strict=True):
            notice(ax, missing or "no accuracy evaluations", title)
        return fig
    t1 = accuracy.table1(evaluations)
    setting = pick_setting(t1)
    plot_probe_accuracy(axes[0, 0], t1, setting=setting)
    t2 = accuracy.table2(evaluations)
    if t2:
        plot_lp_vs_tau(axes[0, 1], t2)
    else:
        notice(axes[0, 1], "Table 2 needs runs that differ only in tau", TITLES[1])
    few = accuracy.fewshot_table(evaluations)
    if few:
        plot_fewshot_accuracy(axes[0, 2], few, setting=setting)
    else:
        notice(axes[0, 2], "no m-shot rows: every m is above the smallest training class",
               TITLES[2])
    fig.suptitle(setting or "", fontsize=8)
    return fig
