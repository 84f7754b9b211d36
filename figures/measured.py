"""Bound vs measured: what the bounds of [P2] and [P1] promise against what runs measure.

- On the similarity-descent surrogate (THEORY.md s9): the measured
  ``||Sigma^CL - Sigma^NSCL||_F`` per step against the one-run certificate, the exact
  recurrence (s5) and Theorem 1 (s6). Must hold: measured <= certificate <= recurrence <=
  Theorem 1 whenever the theorem's event held.
- On real networks (the lockstep trainer): the measured similarity gap on the reference
  sets against the run's own Theorem 1 and recurrence values, and measured CKA / RSA against
  the corollary lower bounds ``(1 - rho)/(1 + rho)`` and ``(1 - r)/(1 + r)`` (s7).
- [P1] (s3): the loss gap ``L_CL - L_NSCL`` of trained encoders against
  ``log(1 + e^{2/tau} n_max / (N - n_max))`` as a function of the number of classes ``C``.

Every y axis here is logarithmic. A measured value it cannot show (a gap of exactly 0, e.g.
at step 0 from one initialisation, or at large C where no batch holds two samples of a
class; or a value below 0) is drawn as a marker at the axis floor, counted in the legend
(:func:`figures.style.floor_marks`), never dropped without a word. A bound beyond float range
(``inf`` in ``bounds.csv``, its magnitude in the ``log10_`` twin) is a marker at the top of
the axes, its largest ``log10`` in the legend (:func:`figures.style.ceiling_marks`). A run
without CL-NSCL rows (one objective) gets a panel saying so where a panel needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from empirics.measures import MEASURES
from empirics.objectives import paper_objectives
from figures import io, selection, style

#: Surrogate trace columns and their display (in drawing order: loosest last).
SURROGATE_SERIES = ("measured", "certificate", "certificate_lipschitz", "recurrence", "theorem1")


def corollaries() -> dict[str, str]:
    """The lower bounds [P2]'s corollaries put on a registered measure (THEORY.md s7), read
    from the bounds registry (the bounds ``<measure>_lower`` of one parameter): measure ->
    the statistic ``s`` its bound ``(1 - s) / (1 + s)`` is a function of.

    >>> corollaries()
    {'cka': 'rho', 'rsa': 'r'}
    """
    from bounds.registry import REGISTRY

    out = {}
    for name, b in REGISTRY.items():
        measure = name.removesuffix("_lower")
        if measure != name and measure in MEASURES and len(b.params) == 1:
            out[measure] = b.params[0]
    return out


def plot_surrogate(ax, trace: pd.DataFrame, *, title: str | None = None) -> None:
    """Measured surrogate gap and its three bounds per step, log scale.

    ``trace`` has a ``step`` column and any of ``measured``, ``certificate``,
    ``recurrence``, ``theorem1`` (Frobenius norms over the ``2N x 2N`` state).
    """
    io.require(trace, ["step", "measured"], "the surrogate trace")
    t = trace["step"].to_numpy(dtype=float)
    color = style.method_color(io.THEOREM)
    ax.plot(t, io.finite(trace["measured"], positive=True), color=color,
            label=r"measured $\|\Sigma^{CL}_t-\Sigma^{NSCL}_t\|_F$")
    floor = style.floor_marks(ax, t, trace["measured"], color=color)
    for name in SURROGATE_SERIES[1:]:
        if name in trace.columns:
            ax.plot(t, io.finite(trace[name], positive=True), label=style.BOUND_LABELS[name],
                    **style.BOUND_STYLES[name])
            style.ceiling_marks(ax, t, trace[name], color=style.BOUND_STYLES[name]["color"],
                                what=style.BOUND_LABELS[name])
    style.floor_note(ax, *floor, "measured gap")
    ax.set_yscale("log")
    ax.set_xlabel("surrogate step t")
    ax.set_ylabel("Frobenius distance of similarity matrices")
    ax.set_title(title or "Surrogate: measured gap vs bounds")
    ax.legend(loc="best")


def plot_surrogate_ratios(ax, trace: pd.DataFrame) -> None:
    """Tightness: measured gap divided by each bound, per step (log scale; 1 = tight)."""
    io.require(trace, ["step", "measured"], "the surrogate trace")
    t = trace["step"].to_numpy(dtype=float)
    m = trace["measured"].to_numpy(dtype=float)
    zeros = negatives = 0
    for name in SURROGATE_SERIES[1:]:
        if name in trace.columns:
            b = trace[name].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(b > 0, m / b, np.nan)
            ax.plot(t, io.finite(ratio), label=style.BOUND_LABELS[name],
                    **style.BOUND_STYLES[name])
            z, n = style.floor_marks(ax, t, ratio, color=style.BOUND_STYLES[name]["color"])
            zeros, negatives = zeros + z, negatives + n
    style.floor_note(ax, zeros, negatives, "ratio")
    ax.axhline(1.0, color="#BBBBBB", linewidth=0.8, zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("surrogate step t")
    ax.set_ylabel("measured / bound (1 = tight)")
    ax.set_title("Surrogate: tightness of each bound")
    ax.legend(loc="best")


def plot_network_gap(ax, run: io.Run, *, pair: str = io.THEOREM,
                     splits: Sequence[str] = ("train", "test")) -> None:
    """Real networks: measured ``sim_gap`` on the reference sets vs the run's own bounds.

    The bounds (``sim_gap`` = Theorem 1, ``sim_gap_product`` = exact recurrence) come from
    the run's bounds file, evaluated for its own C, tau, B and running sum of learning rates.
    They do not depend on the reference-set size ``N``; the measured gap does. A bound
    beyond float range is marked at the top of the axes from its ``log10_`` column.
    """
    title = "Network: measured gap vs Theorem 1"
    if not selection.has_pair(run, pair):
        style.notice(ax, f"no {pair} rows in {run.name}/metrics.csv (objectives "
                         f"{selection.objectives_of(run)})", title)
        return
    floor = (0, 0)
    for split in splits:
        if split not in io.splits_in(run):
            continue
        s = io.pair_series(run, pair, "sim_gap", split=split)
        ax.plot(s["t"], io.finite(s["value"], positive=True), color=style.method_color(pair),
                linestyle="-" if split == "train" else "--", marker="o", markersize=3,
                label=f"measured, {split} set")
        z, n = style.floor_marks(ax, s["t"], s["value"], color=style.method_color(pair))
        floor = (floor[0] + z, floor[1] + n)
    if not run.bounds.empty:
        for col, name in (("sim_gap_product", "recurrence"), ("sim_gap", "theorem1")):
            if col in run.bounds.columns:
                b = io.bounds_series(run, col)
                ax.plot(b["t"], io.finite(b["value"], positive=True),
                        label=style.BOUND_LABELS[name], **style.BOUND_STYLES[name])
                log10 = (io.bounds_series(run, f"log10_{col}")["value"]
                         if f"log10_{col}" in run.bounds.columns else None)
                style.ceiling_marks(ax, b["t"], b["value"], log10,
                                    color=style.BOUND_STYLES[name]["color"],
                                    what=style.BOUND_LABELS[name])
        if "sim_gap" in run.bounds.columns and "train" in io.splits_in(run):
            # The run's bounds use the train reference set: flag evaluations where the
            # measured train gap is above Theorem 1 (possible: it is a surrogate theorem).
            m = io.pair_series(run, pair, "sim_gap", split="train")
            b = io.bounds_series(run, "sim_gap")
            j = m.merge(b, on="step", how="inner", suffixes=("_m", "_b"))
            above = j[j["value_m"] > j["value_b"]]
            if len(above):
                ax.plot(above["t_m"], above["value_m"], linestyle="none", marker="x",
                        markersize=8, markeredgewidth=2, color="black",
                        label=f"measured above Theorem 1 ({len(above)}/{len(j)})")
    style.floor_note(ax, *floor, "measured gap")
    ax.set_yscale("log")
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel(r"$\|\Sigma^{CL}-\Sigma^{NSCL}\|_F$ (reference set)")
    ax.set_title(title)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo / 4, hi)  # room for the legend below the curves
    ax.legend(loc="lower right", fontsize=7)


def plot_lower_bound(ax, run: io.Run, metric: str = "cka", *, pair: str = io.THEOREM,
                     split: str = "train") -> None:
    """Measured CKA (or RSA) against its corollary lower bounds (THEORY.md s7).

    Draws the measured value, the lower bound from the *measured* ``rho`` (or ``r``), which
    must lie below it, and, when the run's bounds file has it, the a-priori bound from
    Theorem 1 (``cka_lower`` / ``rsa_lower``; the trivial 0 / -1 when vacuous). The run's
    bounds use the train reference set (its size and normalisers), hence ``split="train"``.
    """
    bounded = corollaries()
    if metric not in bounded:
        raise ValueError(f"Expected `metric` in {tuple(bounded)}, got {metric!r}")
    name = style.measure(metric).label
    if not selection.has_pair(run, pair):
        style.notice(ax, f"no {pair} rows in {run.name}/metrics.csv (objectives "
                         f"{selection.objectives_of(run)})",
                     f"{name} vs its lower bounds, {split} set")
        return
    of = bounded[metric]
    stat = f"\\{of}" if len(of) > 1 else of  # TeX: rho -> \rho
    from_col = f"{metric}_lower_from_{of}"
    s = io.pair_series(run, pair, metric, split=split)
    ax.plot(s["t"], s["value"], color=style.method_color(pair), marker="o", markersize=3,
            label=f"measured {name}")
    if from_col in run.metrics.columns:
        lb = io.pair_series(run, pair, from_col, split=split)
    else:  # derive from the measured rho / r (not drawn where the bound is trivial)
        import bounds

        q = io.pair_series(run, pair, of, split=split)
        v = q["value"].to_numpy(float)
        lower = getattr(bounds, f"{metric}_lower")
        lb = q.assign(value=np.where(v < 1, lower(v), np.nan))
    ax.plot(lb["t"], lb["value"], label=f"$(1-{stat})/(1+{stat})$, measured ${stat}$",
            **style.BOUND_STYLES["lower_bound"])
    col = f"{metric}_lower"
    if not run.bounds.empty and col in run.bounds.columns:
        b = io.bounds_series(run, col)
        ax.plot(b["t"], b["value"], label=f"{name} bound from Theorem 1",
                **style.BOUND_STYLES["theorem1"])
        vac = f"vacuous_{metric}"
        if vac in run.bounds.columns:
            vv = io.flag(run.bounds.sort_values("step", kind="stable")[vac])
            style.shade_vacuous(ax, b["t"], vv, label="Theorem 1 bound vacuous")
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel(f"{name} ({style.pair_label(pair)})")
    lo, hi = style.measure(metric).range
    ax.set_ylim(lo - (0.05 if lo < 0 else 0.02), hi + 0.02)
    ax.set_title(f"{name} vs its lower bounds, {split} set")
    ax.legend(loc="best")


def _models(table: pd.DataFrame, models: Sequence[str] | None) -> list[str]:
    """The models a [P1] panel draws: ``models``, else the paper's objectives and every
    other one the table holds, in the registry's order."""
    if models is not None:
        return list(models)
    return style.in_order(table["model"].astype(str), keep=paper_objectives())


