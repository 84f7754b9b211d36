"""Accuracy of the objectives' final weights, from evaluations: the Table 1 and Table 2
analogues and m-shot accuracy, [P1] Proposition 1 against the measured m-shot error, the
Fig. 12 analogue (alignment against the accuracy gap) and the Fig. 17 analogue (accuracy
along the weight path from CL to each partner).

Every panel reads the tables of :mod:`empirics.studies.accuracy` (``table1``, ``table2``,
``fewshot_table``) or :mod:`empirics.studies.alignment_accuracy` built from accuracy
evaluations (:func:`evaluations_for`): all-way test accuracy of the final weights of every
objective with the nearest-class-centre probe (NCC) and the ridge linear probe (LP),
fitted on the full training split; error bars are Student-t 95% intervals over seeds (none
with one seed). Objectives are drawn in their registry's order and colours. Panels read
tables; they never train.

- **Table 1 / 2 and m-shot** (:func:`figure_accuracy`).
- **[P1] Proposition 1** (:func:`figure_fewshot`): the bound
  ``(C'-1)[8 Vt_f + (8/sqrt m) Vs_f + (8/sqrt m) V_f + (4/m) V_f]`` (dotted) and the
  measured error of the m-shot nearest-class-mean classifier (solid), both averaged over
  seeds, against ``m`` on log axes. An error rate is at most 1: the band above 1 is shaded
  and labelled *vacuous*; a bound there is drawn where it is, never clipped. A measured
  error of exactly 0, which the log axis cannot show, is a marker at the axis floor,
  counted in the legend (:func:`figures.style.floor_marks`).
- **Fig. 12** (:func:`figure_alignment_accuracy`): one point per setting (seeds averaged),
  ``x`` the CL-NSCL CKA the run measured at its end (test reference set, cosine CKA on
  ``h``), ``y`` the accuracy gap ``acc(NSCL) - acc(CL)`` of the final weights (NCC, full
  test split); the title gives Spearman's rho with its percentile 95% interval from a
  seeded bootstrap over the settings.

- **Fig. 17** (:func:`figure_merging`): the all-way test accuracy of
  ``theta(a) = (1 - a) theta_CL + a theta_X`` for ``a`` in ``[0, 1]`` (merging evaluations,
  :mod:`empirics.studies.merging`), NCC and LP on ``h``, mean over seeds (the band spans
  the seeds' smallest and largest values), for one setting (:func:`one_setting`); each
  panel's title says in how many seeds an interior ``a`` beats both ends of the CL -> NSCL
  path.

**The evaluations a figure reads** (:func:`evaluations_for`). These numbers only the final
weights give: they are *evaluations* (:mod:`empirics.studies.evaluations`), runs of the runs
layer whose target measures one finished training run. A figure asks the runs layer for
them, as every figure asks it for its training runs, and reads them back torch-free:

- from the plan (the run cache): one evaluation per source run of the figure's groups,
  stored beside it in the cache and keyed by the source and the options, so a second call
  only reads it. A missing one is launched (in this process or the local pool); with
  ``ctx.allow_run`` false (``--no-run``) a missing one is an error naming the command that
  makes it. Source runs without final weights (no ``checkpoints/last.pt``) cannot be
  evaluated: the figure then says so in its panel;
- from ``--runs DIR``: the evaluations found there (the ``evaluations`` folder a study's
  ``--out`` holds, ``python -m empirics.studies accuracy --runs RUNS --out OUT``); none is
  an error naming that command.

Each ``build_*`` takes the context of ``python -m figures`` (the plan's runs, or the runs
given with ``--runs``), gets the evaluations it needs and draws. Nothing here imports torch
(a launched evaluation does, in its own run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from empirics.objectives import THEOREM_PAIR
from empirics.runs import launch, pending, read_run
from empirics.runs.layout import RunDir
from empirics.studies.accuracy import summary_label
from empirics.studies.evaluations import (
    evaluation_name,
    evaluation_spec,
    fingerprint,
    is_evaluation,
)
from figures import style

__all__ = ["COMMAND", "Evaluations", "build_accuracy", "build_alignment_accuracy",
           "build_fewshot", "build_merging", "evaluations_for", "figure_accuracy",
           "figure_alignment_accuracy", "figure_fewshot", "figure_merging", "one_setting",
           "path_table", "pick_setting", "plot_alignment_accuracy", "plot_bound_vs_error",
           "plot_fewshot_accuracy", "plot_lp_vs_tau", "plot_merging_path",
           "plot_probe_accuracy"]

TITLES = ("Table 1 analogue", "Table 2 analogue: LP accuracy vs tau",
          "Few-shot accuracy (random supports)")
FEWSHOT_TITLE = "[P1] Proposition 1: bound vs measured"
PROBE_LABELS = {"ncc": "NCC", "linear": "LP"}


def _models(rows) -> list[str]:
    """The objectives of ``rows``, in the registry's order."""
    return style.in_order(r["model"] for r in rows)


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
                   color=style.objective_color(m), alpha=1.0 if probe == "ncc" else 0.55,
                   hatch=None if probe == "ncc" else "//", edgecolor="white",
                   label=PROBE_LABELS[probe] if i == 0 else None)
    ax.set_xticks(range(len(models)), [style.objective_label(m) for m in models])
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
                    color=style.objective_color(m), label=style.objective_label(m))
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
                    marker="o", capsize=2, color=style.objective_color(m),
                    label=style.objective_label(m))
    style.shots_axis(ax, [r["m"] for r in rows])
    ax.set_ylabel(f"m-shot NCC test accuracy (%) on {features}")
    ax.set_title(TITLES[2])
    if rows:
        ax.legend(loc="lower right")


