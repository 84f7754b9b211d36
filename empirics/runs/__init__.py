"""The runs layer: one run-directory format, one run spec and cache key, one launcher.

- :mod:`empirics.runs.layout` -- the files of a run directory, for every kind of run
- :mod:`empirics.runs.tables` -- byte-stable CSV tables with atomic appends, checked reads
- :mod:`empirics.runs.writer` -- the write protocol that makes every kill resumable
- :mod:`empirics.runs.reader` -- the torch-free reader (current and earlier formats)
- :mod:`empirics.runs.spec` -- :class:`RunSpec` and its cache key; the kinds of run
- :mod:`empirics.runs.launcher` -- serial, local pool or Ray; resume; the done rule

Nothing here imports torch at import time: ``figures`` plans, finds and reads runs
through this package without loading the trainer.
"""

from empirics.runs.launcher import (
    EXECUTORS,
    LaunchOptions,
    RunResult,
    is_done,
    launch,
    pending,
    run_dir_of,
)
from empirics.runs.layout import RunDir, check_out_dir
from empirics.runs.reader import Run, find_runs, is_run_dir, read_run, read_table
from empirics.runs.spec import KINDS, Kind, RunSpec, label
from empirics.runs.tables import RunFileError

__all__ = [
    "EXECUTORS",
    "KINDS",
    "Kind",
    "LaunchOptions",
    "Run",
    "RunDir",
    "RunFileError",
    "RunResult",
    "RunSpec",
    "check_out_dir",
    "find_runs",
    "is_done",
    "is_run_dir",
    "label",
    "launch",
    "pending",
    "read_run",
    "read_table",
    "run_dir_of",
]
