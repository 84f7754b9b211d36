"""docs/claims.md's and the README's claims tables, generated from committed files.

Every number of docs/claims.md about the committed studies comes from the files under
``docs/claims/<study>/`` (``claims.csv``, ``claims_seeds.csv``, ``theorem_checks.csv``,
``study.json``): ``pilot`` (the quick protocol, whose spreads set medium's seeds) and
``medium`` (the committed results, once run). The statistics' table comes from the catalog.
:func:`renderers` gives the text of each generated block (:func:`empirics.studies.report.fill`);
a test asserts the committed doc holds exactly that text, and :func:`rederive` checks that
every number of a committed ``claims.csv`` follows from its ``claims_seeds.csv``.

    python -m empirics.studies docs claims                # exit 1 if docs/claims.md is stale
    python -m empirics.studies docs claims --write        # regenerate its blocks
    python -m empirics.studies docs claims --readme       # the README's claims table
    python -m empirics.studies docs claims --claims DIR   # the tables of any study folder
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from empirics.studies.claims import catalog, power
from empirics.studies.claims.report import (
    checks_table,
    fmt,
    primary_table,
    read_csv,
    readme_table,
    secondary_table,
)
from empirics.studies.claims.verdicts import verdict_table

__all__ = ["CLAIMS_DOC", "DOCS_DIR", "README", "estimate_text", "folder_tables", "read_seeds",
           "readme", "readme_renderers", "rederive", "renderers", "seed_spread", "stalled_table",
           "verdict_changes"]

ROOT = Path(__file__).resolve().parents[3]
DOCS_DIR = ROOT / "docs" / "claims"
CLAIMS_DOC = ROOT / "docs" / "claims.md"
#: The README, whose ``claims-readme`` block is :func:`readme`.
README = ROOT / "README.md"
STUDIES = ("pilot", "medium")
NUMERIC = ("estimate", "ci_low", "ci_high", "p_value", "p_holm", "delta")


def read_seeds(folder: Path) -> dict[tuple[str, str], dict[int, float]]:
    """``{(claim, setting): {seed: value}}`` of a study folder's ``claims_seeds.csv``."""
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in read_csv(folder / "claims_seeds.csv"):
        value = float(r["value"]) if r["value"] not in ("", "nan") else math.nan
        out.setdefault((r["claim"], r["setting"]), {})[int(r["seed"])] = value
    return out


def _close(a: Any, b: Any) -> bool:
    x = float(a) if a not in ("", None) else math.nan
    y = float(b) if b not in ("", None) else math.nan
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def rederive(folder: str | Path) -> list[str]:
    """The differences between a study folder's ``claims.csv`` and what its
    ``claims_seeds.csv`` gives under the verdict rule (empty: every number follows)."""
    folder = Path(folder)
    rows = read_csv(folder / "claims.csv")
    level = float(rows[0]["level"]) if rows else 0.95
    derived = verdict_table(read_seeds(folder), level=level)
    problems = []
    if set(derived) != {(r["claim"], r["setting"]) for r in rows}:
        problems.append("claims.csv and claims_seeds.csv list different statistics")
    for r in rows:
        d = derived.get((r["claim"], r["setting"]))
        if d is None:
            continue
        for col in NUMERIC:
            if not _close(r[col], d[col]):
                problems.append(f"{r['claim']} {r['setting']} {col}: {r[col]} != {d[col]!r}")
        for col in ("n_seeds", "verdict", "replication", "role", "direction"):
            if str(r[col]) != str(d[col]):
                problems.append(f"{r['claim']} {r['setting']} {col}: {r[col]} != {d[col]!r}")
    return problems


def _study(name: str, docs: Path) -> Path | None:
    folder = docs / name
    return folder if (folder / "claims.csv").is_file() else None


