"""The claims study's figures: the verdict summary, and the paper-figure analogues redrawn
from the study's runs (real data where C <= 10, bands over seeds).

``python -m figures claims --claims DIR --out DIR`` draws the summary (``claims.png`` /
``.pdf``): every statistic of ``DIR/claims.csv`` with its 95% interval over seeds, the
verdict marked (colour and text), the paper's value where it reports one.
``python -m figures all --claims DIR --out docs/figures`` also redraws the gallery from the
runs the study lists in ``DIR/runs.csv`` and writes ``figure-captions.md`` beside the
figures: each caption carries the verdicts and numbers of the claims its figure shows.

=================  ======================================  ==================================
figure             runs (claim, run group of runs.csv)     panels
=================  ======================================  ==================================
fig1-angles        C5 long runs                            weight and representation angle
fig2-alignment     C1 base runs (4 objectives)             CKA / RSA with CL, train and test
fig3-classes       C2 real runs (seeded C-way subsets)     CKA heatmap, C x training time
fig4-tau           C3 runs                                 CKA over training and vs tau
fig5-batch         C4 runs, each budget                    final CKA and gap vs B, per rule
fig6-weight-gap    C5 long runs and curvature tasks        weight gap, rho, Theorem 2 vs S
p1-loss-gap        C2 real and synthetic runs              [P1] gap vs C with its bound
bound-landscape    none                                    the bounds (as in the plan mode)
=================  ======================================  ==================================

Bands are the mean over seeds and its 95% Student-t interval (the study's interval), except
Fig. 3 (the mean), Fig. 4 and Fig. 5 (mean +- one standard deviation, the plan mode's plot
functions). Reads files only: never trains, never imports torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from figures import io, selection, style

__all__ = [
    "CLAIMS_FIGURES",
    "ClaimsStudy",
    "VERDICT_COLORS",
    "captions",
    "figure_summary",
    "load_study",
    "main",
    "plot_band",
    "plot_summary",
]

#: Colour of each verdict (Okabe-Ito); any other verdict is grey and still counted.
VERDICT_COLORS = {"holds": style.OKABE_ITO["bluish_green"],
                  "reversed": style.OKABE_ITO["vermillion"],
                  "inconclusive": "#888888",
                  "absent": style.OKABE_ITO["sky_blue"],
                  "unstable": style.OKABE_ITO["orange"]}
#: The verdicts every summary names, even at a count of 0.
ALWAYS_NAMED = ("holds", "reversed", "inconclusive")
REQUIRED = ("claim", "setting", "statistic", "estimate", "ci_low", "ci_high", "n_seeds",
            "verdict", "paper")


# ----------------------------------------------------------------------------- inputs
class ClaimsStudy:
    """A claims-study folder: its table, its manifest, and its runs (read once each)."""

    def __init__(self, path: Path, table: pd.DataFrame, manifest: pd.DataFrame | None):
        self.path, self.table, self.manifest = path, table, manifest
        self._runs: dict[str, io.Run] = {}

    def run(self, run_dir: str) -> io.Run:
        if run_dir not in self._runs:
            self._runs[run_dir] = io.load_run(self.path / run_dir)
        return self._runs[run_dir]

    def uses(self, claim: str, setting: str | None = None) -> pd.DataFrame:
        """The manifest rows of one claim (and run group), finished runs only."""
        if self.manifest is None:
            raise FileNotFoundError(f"Expected the manifest {str(self.path / 'runs.csv')!r}, "
                                    "got no file")
        m = self.manifest
        sel = m["claim"] == claim
        if setting is not None:
            sel &= m["setting"] == setting
        if "status" in m.columns:
            sel &= m["status"].astype(str) == "ok"
        rows = m.loc[sel]
        if rows.empty:
            raise FileNotFoundError(f"Expected finished runs of {claim}"
                                    + (f" ({setting})" if setting else "")
                                    + f" in {str(self.path / 'runs.csv')!r}, got none")
        return rows

    def runs(self, claim: str, setting: str | None = None) -> list[io.Run]:
        """The distinct finished runs of one claim (and run group)."""
        dirs = list(dict.fromkeys(self.uses(claim, setting)["run_dir"].astype(str)))
        return [self.run(d) for d in dirs]

    def rows(self, claim: str, prefix: str = "") -> pd.DataFrame:
        """The rows of ``claim`` whose setting is ``prefix`` or lies under it, segment by
        segment (``real/h`` holds ``real/h/cka``, not ``real/hx``)."""
        t = self.table
        setting = t["setting"].astype(str)
        under = setting.str.startswith(prefix if not prefix or prefix.endswith("/")
                                       else prefix + "/")
        return t[(t["claim"] == claim) & (under | (setting == prefix))]

    def curvature(self) -> list[dict]:
        """C5's curvature summaries (``runs/curvature__*/summary.json``)."""
        out = []
        for f in sorted((self.path / "runs").glob("curvature__*/summary.json")):
            try:
                out.append(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
        return out


def load_study(path: str | Path) -> ClaimsStudy:
    """The study folder ``path`` (or its ``claims.csv``): table, manifest (if any).

    Raises:
        FileNotFoundError: no ``claims.csv``.
        RunFileError: an unreadable table (names the file and the line).
        KeyError: ``claims.csv`` without a required column (names it).
    """
    p = Path(path)
    folder = p.parent if p.is_file() else p
    table_path = folder / "claims.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"Expected the claims table {str(table_path)!r} (run python "
                                "-m empirics.claims --out DIR first), got no file")
    table = io.reader.read_table(table_path)
    io.require(table, REQUIRED, str(table_path))
    manifest = None
    if (folder / "runs.csv").is_file():
        manifest = io.reader.read_table(folder / "runs.csv")
        io.require(manifest, ["claim", "setting", "seed", "run_dir"], str(folder / "runs.csv"))
    return ClaimsStudy(folder, table, manifest)


# ----------------------------------------------------------------------------- summary
def _scale(row: Mapping) -> float:
    vals = [abs(float(row[k])) for k in ("estimate", "ci_low", "ci_high", "paper_value")
            if k in row and row[k] is not None and np.isfinite(float(row[k]))]
    m = max(vals) if vals else 1.0
    return m if m > 0 else 1.0


def _num(x) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return f"{v:+.3g}" if np.isfinite(v) else "-"


def plot_summary(ax, table: pd.DataFrame) -> None:
    """Every statistic of ``table`` (claims.csv) as its estimate and interval, one line each.

    Each line is scaled to its own range (the statistics have different units) around a
    common zero, so the side of zero and the interval's reach are comparable; the numbers
    are written beside each line. Colour: the verdict. Diamond: the paper's value.
    """
    io.require(table, REQUIRED, "the claims table")
    n = len(table)
    ys, labels, y, last = [], [], 0.0, None
    for claim in table["claim"]:
        if last is not None and claim != last:
            y += 0.6  # a gap between claims
        ys.append(y)
        y += 1.0
        last = claim
    ax.axvline(0.0, color="#444444", linewidth=0.8, linestyle="--", zorder=0)
    for yi, (_, r) in zip(ys, table.iterrows(), strict=True):
        m = _scale(r)
        color = VERDICT_COLORS.get(str(r["verdict"]), "#888888")
        est, lo, hi = (float(r[k]) / m for k in ("estimate", "ci_low", "ci_high"))
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=color, linewidth=2.2, solid_capstyle="butt")
        if np.isfinite(est):
            ax.plot([est], [yi], "o", color=color, markersize=5)
        pv = float(r["paper_value"]) if "paper_value" in r and r["paper_value"] is not None \
            else float("nan")
        if np.isfinite(pv):
            ax.plot([pv / m], [yi], "D", markerfacecolor="none", markeredgecolor="black",
                    markersize=5)
        ax.text(1.04, yi, f"{_num(r['estimate'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
                f"  n={int(r['n_seeds'])}  {r['verdict']}", va="center", ha="left",
                fontsize=7, color=color, transform=ax.get_yaxis_transform())
        labels.append(f"{r['claim']}  {r['setting']}")
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_ylim(max(ys) + 0.8 if ys else 1, -0.8)
    ax.set_xlim(-1.08, 1.08)
    ax.set_xticks([-1, 0, 1], ["-", "0", "+"])
    ax.grid(False)
    ax.set_xlabel("estimate and 95% interval over seeds, each line scaled to its own range "
                  "(numbers on the right)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=VERDICT_COLORS.get(v, "#888888"), linewidth=2.2,
                      marker="o", markersize=4, label=v) for v in _verdicts(table)]
    handles.append(Line2D([], [], linestyle="none", marker="D", markerfacecolor="none",
                          markeredgecolor="black", label="paper's value"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0 + 0.9 / max(n, 1)),
              ncol=len(handles) if len(handles) <= 7 else 4, fontsize=7, frameon=False)


