"""[P2] Fig. 3, 4 and 5 analogues: CL-NSCL alignment across runs that vary one setting.

- Fig. 3: CL-NSCL CKA as a heatmap over the number of classes ``C`` (C-way subsets) x epoch.
- Fig. 4: the temperature ``tau`` in {0.1, 0.5, 1.0}.
- Fig. 5: the batch size ``B`` under the linear, square-root and fourth-root learning-rate
  rules of THEORY.md s11.

Plot functions read loaded runs (:class:`empirics.runs.Run`) or a table with one row per
configuration (:func:`summary_table`, or a sweep's ``results.csv`` with the same columns).
Each point averages its runs over seeds (the title says how many); runs that fall on one
point but differ in another setting are refused (:func:`figures.selection.check_not_pooled`),
and so is a run without CL-NSCL rows (a run of one objective). Measures are labelled from
their registry (:func:`figures.style.measure_label`). Each ``figure_*`` is the one builder of
its figure, for the gallery and the claims study alike (which passes its own title).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from empirics.objectives import THEOREM_PAIR
from figures import io, selection, style

#: Settings that identify a configuration in a summary table (:func:`figures.io.setting`).
CONFIG_COLUMNS = ("classes", "tau", "batch_size", "lr_rule", "lr", "seed", "steps", "dataset")
#: The column of a summary table that splits Fig. 5 into rows (the claims study's budgets).
BUDGET = "budget"


def metric_label(metric: str, pair: str = io.THEOREM) -> str:
    """``CL-NSCL CKA``: the pair's objectives and the measure's registry label (with the
    note that lower is more aligned where it is)."""
    names = "-".join(style.objective_label(o) for o in pair.split("-"))
    return style.measure_label(metric, prefix=f"{names} ", sep="\n")


def summary_table(runs: Sequence[io.Run], *, pair: str = io.THEOREM, split: str = "test",
                  metrics: Sequence[str] | None = None,
                  features: str | None = io.PAPER_FEATURES) -> pd.DataFrame:
    """One row per run: its configuration and the final value of each measure for ``pair``
    (``metrics``: default every registered measure the run records)."""
    rows = []
    for run in runs:
        row = {"run": str(run.path)}
        for col in CONFIG_COLUMNS:
            row[col] = io.setting(run, col)
        names = style.measures_in(run.metrics.columns) if metrics is None else metrics
        for m in names:
            if m in run.metrics.columns:
                row[m] = io.final_value(run, pair, m, split=split, features=features)
        if not run.losses.empty and {"loss_cl", "loss_nscl"} <= set(run.losses.columns):
            lg = io.loss_gap_table(run, split=split)
            anchor = THEOREM_PAIR[0]  # the loss gap of the CL encoder
            lg = lg[lg["model"] == anchor] if "model" in lg.columns else lg
            if len(lg):
                last = lg.iloc[-1]
                row["loss_gap"] = float(last["loss_gap"])
                if "loss_gap_bound" in lg.columns:
                    row["loss_gap_bound"] = float(last["loss_gap_bound"])
        rows.append(row)
    return pd.DataFrame(rows)


def _aggregate(table: pd.DataFrame, by: Sequence[str], metric: str) -> pd.DataFrame:
    io.require(table, [*by, metric], "the summary table")
    others = [c for c in CONFIG_COLUMNS if c in table.columns and c not in (*by, "seed")]
    for c in others:  # a point must not average over a setting it does not show
        n = table.groupby(list(by), dropna=False)[c].nunique(dropna=False)
        if (n > 1).any():
            at = n[n > 1].index[0]
            raise selection.FigureInputError(
                f"Expected the rows drawn at one point ({', '.join(by)} = {at}) to differ "
                f"only in the seed, got several values of {c}: the figure would average "
                f"over {c} without showing it; keep one value with --select {c}=VALUE")
    g = table.groupby(list(by), dropna=False)[metric]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def classes_matrix(runs: Sequence[io.Run], *, pair: str = io.THEOREM, metric: str = "cka",
                   split: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C values, time points, matrix[C, t]) of ``metric``, averaged over seeds.

    Runs must share their evaluation schedule; time points missing in a run are NaN.

    Raises:
        FigureInputError: a run without ``pair`` rows, or runs of one C that differ in
            more than the seed.
    """
    for run in runs:
        selection.require_pair(run, pair)
    selection.check_not_pooled(runs, ("classes",))
    frames = []
    for run in runs:
        C = io.setting(run, "classes")
        if C is None:
            raise KeyError(f"Expected the setting 'classes' in {run.path / 'config.json'}, "
                           "got none")
        s = io.pair_series(run, pair, metric, split=split, features=io.PAPER_FEATURES)
        frames.append(pd.DataFrame({"C": int(C), "step": s["step"], "t": s["t"],
                                    "v": s["value"]}))
    if not frames:
        raise ValueError("Expected `runs` to hold at least one run, got none")
    df = pd.concat(frames)
    # Columns are evaluation steps (shared schedule); the time label is their mean epoch
    # (C-way subsets differ slightly in size, so the same step is a slightly different epoch).
    M = df.groupby(["C", "step"])["v"].mean().unstack("step").sort_index()
    t = df.groupby("step")["t"].mean().reindex(M.columns)
    return M.index.to_numpy(), t.to_numpy(dtype=float), M.to_numpy(dtype=float)


