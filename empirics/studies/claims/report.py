"""The outputs of the claims study: claims.csv, claims_seeds.csv, runs.csv, claims.md.

``DIR/claims.csv``: one row per claim and setting (columns
:data:`~empirics.studies.claims.claims.CSV_COLUMNS`: ``claim``, ``setting``,
``statistic``, ``estimate``, ``ci_low``, ``ci_high``, ``n_seeds``, ``verdict``, ``paper``,
``direction``, ``interval``, ``level``, ``paper_value``, ``data``, ``features``, ``split``,
``metric``, ``note``). ``DIR/claims_seeds.csv``: every statistic's value per seed.
``DIR/runs.csv``: the manifest, one row per use of a training run
(:func:`empirics.studies.claims.plan.manifest_rows`, plus its ``status``).
``DIR/claims.md``: the table with the paper's number beside ours, the verdict rule and
the notes. Every file is written atomically; numbers by ``repr`` in the CSV files.

>>> fmt(0.123456), fmt(float("nan")), fmt(-1234.5)
('0.123', '-', '-1.23e+03')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_write_json, atomic_write_text
from empirics.runs.tables import render_rows
from empirics.studies.claims.claims import CSV_COLUMNS, ClaimRow
from empirics.studies.claims.statistics import VERDICT_RULE, VERDICTS

__all__ = ["fmt", "markdown", "write_outputs"]


def fmt(x: Any) -> str:
    """A number for the Markdown table: 3 significant digits, ``-`` for NaN / None."""
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "-" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.3g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(table: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> str:
    """claims.md: header (command, protocol, runs, time), the verdict rule, the table with
    the paper's number beside ours, the tally and the notes."""
    counts = {v: sum(r["verdict"] == v for r in table) for v in VERDICTS}
    method = "Student t" if info.get("interval") == "t" else "percentile bootstrap"
    lines = [
        f"# Claims of [P2] and [P1]: verdicts of the `{info['protocol']}` protocol",
        "",
        f"- Command: `{info.get('command', '')}`",
        f"- Protocol: `{info.get('protocol_file', '')}` (SHA-256 "
        f"`{info.get('protocol_sha256', '')[:16]}`"
        + (f", {info['protocol_state']}" if info.get("protocol_state") else "") + "), "
        f"seeds 0..{int(info['seeds']) - 1}, {int(round(100 * info['level']))}% intervals "
        f"({method} over seeds)",
        f"- Data: {info.get('data', '')}",
        f"- Runs: {info.get('n_runs', 0)} training runs ({info.get('n_uses', 0)} uses by the "
        f"claims; equal settings share one run), {info.get('n_curvature', 0)} curvature "
        f"tasks; {info.get('n_ran', 0)} run now, {info.get('n_done', 0)} found done, "
        f"{info.get('n_failed', 0)} failed",
        f"- Wall time: {info.get('wall', '-')}; `uptime` load average at start "
        f"{info.get('load_start', '-')}, at end {info.get('load_end', '-')}; "
        f"{info.get('machine', '')}",
        f"- Verdicts: **{counts['holds']} holds, {counts['reversed']} reversed, "
        f"{counts['inconclusive']} inconclusive** (of {len(table)} statistics)",
        "",
        "## Verdict rule (stated before the run)",
        "",
        VERDICT_RULE,
        "",
        "## Results",
        "",
        "| claim | setting | statistic | direction | ours: estimate [95% interval] | seeds "
        "| verdict | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        ours = f"{fmt(r['estimate'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
        verdict = f"**{r['verdict']}**" if r["verdict"] != "inconclusive" else r["verdict"]
        lines.append(f"| {r['claim']} | {_cell(r['setting'])} | {_cell(r['statistic'])} | "
                     f"{r['direction']} | {ours} | {r['n_seeds']} | {verdict} | "
                     f"{_cell(r['paper'])} |")
    notes = [r for r in table if r.get("note")]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {r['claim']} {r['setting']}: {r['note']}" for r in notes]
    lines += ["", "Settings: `<run group>/<variant>/<features>[/<metric>]`; the run groups are "
              "those of runs.csv. Features: `h` backbone, `z` projection. Per-seed values: "
              "claims_seeds.csv. Statistic definitions: docs/claims.md.", ""]
    return "\n".join(lines)


def write_outputs(out: str | os.PathLike, table: Sequence[Mapping[str, Any]],
                  rows: Sequence[ClaimRow], manifest: Sequence[Mapping[str, Any]],
                  info: Mapping[str, Any], protocol: Mapping[str, Any]) -> list[Path]:
    """Write every output of the study into ``out``; returns the paths written."""
    out = Path(out)
    paths = []

    def put(name: str, text: str) -> None:
        atomic_write_text(out / name, text)
        paths.append(out / name)

    put("claims.csv", render_rows(table, list(CSV_COLUMNS), header=True))
    seeds = [{"claim": r.claim, "setting": r.setting, "seed": s, "value": v}
             for r in rows for s, v in sorted(r.values.items())]
    put("claims_seeds.csv", render_rows(seeds, ["claim", "setting", "seed", "value"],
                                        header=True))
    cols = list(dict.fromkeys(k for r in manifest for k in r))
    put("runs.csv", render_rows(manifest, cols, header=True))
    put("claims.md", markdown(table, info))
    atomic_write_json(out / "protocol.json", dict(protocol))
    atomic_write_json(out / "study.json", dict(info))
    paths += [out / "protocol.json", out / "study.json"]
    return paths
