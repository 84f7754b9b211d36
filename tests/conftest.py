"""Fixtures shared by the tests of several packages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import cl_nscl_align.atomic as atomic


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler in the code catches it."""


@pytest.fixture
def kill_at_every_write(monkeypatch):
    """``kill(run, root) -> n``: kill a run at each of its atomic renames, then resume it.

    ``run(out, resume)`` runs (or resumes) one run into ``out``. A first run into
    ``root/count`` counts its renames (:mod:`cl_nscl_align.atomic` writes every file by
    one ``os.replace``). Then, for every rename ``k`` and on both sides of it (before: the
    new file is complete but not in place; after: in place and nothing later happened),
    a run into its own folder under ``root`` is stopped there by :class:`Killed` and run
    again (resumed when its ``config.json`` exists). Returns the number of renames and the
    finished folders, for the caller to compare with an uninterrupted run.
    """
    real = atomic.os.replace

    def kill(run: Callable[[Path, bool], object], root: Path) -> tuple[int, list[Path]]:
        renames = []
        monkeypatch.setattr(atomic.os, "replace",
                            lambda a, b: (renames.append(b), real(a, b))[1])
        run(root / "count", False)
        monkeypatch.setattr(atomic.os, "replace", real)
        outs = []
        for k in range(len(renames)):
            for after in (False, True):
                out = root / f"k{k}{'a' if after else 'b'}"
                seen = [0]

                def replace(a, b, k=k, after=after, seen=seen):
                    if seen[0] == k:
                        if after:
                            real(a, b)
                        raise Killed
                    seen[0] += 1
                    return real(a, b)

                monkeypatch.setattr(atomic.os, "replace", replace)
                with pytest.raises(Killed):
                    run(out, False)
                monkeypatch.setattr(atomic.os, "replace", real)
                run(out, (out / "config.json").exists())
                outs.append(out)
        return len(renames), outs

    return kill


@pytest.fixture
def edit_checkpoint():
    """``edit(out, **changes) -> state``: rewrite fields of ``out/checkpoints/last.pt`` (a
    value of ``None`` drops the field) and return the state as it was read, so a test can
    plant a stranger's or a damaged checkpoint for a resume to refuse."""
    import torch

    def edit(out: Path, **changes) -> dict:
        path = out / "checkpoints" / "last.pt"
        state = torch.load(path, weights_only=True)
        for k, v in changes.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        torch.save(state, path)
        return state

    return edit