def figure_summary(table: pd.DataFrame, *, title: str = ""):
    """The summary figure: :func:`plot_summary` of the whole table."""
    n = len(table)
    fig, axes = style.new_figure(1, 1, width=7.8, height=0.9 + 0.24 * n + 0.1 *
                                 table["claim"].nunique())
    plot_summary(axes[0, 0], table)
    counts = table["verdict"].astype(str).value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in _verdicts(table))
    fig.suptitle((title + "\n" if title else "") + f"Claims C1-C7: {tally} (of {n})")
    return fig


# ----------------------------------------------------------------------------- bands
def _t_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% Student-t half-width along axis 0 (NaN half-width for one row)."""
    from scipy import stats

    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # a step no seed evaluated: NaN, a point left out (numpy would warn "empty slice")
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.full_like(mean,
                                                                                   np.nan)
        half = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n),
                        np.nan)
    return mean, half


def plot_band(ax, runs: Sequence[io.Run], pair: str, column: str, *, split: str | None,
              features: str | None, color: str, label: str, x: str = "t") -> None:
    """Mean of ``column`` over the runs (seeds) and its 95% t band, against training time
    (``x = "t"``: epochs or steps) or the sum of learning rates (``x = "S"``).

    Raises:
        FigureInputError: a run without ``pair`` rows, or runs that differ in more than
            the seed (the band averages over seeds only).
    """
    for run in runs:
        selection.require_pair(run, pair)
    selection.check_not_pooled(runs)
    frames = []
    for run in runs:
        s = io.pair_series(run, pair, column, split=split, features=features)
        if x == "S":
            b = run.bounds
            S = dict(zip(b["step"], b["sum_eta_so_far"], strict=True)) if (
                not b.empty and "sum_eta_so_far" in b.columns) else {}
            S[0] = 0.0
            s = s.assign(t=[S.get(int(k), np.nan) for k in s["step"]])
        frames.append(s.set_index("step"))
    if not frames:
        return
    steps = sorted(set().union(*(f.index for f in frames)))
    V = np.array([f["value"].reindex(steps).to_numpy(float) for f in frames])
    T = np.array([f["t"].reindex(steps).to_numpy(float) for f in frames])
    with warnings.catch_warnings():  # a step without a time: NaN, left out
        warnings.simplefilter("ignore", RuntimeWarning)
        t = np.nanmean(T, axis=0)
    mean, half = _t_band(V)
    ax.plot(t, mean, color=color, marker="o", markersize=2.5, label=f"{label} (n={len(runs)})")
    if np.isfinite(half).any():
        ax.fill_between(t, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)


def _verdict_text(study: ClaimsStudy, claim: str, prefix: str = "") -> str:
    rows = study.rows(claim, prefix)
    return "; ".join(f"{r['setting']}: {_num(r['estimate'])} [{_num(r['ci_low'])}, "
                     f"{_num(r['ci_high'])}] {r['verdict']}" for _, r in rows.iterrows())


def _join(title: str, short: str) -> str:
    """``title; short``, or ``title`` alone when the study has no such row."""
    return f"{title}; {short}" if short else title


def _verdicts(table: pd.DataFrame) -> list[str]:
    """The verdicts a summary names: :data:`ALWAYS_NAMED`, then every other one present."""
    present = list(dict.fromkeys(table["verdict"].astype(str)))
    return [*ALWAYS_NAMED, *(v for v in VERDICT_COLORS if v in present and v not in
                             ALWAYS_NAMED),
            *(v for v in present if v not in VERDICT_COLORS)]


def _short(study: ClaimsStudy, claim: str, prefix: str, metric: str | None = None) -> str:
    """One row's statistic for a title: the row of ``prefix`` itself, else the first under
    it, preferring one whose last segment is the drawn ``metric``."""
    rows = study.rows(claim, prefix)
    if rows.empty:
        return ""
    setting = rows["setting"].astype(str)
    exact = rows[setting == prefix]
    drawn = rows[setting.str.endswith("/" + metric)] if metric else rows.iloc[0:0]
    r = (exact if len(exact) else drawn if len(drawn) else rows).iloc[0]
    return f"{claim} {r['setting']}: {_num(r['estimate'])} [{_num(r['ci_low'])}, " \
           f"{_num(r['ci_high'])}], {r['verdict']}"


def _describe(run: io.Run) -> str:
    parts = [str(io.setting(run, "dataset") or "")]
    for key, fmt in (("classes", "C = {}"), ("tau", "τ = {:g}"), ("batch_size", "B = {}"),
                     ("steps", "{} steps")):
        v = io.setting(run, key)
        if v is not None:
            parts.append(fmt.format(v))
    return ", ".join(p for p in parts if p)


# ----------------------------------------------------------------------------- gallery
def figure_angles(study: ClaimsStudy):
    """Fig. 1 analogue (C5): weight-space and representation-space angle, CL vs NSCL."""
    runs = study.runs("C5", "long")
    fig, axes = style.new_figure(1, 2, width=3.8)
    plot_band(axes[0, 0], runs, "cl-nscl", "weight_angle", split="test", features="h",
              color=style.PAIR_COLORS["cl-nscl"], label="weight angle")
    plot_band(axes[0, 0], runs, "cl-nscl", "repr_angle", split="test", features="h",
              color=style.OKABE_ITO["black"], label="representation angle (test, h)")
    plot_band(axes[0, 1], runs, "cl-nscl", "repr_angle", split="test", features="z",
              color=style.OKABE_ITO["sky_blue"], label="representation angle (test, z)")
    plot_band(axes[0, 1], runs, "cl-nscl", "repr_angle", split="test", features="h",
              color=style.OKABE_ITO["black"], label="representation angle (test, h)")
    for ax, title in ((axes[0, 0], "Weight vs representation angle, CL vs NSCL"),
                      (axes[0, 1], "Representation angle, h and z")):
        _, tlabel = io.time_axis(runs[0].metrics)
        ax.set_xlabel(tlabel)
        ax.set_ylabel("angle (degrees)")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.legend(loc="best")
    fig.suptitle(_join(f"Fig. 1 analogue, long runs ({_describe(runs[0])})",
                       _short(study, 'C5', 'long/angles')))
    return fig


def figure_alignment(study: ClaimsStudy):
    """Fig. 2 analogue (C1): CKA and RSA of CL with NSCL, SCL and CE, train and test, h."""
    runs = study.runs("C1", "base")
    pairs = selection.require_cl_pairs(runs[0])
    fig, axes = style.new_figure(2, 2)
    for i, split in enumerate(("train", "test")):
        for j, metric in enumerate(("cka", "rsa")):
            ax = axes[i, j]
            for pair in pairs:
                plot_band(ax, runs, pair, metric, split=split, features=io.PAPER_FEATURES,
                          color=style.method_color(pair), label=style.pair_label(pair))
            _, tlabel = io.time_axis(runs[0].metrics)
            ax.set_xlabel(tlabel)
            ax.set_ylabel(f"{metric.upper()} with CL")
            ax.set_title(f"{metric.upper()}, {split} set, features h")
            ax.legend(loc="best")
    fig.suptitle(_join(f"Fig. 2 analogue ({_describe(runs[0])})",
                       _short(study, 'C1', 'base/test/h/cka')))
    return fig


def figure_classes(study: ClaimsStudy):
    """Fig. 3 analogue (C2): CL-NSCL CKA over seeded C-way subsets of the real set."""
    from figures import sweeps

    runs = study.runs("C2", "real")
    fig = sweeps.figure_classes(runs)
    fig.suptitle(_join(f"Fig. 3 analogue, {io.setting(runs[0], 'dataset')} C-way subsets "
                       f"({selection.seed_note(runs)}, features h)",
                       _short(study, 'C2', 'real/h', 'cka')))
    return fig


def figure_tau(study: ClaimsStudy):
    """Fig. 4 analogue (C3): CL-NSCL alignment for each temperature."""
    from figures import sweeps

    runs = study.runs("C3", "tau")
    fig = sweeps.figure_tau(runs)
    fig.suptitle(_join(f"Fig. 4 analogue ({io.setting(runs[0], 'dataset')}, test set, "
                       f"features h, {selection.seed_note(runs, 'mean ± sd')})",
                       _short(study, 'C3', 'tau/h', 'cka')))
    return fig


def figure_batch(study: ClaimsStudy):
    """Fig. 5 analogue (C4): final CL-NSCL CKA and gap vs B under each rule, each budget."""
    from figures import sweeps

    uses = study.uses("C4")
    budgets = list(dict.fromkeys(str(s).split("/")[1] for s in uses["setting"]))
    fig, axes = style.new_figure(len(budgets), 2)
    for i, budget in enumerate(budgets):
        rows, members, cells = [], [], []
        for _, u in uses[uses["setting"].astype(str).str.endswith(f"/{budget}")].iterrows():
            run = study.run(str(u["run_dir"]))
            selection.require_pair(run, "cl-nscl")
            point = dict(kv.split("=", 1) for kv in str(u["point"]).split(";") if "=" in kv)
            members.append(run)
            cells.append((point.get("lr_rule"), point.get("batch_size")))
            rows.append({"lr_rule": point.get("lr_rule"),
                         "batch_size": int(point.get("batch_size", 0)),
                         "cka": io.final_value(run, "cl-nscl", "cka", features="h"),
                         "sim_gap": io.final_value(run, "cl-nscl", "sim_gap", features="h")})
        selection.check_not_pooled(members, ("lr_rule", "batch_size"), cells=cells)
        table = pd.DataFrame(rows)
        for j, metric in enumerate(("cka", "sim_gap")):
            sweeps.plot_final_vs(axes[i, j], table, "batch_size", metric=metric, hue="lr_rule",
                                 logx=True)
            axes[i, j].set_xlabel("batch size B")
            length = "equal steps" if budget == "steps" else "equal samples seen"
            axes[i, j].set_title(f"final {'CKA' if metric == 'cka' else 'similarity gap'}, "
                                 f"{length}")
    fig.suptitle(_join("Fig. 5 analogue (test set, features h, mean +- sd over seeds)",
                       _short(study, 'C4', 'linear/', 'cka')))
    return fig


def plot_theorem2(ax, study: ClaimsStudy, runs: Sequence[io.Run]) -> None:
    """Theorem 2 with the run's own ``beta`` and ``G`` against ``S``, and the measured
    ``||w_CL - w_NSCL||`` at the end (log10 scale)."""
    import bounds

    curv = {int(c.get("seed", -1)): c for c in study.curvature()}
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
                color=style.PAIR_COLORS["cl-nscl"],
                label=None if drawn else r"measured $\|w_{CL}-w_{NSCL}\|$")
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no curvature estimate", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel(r"$S=\sum_t \eta_t$")
    ax.set_ylabel("log10 of the weight distance")
    ax.set_title("Theorem 2 vs the measured distance")
    ax.legend(loc="best")


def figure_weight_gap(study: ClaimsStudy):
    """Fig. 6 analogue (C5): the weight gap grows while the similarity gap stays small;
    Theorem 2 drawn with the run's own constants."""
    runs = study.runs("C5", "long")
    fig, axes = style.new_figure(1, 3, width=3.5)
    plot_band(axes[0, 0], runs, "cl-nscl", "weight_gap", split="test", features="z",
              color=style.PAIR_COLORS["cl-nscl"], label="weight gap", x="S")
    plot_band(axes[0, 1], runs, "cl-nscl", "rho", split="test", features="z",
              color=style.OKABE_ITO["black"], label=r"$\rho$ (test, z)", x="S")
    plot_band(axes[0, 1], runs, "cl-nscl", "rho", split="test", features="h",
              color=style.OKABE_ITO["sky_blue"], label=r"$\rho$ (test, h)", x="S")
    axes[0, 0].set_ylabel(r"mean of $\|W_{CL}-W_{NSCL}\|/\|W_{NSCL}\|$")
    axes[0, 0].set_title("Relative weight gap")
    axes[0, 1].set_ylabel(r"$\|K_{CL}-K_{NSCL}\|_F/\|K_{CL}\|_F$")
    axes[0, 1].set_title("Relative similarity gap")
    for ax in axes[0, :2]:
        ax.set_xlabel(r"$S=\sum_t \eta_t$")
        ax.set_ylim(bottom=0)
        ax.legend(loc="best")
    plot_theorem2(axes[0, 2], study, runs)
    fig.suptitle(_join(f"Fig. 6 analogue, long runs ({_describe(runs[0])})",
                       _short(study, 'C5', 'long/weight_gap')))
    return fig


