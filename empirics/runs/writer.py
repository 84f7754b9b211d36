"""Write a run directory so that a kill at any instant resumes to byte-identical files.

The protocol (every writer of the toolkit follows it; :class:`RunWriter` enforces it):

1. :meth:`RunWriter.open` starts a fresh run (writes ``config.json``, clears stale tables)
   or resumes one (checks the saved configuration, loads ``checkpoints/last.pt`` and puts
   every table back exactly as it stood at the checkpoint's step; a table started with
   other columns, by an older version or before a similarity measure was installed, keeps
   them).
2. At an evaluation step ``t`` the rows of ``t`` are appended (:meth:`RunWriter.append`),
   *then* a checkpoint of step ``t`` may be written (:meth:`RunWriter.checkpoint`). The
   checkpoint carries the full text of every table, so whatever happened to the tables
   after it (rows of later steps, a row cut in half by a crash, a truncated or edited
   file) is undone on resume, and the rows of later steps are written again, identically.
3. :meth:`RunWriter.finish` writes ``summary.json`` last: the run is done.

A run killed before its first checkpoint restarts from step 0 on resume.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: a planted file cannot
run code; an unreadable one raises :class:`~empirics.runs.tables.RunFileError` naming it.

**Strangers are refused.** A runner that opens the run with its cache ``key``
(:meth:`empirics.runs.spec.RunSpec.key`) gets checkpoints that name it (``run_key``) and
the number of rows of every table they carry (``table_rows``); on resume a checkpoint of
another configuration (a ``last.pt`` copied from another run, or a ``config.json`` edited
since) or one whose row counts do not match its tables is refused with one
:class:`~empirics.runs.tables.RunFileError` naming ``last.pt``, before any file is
touched. The runner's own ``check(state)`` (e.g. the trainer's: the step against ``T``
and against the steps of the rows) runs at the same point. :meth:`RunWriter.finish` then
writes ``run_key`` and ``table_rows`` into ``summary.json`` as well, so the launcher's
done rule can verify a finished run's tables without torch
(:func:`empirics.runs.launcher.is_done`). Checkpoints written before these records load
as before (the runner's check covers what it can).

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cl_nscl_align.atomic import atomic_path, atomic_write_json
from empirics.runs.layout import TABLES, RunDir, check_out_dir
from empirics.runs.spec import KINDS
from empirics.runs.tables import (
    RunFileError,
    append_rows,
    read_rows,
    read_text,
    render_rows,
    write_text,
)

__all__ = ["KEY_FIELD", "ROWS_FIELD", "RunWriter", "count_rows", "load_checkpoint",
           "read_config", "save_checkpoint"]

#: Where a checkpoint and ``summary.json`` name the run's cache key.
KEY_FIELD = "run_key"
#: Where a checkpoint and ``summary.json`` hold the row count of every table.
ROWS_FIELD = "table_rows"


def count_rows(text: str) -> int:
    """Rows of a table's text (its lines after the header; 0 for no file)."""
    return max(0, len(text.splitlines()) - 1)


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
        self.key: str | None = None
        self._kept: set[str] = set()  # tables resumed with their own, other columns

    # -- lifecycle -----------------------------------------------------------------------
    def open(self, config: Mapping[str, Any], *, resume: bool,
             may_differ: Iterable[str] = (), map_location: Any = "cpu",
             key: str | None = None,
             check: Callable[[dict[str, Any]], None] | None = None) -> dict | None:
        """Start or resume the run; returns the checkpoint state to resume from, or None.

        Args:
            config: the resolved configuration (saved as ``config.json``).
            resume: continue the run from its checkpoint.
            may_differ: fields a resume may change (where it runs, not what it computes).
            map_location: where the checkpoint's tensors go.
            key: the run's cache key: written into every checkpoint and the summary, and
                compared with a resumed checkpoint's (None: no key is recorded or checked).
            check: ``check(state)`` of the runner, called on a resumed checkpoint before
                any table is touched; raises ``ValueError`` (or ``RunFileError``) to
                refuse it.

        Raises:
            ValueError: ``resume`` is false and the directory holds a run; ``resume`` is
                true and it holds none; the saved configuration differs in a field other
                than ``may_differ``; ``path`` is not a writable folder.
            RunFileError: an unreadable ``config.json`` or checkpoint, or a checkpoint of
                another configuration or whose rows do not match its tables (names the
                file).
        """
        if key is not None and not isinstance(key, str):
            raise TypeError(f"Expected `key` to be a str, got {key!r}")
        self.key = key
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
        if not isinstance(tables, dict) or not all(
                isinstance(tables.get(name, ""), str) for name in TABLES):
            raise RunFileError(self.last, "expected the tables' text in the checkpoint, got "
                                          "none (written by an older version; start the run "
                                          "again)")
        self._check_identity(state, tables)
        if check is not None:
            check(state)
        self.summary.unlink(missing_ok=True)
        self._restore(tables)
        for name in self.columns:
            self._keep_columns(name)
        return state

    def _check_identity(self, state: Mapping[str, Any], tables: Mapping[str, str]) -> None:
        """The checkpoint is this run's (its key) and holds the rows it says it holds."""
        saved_key = state.get(KEY_FIELD)
        if self.key is not None and saved_key is not None and saved_key != self.key:
            raise RunFileError(self.last, f"expected a checkpoint of this run's configuration "
                               f"(key {self.key}), got one of another (key {saved_key}): "
                               "config.json was edited or last.pt copied from another run")
        rows = state.get(ROWS_FIELD)
        if rows is None:
            return  # written before the record existed
        have = {name: count_rows(tables.get(name, "")) for name in TABLES}
        if not isinstance(rows, dict) or {k: rows.get(k, 0) for k in TABLES} != have:
            raise RunFileError(self.last, f"expected the row counts it records ({rows!r}) in "
                               f"the tables it carries, got {have!r}")

    def _keep_columns(self, table: str) -> None:
        """A resumed table keeps the columns it was started with (an older version's, or
        other similarity measures installed since), so its rows stay one table: later rows
        give those columns (a key beyond them is dropped, a missing one is an empty cell)."""
        header, _ = read_rows(self.table(table))
        declared = self.columns.get(table)
        if not header or declared is None or header == declared:
            return
        gone = [c for c in declared if c not in header]
        kept = [c for c in header if c not in declared]
        self.log(f"{self.table(table)}: started with other columns (without {gone or 'none'}, "
                 f"with {kept or 'none'}); they are kept")
        self.columns[table] = header
        self._kept.add(table)

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
        if rows and table in self._kept:
            rows = [{k: r.get(k) for k in self.columns[table]} for r in rows]
        if rows:
            append_rows(self.table(table), list(rows), self.columns[table])

    def snapshot(self) -> dict[str, str]:
        """The text of every table now (what a checkpoint carries)."""
        return {name: read_text(self.table(name)) for name in TABLES}

    def start_table(self, table: str) -> None:
        """Write ``table``'s header alone when the file does not exist yet (a table that
        may stay without rows, e.g. ``metrics.csv`` of a run without a pair of models)."""
        columns = self.columns.get(table)
        if columns is None:
            raise ValueError(f"Expected a table of this run with declared columns, got "
                             f"{table!r}")
        if not read_text(self.table(table)):
            write_text(self.table(table), render_rows([], columns, header=True))

    def _records(self, tables: Mapping[str, str]) -> dict[str, Any]:
        """``run_key`` and ``table_rows`` (only for a run opened with its key)."""
        if self.key is None:
            return {}
        return {KEY_FIELD: self.key,
                ROWS_FIELD: {name: count_rows(tables[name]) for name in TABLES}}

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Save ``state`` plus the tables' text as ``checkpoints/last.pt`` (atomically);
        with a key, also ``run_key`` and ``table_rows``."""
        tables = self.snapshot()
        save_checkpoint({**state, "tables": tables, **self._records(tables)}, self.last)

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``, last: the run is done (with a key, also ``run_key`` and
        ``table_rows``, what the done rule checks)."""
        atomic_write_json(self.summary, {**summary, **self._records(self.snapshot())})


def _first_difference(now: str | None, saved: str) -> str:
    if now is None:
        return "not readable as text"
    a, b = now.splitlines(keepends=True), saved.splitlines(keepends=True)
    for i, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f"line {i} differs from the checkpointed table"
    return f"cut short at line {len(a) + 1 if a else 1}"
