"""The claims study's figures: the verdict summary, and the paper-figure analogues redrawn
from the study's runs (real data where C <= 10, bands over seeds).

``python -m figures claims --claims DIR --out DIR`` draws the summary (``claims.png`` /
``.pdf``) from ``DIR/claims.csv`` (docs/claims.md): the six **primaries** (one per claim
C1-C6) apart from the **secondaries**, each statistic with its estimate and 95% interval
over seeds, coloured by its verdict (:data:`figures.style.VERDICT_COLORS`), the paper's
value where it gives one; each primary also with its equivalence region ``+-delta``
(shaded), its Holm-adjusted p and both seed sets' verdicts (``replication``). The counts of
``DIR/theorem_checks.csv`` close the title.
``python -m figures all --claims DIR --out docs/figures`` also redraws the gallery from the
runs the study lists in ``DIR/runs.csv`` and writes ``figure-captions.md`` beside the
figures: each caption carries the verdicts and numbers of the claims its figure shows.

This module only **selects** the runs of each figure (claim and run group of the manifest)
and hands them to the one builder of that figure, the gallery's own
(:mod:`figures.training`, :mod:`figures.sweeps`, :mod:`figures.measured`), with a title
that carries the claim's verdict:

=================  ======================================  ==================================
figure             runs (claim, run group of runs.csv)     builder
=================  ======================================  ==================================
fig1-angles        C5 long runs                            ``training.figure_angles``
fig2-alignment     C1 base runs (4 objectives)             ``training.figure_alignment``
fig3-classes       C2 real runs (seeded C-way subsets)     ``sweeps.figure_classes``
fig4-tau           C3 runs                                 ``sweeps.figure_tau``
fig5-batch         C4 runs, one row per budget             ``sweeps.figure_batch``
fig6-weight-gap    C5 long runs and their C5 tasks         ``training.figure_weight_gap``
p1-loss-gap        C7 real and synthetic runs              ``measured.figure_p1``
bound-landscape    none                                    ``landscapes.figure_landscape``
=================  ======================================  ==================================

A line of Fig. 1, 2 and 6 is the mean over seeds with its 95% Student-t band (the study's
interval); Fig. 3 the mean, Fig. 4, 5 and [P1] the mean +- one standard deviation. Reads
files only: never trains, never imports torch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from empirics.studies.statistics import VERDICTS
from figures import io, landscapes, measured, selection, style, sweeps, training

__all__ = [
    "CLAIMS_FIGURES",
    "ClaimsStudy",
    "captions",
    "figure_summary",
    "load_study",
    "plot_summary",
]

#: The verdicts every summary names, even at a count of 0 (a primary can take any of the
#: last two as well: they are named in the primaries' tally).
ALWAYS_NAMED = ("holds", "reversed", "inconclusive")
PRIMARY_VERDICTS = (*ALWAYS_NAMED, *(v for v in VERDICTS if v not in ALWAYS_NAMED))
REQUIRED = ("claim", "setting", "statistic", "estimate", "ci_low", "ci_high", "n_seeds",
            "verdict", "paper")
CHECKS = ("check", "rows", "violations", "worst_ratio")
#: The colour of the equivalence region ``+-delta`` of a primary.
DELTA_STYLE = {"color": "#BBBBBB", "alpha": 0.45, "linewidth": 0}


# ----------------------------------------------------------------------------- inputs
class ClaimsStudy:
    """A claims-study folder: its table, its manifest, its theorem checks, and its runs
    (read once each)."""

    def __init__(self, path: Path, table: pd.DataFrame, manifest: pd.DataFrame | None,
                 checks: pd.DataFrame | None = None):
        self.path, self.table, self.manifest, self.checks = path, table, manifest, checks
        self._runs: dict[str, io.Run] = {}

    def run(self, run_dir: str) -> io.Run:
        if run_dir not in self._runs:
            self._runs[run_dir] = io.load_run(self.path / run_dir)
        return self._runs[run_dir]

    def _finished(self, claim: str, setting: str | None = None) -> pd.DataFrame:
        """The manifest rows of one claim (and run group) whose run finished."""
        m = self.manifest
        sel = m["claim"] == claim
        if setting is not None:
            sel &= m["setting"] == setting
        if "status" in m.columns:
            sel &= m["status"].astype(str) == "ok"
        return m.loc[sel]

    def uses(self, claim: str, setting: str | None = None) -> pd.DataFrame:
        """The manifest rows of one claim (and run group), finished runs only."""
        if self.manifest is None:
            raise FileNotFoundError(f"Expected the manifest {str(self.path / 'runs.csv')!r}, "
                                    "got no file")
        rows = self._finished(claim, setting)
        if rows.empty:
            raise FileNotFoundError(f"Expected finished runs of {claim}"
                                    + (f" ({setting})" if setting else "")
                                    + f" in {str(self.path / 'runs.csv')!r}, got none")
        return rows

    def has(self, claim: str, setting: str) -> bool:
        """Whether the manifest lists finished runs of ``claim`` in run group ``setting``
        (a group whose runs all failed is left out, not a reason to skip the figure)."""
        return self.manifest is not None and not self._finished(claim, setting).empty

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

    def check(self, name: str) -> Mapping | None:
        """The row of ``theorem_checks.csv`` named ``name`` (None without one)."""
        if self.checks is None:
            return None
        rows = self.checks[self.checks["check"].astype(str) == name]
        return rows.iloc[0] if len(rows) else None

    def curvature(self) -> list[dict]:
        """C5's long-run summaries (``runs/curvature__*/summary.json``)."""
        out = []
        for f in sorted((self.path / "runs").glob("curvature__*/summary.json")):
            try:
                out.append(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
        return out


def load_study(path: str | Path) -> ClaimsStudy:
    """The study folder ``path`` (or its ``claims.csv``): table, manifest and theorem
    checks (each if present).

    Raises:
        FileNotFoundError: no ``claims.csv``.
        RunFileError: an unreadable table (names the file and the line).
        KeyError: ``claims.csv`` (or ``runs.csv``, ``theorem_checks.csv``) without a
            required column (names it).
    """
    p = Path(path)
    folder = p.parent if p.is_file() else p
    table_path = folder / "claims.csv"
    if not table_path.is_file():
        raise FileNotFoundError(f"Expected the claims table {str(table_path)!r} (run python "
                                "-m empirics.claims --out DIR first), got no file")
    table = io.reader.read_table(table_path)
    io.require(table, REQUIRED, str(table_path))
    manifest = checks = None
    if (folder / "runs.csv").is_file():
        manifest = io.reader.read_table(folder / "runs.csv")
        io.require(manifest, ["claim", "setting", "seed", "run_dir"], str(folder / "runs.csv"))
    if (folder / "theorem_checks.csv").is_file():
        checks = io.reader.read_table(folder / "theorem_checks.csv")
        io.require(checks, CHECKS, str(folder / "theorem_checks.csv"))
    return ClaimsStudy(folder, table, manifest, checks)


# ----------------------------------------------------------------------------- numbers
def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _num(x) -> str:
    v = _float(x)
    return f"{v:+.3g}" if np.isfinite(v) else "-"


def _is_primary(row: Mapping) -> bool:
    return str(row.get("role", "")) == "primary"


def _scale(row: Mapping) -> float:
    """The largest magnitude a row shows (estimate, interval, paper's value, ``delta`` of a
    primary): each line of the summary is scaled by it."""
    keys = ("estimate", "ci_low", "ci_high", "paper_value") + (
        ("delta",) if _is_primary(row) else ())
    vals = [abs(_float(row[k])) for k in keys if k in row]
    vals = [v for v in vals if np.isfinite(v)]
    m = max(vals) if vals else 1.0
    return m if m > 0 else 1.0


def _replication(text) -> str:
    """``discovery holds (3 seeds), replication absent (3 seeds)`` -> ``discovery holds,
    replication absent``."""
    return re.sub(r"\s*\(\d+ seeds?\)", "", str(text)) if isinstance(text, str) else ""


def _row_text(r: Mapping) -> str:
    text = (f"{_num(r['estimate'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]  "
            f"n={int(_float(r['n_seeds'])) if np.isfinite(_float(r['n_seeds'])) else '-'}")
    if _is_primary(r):
        p = _float(r.get("p_holm"))
        text += (f"  p_Holm={p:.2g}" if np.isfinite(p) else "") + f"  {r['verdict']}"
        rep = _replication(r.get("replication"))
        return text + (f"\n({rep})" if rep else "")
    return f"{text}  {r['verdict']}"


def _verdicts(table: pd.DataFrame, named: Sequence[str] = ALWAYS_NAMED) -> list[str]:
    """The verdicts a summary names: ``named``, then every other one present (coloured
    ones first)."""
    present = list(dict.fromkeys(table["verdict"].astype(str)))
    return [*named, *(v for v in style.VERDICT_COLORS if v in present and v not in named),
            *(v for v in present if v not in style.VERDICT_COLORS and v not in named)]


def _tally(table: pd.DataFrame, named: Sequence[str] = ALWAYS_NAMED) -> str:
    counts = table["verdict"].astype(str).value_counts()
    return ", ".join(f"{int(counts.get(v, 0))} {v}" for v in _verdicts(table, named))


# ----------------------------------------------------------------------------- summary
def plot_summary(ax, table: pd.DataFrame) -> None:
    """Every statistic of ``table`` (claims.csv rows) as its estimate and interval, one line
    each, with the numbers written on the right.

    Each line is scaled to its own range (the statistics have different units) around a
    common zero, so the side of zero and the interval's reach are comparable. Colour: the
    verdict. Diamond: the paper's value. A primary (``role``) also shows its equivalence
    region ``+-delta`` (shaded), its Holm-adjusted p and both seed sets' verdicts.
    """
    io.require(table, REQUIRED, "the claims table")
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
        color = style.verdict_color(r["verdict"])
        delta = _float(r.get("delta")) / m if _is_primary(r) else float("nan")
        if np.isfinite(delta) and delta > 0:
            ax.fill_between([-delta, delta], yi - 0.4, yi + 0.4, zorder=0, **DELTA_STYLE)
        est, lo, hi = (_float(r[k]) / m for k in ("estimate", "ci_low", "ci_high"))
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [yi, yi], color=color, linewidth=2.2, solid_capstyle="butt")
        if np.isfinite(est):
            ax.plot([est], [yi], "o", color=color, markersize=5)
        pv = _float(r.get("paper_value"))
        if np.isfinite(pv):
            ax.plot([pv / m], [yi], "D", markerfacecolor="none", markeredgecolor="black",
                    markersize=5)
        ax.text(1.04, yi, _row_text(r), va="center", ha="left", fontsize=7, color=color,
                transform=ax.get_yaxis_transform())
        labels.append(f"{r['claim']}  {r['setting']}")
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_ylim(max(ys) + 0.8 if ys else 1, -0.8)
    ax.set_xlim(-1.08, 1.08)
    ax.set_xticks([-1, 0, 1], ["-", "0", "+"])
    ax.grid(False)