def _environment(folder: Path) -> str:
    info = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    return "\n".join([
        f"- Command: `{info.get('command', '')}`",
        f"- Protocol: `{info.get('protocol_file', '')}`, SHA-256 "
        f"`{str(info.get('protocol_sha256', ''))[:16]}` ({info.get('protocol_state', '-')}); "
        "seeds by claim " + (", ".join(f"{c} {n}" for c, n in
                                       (info.get("seeds_by_claim") or {}).items())
                             or str(info.get("seeds"))),
        f"- Runs: {info.get('n_runs')} training runs ({info.get('n_uses')} uses), "
        f"{info.get('n_longrun')} long-run tasks, {info.get('n_failed')} failed",
        f"- Wall time {info.get('wall')}, CPU time {info.get('cpu', '-')}, `uptime` load "
        f"average {info.get('load_start')} at the start and {info.get('load_end')} at the "
        f"end; finished {info.get('finished_utc', '-')}",
        f"- Environment: {info.get('environment', '-')}",
    ]) + "\n"


def seed_spread(folder: Path) -> str:
    """Each primary's per-seed values in brief: least, median and largest, and the seed
    farthest from the median in units of the median absolute deviation (MAD), so one seed
    that moves an interval is named, not hidden.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "claims.csv").write_text("claim,setting,role\\nC1,s,primary\\n")
    >>> _ = (d / "claims_seeds.csv").write_text("claim,setting,seed,value\\n"
    ...     + "".join(f"C1,s,{i},{v}\\n" for i, v in enumerate([1.0, 2.0, 3.0, -9.0])))
    >>> print(seed_spread(d).splitlines()[2])
    | C1 | `s` | 4 | -9 | 1.5 | 3 | seed 3: -9 (10.5 MAD from the median) |
    """
    seeds = read_seeds(folder)
    lines = ["| claim | primary statistic | seeds | least | median | largest | farthest "
             "from the median |", "|---|---|---|---|---|---|---|"]
    for r in read_csv(folder / "claims.csv"):
        if r["role"] != "primary":
            continue
        values = {k: v for k, v in seeds.get((r["claim"], r["setting"]), {}).items()
                  if not math.isnan(v)}
        if not values:
            lines.append(f"| {r['claim']} | `{r['setting']}` | 0 | - | - | - | - |")
            continue
        xs = sorted(values.values())
        med = statistics.median(xs)
        mad = statistics.median(abs(x - med) for x in xs)
        far = max(values, key=lambda k: (abs(values[k] - med), -k))
        away = (f"{abs(values[far] - med) / mad:.3g} MAD" if mad > 0
                else f"{abs(values[far] - med):.3g}")
        lines.append(f"| {r['claim']} | `{r['setting']}` | {len(xs)} | {fmt(xs[0])} | "
                     f"{fmt(med)} | {fmt(xs[-1])} | seed {far}: {fmt(values[far])} ({away} "
                     f"from the median) |")
    return "\n".join(lines) + "\n"


def _shape(run_dir: str) -> str:
    return re.sub(r"-s\d+__[0-9a-f]+$", "", Path(run_dir).name)


