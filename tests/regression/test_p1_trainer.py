"""Regression (2): [P1] on the lockstep trainer's models, at every evaluation (THEORY.md s3).

    0 <= L_CL(f) - L_NSCL(f) <= log(1 + e^{2/tau} (n_max - 1)/(N - n_max))

(a) from the run's own ``losses.csv`` (every model, split and evaluation step), with the
bound recomputed here from ``bounds.loss_gap_bound``; (b) independently, per anchor, on a
training batch at every evaluation step (fixture ``trained_run``): for an anchor of class
``c`` with ``n_c`` samples of ``c`` in the batch, the gap is ``log(1 + same/diff)`` with
``same <= e^{1/tau} 2(n_c - 1)`` and ``diff >= e^{-1/tau} 2(B - n_c)``.
"""

from __future__ import annotations

import numpy as np

import bounds
from empirics.runs.tables import read_rows

TOL = 1e-5  # float32 losses


def test_p1_in_losses_csv_at_every_evaluation(trained_run):
    _, rows = read_rows(trained_run["run_dir"] / "losses.csv")
    steps = {int(r["step"]) for r in rows}
    assert len(steps) >= 4 and 0 in steps
    for r in rows:
        gap, bound = float(r["loss_gap"]), float(r["loss_gap_bound"])
        assert float(r["loss_cl"]) - float(r["loss_nscl"]) == np.float64(gap) or abs(
            float(r["loss_cl"]) - float(r["loss_nscl"]) - gap) < 1e-9
        assert -TOL <= gap <= bound + TOL, r
        assert float(r["loss_gap_min"]) >= -TOL, r
        # the run's bound is the tight [P1] form for the largest class of the batch
        expected = bounds.loss_gap_bound(trained_run["tau"], n_max=int(r["n_max"]),
                                         N=int(r["batch_size"]), form="tight")
        assert np.isclose(bound, expected, rtol=1e-9), (bound, expected)
        assert r["p1_holds"] == "true"


def test_p1_per_anchor_on_trained_models(trained_run, class_counts):
    recs = trained_run["p1"]
    steps = sorted({r["step"] for r in recs})
    assert steps == [8, 16, 24]
    tau = trained_run["tau"]
    for rec in recs:
        n_c = class_counts(rec["labels"])
        bound = bounds.loss_gap_bound(tau, n_max=n_c, N=rec["B"], form="tight")
        gap = rec["gap"]  # (K, B)
        assert np.all(gap >= -TOL), rec["step"]
        assert np.all(gap <= bound[None, :] + TOL), (rec["step"], rec["model"])
        # CL pushes same-class negatives apart, so for the CL model the gap is not trivial
        assert gap.mean() > 1e-3


def test_p1_check_can_fail(trained_run, class_counts):
    """A bound without the e^{2/tau} factor is violated by the trained CL model's gaps."""
    rec = next(r for r in trained_run["p1"] if r["model"] == "cl" and r["step"] == 24)
    n_c = class_counts(rec["labels"])
    too_small = np.log1p((n_c - 1) / (rec["B"] - n_c)) * 0.1
    assert np.any(rec["gap"] > too_small[None, :])
