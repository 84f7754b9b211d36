"""[P2] Fig. 1, 2 and 6 analogues: how CL and its partners move apart over training.

- Fig. 1: the angle between CL and each partner in weight space and in representation space.
- Fig. 2: every alignment score of the measures registry (:func:`alignment_measures`: CKA,
  linear CKA, RSA, Procrustes, mutual kNN, and any plugin) of CL against each partner over
  training, on train and test.
- Fig. 6: the relative weight gap over training, next to the relative similarity gap; with
  a long run's curvature estimates, Theorem 2 against the measured weight distance.

**One builder per figure** (``figure_*``), for the gallery and the claims study alike: it
takes the runs of one setting, one run or its seeds. A curve is the mean over the runs at
each evaluation step and, over several seeds, its 95% Student-t band (:func:`plot_series`);
runs that differ in more than the seed are refused
(:func:`figures.selection.check_not_pooled`), and the title says how many seeds a line
averages. A figure needs a pair of CL with another objective in ``metrics.csv``: a run of
one objective (or without CL) is refused by name (:func:`figures.selection.require_cl_pairs`);
a run with some pairs draws those.

>>> mean, half = t_band(np.array([[1.0, 2.0], [3.0, np.nan]]))
>>> mean.tolist(), bool(np.isnan(half[1]))
([2.0, 2.0], True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from figures import io, selection, style

__all__ = ["alignment_measures", "figure_alignment", "figure_angles",
           "figure_weight_gap", "plot_alignment", "plot_angle", "plot_series",
           "plot_similarity_gap_relative", "plot_theorem2", "plot_weight_gap", "t_band"]

SPLIT_STYLE = {"train": {"linestyle": "-", "marker": None}, "test": {"linestyle": "--",
                                                                     "marker": None}}
#: The time axes a curve can be drawn against: training time (epochs, else steps) or the
#: running sum of learning rates ``S`` (what Theorems 1 and 2 depend on).
X_AXES = ("t", "S")
S_LABEL = r"$S=\sum_t \eta_t$"


def _as_runs(runs: io.Run | Sequence[io.Run]) -> list[io.Run]:
    out = [runs] if isinstance(runs, io.Run) else list(runs)
    if not out:
        raise ValueError("Expected at least one run, got none")
    return out


# ----------------------------------------------------------------------------- bands
def t_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the rows (seeds) and its Student-t half-width at the studies' level
    (:data:`empirics.studies.statistics.CONFIDENCE`, the columnwise twin of
    :func:`~empirics.studies.statistics.t_interval`), per column; NaN values are left out,
    and a column with fewer than two values has a NaN half-width."""
    from scipy import stats

    from empirics.studies.statistics import CONFIDENCE

    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # a step no seed evaluated: NaN, a point left out (numpy would warn "empty slice")
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = (np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1
              else np.full_like(mean, np.nan))
        t = stats.t.ppf((1 + CONFIDENCE) / 2, np.maximum(n - 1, 1))
        half = np.where(n > 1, t * sd / np.sqrt(n), np.nan)
    return mean, half


def _sum_eta(run: io.Run) -> dict[int, float]:
    """Step -> sum of learning rates so far (``bounds.csv``'s ``sum_eta_so_far``; 0 at 0)."""
    b = run.bounds
    out = dict(zip(b["step"], b["sum_eta_so_far"], strict=True)) if (
        not b.empty and "sum_eta_so_far" in b.columns) else {}
    out[0] = 0.0
    return out