def stalled_table(folder: Path) -> str:
    """How many models stalled (``stalled.csv``), by run shape and model, out of the runs of
    that shape (``runs.csv``), and the seeds they belong to."""
    if not (folder / "stalled.csv").is_file():
        return "Not recorded by this study (`stalled.csv` is missing).\n"
    runs: dict[str, set[str]] = {}
    models: dict[str, list[str]] = {}
    for r in read_csv(folder / "runs.csv"):
        runs.setdefault(_shape(r["run_dir"]), set()).add(r["run_dir"])
        models[_shape(r["run_dir"])] = str(r["objectives"]).split("+")
    stalled = read_csv(folder / "stalled.csv")
    names = list(dict.fromkeys(m for ms in models.values() for m in ms))
    lines = ["| run shape | runs | " + " | ".join(f"{m} stalled" for m in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for shape in sorted(runs):
        cells = []
        for m in names:
            if m not in models[shape]:
                cells.append("-")
                continue
            k = sum(_shape(r["run"]) == shape and r["model"] == m for r in stalled)
            cells.append(f"{k} ({k / len(runs[shape]):.0%})" if k else "0")
        lines.append(f"| `{shape}` | {len(runs[shape])} | " + " | ".join(cells) + " |")
    total = sum(len(v) for v in runs.values())
    seeds = sorted({int(r["seed"]) for r in stalled})
    lines += ["", f"{len(stalled)} stalled model(s) in {total} runs, in {len(seeds)} of the "
                  "seeds."]
    return "\n".join(lines) + "\n"


def verdict_changes(docs: Path = DOCS_DIR) -> str:
    """Each primary's verdict in the pilot and in medium, side by side, the changes named."""
    pilot, medium = _study("pilot", docs), _study("medium", docs)
    if pilot is None or medium is None:
        return "Not yet run: both `docs/claims/pilot/` and `docs/claims/medium/` are needed.\n"
    by = {name: {r["claim"]: r for r in read_csv(f / "claims.csv") if r["role"] == "primary"}
          for name, f in (("pilot", pilot), ("medium", medium))}
    lines = ["| claim | pilot: estimate, verdict | medium: estimate, verdict | change |",
             "|---|---|---|---|"]
    for claim, m in by["medium"].items():
        q = by["pilot"].get(claim)
        before = f"{fmt(q['estimate'])}, {q['verdict']}" if q else "-"
        flipped = q is not None and q["verdict"] != m["verdict"]
        sign = (q is not None and float(q["estimate"]) * float(m["estimate"]) < 0)
        change = ("the sign of the estimate flipped; " if sign else "") + (
            f"{q['verdict']} -> {m['verdict']}" if flipped else "none")
        lines.append(f"| {claim} | {before} | {fmt(m['estimate'])}, {m['verdict']} | "
                     f"{change} |")
    return "\n".join(lines) + "\n"


def renderers(docs: Path = DOCS_DIR) -> dict[str, Callable[[], str]]:
    """The text of every generated block of docs/claims.md, from the files under ``docs``."""
    out: dict[str, Callable[[], str]] = {
        "claims-statistics": catalog.markdown_table,
        "claims-deltas": catalog.delta_table,
    }
    tables = {"environment": _environment,
              "primaries": lambda f: primary_table(read_csv(f / "claims.csv")),
              "checks": lambda f: checks_table(read_csv(f / "theorem_checks.csv")),
              "secondaries": lambda f: secondary_table(read_csv(f / "claims.csv")),
              "seeds": seed_spread, "stalled": stalled_table}
    for name in STUDIES:
        folder = _study(name, docs)
        parts = tables if name == "medium" else {k: v for k, v in tables.items()
                                                 if k not in ("secondaries", "seeds",
                                                              "stalled")}
        for part, fn in parts.items():
            if folder is None:
                msg = (f"Not yet run: the files of the `{name}` study belong in "
                       f"`docs/claims/{name}/` (docs/claims.md, section Reproduce).\n")
                out[f"claims-{name}-{part}"] = lambda msg=msg: msg
            else:
                out[f"claims-{name}-{part}"] = lambda fn=fn, f=folder: fn(f)
    pilot = _study("pilot", docs)
    out["claims-pilot-power"] = (
        (lambda: power.markdown(power.power_table(read_seeds(pilot)))) if pilot
        else (lambda: "Not yet run.\n"))
    out["claims-medium-estimate"] = lambda: estimate_text(docs)
    out["claims-verdict-changes"] = lambda: verdict_changes(docs)
    out["claims-protocols"] = protocols_table
    return out


def protocols_table() -> str:
    """The committed protocols, one row each, read from their files."""
    from empirics.studies.claims.protocol import SIZES, load_protocol

    lines = ["| size | base run | seeds by claim | C2 (synthetic; real) | C3 tau | C4 B, rules, "
             "budgets | long run |", "|---|---|---|---|---|---|---|"]
    for size in SIZES:
        p = load_protocol(size)
        base = (f"{p.base('dataset')}" + (f" {p.base('image_size')}px" if p.train.get(
            "image_size") else "") + f", {p.base('arch')}, B {p.base('batch_size')}, "
                f"{p.base('steps')} steps, tau {p.base('tau')}")
        seeds = ", ".join(f"{c} {p.seeds_of(c)}" for c in ("C1", "C2", "C3", "C4", "C5",
                                                              "C6"))
        c2 = (f"C {', '.join(p.c2_synthetic_classes)} ({p.c2_train_per_class} per class)"
              + (f"; C {', '.join(p.c2_real_classes)}" if p.c2_real_classes else ""))
        c4 = (f"{', '.join(p.c4_batch_sizes)}; {', '.join(p.c4_rules)}; "
              f"{', '.join(p.c4_budgets)}")
        lines.append(f"| {size} | {base} | {seeds} | {c2} | {', '.join(p.c3_taus)} | {c4} | "
                     f"{p.c5_steps} steps |")
    return "\n".join(lines) + "\n"


def estimate_text(docs: Path = DOCS_DIR, size: str = "medium") -> str:
    """The cost estimate of a protocol from the pilot's per-shape CPU seconds
    (``docs/claims/pilot/run_cpu.json``), scaled by the pilot's measured CPU over the same
    estimate of the quick protocol (start-up, reading, writing)."""
    from empirics.studies.claims.protocol import load_protocol

    costs_file = docs / "pilot" / "run_cpu.json"
    if not costs_file.is_file() or _study("pilot", docs) is None:
        return "Not yet measured.\n"
    costs = json.loads(costs_file.read_text(encoding="utf-8"))["cpu_seconds"]
    info = json.loads((docs / "pilot" / "study.json").read_text(encoding="utf-8"))
    pilot = power.estimate_cpu(load_protocol("quick"), costs)
    target = power.estimate_cpu(load_protocol(size), costs)
    factor = float(info["cpu_seconds"]) / pilot["cpu"]
    cpu = target["cpu"] * factor
    lines = ["| shape | runs | CPU s |", "|---|---|---|"]
    for shape, (n, c) in target["by_shape"].items():
        lines.append(f"| `{shape}` | {n} | {c:.0f} |")
    lines += ["", f"The {size} protocol: {target['runs']} training runs and "
              f"{target['by_shape'].get('longrun-task', (0, 0))[0]} long-run tasks, "
              f"{target['cpu']:.0f} CPU seconds by shape; times {factor:.3f} (the pilot "
              f"measured {float(info['cpu_seconds']):.0f} CPU s where the same sum gives "
              f"{pilot['cpu']:.0f}) = {cpu:.0f} CPU s, **about {cpu / 2 / 60:.0f} minutes "
              "on a quiet 2-core machine** (two workers busy all along; the target is at "
              "most 45). The pilot itself: "
              f"{float(info['cpu_seconds']):.0f} CPU s, {float(info['wall_seconds']):.0f} s "
              f"of wall time at a load average of {info['load_start']} (start) on two "
              f"shared cores, about {float(info['cpu_seconds']) / 2 / 60:.1f} minutes on a "
              "quiet machine (the target is at most 5)."]
    return "\n".join(lines) + "\n"


def readme(docs: Path = DOCS_DIR) -> str:
    """The README's claims table: the six primaries and the theorem checks of the
    committed medium study (the pilot's while medium is not committed), and its source."""
    name = "medium" if _study("medium", docs) else "pilot"
    folder = docs / name
    protocol = "medium" if name == "medium" else "quick (the pilot)"
    return (readme_table(read_csv(folder / "claims.csv"),
                         read_csv(folder / "theorem_checks.csv"))
            + f"\nFrom `docs/claims/{name}/`, the {protocol} protocol (docs/claims.md). "
            "This CPU scale cannot test the claims at the paper's scale: MLPs on 1,797 "
            "digits images with B = 32-128 stand in for ResNet-50s on CIFAR to ImageNet "
            "with B = 1024, so each verdict says what holds at this scale; the GPU protocol "
            "`full` (ResNet-18, 50,000 images, B up to 1024) reaches the paper's range and "
            "has not been run.\n")


def readme_renderers(docs: Path = DOCS_DIR) -> dict[str, Callable[[], str]]:
    """The README's generated block (``claims-readme``), from the files under ``docs``."""
    return {"claims-readme": lambda: readme(docs)}


def folder_tables(folder: Path) -> str:
    """The primaries', theorem checks' and secondaries' tables of a study folder."""
    rows = read_csv(folder / "claims.csv")
    parts = [primary_table(rows)]
    if (folder / "theorem_checks.csv").is_file():
        parts.append(checks_table(read_csv(folder / "theorem_checks.csv")))
    parts.append(secondary_table(rows))
    return "\n".join(parts) + "\n"