def plot_p1_over_training(ax, run: io.Run, *, split: str = "test",
                          models: Sequence[str] | None = None) -> None:
    """[P1] at every evaluation: each model's ``L_CL - L_NSCL`` and its per-run bound
    (``models``: default every model of ``losses.csv``)."""
    lg = io.loss_gap_table(run, split=split)
    tcol, tlabel = io.time_axis(lg)
    floor = (0, 0)
    for model in _models(lg, models):
        sub = lg[lg["model"] == model]
        if sub.empty:
            continue
        color = style.objective_color(model)
        ax.plot(sub[tcol], io.finite(sub["loss_gap"], positive=True), marker="o",
                markersize=3, color=color, label=f"{style.objective_label(model)} encoder")
        z, n = style.floor_marks(ax, sub[tcol], sub["loss_gap"], color=color)
        floor = (floor[0] + z, floor[1] + n)
    style.floor_note(ax, *floor, "loss gap")
    if "loss_gap_bound" in lg.columns:
        b = lg.groupby(tcol)["loss_gap_bound"].max()
        ax.plot(b.index, b.to_numpy(), label="[P1] bound", **style.BOUND_STYLES["p1_bound"])
    ax.set_yscale("log")
    ax.set_xlabel(tlabel)
    ax.set_ylabel(r"$L_{CL}-L_{NSCL}$ (nats)")
    ax.set_title(f"[P1] loss gap at every evaluation, {split} set")
    ax.legend(loc="best")


