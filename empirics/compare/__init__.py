"""Bring your own encoders: compare any two with every measure, beside [P1]/[P2].

``python -m empirics.compare A B`` (docs/compare.md) takes feature files, run members
(``RUN_DIR:cl``) or checkpoints, and reports every similarity measure with bootstrap
intervals, NCC accuracy, the [P1] loss gap, the weight gap and the [P2] bounds; with
``--layers`` the alignment of every pair of layers, from exact streamed moments.

- :mod:`~empirics.compare.options` -- the declared options (one flag per field)
- :mod:`~empirics.compare.sources` -- feature files, run members, checkpoints (safe loading)
- :mod:`~empirics.compare.reference` -- the compared rows: a run's reference set, a data set
- :mod:`~empirics.compare.measures` -- the measures with their metadata; the bootstrap
- :mod:`~empirics.compare.theory` -- NCC, [P1] loss gap, weight gap, [P2] bounds
- :mod:`~empirics.compare.layers` -- forward hooks, wide moments, the layer heatmap
- :mod:`~empirics.compare.comparison` -- :func:`compare`, the pass over the rows
- :mod:`~empirics.compare.report` -- table / JSON / CSV and the output folder
- :mod:`~empirics.compare.cli` -- the command line

The NSCL twin for your own training loop is :mod:`empirics.twin`.
"""

from __future__ import annotations

__all__ = ["CompareOptions", "compare", "main"]


def __getattr__(name: str):
    if name == "compare":
        from empirics.compare.comparison import compare

        return compare
    if name == "CompareOptions":
        from empirics.compare.options import CompareOptions

        return CompareOptions
    if name == "main":
        from empirics.compare.cli import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