def figure_p1(study: ClaimsStudy):
    """[P1] (C7): the CL-NSCL loss gap of trained encoders vs C, real and synthetic."""
    from figures import measured

    groups = [(g, study.runs("C7", g)) for g in ("real", "synthetic")
              if (study.manifest["claim"].eq("C7") & study.manifest["setting"].eq(g)).any()]
    fig, axes = style.new_figure(1, len(groups), width=4.6, height=3.6)
    for ax, (g, runs) in zip(axes[0], groups, strict=True):
        measured.plot_loss_gap_vs_classes(ax, runs)
        # Two short lines: one long line per panel ran into its neighbour's title.
        ax.set_title(f"{io.setting(runs[0], 'dataset')}: final test batches, "
                     f"{selection.seed_note(runs, 'mean ± sd')}\n{_short(study, 'C7', g + '/')}",
                     fontsize=8)
    fig.suptitle(_join("[P1]: CL-NSCL loss gap vs C with its bound",
                       _short(study, 'C7', 'all-runs/slack')))
    return fig


def _landscape(study: ClaimsStudy):
    from figures import landscapes

    return landscapes.figure_landscape()


#: name -> (build, the claims whose rows its caption carries, what).
CLAIMS_FIGURES: dict[str, tuple[Callable, tuple[str, ...], str]] = {
    "claims": (None, ("C1", "C2", "C3", "C4", "C5", "C6", "C7"),
               "every claim's statistic, 95% interval and verdict"),
    "fig1-angles": (figure_angles, ("C5",), "C5: weight vs representation angle"),
    "fig2-alignment": (figure_alignment, ("C1",), "C1: CKA and RSA of CL vs NSCL, SCL, CE"),
    "fig3-classes": (figure_classes, ("C2",), "C2: CKA over C-way subsets x epoch"),
    "fig4-tau": (figure_tau, ("C3",), "C3: temperature"),
    "fig5-batch": (figure_batch, ("C4",), "C4: batch size under three rules"),
    "fig6-weight-gap": (figure_weight_gap, ("C5", "C6"), "C5, C6: weight gap and Theorem 2"),
    "p1-loss-gap": (figure_p1, ("C7",), "C7: [P1] loss gap vs C"),
    "bound-landscape": (_landscape, (), "the bounds (no runs)"),
}