def plot_classes_heatmap(ax, runs: Sequence[io.Run], *, metric: str = "cka",
                         split: str = "test", annotate: bool | None = None):
    """Fig. 3: ``metric`` for CL-NSCL over (number of classes x evaluation time)."""
    Cs, ts, M = classes_matrix(runs, metric=metric, split=split)
    lo, hi = style.measure(metric).range  # a bounded measure's colours span its range
    bounded = np.isfinite(lo) and np.isfinite(hi)
    im = ax.imshow(M, aspect="auto", origin="lower", cmap=style.SEQUENTIAL_CMAP,
                   vmin=lo if bounded else None, vmax=hi if bounded else None,
                   interpolation="nearest")
    step_y = max(1, len(Cs) // 12)
    ax.set_yticks(range(0, len(Cs), step_y), [str(c) for c in Cs[::step_y]])
    step_x = max(1, len(ts) // 8)
    ax.set_xticks(range(0, len(ts), step_x), [f"{t:.3g}" for t in ts[::step_x]])
    ax.grid(False)
    tcol, tlabel = io.time_axis(runs[0].metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel("number of classes C")
    if annotate is None:
        annotate = M.size <= 80
    if annotate:
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if np.isfinite(M[i, j]):
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if M[i, j] < 0.6 else "black")
    ax.set_title(f"{metric_label(metric)}, {split} set")
    cb = ax.figure.colorbar(im, ax=ax)
    cb.set_label(metric_label(metric))
    return im


def figure_classes(runs: Sequence[io.Run], *, title: str | None = None):
    """Fig. 3 analogue: CL-NSCL CKA over C-way subsets and training time."""
    fig, axes = style.new_figure(1, 1, width=5.2, height=3.4)
    plot_classes_heatmap(axes[0, 0], runs)
    fig.suptitle(title or f"{metric_label('cka')} by number of classes (C-way subsets) and "
                 f"training time\n(backbone features h; {io.seed_note(runs)})")
    return fig


def plot_curves_by(ax, runs: Sequence[io.Run], key: str, *, metric: str = "cka",
                   split: str = "test", pair: str = io.THEOREM, label_fmt: str = "{}"):
    """``metric`` over training, one line per value of config ``key`` (seeds averaged).

    Raises:
        FigureInputError: a run without ``pair`` rows, or runs of one ``key`` value that
            differ in more than the seed.
    """
    for run in runs:
        selection.require_pair(run, pair)
    selection.check_not_pooled(runs, (key,))
    groups: dict = {}
    for run in runs:
        groups.setdefault(io.setting(run, key), []).append(run)
    values = sorted(groups, key=lambda v: (v is None, v))
    colors = style.sequential_colors(len(values))
    for color, v in zip(colors, values, strict=True):
        frames = [io.pair_series(r, pair, metric, split=split, features=io.PAPER_FEATURES)
                  for r in groups[v]]
        df = pd.concat(frames).groupby("t")["value"].agg(["mean", "std"]).reset_index()
        ax.plot(df["t"], df["mean"], color=color, marker="o", markersize=3,
                label=label_fmt.format(v))
        if len(frames) > 1:
            ax.fill_between(df["t"], df["mean"] - df["std"], df["mean"] + df["std"],
                            color=color, alpha=0.2, linewidth=0)
    _, tlabel = io.time_axis(runs[0].metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel(metric_label(metric, pair))
    ax.legend(loc="best")


def plot_final_vs(ax, table: pd.DataFrame, x: str, *, metric: str = "cka",
                  hue: str | None = None, logx: bool = False, color: str | None = None):
    """Final ``metric`` (mean +- std over seeds) against config column ``x``."""
    if hue is None:
        agg = _aggregate(table, [x], metric).sort_values(x)
        ax.errorbar(agg[x], agg["mean"], yerr=agg["std"], marker="o", capsize=3,
                    color=color or style.method_color(io.THEOREM),
                    label=style.pair_label(io.THEOREM))
    else:
        agg = _aggregate(table, [hue, x], metric)
        order = [h for h in style.RULE_COLORS if h in set(agg[hue])]
        order += [h for h in dict.fromkeys(agg[hue]) if h not in order]
        for h in order:
            sub = agg[agg[hue] == h]
            sub = sub.sort_values(x)
            ax.errorbar(sub[x], sub["mean"], yerr=sub["std"], marker="o", capsize=3,
                        color=style.RULE_COLORS.get(h), label=style.RULE_LABELS.get(h, str(h)))
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(table[x].dropna().unique()),
                      [f"{v:g}" for v in sorted(table[x].dropna().unique())])
        ax.minorticks_off()
    ax.set_ylabel(metric_label(metric))
    ax.legend(loc="best")


def _final_vs_tau(ax, table: pd.DataFrame, metric: str) -> None:
    plot_final_vs(ax, table, "tau", metric=metric)
    ax.set_xlabel("temperature τ")
    ax.set_xscale("log")
    ticks = sorted(table["tau"].dropna().unique())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_title(f"final {style.measure(metric).label} vs temperature")


def figure_tau(runs: Sequence[io.Run], *, title: str | None = None):
    """Fig. 4 analogue: CL-NSCL alignment for tau in {0.1, 0.5, 1.0}: CKA over training,
    and the final CKA and RSA against tau."""
    _check_runs(runs, ("tau",))
    fig, axes = style.new_figure(1, 3)
    plot_curves_by(axes[0, 0], runs, "tau", metric="cka", label_fmt="τ = {}")
    axes[0, 0].set_title(f"{style.measure('cka').label} over training")
    table = summary_table(runs)
    _final_vs_tau(axes[0, 1], table, "cka")
    _final_vs_tau(axes[0, 2], table, "rsa")
    fig.suptitle(title or "CL-NSCL alignment across temperatures (test set, backbone "
                 f"features h; {io.seed_note(runs, 'mean ± sd')})")
    return fig


def _final_vs_batch(ax, table: pd.DataFrame, metric: str, budget: str | None) -> None:
    plot_final_vs(ax, table, "batch_size", metric=metric, hue="lr_rule", logx=True)
    ax.set_xlabel("batch size B (samples)")
    ax.set_title(f"final {style.measure(metric).label} vs batch size"
                 + (f"\n{budget}" if budget else ""))


def figure_batch(runs: Sequence[io.Run] | None = None, table: pd.DataFrame | None = None, *,
                 title: str | None = None):
    """Fig. 5 analogue: final CL-NSCL CKA and similarity gap vs batch size under each
    learning-rate rule; one row of panels per value of the table's :data:`BUDGET` column
    when it has one (the claims study: equal steps, equal samples seen)."""
    if table is None:
        if not runs:
            raise ValueError("Expected `runs` or `table`, got neither")
        _check_runs(runs, ("batch_size", "lr_rule"))
        table = summary_table(runs)
    budgets = (list(dict.fromkeys(table[BUDGET])) if BUDGET in table.columns else [None])
    fig, axes = style.new_figure(len(budgets), 2)
    for i, budget in enumerate(budgets):
        part = table if budget is None else table[table[BUDGET] == budget]
        _final_vs_batch(axes[i, 0], part, "cka", budget)
        _final_vs_batch(axes[i, 1], part, "sim_gap", budget)
    steps = table["steps"].dropna().unique() if "steps" in table.columns else []
    extra = f", {int(steps[0])} steps each" if len(steps) == 1 else ""
    seeds = io.seed_note(runs, "mean ± sd") if runs else (
        f"mean ± sd over {table['seed'].nunique()} seeds" if "seed" in table.columns
        and table["seed"].nunique() > 1 else "one row per point")
    fig.suptitle(title or f"CL-NSCL alignment vs batch size and learning-rate rule{extra}\n"
                 f"(test set, backbone features h; {seeds})")
    return fig


def _check_runs(runs: Sequence[io.Run], shown: Sequence[str], pair: str = io.THEOREM) -> None:
    """Refuse runs without ``pair`` rows, and points that would pool a hidden setting."""
    if not runs:
        raise ValueError("Expected `runs` to hold at least one run, got none")
    for run in runs:
        selection.require_pair(run, pair)
    selection.check_not_pooled(runs, shown)