def figure_bound_vs_measured(run: io.Run, trace: pd.DataFrame | None, *,
                             surrogate: io.Run | None = None):
    """Surrogate and network gaps against the bounds; CKA and RSA against their floors.

    ``surrogate``: the run ``trace`` comes from (its settings go into the title)."""
    fig, axes = style.new_figure(2, 3, width=3.9, height=3.1)
    if trace is not None:
        plot_surrogate(axes[0, 0], trace)
        plot_surrogate_ratios(axes[0, 1], trace)
    else:
        for ax in axes[0, :2]:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no surrogate run", ha="center", va="center")
    plot_network_gap(axes[0, 2], run)
    for ax, metric in zip(axes[1, :2], corollaries(), strict=True):
        plot_lower_bound(ax, run, metric)
    plot_p1_over_training(axes[1, 2], run)
    fig.suptitle("Measured CL-NSCL gaps against the bounds that must hold: surrogate "
                 "(top left, top middle), lockstep networks (the rest; features z)\n"
                 f"network: {io.describe(run, io.NETWORK_SETTINGS)}"
                 + (f"; surrogate: {io.describe(surrogate, io.SURROGATE_SETTINGS)}"
                    if surrogate is not None
                    else ""))
    return fig


def build_bound_vs_measured(ctx):
    """The gallery's bound-vs-measured view: the ``base`` run of ``python -m figures``'s
    context and the trace of its ``surrogate`` run."""
    sur = ctx.group("surrogate")[0]
    return figure_bound_vs_measured(ctx.group("base")[0], io.surrogate_trace(sur),
                                    surrogate=sur)


