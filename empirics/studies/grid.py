"""The grid of a sweep: ``key=v1,v2`` specs parsed into values, and their Cartesian product.

>>> parse_grid(["classes=2,10", "tau=0.5", "objectives=[cl,nscl],[cl,ce]"])
{'classes': [2, 10], 'tau': [0.5], 'objectives': [['cl', 'nscl'], ['cl', 'ce']]}
>>> expand_grid({"C": [2, 10], "tau": [0.5]})
[{'C': 2, 'tau': 0.5}, {'C': 10, 'tau': 0.5}]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["expand_grid", "parse_grid", "parse_value"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside square brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"Expected balanced brackets in a grid value, got {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError(f"Expected balanced brackets in a grid value, got {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """One grid value: int, float, bool (``true``/``false``), None (``none``), a
    bracketed list ``[a,b]`` of values, or otherwise the string itself.

    >>> [parse_value(s) for s in ("3", "0.5", "1e-3", "true", "none", "cosine", "[cl,ce]")]
    [3, 0.5, 0.001, True, None, 'cosine', ['cl', 'ce']]
    """
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [parse_value(p) for p in _split_top(inner)] if inner else []
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["key=v1,v2", ...]`` to ``{key: [v1, v2]}`` in the order given.

    Raises:
        ValueError: a spec without ``=``, a key that is not an identifier, a repeated
            key, or an empty value.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"Expected a grid spec `key=v1,v2,...`, got {spec!r}")
        key, _, values = spec.partition("=")
        key = key.strip()
        if not _KEY.match(key):
            raise ValueError(f"Expected a grid key that is an identifier, got {key!r}")
        if key in grid:
            raise ValueError(f"Expected each grid key once, got {key!r} twice")
        items = _split_top(values)
        if any(item == "" for item in items):
            raise ValueError(f"Expected non-empty values for grid key {key!r}, got {values!r}")
        grid[key] = [parse_value(item) for item in items]
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of ``grid`` in a stable order (the last key varies fastest)."""
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Sequence) \
                or len(grid[k]) == 0:
            raise ValueError(f"Expected a non-empty list of values for {k!r}, got {grid[k]!r}")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
