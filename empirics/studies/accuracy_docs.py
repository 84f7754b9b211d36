"""docs/accuracy.md's tables, generated from the committed outputs of the experiment studies.

The files under ``docs/accuracy/<study>/`` are what ``python -m empirics.studies accuracy``,
``merging`` and ``alignment-accuracy`` wrote (``table1.csv``, ``table1_paired.csv``,
``table2.csv``, ``fewshot.csv``, ``merging_summary.csv``, ``fig12_settings.csv``,
``fig12.json``) for the runs of a committed claims study: ``pilot`` (the quick protocol)
and ``medium`` (once run). :func:`renderers` gives the text of every generated block of
docs/accuracy.md (:func:`empirics.studies.report.fill`); a test asserts the committed doc
holds exactly that text.

    python -m empirics.studies docs accuracy            # exit 1 if docs/accuracy.md is stale
    python -m empirics.studies docs accuracy --write    # regenerate its blocks
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from empirics.objectives import OBJECTIVES, THEOREM_PAIR, paper_objectives
from empirics.studies.accuracy import FEATURES, model_order
from empirics.studies.claims.report import read_csv

__all__ = ["ACCURACY_DOC", "COMMANDS", "DOCS_DIR", "renderers"]

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "docs" / "accuracy"
ACCURACY_DOC = ROOT / "docs" / "accuracy.md"
STUDIES = ("pilot", "medium")
#: The commands that wrote ``docs/accuracy/<study>/`` from the folder ``CLAIMS_DIR`` of the
#: claims study of the same name (docs/claims.md), into ``OUT``. Medium evaluates C1's and
#: C3's runs only: its C4 has 840 runs (210 seeds), about ten CPU seconds each to evaluate.
COMMANDS = {
    "pilot": (
        "python -m empirics.studies accuracy --runs CLAIMS_DIR --only C1,C3,C4 --out OUT "
        "--executor local",
        "python -m empirics.studies merging --runs CLAIMS_DIR --only C1 --out OUT "
        "--executor local",
        "python -m empirics.studies alignment-accuracy --runs CLAIMS_DIR --only C1,C3,C4 "
        "--out OUT --executor local",
    ),
    "medium": (
        "python -m empirics.studies accuracy --runs CLAIMS_DIR --only C1,C3 --out OUT "
        "--executor local",
        "python -m empirics.studies merging --runs CLAIMS_DIR --only C1 --out OUT "
        "--executor local",
        "python -m empirics.studies alignment-accuracy --runs CLAIMS_DIR --only C1,C3 "
        "--out OUT --executor local",
    ),
}
PROBE_NAMES = {"ncc": "NCC", "linear": "LP (ridge)", "logistic": "LR (logistic)",
               "head": "own head"}


def _f(x, scale: float = 100.0, digits: int = 1, sign: bool = False) -> str:
    try:
        v = float(x) * scale
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(v):
        return "-"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _ci(r, value: str, *, sign: bool = False, lo: str = "ci_low", hi: str = "ci_high") -> str:
    mark = "*" if str(r.get("ci_clipped", "")).lower() == "true" else ""
    mean = _f(r[value], sign=sign)
    if r.get(lo) in ("", None) or not math.isfinite(float(r[lo])):
        return mean
    return f"{mean} [{_f(r[lo], sign=sign)}, {_f(r[hi], sign=sign)}]{mark}"


def _models() -> tuple[str, ...]:
    """Every registered objective, in canonical order (the rows of the tables)."""
    return OBJECTIVES.names()


def _label(model: str) -> str:
    entry = OBJECTIVES.get(model)
    return entry.label if entry is not None else model.upper()


def _base_setting(rows: Sequence[dict], reference: str | None = None) -> str | None:
    """The first setting that trained every objective of the paper (the claims study's
    four-objective base run); ``reference``: an objective the rows leave out (the CL of
    the paired differences)."""
    models: dict[str, set[str]] = {}
    for r in rows:
        models.setdefault(r["setting"], set()).add(r["model"])
    want = set(paper_objectives()) - {reference}
    four = sorted(s for s, m in models.items() if want <= m)
    return four[0] if four else None


def table1(folder: Path) -> str:
    rows = read_csv(folder / "table1.csv")
    base = _base_setting(rows)
    probes = [p for p in PROBE_NAMES if any(r["probe"] == p for r in rows)]
    counts = sorted({int(r["n_seeds"]) for r in rows if r["setting"] == base})
    seeds = ("-" if not counts else str(counts[0]) if len(counts) == 1
             else f"{counts[0]}-{counts[-1]}")
    lines = [f"Setting: `{base}`; all-way test accuracy, %, mean [95% Student-t interval] over "
             f"{seeds} seeds (* = the interval clipped to [0, 100]).", "",
             "| model | features | " + " | ".join(PROBE_NAMES[p] for p in probes) + " |",
             "|---|---|" + "---|" * len(probes)]
    for m in _models():
        for feat in FEATURES:
            cells = {r["probe"]: _ci(r, "accuracy_mean") for r in rows
                     if r["setting"] == base and r["model"] == m and r["features"] == feat}
            if cells:
                lines.append(f"| {_label(m)} | {feat} | "
                             + " | ".join(cells.get(p, "-") for p in probes) + " |")
    return "\n".join(lines) + "\n"


def paired(folder: Path) -> str:
    rows = read_csv(folder / "table1_paired.csv")
    base = _base_setting(rows, reference=THEOREM_PAIR[0])
    lines = ["Each model minus CL on the same seed, percentage points: mean [95% Student-t "
             "interval], two-sided p of the one-sample t test.", "",
             "| probe | features | model - CL | difference [95% interval] | p | seeds |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["setting"] != base:
            continue
        lines.append(f"| {PROBE_NAMES.get(r['probe'], r['probe'])} | {r['features']} | "
                     f"{_label(r['model'])} - CL | {_ci(r, 'diff_mean', sign=True)} | "
                     f"{float(r['p_value']):.2g} | {r['n_seeds']} |")
    return "\n".join(lines) + "\n"


def table2(folder: Path) -> str:
    rows = read_csv(folder / "table2.csv")
    taus = sorted({float(r["tau"]) for r in rows})
    lines = ["LP (ridge) test accuracy, %, mean [95% Student-t interval], against tau.", "",
             "| model | features | " + " | ".join(f"tau = {t:g}" for t in taus) + " |",
             "|---|---|" + "---|" * len(taus)]
    keys = sorted({(r["model"], r["features"]) for r in rows},
                  key=lambda k: (model_order(k[0]), k[1]))
    for m, feat in keys:
        cells = {float(r["tau"]): _ci(r, "accuracy_mean") for r in rows
                 if (r["model"], r["features"]) == (m, feat)}
        lines.append(f"| {_label(m)} | {feat} | " + " | ".join(cells.get(t, "-") for t in taus)
                     + " |")
    return "\n".join(lines) + "\n"


def fewshot(folder: Path) -> str:
    rows = [r for r in read_csv(folder / "fewshot.csv") if r["features"] == "h"]
    base = _base_setting(rows)
    ms = sorted({int(r["m"]) for r in rows if r["setting"] == base})
    lines = [f"Setting: `{base}`, features h: m-shot accuracy, % (mean over seeds of the mean "
             "over support sets), and the mean [P1] Proposition 1 bound on the error "
             "(vacuous above 1).", "",
             "| model | " + " | ".join(f"m = {m}" for m in ms) + " | bound at m = "
             f"{ms[0] if ms else '-'} / {ms[-1] if ms else '-'} |",
             "|---|" + "---|" * (len(ms) + 1)]
    for mod in _models():
        sel = {int(r["m"]): r for r in rows if r["setting"] == base and r["model"] == mod}
        if not sel:
            continue
        bounds = [sel[m]["bound_mean"] for m in (ms[0], ms[-1]) if m in sel]
        lines.append(f"| {_label(mod)} | " + " | ".join(_f(sel[m]["accuracy_mean"])
                                                         if m in sel else "-" for m in ms)
                     + " | " + " / ".join(f"{float(b):.3g}" for b in bounds) + " |")
    vac = [r for r in read_csv(folder / "fewshot.csv") if r["vacuous"].lower() == "true"]
    lines += ["", f"{len(vac)} of {len(read_csv(folder / 'fewshot.csv'))} (setting, model, "
              "features, m) means of the bound are vacuous."]
    return "\n".join(lines) + "\n"


def merging(folder: Path) -> str:
    rows = read_csv(folder / "merging_summary.csv")
    lines = ["Interior a* chosen on a held-out 20% of the training split, then scored once on "
             "the test split; gains in percentage points, mean [95% Student-t interval].", "",
             "| partner | features | probe | CL | partner | a* | gain vs both ends | gain vs "
             "CL | seeds where a* beats both ends |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vs_cl = _ci(r, "gain_vs_cl_mean", sign=True, lo="gain_vs_cl_low", hi="gain_vs_cl_high")
        lines.append(f"| {_label(r['partner'])} | {r['features']} | "
                     f"{PROBE_NAMES.get(r['probe'], r['probe'])} | {_f(r['acc_cl'])} | "
                     f"{_f(r['acc_partner'])} | {_f(r['best_interior'])} | "
                     f"{_ci(r, 'gain_mean', sign=True)} | {vs_cl} | "
                     f"{r['seeds_beating']} of {r['n_seeds']} |")
    return "\n".join(lines) + "\n"


def fig12(folder: Path) -> str:
    res = json.loads((folder / "fig12.json").read_text(encoding="utf-8"))
    rows = read_csv(folder / "fig12_settings.csv")
    lines = [f"Spearman rho between the CL-NSCL CKA ({res.get('features', 'h')}) and the "
             f"accuracy gap acc(NSCL) - acc(CL) ({res.get('probe', 'ncc')}) over "
             f"{res['n_settings']} settings: **{float(res['spearman']):+.2f}**, 95% percentile "
             f"bootstrap interval [{float(res['ci_low']):+.2f}, {float(res['ci_high']):+.2f}] "
             f"({res['resamples']} resamples of the settings, seed {res['seed']}).", "",
             "| setting | claims | seeds | CKA | gap (points) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['setting']}` | {r.get('claims', '')} | {r['n_seeds']} | "
                     f"{float(r['cka']):.3f} | {_f(r['gap'], sign=True)} |")
    return "\n".join(lines) + "\n"


def renderers(docs: Path = DOCS_DIR) -> dict[str, Callable[[], str]]:
    """The text of every generated block of docs/accuracy.md."""
    parts = {"table1": table1, "paired": paired, "table2": table2, "fewshot": fewshot,
             "merging": merging, "fig12": fig12}
    out: dict[str, Callable[[], str]] = {
        "accuracy-commands": lambda: "".join(
            f"{name}:\n\n```bash\n" + "\n".join(cmds) + "\n```\n\n"
            for name, cmds in COMMANDS.items()).rstrip("\n") + "\n"}
    for name in STUDIES:
        folder = docs / name
        for part, fn in parts.items():
            if (folder / "table1.csv").is_file():
                out[f"accuracy-{name}-{part}"] = lambda fn=fn, folder=folder: fn(folder)
            else:
                out[f"accuracy-{name}-{part}"] = (
                    lambda name=name: f"Not yet run: the files belong in `docs/accuracy/"
                                      f"{name}/`.\n")
    return out
