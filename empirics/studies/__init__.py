"""Studies: thin clients of :mod:`empirics.runs` that turn run directories into tables.

Each study describes its runs as run specs, launches them through
:func:`empirics.runs.launch` (serial, local pool or Ray; finished runs reused) and reads
the run directories back; none calls the trainer or the surrogate itself.

- :mod:`~empirics.studies.sweep` -- grids of runs and ``DIR/results.csv``
  (``python -m empirics.sweep``)
- :mod:`~empirics.studies.tightness` -- measured gap over every bound of the surrogate
- :mod:`~empirics.studies.trends` -- alignment against ``C``, ``tau``, ``B`` (surrogate and
  trained networks), and trained pairs' gap on growing reference sets against Theorem 1
- :mod:`~empirics.studies.trained` -- a finished run's trained models (its checkpoint),
  full splits and features
- :mod:`~empirics.studies.golden` -- the pinned runs of the regression tests
  (``python -m empirics.studies.golden``)
- :mod:`~empirics.studies.plan` -- the one planner: every run size, and launching a plan
- :mod:`~empirics.studies.report` -- Markdown and CSV tables, and the docs' generated
  blocks
- :mod:`~empirics.studies.statistics` -- every interval, test, multiplicity, equivalence,
  replication and power helper of the studies
- :mod:`~empirics.studies.claims` -- the claims study (``python -m empirics.claims``)
- :mod:`~empirics.studies.accuracy`, :mod:`~empirics.studies.merging`,
  :mod:`~empirics.studies.alignment_accuracy`, :mod:`~empirics.studies.fewshot_bound`,
  :mod:`~empirics.studies.evaluations`, :mod:`~empirics.studies.experiments` -- the
  experiment studies (``python -m empirics.studies accuracy|...``)
- :mod:`~empirics.studies.accuracy_docs`, :mod:`empirics.studies.claims.docs` -- the docs'
  generated tables (``python -m empirics.studies docs accuracy|claims``)
- :mod:`~empirics.studies.cli` -- ``python -m empirics.studies``: every study's command
  line, generated from declared options

Objective and measure names come from the registries (:mod:`empirics.objectives`,
:mod:`empirics.measures`); no study lists them.

Nothing here imports torch at import time.
"""

from empirics.studies.cli import main
from empirics.studies.report import aggregate, markdown_table, write_csv
from empirics.studies.tightness import TIGHTNESS_GRID, tightness_rows
from empirics.studies.trends import surrogate_trend_rows, trainer_rows

__all__ = [
    "TIGHTNESS_GRID",
    "aggregate",
    "main",
    "markdown_table",
    "surrogate_trend_rows",
    "tightness_rows",
    "trainer_rows",
    "write_csv",
]
