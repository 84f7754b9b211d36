"""The claims study: a verdict, with an interval over seeds, on every claim of THEORY.md s13.

- :mod:`~empirics.studies.claims.protocol` -- the protocols (committed TOML files, one per
  size: ``protocols/{tiny,quick,medium,full}.toml``), declared once
- :mod:`~empirics.studies.claims.plan` -- the runs of a protocol as run specs, shared where
  settings coincide; the manifest ``runs.csv``
- :mod:`~empirics.studies.claims.measures` -- what a statistic reads from a run (torch-free)
- :mod:`~empirics.studies.claims.claims` -- the statistics of C1-C7, one value per seed
- :mod:`~empirics.studies.claims.statistics` -- intervals, the verdict rule, slopes, fits
- :mod:`~empirics.studies.claims.curvature` -- C5's ``beta`` and ``G`` (a launcher task)
- :mod:`~empirics.studies.claims.report` -- claims.csv, claims.md, runs.csv
- :mod:`~empirics.studies.claims.study` -- plan, launch, measure, report
- :mod:`~empirics.studies.claims.cli` -- ``python -m empirics.claims``

Nothing here imports torch at import time (the curvature task imports it when it runs).
"""

from empirics.studies.claims.protocol import CLAIMS, SIZES, Protocol, load_protocol
from empirics.studies.claims.statistics import VERDICT_RULE, interval, verdict

__all__ = ["CLAIMS", "SIZES", "VERDICT_RULE", "Protocol", "interval", "load_protocol",
           "verdict"]
