"""The text a study prints and writes: Markdown tables, CSV rows, and the generated blocks
of the docs.

**Generated blocks.** The docs' numbers come from code, never by hand. A block is the text
between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` (each marker on its own line).
:func:`fill` replaces every block's body with the text a renderer gives for ``NAME``;
:func:`stale` lists the blocks whose committed body differs, which is what the docs' tests
assert is empty (so a committed doc cannot drift from its source); :func:`sync` checks or
rewrites one document (``python -m empirics.studies docs claims|accuracy [--write]``).

>>> doc = "a\\n<!-- generated:x -->\\nold\\n<!-- end:x -->\\nb\\n"
>>> fill(doc, {"x": "new\\n"})
'a\\n<!-- generated:x -->\\nnew\\n<!-- end:x -->\\nb\\n'
>>> stale(doc, {"x": "new\\n"})
['x']
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
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["aggregate", "blocks", "fill", "markdown_table", "progress", "stale", "sync",
           "write_csv"]


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


# ----------------------------------------------------------------------------- doc blocks
_BLOCK = re.compile(r"^<!-- generated:(?P<name>[\w.-]+) -->\n(?P<body>.*?)^<!-- end:(?P=name) -->$",
                    re.MULTILINE | re.DOTALL)


def blocks(doc: str) -> dict[str, str]:
    """``{name: body}`` of every generated block of ``doc``."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(doc)}


def _text(render: str | Callable[[], str]) -> str:
    text = render() if callable(render) else render
    return text if text.endswith("\n") else text + "\n"


def fill(doc: str, renderers: Mapping[str, str | Callable[[], str]]) -> str:
    """``doc`` with the body of each block named in ``renderers`` replaced.

    Raises:
        KeyError: a block of ``doc`` that no renderer names (a stale marker).
    """
    def replace(m: re.Match) -> str:
        name = m.group("name")
        if name not in renderers:
            raise KeyError(f"Expected a renderer for the generated block {name!r}, got none")
        return f"<!-- generated:{name} -->\n{_text(renderers[name])}<!-- end:{name} -->"

    return _BLOCK.sub(replace, doc)


def stale(doc: str, renderers: Mapping[str, str | Callable[[], str]]) -> list[str]:
    """Names of the blocks whose body differs from the rendered text, or that ``doc``
    lacks, or that have no renderer."""
    have = blocks(doc)
    out = [n for n in renderers if n not in have or have[n] != _text(renderers[n])]
    out += [n for n in have if n not in renderers]
    return sorted(set(out))


def sync(path: str | os.PathLike, renderers: Mapping[str, str | Callable[[], str]], *,
         write: bool = False) -> list[str]:
    """Check (default) or rewrite (``write``) the generated blocks of the document at
    ``path``; returns the names of the stale blocks (none after a write)."""
    from cl_nscl_align.atomic import atomic_write_text

    doc = Path(path).read_text(encoding="utf-8")
    if write:
        atomic_write_text(path, fill(doc, renderers))
        return []
    return stale(doc, renderers)