def plot_series(ax, runs: io.Run | Sequence[io.Run], pair: str, column: str, *,
                split: str | None, features: str | None, color: str, label: str,
                linestyle: str = "-", x: str = "t") -> bool:
    """``column`` of ``pair`` in ``metrics.csv`` against training time (``x = "t"``: epochs
    or steps) or the sum of learning rates (``x = "S"``): the mean over the runs (seeds) at
    each evaluation step and, over several runs, its 95% Student-t band.

    Returns:
        Whether a finite value was drawn (nothing is drawn otherwise).

    Raises:
        FigureInputError: a run without ``pair`` rows, or runs that differ in more than
            the seed (the band averages over seeds only).
    """
    runs = _as_runs(runs)
    if x not in X_AXES:
        raise ValueError(f"Expected `x` in {X_AXES}, got {x!r}")
    for run in runs:
        selection.require_pair(run, pair)
    selection.check_not_pooled(runs)
    frames = []
    for run in runs:
        s = io.pair_series(run, pair, column, split=split, features=features)
        if x == "S":
            S = _sum_eta(run)
            s = s.assign(t=[S.get(int(k), np.nan) for k in s["step"]])
        frames.append(s.set_index("step"))
    steps = sorted(set().union(*(f.index for f in frames)))
    V = np.array([f["value"].reindex(steps).to_numpy(float) for f in frames])
    if not np.isfinite(V).any():
        return False
    T = np.array([f["t"].reindex(steps).to_numpy(float) for f in frames])
    with warnings.catch_warnings():  # a step without a time: NaN, left out
        warnings.simplefilter("ignore", RuntimeWarning)
        t = np.nanmean(T, axis=0)
    mean, half = t_band(V)
    ax.plot(t, mean, color=color, linestyle=linestyle, marker="o", markersize=3, label=label)
    if np.isfinite(half).any():
        ax.fill_between(t, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
    return True


def _draw_pairs(ax, runs: Sequence[io.Run], column: str, *, split: str | None,
                features: str | None = io.PAPER_FEATURES, linestyle: str | None = None,
                x: str = "t") -> int:
    """One :func:`plot_series` per pair of CL in the runs, in the pair's colour."""
    drawn = 0
    for pair in io.pairs_in(runs[0]):
        ls = linestyle or SPLIT_STYLE.get(split, {}).get("linestyle", "-")
        drawn += plot_series(ax, runs, pair, column, split=split, features=features,
                             color=style.method_color(pair), label=style.pair_label(pair),
                             linestyle=ls, x=x)
    return drawn


def _time_label(runs: Sequence[io.Run], x: str) -> str:
    return S_LABEL if x == "S" else io.time_axis(runs[0].metrics)[1]


def _any_split(run: io.Run, preferred: str) -> str | None:
    splits = io.splits_in(run)
    return preferred if preferred in splits else (splits[0] if splits else None)


def _features_note(runs: Sequence[io.Run], features: str | None = io.PAPER_FEATURES) -> str:
    kind = io.pick_features(runs[0].metrics, features)
    return f", features {kind}" if kind else ""


def _legend(ax) -> None:
    """A legend when something labelled was drawn (no warning for an empty panel)."""
    if any(not h.get_label().startswith("_") for h in ax.get_lines()):
        ax.legend(loc="best")


def _check_pairs(runs: Sequence[io.Run]) -> None:
    for run in runs:
        selection.require_cl_pairs(run)


# ----------------------------------------------------------------------------- Fig. 1
def plot_angle(ax, runs: io.Run | Sequence[io.Run], space: str = "weight", *,
               split: str = "test") -> None:
    """Angle (degrees) between CL and each partner over training, in one space.

    ``space="weight"``: angle between the flattened parameter vectors (``weight_angle``);
    ``space="representation"``: ``repr_angle`` of the reference-set features (THEORY.md s12,
    [P2] Fig. 1 reports about 86 and 28 degrees at the paper's scale).
    """
    if space not in ("weight", "representation"):
        raise ValueError(f"Expected `space` in ('weight', 'representation'), got {space!r}")
    runs = _as_runs(runs)
    if space == "representation":
        _draw_pairs(ax, runs, "repr_angle", split=split)
    else:  # the weights do not depend on the split: draw solid lines
        _draw_pairs(ax, runs, "weight_angle", split=_any_split(runs[0], split),
                    linestyle="-")
    ax.set_xlabel(_time_label(runs, "t"))
    ax.set_ylabel("angle to CL (degrees)")
    ax.set_ylim(bottom=0)
    where = (f", {split} set{_features_note(runs)}" if space == "representation" else "")
    ax.set_title(f"{space.capitalize()}-space angle{where}")
    _legend(ax)


def figure_angles(runs: io.Run | Sequence[io.Run], *, title: str | None = None):
    """Fig. 1 analogue: weight-space vs representation-space angle, CL against its partners."""
    runs = _as_runs(runs)
    _check_pairs(runs)
    fig, axes = style.new_figure(1, 2, width=3.8)
    plot_angle(axes[0, 0], runs, "weight")
    plot_angle(axes[0, 1], runs, "representation")
    fig.suptitle(title or "Angle between CL and each partner, in weight space and in "
                 f"representation space\n({io.describe(runs)})")
    return fig


# ----------------------------------------------------------------------------- Fig. 2
def alignment_measures(runs: io.Run | Sequence[io.Run]) -> list[str]:
    """The measures Fig. 2 draws: every alignment score of the registry
    (:func:`figures.style.is_score`) that ``metrics.csv`` of the first run records, with at
    least one value, in the registry's order."""
    m = _as_runs(runs)[0].metrics
    return [name for name in style.measures_in(m.columns, scores=True)
            if m[name].notna().any()]


def plot_alignment(ax, runs: io.Run | Sequence[io.Run], metric: str = "cka", *,
                   split: str = "test") -> None:
    """One registered measure (CKA, RSA, ...) of CL against every partner over training:
    labelled from the registry, its axis limited at the measure's aligned end."""
    style.measure(metric)  # a registered measure, or ValueError naming the known ones
    runs = _as_runs(runs)
    _draw_pairs(ax, runs, metric, split=split)
    ax.set_xlabel(_time_label(runs, "t"))
    ax.set_ylabel(style.measure_label(metric, sep="\n"))
    style.measure_axis(ax, metric)
    ax.set_title(f"{style.measure(metric).label}\n{split} set{_features_note(runs)}")
    _legend(ax)


def figure_alignment(runs: io.Run | Sequence[io.Run], *, title: str | None = None):
    """Fig. 2 analogue: every alignment score with CL over training (columns:
    :func:`alignment_measures`); rows train and test."""
    runs = _as_runs(runs)
    _check_pairs(runs)
    splits = [s for s in io.splits_in(runs[0]) if s is not None] or ["test"]
    metrics = alignment_measures(runs)
    if not metrics:
        raise selection.FigureInputError(
            f"Expected an alignment measure in {str(runs[0].path / 'metrics.csv')!r}, got "
            "none")
    fig, axes = style.new_figure(len(splits), len(metrics), width=3.3)
    for i, split in enumerate(splits):
        for j, metric in enumerate(metrics):
            plot_alignment(axes[i, j], runs, metric, split=split)
    fig.suptitle(title or f"Alignment of CL with {_partners(runs[0])} over training\n"
                 f"({io.describe(runs)})")
    return fig


def _partners(run: io.Run) -> str:
    names = [style.objective_label(p.partition("-")[2]) for p in io.pairs_in(run)]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


# ----------------------------------------------------------------------------- Fig. 6
def plot_weight_gap(ax, runs: io.Run | Sequence[io.Run], column: str = "weight_gap", *,
                    x: str = "t") -> None:
    """Relative weight gap ``mean_l ||W_l^CL - W_l^X|| / ||W_l^X||`` over training."""
    if column not in ("weight_gap", "weight_gap_sum"):
        raise ValueError(f"Expected `column` in ('weight_gap', 'weight_gap_sum'), got {column!r}")
    runs = _as_runs(runs)
    _draw_pairs(ax, runs, column, split=_any_split(runs[0], "test"), linestyle="-", x=x)
    ax.set_xlabel(_time_label(runs, x))
    kind = "mean" if column == "weight_gap" else "sum"
    ax.set_ylabel(f"relative weight gap ({kind} over layers)")
    ax.set_ylim(bottom=0)
    ax.set_title("Weight gap to CL")
    _legend(ax)


def plot_similarity_gap_relative(ax, runs: io.Run | Sequence[io.Run], *,
                                 split: str = "test", x: str = "t") -> None:
    """``rho = ||K_CL - K_X||_F / ||K_CL||_F`` over training (THEORY.md s7), for contrast."""
    runs = _as_runs(runs)
    _draw_pairs(ax, runs, "rho", split=split, x=x)
    ax.set_xlabel(_time_label(runs, x))
    ax.set_ylabel(r"relative similarity gap $\rho$" + f"\n{style.LOWER_NOTE}")
    style.measure_axis(ax, "rho")
    ax.set_title(f"Similarity gap to CL, {split} set{_features_note(runs)}")
    _legend(ax)


def plot_theorem2(ax, runs: Sequence[io.Run], curvature: Sequence[Mapping]) -> None:
    """[P2] Theorem 2 with each run's own ``beta`` and ``G`` (``curvature``: the curvature
    summaries of the long runs, matched by seed) against ``S``, and the measured
    ``||w_CL - w_NSCL||`` at the end (log10 scale)."""
    import bounds

    curv = {int(c.get("seed", -1)): c for c in curvature}
    drawn = False
    for run in runs:
        c = curv.get(int(io.setting(run, "seed", -1)))
        if not c or run.bounds.empty or "log10_Delta" not in run.bounds.columns:
            continue
        b = run.bounds.sort_values("step", kind="stable")
        S = b["sum_eta_so_far"].to_numpy(float)
        log_d = b["log10_Delta"].to_numpy(float) * math.log(10)
        ok = np.isfinite(log_d) & (S > 0)
        if not ok.any():
            continue
        y = bounds.log_theorem2(c["G"], c["beta"], c["tau"], log_d[ok], S[ok]) / math.log(10)
        ax.plot(S[ok], y, color=style.BOUND_STYLES["theorem1"]["color"], linestyle=":",
                linewidth=1.6, label=None if drawn else "Theorem 2, run's beta and G")
        ax.plot([float(c["sum_eta"])], [math.log10(float(c["weight_distance"]))], "o",
                color=style.method_color(io.THEOREM),
                label=None if drawn else r"measured $\|w_{CL}-w_{NSCL}\|$")
        drawn = True
    if not drawn:
        style.notice(ax, "no curvature estimate")
    ax.set_xlabel(S_LABEL)
    ax.set_ylabel("log10 of the weight distance")
    ax.set_title("Theorem 2 vs the measured distance")
    _legend(ax)


def figure_weight_gap(runs: io.Run | Sequence[io.Run], *, x: str = "t",
                      curvature: Sequence[Mapping] | None = None, title: str | None = None):
    """Fig. 6 analogue: weights drift apart while similarity matrices stay close; with
    ``curvature`` (a long run's estimates) a third panel, Theorem 2 (:func:`plot_theorem2`)."""
    runs = _as_runs(runs)
    _check_pairs(runs)
    fig, axes = style.new_figure(1, 2 if curvature is None else 3,
                                 width=3.4 if curvature is None else 3.5)
    plot_weight_gap(axes[0, 0], runs, x=x)
    plot_similarity_gap_relative(axes[0, 1], runs, x=x)
    if curvature is not None:
        plot_theorem2(axes[0, 2], runs, curvature)
    fig.suptitle(title or f"Weight gap vs similarity gap over training\n({io.describe(runs)})")
    return fig
