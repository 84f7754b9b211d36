"""The evaluations a figure reads: accuracy and merging measurements of finished runs.

The accuracy, few-shot, merging and Fig. 12 figures need numbers that only the final
weights give. Those numbers are *evaluations* (:mod:`empirics.studies.evaluations`): runs
of the runs layer whose target measures one finished training run. This module asks the
runs layer for them, as every figure asks it for its training runs, and reads them back
torch-free:

- from the plan (the run cache): one evaluation per source run of the figure's groups,
  stored beside it in the cache and keyed by the source and the options, so a second call
  only reads it. A missing one is launched (in this process or the local pool); with
  ``ctx.allow_run`` false (``--no-run``) a missing one is an error naming
  the command that makes it. Source runs without final weights (no
  ``checkpoints/last.pt``) cannot be evaluated: the figure then says so in its panel;
- from ``--runs DIR``: the evaluations found there (the ``evaluations`` folder a study's
  ``--out`` holds, ``python -m empirics.studies accuracy --runs RUNS --out OUT``); none is
  an error naming that command.

Nothing here imports torch (the launched evaluation does, in its own run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from empirics.runs import launch, pending, read_run
from empirics.runs.layout import RunDir
from empirics.studies.evaluations import (
    evaluation_name,
    evaluation_spec,
    fingerprint,
    is_evaluation,
)
from figures.style import notice  # an empty panel that says why (one home: figures.style)

__all__ = ["COMMAND", "Evaluations", "evaluations_for", "notice"]

#: The command that makes each study's evaluations for ``--runs``.
COMMAND = {"accuracy": "python -m empirics.studies accuracy --runs RUNS --out OUT",
           "merging": "python -m empirics.studies merging --runs RUNS --out OUT"}


class Evaluations(list):
    """The evaluation runs of a figure; ``missing`` says why none could be made."""

    missing: str = ""


def _sources(ctx, groups: Sequence[str]) -> list[Path]:
    seen: dict[Path, None] = {}
    for g in groups:
        for spec in ctx.plan.groups()[g]:
            seen.setdefault(Path(ctx.paths[spec.key()]), None)
    return list(seen)


def evaluations_for(ctx, groups: Sequence[str], study: str,
                    options: Mapping[str, Any] | None = None,
                    objectives: Sequence[str] = ()) -> Evaluations:
    """The ``study`` evaluations of the training runs of ``groups`` (see the module
    docstring). Source runs without all of ``objectives`` are left out.

    Raises:
        FileNotFoundError: ``--runs`` holds no such evaluation; a missing one may not be
            launched; an evaluation failed (naming its ``error.txt``).
    """
    options = dict(options or {})
    out = Evaluations()
    if ctx.given is not None:
        out.extend(r for r in ctx.given if is_evaluation(r, study))
        if not out:
            raise FileNotFoundError(f"Expected {study} evaluations under `--runs`, got none "
                                    f"(make them with: {COMMAND[study]}, then pass OUT)")
        return out
    sources = []
    for p in _sources(ctx, groups):
        run = read_run(p)
        if run.kind == "train" and set(objectives) <= set(run.cfg("objectives") or []):
            sources.append(p)
    usable = [p for p in sources if RunDir(p).last.is_file()]
    if not usable:
        out.missing = ("no final weights (checkpoints/last.pt) in the runs of this figure: "
                       "nothing to measure")
        return out
    root = usable[0].parent
    specs = [evaluation_spec(study, p.name, options, fingerprint=fingerprint(p))
             for p in usable]
    names = [evaluation_name(study, s) for s in specs]
    todo = pending(specs, root, names)
    if todo and not ctx.allow_run:
        raise FileNotFoundError(f"Expected the {study} evaluations of this figure in "
                                f"{str(root)!r}, got {len(todo)} missing (run without "
                                "--no-run to make them)")
    if todo:
        results = launch(specs, root, names=names, progress=False, desc=f"{study}")
        failed = [r for r in results if not r.ok]
        if failed:
            raise FileNotFoundError(f"Expected the {study} evaluation {failed[0].name} to "
                                    f"finish, got a failure ({failed[0].error}); traceback "
                                    f"in {str(failed[0].path / 'error.txt')!r}")
    out.extend(read_run(root / n) for n in names)
    return out