def figure_accuracy(evaluations, *, missing: str = ""):
    """Three panels: Table 1 bars, Table 2 (LP vs tau), m-shot accuracy."""
    from empirics.studies import accuracy

    fig, axes = style.new_figure(1, 3, width=3.6, height=3.0)
    if not evaluations:
        for ax, title in zip(axes[0], TITLES, strict=True):
            style.notice(ax, missing or "no accuracy evaluations", title)
        return fig
    t1 = accuracy.table1(evaluations)
    setting = pick_setting(t1)
    plot_probe_accuracy(axes[0, 0], t1, setting=setting)
    t2 = accuracy.table2(evaluations)
    if t2:
        plot_lp_vs_tau(axes[0, 1], t2)
    else:
        style.notice(axes[0, 1], "Table 2 needs runs that differ only in tau", TITLES[1])
    few = accuracy.fewshot_table(evaluations)
    if few:
        plot_fewshot_accuracy(axes[0, 2], few, setting=setting)
    else:
        style.notice(axes[0, 2], "no m-shot rows: every m is above the smallest training "
                     "class", TITLES[2])
    fig.suptitle(setting or "", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- [P1] Prop. 1
def plot_bound_vs_error(ax, fewshot: Sequence[Mapping[str, Any]], *, features: str = "h",
                        setting: str | None = None) -> None:
    """Bound (dotted) and measured m-shot error (solid) per objective, log-log."""
    setting = setting or pick_setting(fewshot)
    rows = [r for r in fewshot if r["setting"] == setting and r["features"] == features]
    models = _models(rows)
    top = 1.0
    floor = (0, 0)
    for m in models:
        sel = sorted((r for r in rows if r["model"] == m), key=lambda r: r["m"])
        x = [r["m"] for r in sel]
        c = style.objective_color(m)
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
    ax.set_title(f"{FEWSHOT_TITLE} ({features})")
    ax.legend(handles=_handles(models, floor), loc="center right", fontsize=6)


def _handles(models, floor=(0, 0)):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = [Line2D([], [], color=style.objective_color(m), marker="o",
                  label=style.objective_label(m)) for m in models]
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

    fig, axes = style.new_figure(1, 2, width=3.8, height=3.2)
    few = accuracy.fewshot_table(evaluations) if evaluations else []
    if not few:
        for ax, kind in zip(axes[0], ("h", "z"), strict=True):
            style.notice(ax, missing or "no m-shot rows: every m is above the smallest class",
                         f"{FEWSHOT_TITLE} ({kind})")
        return fig
    setting = pick_setting(few)
    for ax, kind in zip(axes[0], ("h", "z"), strict=True):
        plot_bound_vs_error(ax, few, features=kind, setting=setting)
    fig.suptitle(setting or "", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- Fig. 12
def plot_alignment_accuracy(ax, result: Mapping[str, Any], *, features: str = "h",
                            probe: str = "ncc") -> None:
    """Scatter of the settings with the rank correlation in the title."""
    pts = result["settings"]
    x = [p["cka"] for p in pts]
    y = [100 * p["gap"] for p in pts]
    ax.scatter(x, y, color=style.method_color(THEOREM_PAIR[1]), s=22, zorder=3)
    ax.axhline(0.0, color="#BBBBBB", linewidth=0.8, zorder=0)
    ax.set_xlabel(f"CL-NSCL CKA ({features}, end of training)")
    cl, nscl = (style.objective_label(o) for o in THEOREM_PAIR)
    ax.set_ylabel(f"acc({nscl}) - acc({cl}), points ({probe.upper()})")
    rho, lo, hi = result["spearman"], result["ci_low"], result["ci_high"]
    txt = "n/a" if rho != rho else f"{rho:+.2f}"
    ci = "" if lo != lo else f" [{lo:+.2f}, {hi:+.2f}]"
    ax.set_title(f"Fig. 12 analogue: Spearman {txt}{ci}, {result['n_settings']} settings",
                 fontsize=8)


def figure_alignment_accuracy(evaluations, *, missing: str = "", resamples: int = 2000):
    """One panel (:func:`plot_alignment_accuracy`)."""
    import warnings

    from empirics.studies.alignment_accuracy import fig12, points

    fig, axes = style.new_figure(1, 1, width=4.0, height=3.2)
    ax = axes[0, 0]
    pts = points(evaluations) if evaluations else []
    if not pts:
        style.notice(ax, missing or "no accuracy evaluations",
                     "Fig. 12 analogue: CKA vs accuracy gap")
        return fig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # too few settings: NaN, titled n/a
        res = fig12(pts, resamples=resamples)
    plot_alignment_accuracy(ax, res)
    return fig


# ----------------------------------------------------------------------------- Fig. 17
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
    for partner in style.in_order(sel["partner"].astype(str)):
        g = sel[sel["partner"] == partner].groupby("alpha")["accuracy"]
        a = g.mean().index.to_numpy(dtype=float)
        c = style.objective_color(partner)
        ax.plot(a, 100 * g.mean().to_numpy(), marker="o", markersize=3, color=c,
                label=f"CL -> {style.objective_label(partner)}")
        if g.size().max() > 1:
            ax.fill_between(a, 100 * g.min().to_numpy(), 100 * g.max().to_numpy(), color=c,
                            alpha=0.15, linewidth=0)
    ax.set_xlabel(r"$a$ in $(1-a)\,\theta_{CL} + a\,\theta_X$")
    ax.set_ylabel(f"{probe.upper() if probe == 'ncc' else 'LP'} test accuracy (%) on "
                  f"{features}")
    title = f"merging, {'NCC' if probe == 'ncc' else 'LP'}"
    if summary:
        s = [r for r in summary if r["probe"] == probe and r["features"] == features
             and r["partner"] == THEOREM_PAIR[1]]
        if s:
            title += (f" ({style.objective_label(THEOREM_PAIR[1])}: interior beats ends in "
                      f"{s[0]['seeds_beating']}/{s[0]['n_seeds']} seeds)")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="best")
    ax.set_xlim(-0.02, 1.02)
    ax.margins(y=0.1)


def one_setting(evaluations) -> list:
    """The evaluations of the one setting a figure shows (:func:`figures.accuracy.pick_setting`:
    the most partners, the most seeds, the middle temperature)."""
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

    fig, axes = style.new_figure(1, 2, width=3.8, height=3.0)
    if not evaluations:
        for ax, probe in zip(axes[0], ("NCC", "LP"), strict=True):
            style.notice(ax, missing or "no merging evaluations", f"merging, {probe}")
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


# ----------------------------------------------------------------------------- evaluations
#: The command that makes each study's evaluations for ``--runs``.
COMMAND = {"accuracy": "python -m empirics.studies accuracy --runs RUNS --out OUT",
           "merging": "python -m empirics.studies merging --runs RUNS --out OUT"}


class Evaluations(list):
    """The evaluation runs of a figure; ``missing`` says why none could be made."""

    missing: str = ""


def _sources(ctx, groups: Sequence[str], objectives: Sequence[str]) -> list[Path]:
    """The distinct training runs of ``groups`` that trained every one of ``objectives``
    (read through the context's cache: every run is read once)."""
    seen: dict[Path, None] = {}
    for g in groups:
        for spec in ctx.plan.groups()[g]:
            run = ctx.load(spec)
            if run.kind == "train" and set(objectives) <= set(run.cfg("objectives") or []):
                seen.setdefault(Path(ctx.paths[spec.key()]), None)
    return list(seen)


def evaluations_for(ctx, groups: Sequence[str], study: str,
                    options: Mapping[str, Any] | None = None,
                    objectives: Sequence[str] = ()) -> Evaluations:
    """The ``study`` evaluations of the training runs of ``groups`` (see the module
    docstring). Source runs without all of ``objectives`` are left out.

    Raises:
        FileNotFoundError: ``--runs`` holds no such evaluation; a missing one may not be
            launched; an evaluation failed (naming its ``error.txt``).
    """
    options = dict(options or {})
    out = Evaluations()
    if ctx.given is not None:
        out.extend(r for r in ctx.given if is_evaluation(r, study))
        if not out:
            raise FileNotFoundError(f"Expected {study} evaluations under `--runs`, got none "
                                    f"(make them with: {COMMAND[study]}, then pass OUT)")
        return out
    usable = [p for p in _sources(ctx, groups, objectives) if RunDir(p).last.is_file()]
    if not usable:
        out.missing = ("no final weights (checkpoints/last.pt) in the runs of this figure: "
                       "nothing to measure")
        return out
    root = usable[0].parent
    specs = [evaluation_spec(study, p.name, options, fingerprint=fingerprint(p))
             for p in usable]
    names = [evaluation_name(study, s) for s in specs]
    todo = pending(specs, root, names)
    if todo and not ctx.allow_run:
        raise FileNotFoundError(f"Expected the {study} evaluations of this figure in "
                                f"{str(root)!r}, got {len(todo)} missing (run without "
                                "--no-run to make them)")
    if todo:
        results = launch(specs, root, names=names, progress=False, desc=f"{study}")
        failed = [r for r in results if not r.ok]
        if failed:
            raise FileNotFoundError(f"Expected the {study} evaluation {failed[0].name} to "
                                    f"finish, got a failure ({failed[0].error}); traceback "
                                    f"in {str(failed[0].path / 'error.txt')!r}")
    out.extend(read_run(root / n) for n in names)
    return out


# ----------------------------------------------------------------------------- builders
def build_accuracy(ctx):
    """Table 1 / Table 2 analogues and m-shot accuracy: the ``base`` run (the paper's
    objectives) and the ``tau`` runs."""
    ev = evaluations_for(ctx, ("base", "tau"), "accuracy")
    return figure_accuracy(ev, missing=ev.missing)


def build_fewshot(ctx):
    """[P1] Proposition 1 against the measured m-shot error (``base``)."""
    ev = evaluations_for(ctx, ("base",), "accuracy")
    return figure_fewshot(ev, missing=ev.missing)


def build_alignment_accuracy(ctx):
    """Fig. 12 analogue across the settings of the ``classes``, ``tau`` and ``base`` runs
    (those that trained the theorem pair)."""
    ev = evaluations_for(ctx, ("classes", "tau", "base"), "accuracy", objectives=THEOREM_PAIR)
    if ctx.given is not None:
        ev[:] = [e for e in ev if set(THEOREM_PAIR) <= set(e.summary.get("objectives", []))]
    return figure_alignment_accuracy(ev, missing=ev.missing)


def build_merging(ctx):
    """Fig. 17 analogue from the ``base`` run's CL -> partner weight paths."""
    ev = evaluations_for(ctx, ("base",), "merging", objectives=THEOREM_PAIR[:1])
    return figure_merging(ev, missing=ev.missing)
