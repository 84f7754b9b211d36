"""The CSV tables of a run directory: byte-stable cells, atomic appends, checked reads.

A table is a header line and one line per row. Cells are written in one canonical form
(:func:`format_value`: floats by ``repr``, the shortest round-trip form), so the same
numbers always give the same bytes and a resumed run can be compared byte for byte with
an uninterrupted one. An append rewrites the file atomically
(:mod:`cl_nscl_align.atomic`): a crash leaves the old table or the new one, never half a
row. Tables are small (one row per evaluation, model pair and split).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
>>> append_rows(p, [{"step": 0, "cka": 0.5}], ["step", "cka"])
>>> append_rows(p, [{"step": 1, "cka": 0.75}], ["step", "cka"])
>>> print(p.read_text(), end="")
step,cka
0,0.5
1,0.75
>>> read_rows(p)[1][1]["cka"]
'0.75'
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_write_text

__all__ = [
    "RunFileError",
    "append_rows",
    "check_table_steps",
    "format_value",
    "read_rows",
    "read_text",
    "render_rows",
    "table_steps",
]


class RunFileError(ValueError):
    """A file of a run directory cannot be read as what it should be.

    The message names the file (and the line, where there is one), so a command line can
    print it as its one error line.
    """

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None):
        self.path, self.line = str(path), line
        where = f"{self.path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")


def format_value(value: Any) -> str:
    """One CSV cell: floats by ``repr`` (shortest round trip), booleans as true/false,
    ``None`` as the empty string, numpy / torch scalars as their Python value."""
    if value is None:
        return ""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *,
                header: bool) -> str:
    """The CSV text of ``rows`` under ``columns`` (a row key outside them is an error)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    known = set(columns)
    for row in rows:
        extra = set(row) - known
        if extra:
            raise ValueError(f"Expected row keys among the CSV columns, got {sorted(extra)!r}")
        writer.writerow([format_value(row.get(c)) for c in columns])
    return buf.getvalue()


def read_text(path: str | os.PathLike) -> str:
    """A table's text, or ``""`` when the file does not exist.

    Raises:
        RunFileError: the file is not UTF-8 text.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as exc:
        raise RunFileError(path, f"expected UTF-8 CSV text, got binary data ({exc.reason})"
                           ) from None


def append_rows(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str] | None = None) -> None:
    """Append ``rows`` to the table at ``path`` atomically (the file is rewritten).

    A new file gets the header ``columns`` (or the first row's keys). An existing file
    keeps its header; a row key outside it is a ``ValueError``.
    """
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"Expected `rows` to be a list of dicts, got {type(rows).__name__}")
    if not rows:
        return
    old = read_text(path)
    header = next(csv.reader(io.StringIO(old)), None) if old else None
    if header is None:
        if columns is None:
            columns = list(rows[0])
        text = render_rows(rows, list(columns), header=True)
    else:
        if old and not old.endswith("\n"):
            raise RunFileError(path, "expected the file to end with a complete row")
        text = old + render_rows(rows, header, header=False)
    atomic_write_text(path, text)


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """``(header, rows)`` of a table, every row checked against the header.

    Raises:
        RunFileError: binary data, a row with a different number of cells than the header,
            or a last row cut short (no final newline), naming the file and the line.
    """
    text = read_text(path)
    if not text:
        return [], []
    lines = text.splitlines(keepends=True)
    try:
        parsed = list(csv.reader(lines))
    except csv.Error as exc:
        raise RunFileError(path, f"expected CSV, got {exc}") from None
    header, rows = parsed[0], []
    for i, cells in enumerate(parsed[1:], start=2):
        if len(cells) != len(header):
            raise RunFileError(path, f"expected {len(header)} cells as in the header, "
                               f"got {len(cells)}", line=i)
        rows.append(dict(zip(header, cells, strict=True)))
    if not lines[-1].endswith("\n"):
        raise RunFileError(path, "expected a complete last row, got one cut short",
                           line=len(lines))
    return header, rows


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace a table's text atomically (``""`` removes the file)."""
    if text:
        atomic_write_text(path, text)
    else:
        Path(path).unlink(missing_ok=True)


def table_steps(text: str, path: str | os.PathLike) -> list[int]:
    """The ``step`` column of a table's text, in row order (``[]`` for no rows): what a
    checkpoint's saved tables hold, checked against its step on resume.

    Raises:
        RunFileError: the text has no integer ``step`` column (names ``path``).

    >>> table_steps(render_rows([{"step": 0}, {"step": 0}, {"step": 3}], ["step"], header=True),
    ...             "c.pt")
    [0, 0, 3]
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    try:
        i = rows[0].index("step")
        return [int(r[i]) for r in rows[1:]]
    except (ValueError, IndexError):
        raise RunFileError(path, "expected tables with an integer `step` column in the "
                                 "checkpoint, got another text") from None


def check_table_steps(tables: Mapping[str, str], want: Mapping[str, Mapping[int, int]],
                      step: int, path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose saved tables do not hold exactly the rows written up to
    its ``step``: ``want[table]`` maps each step to its number of rows.

    Raises:
        RunFileError: a table holds other rows (names ``path``, the table and both counts).

    >>> check_table_steps({"metrics": "step\\n0\\n1\\n"}, {"metrics": {0: 1, 1: 1}}, 1, "c.pt")
    >>> check_table_steps({"metrics": "step\\n0\\n"}, {"metrics": {0: 1, 1: 1}}, 1, "c.pt")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    empirics.runs.tables.RunFileError: c.pt: expected its step 1 to match the metrics rows ...
    """
    for table, rows in want.items():
        got = dict(Counter(table_steps(tables.get(table) or "", path)))
        if got != dict(rows):
            raise RunFileError(path, f"expected its step {step} to match the {table} rows "
                               f"it carries ({sum(rows.values())} rows up to step "
                               f"{max(rows, default=step)}), got {sum(got.values())} rows "
                               f"up to step {max(got, default=None)}")