def captions(study: ClaimsStudy, names: Sequence[str]) -> str:
    """``figure-captions.md``: for each figure, the verdicts and numbers of its claims."""
    t = study.table
    lines = ["# Captions of the claims figures", "",
             f"From `{study.path / 'claims.csv'}`: estimate [95% interval over seeds] and "
             "verdict of each statistic the figure shows.", ""]
    for name in names:
        _, claims, what = CLAIMS_FIGURES[name]
        lines.append(f"## {name}: {what}")
        lines.append("")
        for claim in claims:
            for _, r in t[t["claim"] == claim].iterrows():
                lines.append(f"- {r['claim']} `{r['setting']}` ({r['statistic']}): "
                             f"{_num(r['estimate'])} [{_num(r['ci_low'])}, "
                             f"{_num(r['ci_high'])}], n = {int(r['n_seeds'])}, "
                             f"**{r['verdict']}**; paper: {r['paper']}")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command
def main(a: argparse.Namespace, name: str, formats: Sequence[str]) -> int:
    """``python -m figures NAME --claims DIR``: the claims figures (called by
    :mod:`figures.__main__`); 0 when every figure was written, 2 on an unusable input."""
    from empirics.runs import RunFileError, check_out_dir

    prog = "python -m figures"
    if name != "all" and name not in CLAIMS_FIGURES:
        print(f"{prog}: error: Expected a figure of the claims study ('all' or one of "
              f"{', '.join(CLAIMS_FIGURES)}) with `--claims`, got {name!r}", file=sys.stderr)
        return 2
    if a.claims is None:
        print(f"{prog}: error: Expected `--claims DIR` (a claims-study folder) for the figure "
              f"{name!r}, got none", file=sys.stderr)
        return 2
    try:
        out = check_out_dir(a.out, "--out")
        study = load_study(a.claims)
    except (ValueError, FileNotFoundError, RunFileError, KeyError) as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"{prog}: error: {' '.join(str(text).split())}", file=sys.stderr)
        return 2
    names = list(CLAIMS_FIGURES) if name == "all" else [name]
    t0 = time.perf_counter()
    drawn, skipped = [], []
    with style.style():
        for n in names:
            t1 = time.perf_counter()
            build = CLAIMS_FIGURES[n][0]
            try:
                if build is None:
                    fig = figure_summary(study.table, title=f"Claims study: {study.path.name}")
                else:
                    fig = build(study)
            except (FileNotFoundError, RunFileError, KeyError, ValueError) as e:
                text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                if name != "all":
                    print(f"{prog}: error: {n}: {' '.join(str(text).split())}", file=sys.stderr)
                    return 2
                skipped.append(n)
                print(f"{n:18s} skipped: {' '.join(str(text).split())}")
                continue
            try:
                written = style.save(fig, out, n, formats=formats, dpi=a.dpi)
            except OSError as e:
                print(f"{prog}: could not write {n} into {str(out)!r}: "
                      f"{' '.join(str(e).split())}", file=sys.stderr)
                return 1
            except ValueError as e:  # too large to draw at this --dpi
                print(f"{prog}: error: {n}: `--dpi` {a.dpi}: {' '.join(str(e).split())}",
                      file=sys.stderr)
                return 2
            drawn.append(n)
            print(f"{n:18s} {time.perf_counter() - t1:5.1f}s  "
                  + ", ".join(str(w) for w in written))
    if name == "all" or len(drawn) > 1:
        from cl_nscl_align.atomic import atomic_write_text

        atomic_write_text(out / "figure-captions.md", captions(study, drawn))
    print(f"figures: done in {time.perf_counter() - t0:.1f}s (claims study {study.path}"
          + (f"; skipped {', '.join(skipped)}" if skipped else "") + ")")
    return 0