def _handles(table: pd.DataFrame, named: Sequence[str], *, delta: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=style.verdict_color(v), linewidth=2.2,
                      marker="o", markersize=4, label=v) for v in _verdicts(table, named)]
    handles.append(Line2D([], [], linestyle="none", marker="D", markerfacecolor="none",
                          markeredgecolor="black", label="paper's value"))
    if delta:
        handles.append(Patch(label="±delta (equivalence region)", **DELTA_STYLE))
    return handles


XLABEL = ("estimate and 95% interval over seeds, each line scaled to its own range "
          "(numbers on the right)")


def figure_summary(table: pd.DataFrame, *, title: str = "", checks: pd.DataFrame | None = None):
    """The summary figure: the primaries (``role`` primary) in a panel of their own above the
    secondaries (:func:`plot_summary` each); a table without ``role`` in one panel. The
    title tallies the verdicts, the primaries' apart, and ``checks`` (theorem_checks.csv)."""
    top = title + "\n" if title else ""
    if "role" not in table.columns:
        n = len(table)
        fig, axes = style.new_figure(1, 1, width=7.8, height=0.9 + 0.24 * n + 0.1 *
                                     table["claim"].nunique())
        plot_summary(axes[0, 0], table)
        axes[0, 0].set_xlabel(XLABEL)
        handles = _handles(table, ALWAYS_NAMED, delta=False)
        axes[0, 0].legend(handles=handles, loc="lower left", ncol=len(handles) if
                          len(handles) <= 7 else 4, fontsize=7, frameon=False,
                          bbox_to_anchor=(0.0, 1.0 + 0.9 / max(n, 1)))
        fig.suptitle(top + f"Claims C1-C7: {_tally(table)} (of {n})")
        return fig
    is_primary = table["role"].astype(str) == "primary"
    parts = [(t, named, what) for t, named, what in (
        (table[is_primary], PRIMARY_VERDICTS, "Primaries: one per claim, Holm-adjusted over "
         "the six, verdict on two disjoint seed sets (replication)"),
        (table[~is_primary], ALWAYS_NAMED, "Secondaries: unadjusted, no replication, never "
         "tallied with the primaries")) if len(t)]
    sizes = [0.3 + (0.36 if t is parts[0][0] and is_primary.any() else 0.24) * len(t)
             + 0.1 * t["claim"].nunique() for t, _, _ in parts]
    fig, axes = style.new_figure(len(parts), 1, width=9.6, height=sum(sizes) / len(parts) + 0.5,
                                 gridspec_kw={"height_ratios": sizes})
    for ax, (t, _, what) in zip(axes[:, 0], parts, strict=True):
        plot_summary(ax, t)
        ax.set_title(what, fontsize=8, loc="left")
    axes[-1, 0].set_xlabel(XLABEL)
    handles = _handles(table, PRIMARY_VERDICTS, delta=bool(is_primary.any()))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               fontsize=7, frameon=False)
    tally = "; ".join(f"{'primaries' if t is parts[0][0] and is_primary.any() else 'secondaries'}"
                      f": {_tally(t, named)} (of {len(t)})" for t, named, _ in parts)
    fig.suptitle(top + tally + _checks_line(checks))
    return fig


