"""Generated blocks of a Markdown document: the docs' numbers come from code, never by hand.

A block is the text between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` (each
marker on its own line). :func:`fill` replaces every block's body with the text a renderer
gives for ``NAME``; :func:`stale` lists the blocks whose committed body differs, which is
what the docs' tests assert is empty (so a committed doc cannot drift from its source).

>>> doc = "a\\n<!-- generated:x -->\\nold\\n<!-- end:x -->\\nb\\n"
>>> fill(doc, {"x": "new\\n"})
'a\\n<!-- generated:x -->\\nnew\\n<!-- end:x -->\\nb\\n'
>>> stale(doc, {"x": "new\\n"})
['x']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = ["blocks", "fill", "stale"]

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
