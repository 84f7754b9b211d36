"""[P2] Fig. 1, 2 and 6 analogues: how CL and its partners move apart over one lockstep run.

- Fig. 1: the angle between CL and NSCL in weight space and in representation space.
- Fig. 2: CKA and RSA of CL against NSCL, SCL and CE over training, on train and test.
- Fig. 6: the relative weight gap over training, next to the relative similarity gap.

Each ``plot_*`` function draws on one Axes it is given and reads a loaded run
(:class:`empirics.runs.Run`); each ``figure_*`` function lays out the panels. A figure needs
at least one pair of CL with another objective in ``metrics.csv``: a run of one objective
(or without CL) is refused by name (:func:`figures.selection.require_cl_pairs`); a run with
some pairs draws those.
"""

from __future__ import annotations

from figures import io, selection, style

SPLIT_STYLE = {"train": {"linestyle": "-", "marker": None}, "test": {"linestyle": "--",
                                                                     "marker": None}}


def _draw_pairs(ax, run: io.Run, column: str, *, split: str | None, pairs=None,
                label_split: bool = False, features: str | None = io.PAPER_FEATURES,
                linestyle: str | None = None) -> int:
    drawn = 0
    for pair in pairs or io.pairs_in(run):
        s = io.pair_series(run, pair, column, split=split, features=features)
        if s["value"].notna().sum() == 0:
            continue
        label = style.pair_label(pair) + (f" ({split})" if label_split and split else "")
        ls = linestyle or SPLIT_STYLE.get(split, {}).get("linestyle", "-")
        ax.plot(s["t"], s["value"], color=style.method_color(pair), linestyle=ls,
                marker="o", markersize=3, label=label)
        drawn += 1
    return drawn


def plot_angle(ax, run: io.Run, space: str = "weight", *, split: str = "test") -> None:
    """Angle (degrees) between CL and each partner over training, in one space.

    ``space="weight"``: angle between the flattened parameter vectors (``weight_angle``);
    ``space="representation"``: ``repr_angle`` of the reference-set features (THEORY.md s12,
    [P2] Fig. 1 reports about 86 and 28 degrees at the paper's scale).
    """
    if space not in ("weight", "representation"):
        raise ValueError(f"Expected `space` in ('weight', 'representation'), got {space!r}")
    column = "weight_angle" if space == "weight" else "repr_angle"
    if space == "representation":
        _draw_pairs(ax, run, column, split=split)
    else:  # the weights do not depend on the split: draw solid lines
        _draw_pairs(ax, run, column, split=_any_split(run, split), linestyle="-")
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel("angle to CL (degrees)")
    ax.set_ylim(bottom=0)
    kind = io.pick_features(run.metrics, io.PAPER_FEATURES)
    where = (f", {split} set" + (f", features {kind}" if kind else "")
             if space == "representation" else "")
    ax.set_title(f"{space.capitalize()}-space angle{where}")
    _legend(ax)


def _any_split(run: io.Run, preferred: str) -> str | None:
    splits = io.splits_in(run)
    return preferred if preferred in splits else (splits[0] if splits else None)


def _legend(ax) -> None:
    """A legend when something labelled was drawn (no warning for an empty panel)."""
    if any(not h.get_label().startswith("_") for h in ax.get_lines()):
        ax.legend(loc="best")


def figure_angles(run: io.Run):
    """Fig. 1 analogue: weight-space vs representation-space angle, CL against its partners."""
    selection.require_cl_pairs(run)
    fig, axes = style.new_figure(1, 2, width=3.8)
    plot_angle(axes[0, 0], run, "weight")
    plot_angle(axes[0, 1], run, "representation")
    fig.suptitle("Angle between CL and each partner, in weight space and in representation "
                 f"space\n({_describe(run)})")
    return fig


def plot_alignment(ax, run: io.Run, metric: str = "cka", *, split: str = "test") -> None:
    """CKA (cosine kind, THEORY.md s7) or RSA (Pearson) of CL against every partner."""
    if metric not in ("cka", "rsa", "cka_linear"):
        raise ValueError(f"Expected `metric` in ('cka', 'rsa', 'cka_linear'), got {metric!r}")
    _draw_pairs(ax, run, metric, split=split)
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    name = {"cka": "CKA (cosine Gram)", "rsa": "RSA (Pearson)",
            "cka_linear": "CKA (linear, raw features)"}[metric]
    ax.set_ylabel(f"{name} with CL")
    ax.set_ylim(top=1.005)  # bottom automatic: small differences stay visible
    kind = io.pick_features(run.metrics, io.PAPER_FEATURES)
    ax.set_title(f"{name.split(' ')[0]}, {split} set" + (f", features {kind}" if kind else ""))
    _legend(ax)


def figure_alignment(run: io.Run):
    """Fig. 2 analogue: CKA and RSA with CL over training; rows train/test."""
    selection.require_cl_pairs(run)
    splits = [s for s in io.splits_in(run) if s is not None] or ["test"]
    fig, axes = style.new_figure(len(splits), 2)
    for i, split in enumerate(splits):
        plot_alignment(axes[i, 0], run, "cka", split=split)
        plot_alignment(axes[i, 1], run, "rsa", split=split)
    fig.suptitle(f"Alignment of CL with NSCL, SCL and CE over training\n({_describe(run)})")
    return fig


def plot_weight_gap(ax, run: io.Run, column: str = "weight_gap") -> None:
    """Relative weight gap ``mean_l ||W_l^CL - W_l^X|| / ||W_l^X||`` over training."""
    if column not in ("weight_gap", "weight_gap_sum"):
        raise ValueError(f"Expected `column` in ('weight_gap', 'weight_gap_sum'), got {column!r}")
    _draw_pairs(ax, run, column, split=_any_split(run, "test"), linestyle="-")
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    kind = "mean" if column == "weight_gap" else "sum"
    ax.set_ylabel(f"relative weight gap ({kind} over layers)")
    ax.set_ylim(bottom=0)
    ax.set_title("Weight gap to CL")
    _legend(ax)


def plot_similarity_gap_relative(ax, run: io.Run, *, split: str = "test") -> None:
    """``rho = ||K_CL - K_X||_F / ||K_CL||_F`` over training (THEORY.md s7), for contrast."""
    _draw_pairs(ax, run, "rho", split=split, features=io.PAPER_FEATURES)
    _, tlabel = io.time_axis(run.metrics)
    ax.set_xlabel(tlabel)
    ax.set_ylabel(r"relative similarity gap $\rho$")
    ax.set_ylim(bottom=0)
    kind = io.pick_features(run.metrics, io.PAPER_FEATURES)
    ax.set_title(f"Similarity gap to CL, {split} set" + (f", features {kind}" if kind else ""))
    _legend(ax)


def figure_weight_gap(run: io.Run):
    """Fig. 6 analogue: weights drift apart while similarity matrices stay close."""
    selection.require_cl_pairs(run)
    fig, axes = style.new_figure(1, 2)
    plot_weight_gap(axes[0, 0], run)
    plot_similarity_gap_relative(axes[0, 1], run)
    fig.suptitle(f"Weight gap vs similarity gap over training\n({_describe(run)})")
    return fig


def _describe(run: io.Run) -> str:
    parts = []
    for key, fmt in (("dataset", "{}"), ("classes", "C = {}"), ("tau", "τ = {:g}"),
                     ("batch_size", "B = {}"), ("steps", "{} steps"), ("seed", "seed {}")):
        v = io.setting(run, key)
        if v is not None:
            parts.append(fmt.format(v))
    return ", ".join(parts) or run.name