def _checks_line(checks: pd.DataFrame | None) -> str:
    """``\\ntheorem checks: p1_bound 0 of 1176 rows violated, ...`` (empty without them)."""
    if checks is None or checks.empty:
        return ""
    items = [f"{r['check']} {int(_float(r['violations']))} of {int(_float(r['rows']))}"
             for _, r in checks.iterrows()
             if np.isfinite(_float(r["violations"])) and np.isfinite(_float(r["rows"]))]
    return "\ntheorem checks, rows violated: " + ", ".join(items) if items else ""


# ----------------------------------------------------------------------------- titles
def _join(title: str, short: str) -> str:
    """``title`` and, on a line of its own, ``short`` (``title`` alone without it)."""
    return f"{title}\n{short}" if short else title


def _short(study: ClaimsStudy, claim: str, prefix: str, metric: str | None = None) -> str:
    """One row's statistic for a title: the row of ``prefix`` itself, else the first under
    it, preferring one whose last segment is the drawn ``metric``; followed by the claim's
    primary when that is another row, so a title never shows a secondary alone."""
    rows = study.rows(claim, prefix)
    if rows.empty:
        return ""
    setting = rows["setting"].astype(str)
    exact = rows[setting == prefix]
    drawn = rows[setting.str.endswith("/" + metric)] if metric else rows.iloc[0:0]
    r = (exact if len(exact) else drawn if len(drawn) else rows).iloc[0]
    text = _statistic(claim, r)
    claim_rows = study.rows(claim)
    primary = claim_rows[claim_rows.apply(_is_primary, axis=1)] if len(claim_rows) else rows
    if len(primary) and primary.iloc[0]["setting"] != r["setting"]:
        text += f"\nprimary: {_statistic(claim, primary.iloc[0])}"
    return text


