"""The trends study reads each run's own Theorem 1 at its LAST evaluation (bounds.csv, one
row per evaluation after the first), never at an earlier one."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from empirics.runs import Run
from empirics.studies import trends


def _run(bounds: pd.DataFrame) -> Run:
    return Run(Path("r"), "train", {}, pd.DataFrame(), pd.DataFrame(), bounds, {})


def test_theorem1_is_the_last_rows():
    # S grows with the step, and so does the bound: the first row (step 10) is 0.5, the
    # last (step 40) is 8.0; log10 8 = 0.90309
    b = pd.DataFrame({"step": [10, 20, 30, 40], "sim_gap": [0.5, 1.0, 3.0, 8.0],
                      "log10_sim_gap": [math.log10(v) for v in (0.5, 1.0, 3.0, 8.0)]})
    value, log10 = trends._theorem1(_run(b))
    assert value == 8.0 and log10 == pytest.approx(0.90309, abs=1e-5)


def test_theorem1_beyond_float_range_is_inf_with_its_log10():
    b = pd.DataFrame({"step": [10, 20], "sim_gap": [2.0, math.nan],
                      "log10_sim_gap": [math.log10(2.0), 400.0]})
    value, log10 = trends._theorem1(_run(b))
    assert value == math.inf and log10 == 400.0
