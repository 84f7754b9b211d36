"""The claims study: one pre-registered primary per claim of THEORY.md s13, Holm over the
primaries, equivalence, replication on two disjoint seed sets, and deterministic theorem
checks (docs/claims.md).

- :mod:`~empirics.studies.claims.catalog` -- every statistic's metadata (claim, setting,
  direction, role, ``delta``, the paper's number), declared once
- :mod:`~empirics.studies.claims.protocol` -- the protocols (committed TOML files, one per
  size: ``protocols/{tiny,quick,medium,full}.toml``; a ``[train]`` table of TrainConfig
  fields for the base run)
- :mod:`~empirics.studies.claims.plan` -- the runs of a protocol as run specs, shared where
  settings coincide; the manifest ``runs.csv``
- :mod:`~empirics.studies.claims.measures` -- what a statistic reads from a run (torch-free)
- :mod:`~empirics.studies.claims.rows`, :mod:`~empirics.studies.claims.alignment` (C1-C4,
  C6), :mod:`~empirics.studies.claims.drift` (C5), :mod:`~empirics.studies.claims.checks`
  (C7, theorem checks) -- the statistics, one value per seed
- :mod:`~empirics.studies.claims.verdicts` -- the verdict rule (intervals, p, Holm, TOST,
  replication)
- :mod:`~empirics.studies.claims.longrun` -- C5's task on a long run (Theorem 2's ``beta``
  and ``G``; the weight distances from ``metrics.csv``, or by a replay of a run written
  before the trainer recorded them)
- :mod:`~empirics.studies.claims.power` -- seeds from a pilot's spreads
- :mod:`~empirics.studies.claims.report` -- the output files and their Markdown tables
- :mod:`~empirics.studies.claims.docs` -- docs/claims.md's and the README's tables from the
  committed study files
- :mod:`~empirics.studies.claims.study` -- plan, launch, measure, report
- :mod:`~empirics.studies.claims.cli` -- ``python -m empirics.claims``

The interval, test and power arithmetic lives in :mod:`empirics.studies.statistics`.
Nothing here imports torch at import time (the long-run task imports it when it runs).
"""

from empirics.studies.claims.protocol import CLAIMS, SIZES, Protocol, load_protocol
from empirics.studies.claims.verdicts import VERDICT_RULE, verdict_table

__all__ = ["CLAIMS", "SIZES", "VERDICT_RULE", "Protocol", "load_protocol", "verdict_table"]
