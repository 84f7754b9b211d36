"""Regression (3): [P2] corollaries on trained-model features (THEORY.md s7).

``CKA >= (1 - rho)/(1 + rho)`` when ``rho < 1`` and ``RSA >= (1 - r)/(1 + r)`` when ``r < 1``,
with the measured ``rho`` and ``r`` -- from the run's ``metrics.csv`` at every evaluation,
and recomputed with ``empirics.metrics`` on the CL and NSCL features of the train reference
set at every evaluation step (backbone ``h`` and projection ``z``).
"""

from __future__ import annotations

import numpy as np

from empirics import metrics
from empirics.runs.tables import read_rows

TOL = 1e-9


def _check(cka, rsa, rho, r):
    if rho < 1:
        assert cka >= (1 - rho) / (1 + rho) - TOL, (cka, rho)
    if r < 1:
        assert rsa >= (1 - r) / (1 + r) - TOL, (rsa, r)


def test_corollaries_in_metrics_csv(trained_run):
    _, rows = read_rows(trained_run["run_dir"] / "metrics.csv")
    assert {int(r["step"]) for r in rows} == {0, 8, 16, 24}
    for row in rows:
        cka, rsa, rho, r = (float(row[k]) for k in ("cka", "rsa", "rho", "r"))
        _check(cka, rsa, rho, r)
        if row["cka_lower_from_rho"]:
            assert cka >= float(row["cka_lower_from_rho"]) - TOL
        if row["rsa_lower_from_r"]:
            assert rsa >= float(row["rsa_lower_from_r"]) - TOL


def test_corollaries_on_recomputed_features(trained_run):
    n_nontrivial = 0
    for rec in trained_run["features"]:
        f = rec["features"]
        for kind in ("z", "h"):
            X, Y = f["cl"][kind], f["nscl"][kind]
            cka, rsa = metrics.cka(X, Y), metrics.rsa(X, Y)
            rho, r = metrics.rho(X, Y), metrics.r(X, Y)
            assert 0 <= cka <= 1 + TOL and -1 - TOL <= rsa <= 1 + TOL
            _check(cka, rsa, rho, r)
            n_nontrivial += (rho < 1) + (r < 1)
            # the corollary is a fact about cosines: also for CL vs itself perturbed
            Xp = X + 0.05 * np.random.default_rng(0).standard_normal(X.shape) * X.std()
            _check(metrics.cka(X, Xp), metrics.rsa(X, Xp), metrics.rho(X, Xp), metrics.r(X, Xp))
    # not vacuous: the fixture's configuration (empirics.studies.golden.TRAIN_KW) was chosen
    # so that both corollaries bite, z and h, at every evaluation step of the pinned seed
    assert n_nontrivial == 2 * 2 * len(trained_run["features"])


def test_metrics_csv_matches_recomputed_final_features(trained_run):
    _, rows = read_rows(trained_run["run_dir"] / "metrics.csv")
    final = next(r for r in rows if int(r["step"]) == 24 and r["split"] == "train"
                 and r["features"] == "z" and r["pair"] == "cl-nscl")
    f = trained_run["features"][-1]["features"]
    assert np.isclose(float(final["cka"]), metrics.cka(f["cl"]["z"], f["nscl"]["z"]),
                      rtol=1e-4)
    assert np.isclose(float(final["sim_gap"]),
                      metrics.similarity_gap(f["cl"]["z"], f["nscl"]["z"]), rtol=1e-4)
