"""Studies: thin clients of :mod:`empirics.runs` that turn run directories into tables.

Each study describes its runs as run specs, launches them through
:func:`empirics.runs.launch` (serial, local pool or Ray; finished runs reused) and reads
the run directories back; none calls the trainer or the surrogate itself.

- :mod:`~empirics.studies.sweep` -- grids of runs and ``DIR/results.csv``
  (``python -m empirics.sweep``); :mod:`~empirics.studies.grid` parses and expands the grid
- :mod:`~empirics.studies.tightness` -- measured gap over every bound of the surrogate
- :mod:`~empirics.studies.trends` -- alignment against ``C``, ``tau``, ``B`` (surrogate and
  trained networks)
- :mod:`~empirics.studies.realnet` -- trained pairs' gap on growing reference sets against
  Theorem 1 (models read from the run's checkpoint)
- :mod:`~empirics.studies.golden` -- the pinned runs of the regression tests
  (``python -m empirics.studies.golden``)
- :mod:`~empirics.studies.plan`, :mod:`~empirics.studies.report` -- launching a study's
  runs; Markdown and CSV tables
- :mod:`~empirics.studies.statistics` -- every interval, test, multiplicity, equivalence,
  replication and power helper of the studies
- :mod:`~empirics.studies.claims` -- the claims study (``python -m empirics.claims``)
- :mod:`~empirics.studies.accuracy`, :mod:`~empirics.studies.merging`,
  :mod:`~empirics.studies.alignment_accuracy`, :mod:`~empirics.studies.fewshot_bound` --
  the experiment studies (``python -m empirics.studies accuracy|...``)
- :mod:`~empirics.studies.docblocks`, :mod:`~empirics.studies.accuracy_docs` -- the docs'
  generated tables
- :mod:`~empirics.studies.cli` -- ``python -m empirics.studies
  tightness|surrogate-trends|trainer``

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
