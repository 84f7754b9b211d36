"""Atomic file writes: every result file is either complete or absent, and honours the umask.

A write goes to a temporary file in the destination's directory, is flushed and
``fsync``-ed, gets the mode a plain ``open(path, "w")`` would have given it (the existing
file's mode, or ``0o666`` minus the process umask for a new file), and then replaces the
destination with :func:`os.replace`, atomic on POSIX and Windows when both paths are on the
same file system. A process killed at any instant therefore leaves the previous version of
a file, never a half-written one; at worst a hidden ``.<name>.*.tmp`` file stays behind,
which no reader looks at.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "a.json", {"x": 1.5, "inf": float("inf")})
>>> print((d / "a.json").read_text(), end="")
{
  "x": 1.5,
  "inf": null
}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "json_safe",
]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    For writers that want a file name rather than a handle (``savefig``, ``torch.save``).
    On an exception the temporary file is removed and ``path`` is left untouched.

    Raises:
        NotADirectoryError / PermissionError / FileExistsError: ``path``'s folder cannot be
            created or written (the message names the folder).
    """
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"Expected a folder at {str(parent)!r}, got a file") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_path, _target_mode(path))
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    _fsync_dir(parent)


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool) -> None:
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with open(tmp, "wb" if binary else "w", **kwargs) as handle:
            write(handle)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    if not isinstance(text, str):
        raise TypeError(f"Expected `text` to be a str, got {type(text).__name__}")
    _atomic_write(path, lambda h: h.write(text), binary=False)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"Expected `data` to be bytes, got {type(data).__name__}")
    _atomic_write(path, lambda h: h.write(data), binary=True)


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` (JSON has no inf/NaN), tuples as lists and
    numpy / torch scalars and arrays as Python values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return json_safe(obj.item())
    if hasattr(obj, "tolist"):
        return json_safe(obj.tolist())
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically; non-finite floats become ``null``."""
    text = json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text)
