"""Write a run directory so that a kill at any instant resumes to byte-identical files.

The protocol (every writer of the toolkit follows it; :class:`RunWriter` enforces it):

1. :meth:`RunWriter.open` starts a fresh run (writes ``config.json``, clears stale tables)
   or resumes one (checks the saved configuration, loads ``checkpoints/last.pt`` and puts
   every table back exactly as it stood at the checkpoint's step).
2. At an evaluation step ``t`` the rows of ``t`` are appended (:meth:`RunWriter.append`),
   *then* a checkpoint of step ``t`` may be written (:meth:`RunWriter.checkpoint`). The
   checkpoint carries the full text of every table, so whatever happened to the tables
   after it (rows of later steps, a row cut in half by a crash, a truncated or edited
   file) is undone on resume, and the rows of later steps are written again, identically.
3. :meth:`RunWriter.finish` writes ``summary.json`` last: the run is done.

A run killed before its first checkpoint restarts from step 0 on resume.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: a planted file cannot
run code; an unreadable one raises :class:`~empirics.runs.tables.RunFileError` naming it.

>>> import tempfile
>>> w = RunWriter(tempfile.mkdtemp(), kind="train", columns={"metrics": ["step", "cka"]})
>>> w.open({"tau": 0.5}, resume=False) is None          # a fresh run
True
>>> w.append("metrics", [{"step": 0, "cka": 0.25}]); w.checkpoint({"step": 0})
>>> w.append("metrics", [{"step": 1, "cka": 0.5}])       # killed before the next checkpoint
>>> w.open({"tau": 0.5}, resume=True)["step"]            # resume: tables back to step 0
0
>>> w.metrics.read_text().splitlines()
['step,cka', '0,0.25']
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cl_nscl_align.atomic import atomic_path, atomic_write_json
from empirics.runs.layout import TABLES, RunDir, check_out_dir
from empirics.runs.spec import KINDS
from empirics.runs.tables import RunFileError, append_rows, read_text, write_text

__all__ = ["RunWriter", "load_checkpoint", "read_config", "save_checkpoint"]


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """``torch.save(state, path)`` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain data only).

    Raises:
        RunFileError: the file is missing, empty, truncated, not a checkpoint, or holds
            anything but tensors and plain data (a pickled object is refused, not run).
    """
    import warnings

    import torch

    if not os.path.isfile(path):
        raise RunFileError(path, "expected a checkpoint file, got none")
    if os.path.getsize(path) == 0:
        raise RunFileError(path, "expected a checkpoint, got an empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": the error says it all
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure means: not a checkpoint we can trust
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds Python objects beyond tensors and plain data (refused unread)"
        raise RunFileError(path, f"expected a checkpoint of this toolkit, got an unreadable "
                                 f"file ({reason[:200]})") from None
    if not isinstance(state, dict):
        raise RunFileError(path, f"expected a checkpoint dict, got {type(state).__name__}")
    return state


def read_config(run: RunDir) -> dict[str, Any]:
    """The saved configuration of a run (``kind`` removed) or ``RunFileError``."""
    try:
        data = json.loads(run.config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFileError(run.config, "expected the configuration of a run, got no file"
                           ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFileError(run.config, f"expected JSON, got {exc}") from None
    if not isinstance(data, dict):
        raise RunFileError(run.config, f"expected a JSON object, got {type(data).__name__}")
    data.pop("kind", None)
    return data


class RunWriter(RunDir):
    """The run directory of one run, written by its main process.

    Args:
        path: the run directory.
        kind: ``"train"`` or ``"surrogate"`` (saved in ``config.json``).
        columns: ``{table: columns}`` of the tables this kind writes (``None``: the first
            row's keys).
        log: where one-line notices go (default stderr), e.g. a table repaired on resume.
    """

    def __init__(self, path: str | os.PathLike, *, kind: str,
                 columns: Mapping[str, Sequence[str] | None], log=None) -> None:
        super().__init__(path)
        if kind not in KINDS:
            raise ValueError(f"Expected `kind` among {', '.join(KINDS)}, got {kind!r}")
        unknown = sorted(set(columns) - set(TABLES))
        if unknown:
            raise ValueError(f"Expected tables among {', '.join(TABLES)}, got {unknown!r}")
        self.kind = kind
        self.columns = {k: None if v is None else list(v) for k, v in columns.items()}
        self.log = log or (lambda msg: print(msg, file=sys.stderr))

    # -- lifecycle -----------------------------------------------------------------------
    def open(self, config: Mapping[str, Any], *, resume: bool,
             may_differ: Iterable[str] = (), map_location: Any = "cpu") -> dict | None:
        """Start or resume the run; returns the checkpoint state to resume from, or None.

        Raises:
            ValueError: ``resume`` is false and the directory holds a run; ``resume`` is
                true and it holds none; the saved configuration differs in a field other
                than ``may_differ``; ``path`` is not a writable folder.
            RunFileError: an unreadable ``config.json`` or checkpoint (names the file).
        """
        check_out_dir(self.path)
        if not resume:
            if self.holds_run():
                raise ValueError(
                    f"Expected an empty run directory for `out`, got {str(self.path)!r} "
                    "holding a run (pass --resume to continue it)")
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.config, {"kind": self.kind, **config})
            self._clear()
            return None
        if not self.config.exists():
            raise ValueError(f"Expected a run to resume in {str(self.path)!r}, got none "
                             "(no config.json; start it without --resume)")
        saved = read_config(self)
        skip = set(may_differ)
        changed = sorted(k for k in set(saved) | set(config)
                         if k not in skip and saved.get(k) != config.get(k))
        if changed:
            raise ValueError(f"Expected the saved configuration of {str(self.path)!r} on "
                             f"resume, got changed {changed!r}")
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        if not self.last.exists():  # killed before the first checkpoint: start again
            self._clear()
            return None
        state = load_checkpoint(self.last, map_location=map_location)
        tables = state.get("tables")
        if not isinstance(tables, dict):
            raise RunFileError(self.last, "expected the tables' text in the checkpoint, got "
                                          "none (written by an older version; start the run "
                                          "again)")
        self.summary.unlink(missing_ok=True)
        self._restore(tables)
        return state

    def _clear(self) -> None:
        for name in TABLES:
            self.table(name).unlink(missing_ok=True)
        self.summary.unlink(missing_ok=True)

    def _restore(self, tables: Mapping[str, str]) -> None:
        """Put every table back to its text at the checkpoint."""
        for name in TABLES:
            saved = tables.get(name, "")
            path = self.table(name)
            try:
                now = read_text(path)
            except RunFileError:
                now = None
            if now == saved:
                continue
            if now is not None and now.startswith(saved):
                write_text(path, saved)  # rows of later steps: written again identically
                continue
            write_text(path, saved)
            self.log(f"{path}: {_first_difference(now, saved)}; restored from the "
                     "checkpoint")

    # -- writing -------------------------------------------------------------------------
    def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` to ``table`` (atomically; a no-op for no rows)."""
        if table not in self.columns:
            raise ValueError(f"Expected a table of this run ({', '.join(self.columns)}), "
                             f"got {table!r}")
        if rows:
            append_rows(self.table(table), list(rows), self.columns[table])

    def snapshot(self) -> dict[str, str]:
        """The text of every table now (what a checkpoint carries)."""
        return {name: read_text(self.table(name)) for name in TABLES}

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Save ``state`` plus the tables' text as ``checkpoints/last.pt`` (atomically)."""
        save_checkpoint({**state, "tables": self.snapshot()}, self.last)

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``, last: the run is done."""
        atomic_write_json(self.summary, summary)


def _first_difference(now: str | None, saved: str) -> str:
    if now is None:
        return "not readable as text"
    a, b = now.splitlines(keepends=True), saved.splitlines(keepends=True)
    for i, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f"line {i} differs from the checkpointed table"
    return f"cut short at line {len(a) + 1 if a else 1}"
