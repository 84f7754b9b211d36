"""The columns the figures read exist in what the real writers write (format drift)."""

import bounds
from empirics import rundir, surrogate
from figures import io

#: metrics.csv / losses.csv / bounds columns some figure reads.
METRICS_READ = {"step", "epoch", "pair", "split", "features", "cka", "cka_linear", "rsa",
                "sim_gap", "rho", "r", "cka_lower_from_rho", "rsa_lower_from_r",
                "weight_gap", "weight_gap_sum", "weight_angle", "repr_angle"}
LOSSES_READ = {"step", "epoch", "model", "split", "loss_cl", "loss_nscl", "loss_gap",
               "loss_gap_bound"}
BOUNDS_READ = {"sim_gap", "sim_gap_product", "cka_lower", "rsa_lower", "vacuous_cka",
               "vacuous_rsa", "log10_sim_gap", "vacuous_sim_gap"}


def test_trainer_columns():
    assert METRICS_READ <= set(rundir.METRICS_COLUMNS)
    assert LOSSES_READ <= set(rundir.LOSSES_COLUMNS)


def test_bounds_keys():
    assert BOUNDS_READ <= set(bounds.OUTPUT_KEYS)


def test_surrogate_columns():
    need = {"step", "pair", "split", "sim_gap", "event_held", *io.SURROGATE_COLUMNS}
    assert need <= set(surrogate.METRIC_COLUMNS)