def _statistic(claim: str, r: Mapping) -> str:
    return (f"{claim} {r['setting']}: {_num(r['estimate'])} [{_num(r['ci_low'])}, "
            f"{_num(r['ci_high'])}], {r['verdict']}")


def _p1_check(study: ClaimsStudy) -> str:
    """The [P1] bound's theorem check (theorem_checks.csv), for the [P1] figure's title."""
    r = study.check("p1_bound")
    if r is None:
        return ""
    ratio = _float(r["worst_ratio"])
    return (f"bound violated in {int(_float(r['violations']))} of {int(_float(r['rows']))} "
            "evaluations" + (f", largest gap/bound {ratio:.3g}" if np.isfinite(ratio) else ""))


# ----------------------------------------------------------------------------- selection
def _fig1(study: ClaimsStudy):
    runs = study.runs("C5", "long")
    return training.figure_angles(runs, title=_join(
        f"Fig. 1 analogue, long runs ({io.describe(runs)})",
        _short(study, "C5", "long/angles")))


def _fig2(study: ClaimsStudy):
    runs = study.runs("C1", "base")
    return training.figure_alignment(runs, title=_join(
        f"Fig. 2 analogue ({io.describe(runs)})", _short(study, "C1", "base/test/h/cka")))


def _fig3(study: ClaimsStudy):
    runs = study.runs("C2", "real")
    return sweeps.figure_classes(runs, title=_join(
        f"Fig. 3 analogue, {io.setting(runs[0], 'dataset')} C-way subsets "
        f"({io.seed_note(runs)}, features h)", _short(study, "C2", "real/h", "cka")))


