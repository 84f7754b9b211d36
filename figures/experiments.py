"""The figures of the experiments beyond the alignment curves, built from a figure context.

Each ``build_*`` takes the context of ``python -m figures`` (the plan's runs, or the runs
given with ``--runs``), gets the evaluations it needs (:mod:`figures.derived`) and draws:

- ``build_accuracy``: Table 1 / Table 2 analogues and m-shot accuracy (the ``base`` run
  with its four objectives and the ``tau`` runs);
- ``build_fewshot``: [P1] Proposition 1 against the measured m-shot error (``base``);
- ``build_merging``: Fig. 17 analogue, the CL -> NSCL / SCL / CE weight paths (``base``);
- ``build_alignment_accuracy``: Fig. 12 analogue across the settings of the ``classes``
  and ``tau`` runs and the ``base`` run.
"""

from __future__ import annotations

from figures.derived import evaluations_for

__all__ = ["build_accuracy", "build_alignment_accuracy", "build_fewshot", "build_merging"]


def build_accuracy(ctx):
    from figures.accuracy import figure_accuracy

    ev = evaluations_for(ctx, ("base", "tau"), "accuracy")
    return figure_accuracy(ev, missing=ev.missing)


def build_fewshot(ctx):
    from figures.fewshot import figure_fewshot

    ev = evaluations_for(ctx, ("base",), "accuracy")
    return figure_fewshot(ev, missing=ev.missing)


def build_merging(ctx):
    from figures.merging import figure_merging

    ev = evaluations_for(ctx, ("base",), "merging", objectives=("cl",))
    return figure_merging(ev, missing=ev.missing)


def build_alignment_accuracy(ctx):
    from figures.alignment_accuracy import figure_alignment_accuracy

    ev = evaluations_for(ctx, ("classes", "tau", "base"), "accuracy",
                         objectives=("cl", "nscl"))
    if ctx.given is not None:
        ev[:] = [e for e in ev if {"cl", "nscl"} <= set(e.summary.get("objectives", []))]
    return figure_alignment_accuracy(ev, missing=ev.missing)
