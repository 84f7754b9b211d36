"""The outputs of the claims study and their Markdown tables.

Files of a study folder ``DIR`` (every one written atomically; numbers by ``repr`` in the
CSV files):

- ``claims.csv``: one row per claim and setting (columns
  :data:`~empirics.studies.claims.verdicts.CSV_COLUMNS`);
- ``claims_seeds.csv``: every statistic's value per seed (``claim``, ``setting``,
  ``seed``, ``value``), from which every number of claims.csv follows
  (:func:`empirics.studies.claims.verdicts.verdict_table`);
- ``theorem_checks.csv``: the deterministic checks (``check``, ``rows``, ``violations``,
  ``worst_ratio``, ``note``);
- ``runs.csv``: the manifest (:func:`empirics.studies.claims.plan.manifest_rows`);
- ``claims.md``: the primaries (both seed sets), the theorem checks, the secondaries, the
  verdict rule, the environment and the notes;
- ``protocol.json``, ``study.json``: the resolved protocol; counts, times, environment.

The tables (:func:`primary_table`, :func:`checks_table`, :func:`secondary_table`,
:func:`readme_table`) render from those files alone; docs/claims.md and the README carry
them for the committed study (:mod:`empirics.studies.claims.docs`).

>>> fmt(0.123456), fmt(float("nan")), fmt(-1234.5)
('0.123', '-', '-1.23e+03')
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_write_json, atomic_write_text
from empirics.runs.tables import render_rows
from empirics.studies.claims.catalog import CLAIMS
from empirics.studies.claims.checks import CHECK_COLUMNS, STALL_COLUMNS, STALL_TOLERANCE
from empirics.studies.claims.verdicts import CSV_COLUMNS, SET_NAMES, VERDICT_RULE

__all__ = [
    "checks_table",
    "fmt",
    "markdown",
    "primary_table",
    "read_csv",
    "readme_table",
    "secondary_table",
    "write_outputs",
]

SEED_COLUMNS = ("claim", "setting", "seed", "value")


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a Markdown table: ``digits`` significant digits, ``-`` for NaN / None."""
    if x is None or x == "":
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "-" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def _p(x: Any) -> str:
    """A p-value: 2 significant digits, ``< 1e-4`` below it."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(v):
        return "-"
    return "< 1e-4" if v < 1e-4 else f"{v:.2g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ci(r: Mapping[str, Any]) -> str:
    return f"{fmt(r['estimate'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts of text."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _bold(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ("holds", "reversed", "absent") else verdict


def primary_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The six primaries: estimate and interval of all seeds, ``delta``, p, Holm-adjusted
    p, both seed sets' verdicts and the final verdict."""
    lines = ["| claim | primary statistic | direction | delta | estimate [95% interval] | "
             "seeds | p | p (Holm) | discovery / replication | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["role"] != "primary":
            continue
        sets = str(r.get("replication", ""))
        parts = [s.split(" (")[0].split(" ", 1)[-1] for s in sets.split(", ")] if sets else []
        lines.append(f"| {r['claim']} | `{r['setting']}` | {r['direction']} | "
                     f"{fmt(r['delta'])} | {_ci(r)} | {r['n_seeds']} | {_p(r['p_value'])} | "
                     f"{_p(r['p_holm'])} | {' / '.join(parts) or '-'} | "
                     f"{_bold(str(r['verdict']))} |")
    return "\n".join(lines) + "\n"


def secondary_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Every secondary statistic: estimate, interval, unadjusted p and verdict."""
    lines = ["| claim | setting | direction | estimate [95% interval] | seeds | p "
             "(unadjusted) | verdict | paper |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["role"] == "primary":
            continue
        lines.append(f"| {r['claim']} | `{r['setting']}` | {r['direction']} | {_ci(r)} | "
                     f"{r['n_seeds']} | {_p(r['p_value'])} | {r['verdict']} | "
                     f"{_cell(r['paper'])} |")
    return "\n".join(lines) + "\n"


def checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    """The deterministic theorem checks: rows, violations, worst ratio."""
    lines = ["| check | rows | violations | worst ratio | what |", "|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| `{c['check']}` | {c['rows']} | {c['violations']} | "
                     f"{fmt(c['worst_ratio'], 4)} | {_cell(c.get('note', ''))} |")
    return "\n".join(lines) + "\n"


def readme_table(rows: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]]
                 ) -> str:
    """The README's table: the six primaries (estimate, interval, verdict) and the theorem
    checks (violations of rows)."""
    lines = ["| claim | primary statistic | estimate [95% interval] | delta | seeds | p (Holm) "
             "| verdict |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["role"] == "primary":
            lines.append(f"| {r['claim']} {CLAIMS.get(str(r['claim']), '')} | `{r['setting']}` "
                         f"| {_ci(r)} | {fmt(r['delta'])} | {r['n_seeds']} | "
                         f"{_p(r['p_holm'])} | {_bold(str(r['verdict']))} |")
    for c in checks:
        held = str(c["violations"]) == "0" and str(c["rows"]) != "0"
        lines.append(f"| theorem | `{c['check']}` | {c['violations']} violations in "
                     f"{c['rows']} rows | - | - | - | {'**holds**' if held else 'violated'} |")
    return "\n".join(lines) + "\n"


def _seed_counts(info: Mapping[str, Any]) -> str:
    by = info.get("seeds_by_claim") or {}
    return ", ".join(f"{c} {n}" for c, n in by.items()) or str(info.get("seeds", "-"))


def _tally(rows: Sequence[Mapping[str, Any]]) -> str:
    prim = [r for r in rows if r["role"] == "primary"]
    names = ("holds", "reversed", "absent", "inconclusive", "unstable")
    counts = {v: sum(r["verdict"] == v for r in prim) for v in names}
    return ", ".join(f"{counts[v]} {v}" for v in names) + f" (of {len(prim)} primaries)"


def _set_lines(table: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[str]:
    lines = ["| claim | set | seeds | estimate [95% interval] | p | p (Holm, within the set) | "
             "p (TOST, +-delta) | verdict |", "|---|---|---|---|---|---|---|---|"]
    for (claim, _), v in table.items():
        for name in SET_NAMES:
            s = v["sets"][name]
            lines.append(f"| {claim} | {name} | {','.join(map(str, s['seeds']))} | {_ci(s)} | "
                         f"{_p(s['p_value'])} | {_p(s['p_holm'])} | {_p(s['p_tost'])} | "
                         f"{s['verdict']} |")
    return lines


def markdown(table: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]],
             info: Mapping[str, Any], sets: Mapping[tuple[str, str], Mapping[str, Any]]
             ) -> str:
    """claims.md: header, the primaries (and both seed sets), the theorem checks, the
    secondaries, the verdict rule and the notes."""
    lines = [
        f"# Claims of [P2] and [P1]: verdicts of the `{info['protocol']}` protocol",
        "",
        f"- Command: `{info.get('command', '')}`",
        f"- Protocol: `{info.get('protocol_file', '')}` (SHA-256 "
        f"`{info.get('protocol_sha256', '')[:16]}`, {info.get('protocol_state', '-')}), "
        f"seeds 0..n-1 with n by claim {_seed_counts(info)} (even seeds discover, odd "
        f"seeds replicate), "
        f"{int(round(100 * info['level']))}% Student-t intervals",
        f"- Data: {info.get('data', '')}",
        f"- Runs: {info.get('n_runs', 0)} training runs ({info.get('n_uses', 0)} uses by the "
        f"claims; equal settings share one run), {info.get('n_longrun', 0)} long-run tasks; "
        f"{info.get('n_ran', 0)} run now, {info.get('n_done', 0)} found done, "
        f"{info.get('n_failed', 0)} failed; {info.get('n_stalled', '-')} model(s) stalled "
        f"(`stalled.csv`: test loss moved by less than {STALL_TOLERANCE:.0%} over the run)",
        f"- Wall time: {info.get('wall', '-')}; CPU time of this process and its workers: "
        f"{info.get('cpu', '-')}; `uptime` load average at start {info.get('load_start', '-')}, "
        f"at end {info.get('load_end', '-')}",
        f"- Environment: {info.get('environment', '-')}",
        f"- Primaries: **{_tally(table)}**",
        "",
        "Bitwise numbers differ between machines (CPU, BLAS, library versions change the "
        "last bits of every run); the verdicts are what should replicate.",
        "",
        "## Primaries (one per claim, Holm over them)",
        "",
        primary_table(table).rstrip(),
        "",
        "Each seed set on its own:",
        "",
        *_set_lines(sets),
        "",
        "## Theorem checks (deterministic: counts, not intervals)",
        "",
        checks_table(checks).rstrip(),
        "",
        "## Secondary statistics (unadjusted, not replicated, not tallied)",
        "",
        secondary_table(table).rstrip(),
        "",
        "## Verdict rule (stated before the run)",
        "",
        VERDICT_RULE,
    ]
    notes = [r for r in table if r.get("note")]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {r['claim']} {r['setting']}: {r['note']}" for r in notes]
    lines += ["", "Per-seed values: claims_seeds.csv. Statistic definitions, the choice of "
              "each delta and the power calculation: docs/claims.md.", ""]
    return "\n".join(lines)


def write_outputs(out: str | os.PathLike, table: Sequence[Mapping[str, Any]], rows,
                  checks: Sequence[Mapping[str, Any]], manifest: Sequence[Mapping[str, Any]],
                  info: Mapping[str, Any], protocol: Mapping[str, Any],
                  sets: Mapping[tuple[str, str], Mapping[str, Any]],
                  stalled: Sequence[Mapping[str, Any]] = ()) -> list[Path]:
    """Write every output of the study into ``out``; returns the paths written."""
    out = Path(out)
    paths = []

    def put(name: str, text: str) -> None:
        atomic_write_text(out / name, text)
        paths.append(out / name)

    put("claims.csv", render_rows(table, list(CSV_COLUMNS), header=True))
    seeds = [{"claim": r.claim, "setting": r.setting, "seed": s, "value": v}
             for r in rows for s, v in sorted(r.values.items())]
    put("claims_seeds.csv", render_rows(seeds, list(SEED_COLUMNS), header=True))
    put("theorem_checks.csv", render_rows(checks, list(CHECK_COLUMNS), header=True))
    put("stalled.csv", render_rows(stalled, list(STALL_COLUMNS), header=True))
    cols = list(dict.fromkeys(k for r in manifest for k in r))
    put("runs.csv", render_rows(manifest, cols, header=True))
    put("claims.md", markdown(table, checks, info, sets))
    atomic_write_json(out / "protocol.json", dict(protocol))
    atomic_write_json(out / "study.json", dict(info))
    paths += [out / "protocol.json", out / "study.json"]
    return paths