def _fig4(study: ClaimsStudy):
    runs = study.runs("C3", "tau")
    return sweeps.figure_tau(runs, title=_join(
        f"Fig. 4 analogue ({io.setting(runs[0], 'dataset')}, test set, features h, "
        f"{io.seed_note(runs, 'mean ± sd')})", _short(study, "C3", "tau/h", "cka")))


#: Fig. 5's rows: the budget (the second segment of a C4 run group) as a panel title says it.
BUDGETS = {"steps": "equal steps", "epochs": "equal samples seen"}


def _fig5(study: ClaimsStudy):
    """The C4 runs of each budget, at the (rule, batch size) of their manifest point, as one
    summary table (:func:`figures.sweeps.summary_table`) with a budget column."""
    uses = study.uses("C4")
    frames = []
    for budget in dict.fromkeys(str(s).split("/")[1] for s in uses["setting"]):
        mine = uses[uses["setting"].astype(str).str.endswith(f"/{budget}")]
        members, cells, points = [], [], []
        for _, u in mine.iterrows():
            run = study.run(str(u["run_dir"]))
            selection.require_pair(run, io.THEOREM)
            point = dict(kv.split("=", 1) for kv in str(u["point"]).split(";") if "=" in kv)
            members.append(run)
            cells.append((point.get("lr_rule"), point.get("batch_size")))
            points.append(point)
        selection.check_not_pooled(members, ("lr_rule", "batch_size"), cells=cells)
        table = sweeps.summary_table(members)[["seed", *style.measures_in(
            members[0].metrics.columns)]]
        frames.append(table.assign(
            lr_rule=[p.get("lr_rule") for p in points],
            batch_size=[int(p.get("batch_size", 0)) for p in points],
            budget=BUDGETS.get(budget, budget)))
    return sweeps.figure_batch(table=pd.concat(frames, ignore_index=True), title=_join(
        "Fig. 5 analogue (test set, features h, mean +- sd over seeds)",
        _short(study, "C4", "linear/", "cka")))


