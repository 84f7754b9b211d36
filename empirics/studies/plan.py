"""A study's runs: run specs launched through :mod:`empirics.runs`, then read back.

Every study (tightness, trends, the real-network gaps, the golden runs) describes its runs
as :class:`~empirics.runs.spec.RunSpec` objects and hands them to
:func:`empirics.runs.launch`; nothing here calls the trainer or the surrogate itself. The
runs go to ``DIR/runs`` when the study is given a folder (a rerun then finds them done and
only reads them), or to a temporary folder that is removed afterwards.

>>> with run_folder(None) as root:
...     root.is_dir()
True
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from empirics.runs import RunResult, RunSpec, launch

__all__ = ["launch_study", "run_folder"]


@contextlib.contextmanager
def run_folder(out: str | os.PathLike | None) -> Iterator[Path]:
    """``out/runs`` (created) when ``out`` is given, else a temporary folder removed on exit."""
    if out is not None:
        root = Path(out) / "runs"
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="study-") as tmp:
        yield Path(tmp)


def launch_study(specs: Sequence[RunSpec], root: str | os.PathLike, *, executor: str = "serial",
                 workers: int | None = None, desc: str = "study",
                 names: Sequence[str] | None = None, progress: bool | None = None,
                 what: str = "run of the study") -> list[RunResult]:
    """Launch ``specs`` under ``root`` (finished runs are reused); one result per spec.

    ``names``, ``progress`` and ``desc`` go to :func:`empirics.runs.launch`; ``what`` names
    a run in the error.

    Raises:
        RuntimeError: a run failed (a study needs all of them); names the first failure
            and where its traceback is.
    """
    results = launch(list(specs), root, names=names, executor=executor, workers=workers,
                     progress=progress, desc=desc)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        raise RuntimeError(f"Expected every {what} to finish, got {len(failed)} "
                           f"failed; first {first.name}: {first.error} (traceback in "
                           f"{first.path / 'error.txt'})")
    return results
