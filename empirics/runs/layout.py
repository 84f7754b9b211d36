"""The one run-directory format, for every kind of run (trainer and surrogate alike).

::

    <run>/config.json          {"kind": "train" | "surrogate", ...every resolved field}
    <run>/metrics.csv          one row per evaluation step (and pair, split, features)
    <run>/losses.csv           one row per evaluation step, model and split (trainer)
    <run>/bounds.csv           the run's own bounds per evaluation step
    <run>/linearization.csv    optional (trainer): Appendix D's Jacobian norm and remainder
    <run>/summary.json         final values; written last, so it is the "done" marker
    <run>/checkpoints/last.pt  the state to resume from (torch, loaded with weights_only)

A run is *done* when ``summary.json`` exists. Every file is written atomically, and a
checkpoint carries the text of every table as it stood at its step, so a run killed at any
instant resumes to byte-identical tables (:mod:`empirics.runs.writer`).

Directories written before this format still read (:mod:`empirics.runs.reader`): a trainer
``config.json`` without ``kind``, and a surrogate's ``bounds.json`` in place of
``bounds.csv``.

>>> run = RunDir("runs/r1")
>>> run.metrics.as_posix(), run.last.as_posix(), run.is_done()
('runs/r1/metrics.csv', 'runs/r1/checkpoints/last.pt', False)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG", "SUMMARY", "TABLES", "RunDir", "check_out_dir"]

CONFIG = "config.json"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoints/last.pt"
#: The tables of a run, in the order they are written at an evaluation step
#: (``linearization``: the trainer's optional [P2] Appendix D measurement).
TABLES = ("metrics", "losses", "bounds", "linearization")


class RunDir:
    """The paths of one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config = self.path / CONFIG
        self.summary = self.path / SUMMARY
        self.checkpoints = self.path / "checkpoints"
        self.last = self.path / CHECKPOINT

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def table(self, name: str) -> Path:
        """``<run>/<name>.csv`` for a table of :data:`TABLES`."""
        if name not in TABLES:
            raise ValueError(f"Expected a table among {', '.join(TABLES)}, got {name!r}")
        return self.path / f"{name}.csv"

    @property
    def metrics(self) -> Path:
        return self.table("metrics")

    @property
    def losses(self) -> Path:
        return self.table("losses")

    @property
    def bounds(self) -> Path:
        return self.table("bounds")

    def holds_run(self) -> bool:
        """True when the directory already holds a run (a config or a checkpoint)."""
        return self.config.exists() or self.last.exists()

    def is_done(self) -> bool:
        """True when the run finished (``summary.json`` is written last)."""
        return self.summary.is_file()


def check_out_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """``path`` as a folder a run can be written into, or ``ValueError`` naming it.

    Creates the folder (and its parents). Refuses a path that is a file, a folder under a
    file, or a folder this process cannot write.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"Expected `{name}` to be a folder, got the file {str(p)!r}")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"Expected `{name}` to be a folder, got {str(p)!r} under a file"
                         ) from None
    except PermissionError:
        raise ValueError(f"Expected `{name}` to be a folder this user can create, got "
                         f"{str(p)!r} (permission denied)") from None
    except OSError as exc:
        raise ValueError(f"Expected `{name}` to be a folder, got {str(p)!r} ({exc.strerror})"
                         ) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"Expected `{name}` to be a folder this user can write, got "
                         f"{str(p)!r} (permission denied)")
    return p