def _fig6(study: ClaimsStudy):
    runs = study.runs("C5", "long")
    return training.figure_weight_gap(runs, x="S", curvature=study.curvature(), title=_join(
        f"Fig. 6 analogue, long runs ({io.describe(runs)})",
        _short(study, "C5", "long/weight_gap")))


def _p1(study: ClaimsStudy):
    groups = {g: study.runs("C7", g) for g in ("real", "synthetic") if study.has("C7", g)}
    # Two short lines: one long line per panel ran into its neighbour's title.
    titles = {g: f"{io.setting(runs[0], 'dataset')}: final test batches, "
                 f"{io.seed_note(runs, 'mean ± sd')}\n{_short(study, 'C7', g + '/')}"
              for g, runs in groups.items()}
    return measured.figure_p1(groups, titles=titles, title=_join(
        "[P1]: CL-NSCL loss gap vs C with its bound", _p1_check(study)))


def _landscape(study: ClaimsStudy):
    return landscapes.figure_landscape()


def _summary(study: ClaimsStudy):
    return figure_summary(study.table, title=f"Claims study: {study.path.name}",
                          checks=study.checks)


#: name -> (the figure of the study, the claims whose rows its caption carries, what).
CLAIMS_FIGURES: dict[str, tuple[Callable[[ClaimsStudy], object], tuple[str, ...], str]] = {
    "claims": (_summary, ("C1", "C2", "C3", "C4", "C5", "C6", "C7"),
               "every claim's statistic, 95% interval and verdict"),
    "fig1-angles": (_fig1, ("C5",), "C5: weight vs representation angle"),
    "fig2-alignment": (_fig2, ("C1",), "C1: every alignment measure of CL vs NSCL, SCL, CE"),
    "fig3-classes": (_fig3, ("C2",), "C2: CKA over C-way subsets x epoch"),
    "fig4-tau": (_fig4, ("C3",), "C3: temperature"),
    "fig5-batch": (_fig5, ("C4",), "C4: batch size under three rules"),
    "fig6-weight-gap": (_fig6, ("C5", "C6"), "C5, C6: weight gap and Theorem 2"),
    "p1-loss-gap": (_p1, ("C7",), "C7: [P1] loss gap vs C"),
    "bound-landscape": (_landscape, (), "the bounds (no runs)"),
}


def captions(study: ClaimsStudy, names: Sequence[str]) -> str:
    """``figure-captions.md``: for each figure, the verdicts and numbers of its claims (a
    primary with its Holm-adjusted p and replication), and for the [P1] figure the theorem
    check of its bound."""
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
                role = ""
                if _is_primary(r):
                    p = _float(r.get("p_holm"))
                    role = (" primary" + (f", p_Holm = {p:.2g}" if np.isfinite(p) else "")
                            + (f", {_replication(r.get('replication'))}"
                               if _replication(r.get("replication")) else "") + ";")
                lines.append(f"- {r['claim']} `{r['setting']}` ({r['statistic']}):{role} "
                             f"{_num(r['estimate'])} [{_num(r['ci_low'])}, "
                             f"{_num(r['ci_high'])}], n = {int(_float(r['n_seeds']))}, "
                             f"**{r['verdict']}**; paper: {r['paper']}")
        if name == "p1-loss-gap" and _p1_check(study):
            lines.append(f"- theorem check `p1_bound`: {_p1_check(study)}")
        lines.append("")
    return "\n".join(lines)
