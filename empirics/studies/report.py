"""The tables a study prints and writes: Markdown for the docs, CSV for the raw rows.

>>> print(markdown_table([{"C": 2, "cka": 0.98765, "ok": True, "gap": None}],
...                      ["C", "cka", "ok", "gap"], {"cka": ".3f"}))
| C | cka | ok | gap |
|---|---|---|---|
| 2 | 0.988 | yes | - |
>>> aggregate([{"factor": "C", "value": 2, "x": 1.0}, {"factor": "C", "value": 2, "x": 3.0}],
...           keys=("x",))
[{'factor': 'C', 'value': 2, 'seeds': 2, 'x_mean': 2.0, 'x_std': 1.4142135623730951}]
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["aggregate", "markdown_table", "progress", "write_csv"]


def progress(msg: str) -> None:
    """One line of progress on stderr (stdout carries the tables)."""
    print(msg, file=sys.stderr, flush=True)


def markdown_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str],
                   fmt: Mapping[str, str] | None = None) -> str:
    """A Markdown table of ``rows`` restricted to ``cols``.

    Cells: ``None`` as ``-``, booleans as yes/no, floats with ``fmt[col]`` (default
    ``.3g``), infinities as ``inf``.
    """
    fmt = fmt or {}

    def cell(v: Any, c: str) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            if not math.isfinite(v):
                return "inf" if v > 0 else str(v)
            return format(v, fmt.get(c, ".3g"))
        return str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(cell(r.get(c), c) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write ``rows`` as one CSV table (columns in order of first appearance), atomically."""
    from cl_nscl_align.atomic import atomic_write_text
    from empirics.runs.tables import render_rows

    cols = list(dict.fromkeys(k for r in rows for k in r))
    atomic_write_text(path, render_rows(rows, cols, header=True))


def aggregate(rows: Iterable[Mapping[str, Any]], keys: Sequence[str] = ("sim_gap", "cka")
              ) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds of each ``(factor, value)`` group, in
    order of first appearance (``None`` where a group has no value, or one for the std)."""
    groups: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["factor"], r["value"]), []).append(r)
    out = []
    for (factor, value), rs in groups.items():
        row: dict[str, Any] = {"factor": factor, "value": value, "seeds": len(rs)}
        for k in keys:
            vals = np.array([r[k] for r in rs if r.get(k) is not None], dtype=float)
            row[f"{k}_mean"] = float(vals.mean()) if vals.size else None
            row[f"{k}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else None
        out.append(row)
    return out
