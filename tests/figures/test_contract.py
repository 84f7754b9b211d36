"""The columns the figures read exist in what the real writers write (format drift)."""

import bounds
from empirics.training.evaluator import LOSSES_COLUMNS, metrics_columns
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
    assert METRICS_READ <= set(metrics_columns())
    assert LOSSES_READ <= set(LOSSES_COLUMNS)


def test_bounds_keys():
    assert BOUNDS_READ <= set(bounds.OUTPUT_KEYS)


def test_surrogate_writer_columns():
    from empirics.surrogate.run import METRIC_COLUMNS as SURROGATE_METRICS

    need = {"step", "pair", "split", "sim_gap", "event_held", *io.SURROGATE_COLUMNS}
    assert need <= set(SURROGATE_METRICS)


def test_surrogate_run_holds_the_trace(fixture_runs):
    """A real surrogate run (the fixture's) holds what :func:`figures.io.surrogate_trace`
    reads: the measured gap per step and every bound, in metrics.csv or bounds.csv."""
    run = fixture_runs["surrogate"][0]
    assert {"step", "pair", "sim_gap", "event_held"} <= set(run.metrics.columns)
    written = set(run.metrics.columns) | set(run.bounds.columns)
    assert set(io.SURROGATE_COLUMNS) <= written
    assert len(io.surrogate_trace(run)) == run.config["steps"] + 1
