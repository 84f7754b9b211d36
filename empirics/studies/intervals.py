"""The former home of the studies' intervals; they live in :mod:`empirics.studies.statistics`.

Kept as an import path because code outside the studies still imports it
(``tests/figures/test_experiments.py``).
"""

from empirics.studies.statistics import CONFIDENCE, spearman_bootstrap, t_interval

__all__ = ["CONFIDENCE", "spearman_bootstrap", "t_interval"]