# --- [P1] -------------------------------------------------------------------------------
def loss_gap_by_classes(runs: Sequence[io.Run], *, split: str | None = "test"
                        ) -> pd.DataFrame:
    """Per run and model: C, tau, the final and largest loss gap, and its per-run bound."""
    rows = []
    for run in runs:
        lg = io.loss_gap_table(run, split=split)
        C = io.setting(run, "classes")
        tau = io.setting(run, "tau")
        for model, sub in lg.groupby("model"):
            last = sub.iloc[-1]
            rows.append({
                "C": C, "tau": tau, "model": model, "seed": io.setting(run, "seed"),
                "loss_gap": float(last["loss_gap"]),
                "loss_gap_max": float(sub["loss_gap"].max()),
                "loss_gap_bound": float(last["loss_gap_bound"])
                if "loss_gap_bound" in sub.columns else np.nan,
            })
    return pd.DataFrame(rows)


def plot_loss_gap_vs_classes(ax, runs: Sequence[io.Run], *, split: str | None = "test",
                             models: Sequence[str] | None = None,
                             analytic: bool = True) -> None:
    """[P1]: measured ``L_CL - L_NSCL`` of each trained model vs C, with its bound.

    Each point is the mean over seeds (bars: one standard deviation). The per-run bound
    uses the run's own ``n_max``; the analytic curve is the balanced-class form
    ``log(1 + e^{2/tau}/(C-1))`` (THEORY.md s3) from :func:`bounds.loss_gap_bound`. A mean
    gap of exactly 0 (no batch holds two samples of one class, so NSCL is CL) is drawn at
    the axis floor and counted in the legend.

    Raises:
        FigureInputError: runs of one C that differ in more than the seed (e.g. in tau).
    """
    selection.check_not_pooled(runs, ("classes",))
    table = loss_gap_by_classes(runs, split=split)
    io.require(table, ["C", "loss_gap"], "the loss-gap table")
    floor = (0, 0)
    models = _models(table, models)
    offsets = {m: f for m, f in zip(models, np.linspace(0.94, 1.06, len(models)), strict=True)}
    for model in models:
        sub = table[table["model"] == model]
        if sub.empty:
            continue
        agg = sub.groupby("C")["loss_gap"].agg(["mean", "std"]).reset_index()
        color = style.objective_color(model)
        ax.errorbar(agg["C"] * offsets[model], agg["mean"], yerr=agg["std"].fillna(0),
                    marker="o", capsize=3, color=color,
                    label=f"measured, {style.objective_label(model)} encoder")
        z, n = style.floor_marks(ax, agg["C"] * offsets[model], agg["mean"], color=color)
        floor = (floor[0] + z, floor[1] + n)
    b = table.dropna(subset=["loss_gap_bound"]).groupby("C")["loss_gap_bound"].max()
    if len(b):
        ax.plot(b.index, b.to_numpy(), linestyle="none", marker="_", markersize=14,
                markeredgewidth=2, color=style.BOUND_STYLES["p1_bound"]["color"],
                label="[P1] bound, run's own $n_{max}$")
    taus = sorted({t for t in table["tau"].dropna()})
    if analytic and taus:
        import bounds

        Cs = np.unique(np.round(np.geomspace(max(2, table["C"].min()),
                                             max(3, table["C"].max()), 60)).astype(int))
        for tau in taus:
            ax.plot(Cs, bounds.loss_gap_bound(tau, C=Cs, form="balanced"),
                    label=f"[P1] bound, balanced, τ={tau:g}", **style.BOUND_STYLES["p1_bound"])
    style.floor_note(ax, *floor, "mean gap")
    ax.set_xscale("log")
    ax.set_yscale("log")
    Cvals = sorted({int(c) for c in table["C"].dropna()})
    ax.set_xticks(Cvals, [str(c) for c in Cvals])
    ax.minorticks_off()
    ax.set_xlabel("number of classes C")
    ax.set_ylabel(r"loss gap $L_{CL}-L_{NSCL}$ (nats)")
    ax.set_title(f"final evaluation, {split or 'train and test'} reference batches")
    # below the panel: the points at the axis floor and the bounds at the top stay uncovered
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7)


def figure_p1(runs: Sequence[io.Run] | Mapping[str, Sequence[io.Run]], *,
              titles: Mapping[str, str] | None = None, title: str | None = None):
    """[P1] loss gap against C with its bound: one panel of :func:`plot_loss_gap_vs_classes`
    per group of runs (``runs``: one group, or ``{name: runs}``; the claims study's real
    and synthetic runs), each titled by ``titles[name]`` when given."""
    groups = dict(runs) if isinstance(runs, Mapping) else {"": list(runs)}
    fig, axes = style.new_figure(1, len(groups), width=5.0 if len(groups) == 1 else 4.6,
                                 height=3.6)
    for ax, (name, members) in zip(axes[0], groups.items(), strict=True):
        plot_loss_gap_vs_classes(ax, members)
        if titles and name in titles:
            ax.set_title(titles[name], fontsize=8)
    every = [r for members in groups.values() for r in members]
    fig.suptitle(title or "[P1]: CL-NSCL loss gap of trained encoders vs number of classes, "
                 f"with its bound\n({io.seed_note(every, 'mean ± sd')})")
    return fig
