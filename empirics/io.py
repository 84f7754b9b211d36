"""Atomic result-file writes: every file a run leaves is either complete or absent.

A write goes to a temporary file in the destination's directory, is flushed and
``fsync``-ed, and then replaces the destination with :func:`os.replace`, which is atomic
on POSIX and Windows when both paths are on the same file system. A run killed at any
moment therefore leaves the previous version of a file, never a half-written one.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "a.json", {"x": 1})
>>> append_csv_rows(d / "m.csv", [{"step": 0, "cka": 0.5}])
>>> append_csv_rows(d / "m.csv", [{"step": 1, "cka": 0.75}])
>>> print((d / "m.csv").read_text(), end="")
step,cka
0,0.5
1,0.75
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "append_csv_rows",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "format_value",
    "read_csv_rows",
    "truncate_csv_rows",
]


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (temporary file, then rename)."""
    if not isinstance(text, str):
        raise TypeError(f"Expected `text` to be a str, got {type(text).__name__}")
    _atomic_write(path, lambda h: h.write(text), "w")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    _atomic_write(path, lambda h: h.write(data), "wb")


def _json_safe(obj: Any) -> Any:
    """Map non-finite floats to ``None`` (JSON has no inf/NaN) and tuples to lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _json_safe(obj.item())  # numpy / torch scalars
    if hasattr(obj, "tolist"):
        return _json_safe(obj.tolist())
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically; non-finite floats become ``null``."""
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically (temporary file, then rename)."""
    import torch  # local: keeps ``empirics.io`` importable without paying for torch

    _atomic_write(path, lambda h: torch.save(obj, h), "wb")


def format_value(value: Any) -> str:
    """One CSV cell: floats by ``repr`` (shortest round-trip form, so byte-stable)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _render(rows: Iterable[Mapping[str, Any]], fieldnames: list[str], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(fieldnames)
    for row in rows:
        extra = set(row) - set(fieldnames)
        if extra:
            raise ValueError(f"Expected row keys among the CSV columns, got {sorted(extra)!r}")
        writer.writerow([format_value(row.get(k)) for k in fieldnames])
    return buf.getvalue()


def read_csv_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV file written by :func:`append_csv_rows`: (header, rows as str dicts)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def append_csv_rows(
    path: str | os.PathLike,
    rows: list[Mapping[str, Any]],
    fieldnames: list[str] | None = None,
) -> None:
    """Append ``rows`` to the CSV at ``path``, atomically (the whole file is rewritten).

    The header comes from ``fieldnames`` or, when the file is new and it is ``None``,
    from the first row's keys. An existing file keeps its header; a row with a key the
    header lacks raises ``ValueError``. Rewriting keeps the append atomic: a reader or a
    crash never sees a half row. Result files are small (one row per evaluation), so the
    cost is negligible.
    """
    if not isinstance(rows, list):
        raise TypeError(f"Expected `rows` to be a list of dicts, got {type(rows).__name__}")
    path = Path(path)
    if path.exists():
        old = path.read_text(encoding="utf-8")
        header = next(csv.reader(io.StringIO(old)), None)
        if header is None:
            old = ""
    else:
        old, header = "", None
    if header is None:
        if fieldnames is None:
            if not rows:
                return
            fieldnames = list(rows[0].keys())
        new = _render(rows, list(fieldnames), header=True)
    else:
        new = old + _render(rows, header, header=False)
    atomic_write_text(path, new)


def truncate_csv_rows(path: str | os.PathLike, keep: Callable[[dict[str, str]], bool]) -> int:
    """Keep only the rows of the CSV at ``path`` for which ``keep(row)`` is true.

    Rows are kept byte for byte (the file is filtered line by line, not re-rendered).
    Returns the number of rows dropped; a missing file drops nothing.
    """
    path = Path(path)
    if not path.exists():
        return 0
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if not lines:
        return 0
    header = next(csv.reader([lines[0]]))
    kept, dropped = [lines[0]], 0
    for line in lines[1:]:
        values = next(csv.reader([line]))
        if keep(dict(zip(header, values, strict=False))):
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_text(path, "".join(kept))
    return dropped
