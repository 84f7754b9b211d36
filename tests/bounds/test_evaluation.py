"""Tests of bounds.evaluate: keys, the paper's numbers, vacuity, the product form through
the schedule groups, normaliser sources, broadcasting and every error path."""

import math

import numpy as np
import pytest

import bounds
from bounds import evaluate
from bounds import numeric as num
from bounds import schedules as sch

DESIGN_KEYS = {"C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "eps", "Delta",
               "loss_gap", "sim_gap", "sim_gap_product", "cka_lower", "rsa_lower",
               "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "log10_sim_gap"}


def test_keys_and_paper_numbers():
    out = evaluate(100, 0.5)
    assert DESIGN_KEYS <= set(out)
    assert set(out) <= set(bounds.OUTPUT_KEYS)
    assert int(out["T"]) == 14700 and int(out["warmup_steps"]) == 490
    assert float(out["lr"]) == pytest.approx(1.2)
    assert float(out["sum_eta"]) == pytest.approx(
        math.fsum(sch.schedule("cosine", 1.2, 14700, 490)), rel=1e-12)
    assert float(out["exponent"]) == pytest.approx(17.23, abs=0.01)   # THEORY.md s12: ~17
    assert float(out["pi_max"]) == 0.01
    assert float(out["loss_gap"]) == pytest.approx(math.log(1 + math.exp(4) / 99))
    assert bool(out["vacuous_cka"]) and float(out["cka_lower"]) == 0.0
    assert bool(out["vacuous_rsa"]) and float(out["rsa_lower"]) == -1.0
    assert not bool(out["vacuous_sim_gap"])
    assert float(out["log10_sim_gap"]) == pytest.approx(math.log10(float(out["sim_gap"])))
    d01 = evaluate(100, 0.1)
    assert 1e7 < float(d01["Delta"]) < 1e9                           # THEORY.md s12: ~1e8


def test_product_form_through_schedule_groups_matches_recurrence_path():
    B = np.array([256, 1024, 4096])[:, None]
    tau = np.array([0.5, 1.0])
    out = evaluate(10, tau, B, epochs=5, N=5000, warmup_epochs=1)
    assert out["sim_gap"].shape == (3, 2)
    for i, b in enumerate((256, 1024, 4096)):
        T = sch.steps_from_epochs(5, 5000, b)
        eta = sch.schedule("cosine", 0.3 * b / 256, T, math.ceil(5000 / b))
        for j, t in enumerate(tau):
            D = float(out["Delta"][i, j])
            path = bounds.recurrence_path(eta, t, b, D / (t * math.sqrt(b)))
            assert float(out["sim_gap_product"][i, j]) == pytest.approx(path[-1], rel=1e-9)
    assert np.all(out["sim_gap_product"] < out["sim_gap"])


def test_eta_and_sum_eta_inputs():
    eta = sch.schedule("cosine", 0.5, 200, 20)
    a = evaluate(10, 0.5, 256, eta=eta)
    assert int(a["T"]) == 200 and float(a["sum_eta"]) == pytest.approx(eta.sum())
    assert float(a["sim_gap_product"]) == pytest.approx(
        num.product_form(eta, 0.5, 256, float(a["Delta"])), rel=1e-10)
    b = evaluate(10, 0.5, 256, T=200, sum_eta=eta.sum())
    assert float(b["sim_gap"]) == pytest.approx(float(a["sim_gap"]), rel=1e-12)
    # with S alone, the constant schedule S/T (AM-GM) bounds every schedule's product form
    assert float(a["sim_gap_product"]) <= float(b["sim_gap_product"]) <= float(b["sim_gap"])


def test_non_vacuous_corollaries_and_tight_form():
    out = evaluate(10, 1.0, 4096, T=1000, sum_eta=1.0, N_ref=10000)
    rho = float(out["sim_gap"]) / (10000 / 3)
    assert float(out["rho_bound"]) == pytest.approx(rho)
    assert float(out["cka_lower"]) == pytest.approx((1 - rho) / (1 + rho))
    assert not out["vacuous_cka"] and 0 < float(out["cka_lower"]) < 1
    r_paper = float(out["r_bound"])
    tight = evaluate(10, 1.0, 4096, T=1000, sum_eta=1.0, N_ref=10000, tight=True)
    assert float(tight["r_bound"]) == pytest.approx(r_paper / math.sqrt(2))
    assert float(tight["rsa_lower"]) > float(out["rsa_lower"])
    assert float(out["rsa_lower"]) == pytest.approx((1 - r_paper) / (1 + r_paper))


def test_vacuous_delta_flags_everything():
    out = evaluate(2, 0.5, 2, T=10**6, sum_eta=10.0)    # eps > 1
    assert out["vacuous_sim_gap"] and out["vacuous_cka"] and out["vacuous_rsa"]
    assert math.isinf(out["Delta"]) and math.isinf(out["sim_gap"])
    assert float(out["cka_lower"]) == 0.0 and float(out["rsa_lower"]) == -1.0
    zero = evaluate(2, 0.5, 2, T=10**6, sum_eta=0.0)
    assert not np.isnan(zero["sim_gap"]) and zero["vacuous_sim_gap"]


def test_beyond_float_range_keeps_log10():
    out = evaluate(100, 1e-3, T=10**6, sum_eta=1e6)
    assert math.isinf(out["sim_gap"]) and math.isinf(out["Delta"])
    assert np.isfinite(out["log10_sim_gap"]) and np.isfinite(out["log10_Delta"])
    assert float(out["log10_Delta"]) == pytest.approx(
        float(num.log_Delta(1024, 1e-3, 0.05, 10**6, 0.01)) / math.log(10))
    assert not out["vacuous_sim_gap"] and out["vacuous_cka"]


def test_normaliser_sources(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    fn = bounds.features_normalisers(X)
    np.save(tmp_path / "f.npy", X)
    a = evaluate(10, 1.0, 4096, T=10, sum_eta=1e-3, features=X)
    b = evaluate(10, 1.0, 4096, T=10, sum_eta=1e-3, features=str(tmp_path / "f.npy"))
    c = evaluate(10, 1.0, 4096, T=10, sum_eta=1e-3, N_ref=50, K_norm=fn["K_norm"],
                 sigma_a=fn["sigma_a"])
    for k in ("K_norm", "sigma_a", "N_ref", "cka_lower", "rsa_lower"):
        assert float(a[k]) == pytest.approx(float(b[k])) == pytest.approx(float(c[k]))
    assert int(a["N_ref"]) == 50


def test_theorem2_and_nmax():
    out = evaluate(10, 0.5, G=2.0, beta=1e-4)
    want = num.theorem2(2.0, 1e-4, 0.5, float(out["Delta"]), float(out["sum_eta"]))
    assert float(out["weight_gap"]) == pytest.approx(want)
    assert "weight_gap" not in evaluate(10, 0.5)
    p = evaluate(10, 0.5, n_max=6000, N=50000)
    assert float(p["pi_max"]) == pytest.approx(0.12)
    assert float(p["loss_gap"]) == pytest.approx(num.loss_gap_bound(0.5, n_max=6000, N=50000))
    lin = evaluate(10, 0.5, loss_form="balanced-linear")
    assert float(lin["loss_gap"]) == pytest.approx(math.exp(4) / 9)


def test_broadcasting_shapes():
    out = evaluate(np.array([10, 100, 1000])[:, None, None], np.geomspace(0.1, 1, 4)[:, None],
                   np.array([256, 1024]), G=1.0, beta=1e-3)
    for k, v in out.items():
        assert v.shape == (3, 4, 2), k
    assert out["vacuous_cka"].dtype == bool


def test_callable_after_cli_module_import():
    import bounds.evaluate as cli  # noqa: F401  (the CLI module; keeps bounds.evaluate callable)

    assert float(bounds.evaluate(10, 0.5)["T"]) == 14700


@pytest.mark.parametrize("kwargs,match", [
    (dict(C=10, tau=0.0), "Expected `tau` > 0, got 0"),
    (dict(C=10, tau=-0.5), "Expected `tau` > 0, got -0.5"),
    (dict(C=1, tau=0.5), "Expected `C` to be an integer >= 2, got 1"),
    (dict(C=2.5, tau=0.5), "Expected `C` to be an integer >= 2, got 2.5"),
    (dict(C=10, tau=0.5, B=1), "Expected `B` to be an integer >= 2, got 1"),
    (dict(C=10, tau=0.5, delta=0.0), r"Expected `delta` in \(0, 1\), got 0"),
    (dict(C=10, tau=0.5, delta=1.0), r"Expected `delta` in \(0, 1\), got 1"),
    (dict(C=10, tau=0.5, lr=-0.3), "Expected `lr` >= 0, got -0.3"),
    (dict(C=10, tau=0.5, n_max=50000), "Expected `n_max` < `N`, got n_max=50000, N=50000"),
    (dict(C=10, tau=0.5, lr_rule="cubic"), "Expected `lr_rule` in .*got 'cubic'"),
    (dict(C=10, tau=0.5, schedule="step"), "Expected `schedule` in .*got 'step'"),
    (dict(C=10, tau=0.5, loss_form="x"), "Expected `loss_form` in .*got 'x'"),
    (dict(C=10, tau=0.5, G=1.0), "Expected both `G` and `beta`"),
    (dict(C=10, tau=0.5, eta=[1.0], T=3), "Expected `eta` alone"),
    (dict(C=10, tau=0.5, eta=[[1.0]]), r"Expected `eta` of shape \(T,\)"),
    (dict(C=10, tau=0.5, warmup_epochs=300), "Expected warm-up steps < `T`"),
    (dict(C=10, tau=0.5, pi_max=0.0), r"Expected `pi_max` in \(0, 1\], got 0"),
    (dict(C=10, tau=0.5, N_ref=1), "Expected `N_ref` to be an integer >= 2, got 1"),
    (dict(C=100, tau=0.5, N_ref=50), "Expected `N_ref` >= `C`, got N_ref=50, C=100"),
    (dict(C=10, tau=0.5, K_norm=-1.0), "Expected `K_norm` > 0, got -1"),
    (dict(C=10, tau=0.5, T=0), "Expected `T` to be an integer >= 1, got 0"),
    (dict(C=10, tau=0.5, sum_eta=-1.0, T=5), "Expected `sum_eta` >= 0, got -1"),
    (dict(C=10, tau=0.5, epochs=0), "Expected `epochs` to be an integer >= 1, got 0"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate(**kwargs)


def test_sigma_a_zero_makes_rsa_vacuous_without_warnings(recwarn):
    out = evaluate(10, 1.0, 4096, T=10, sum_eta=1e-6, N_ref=10)   # one sample per class
    assert float(out["sigma_a"]) == 0.0
    assert out["vacuous_rsa"] and float(out["rsa_lower"]) == -1.0
    assert not out["vacuous_cka"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_trivial_sim_gap_flags_bounds_above_the_largest_possible_distance():
    """Theorem 1 at or above 2 sqrt(N_ref (N_ref - 1)) is true but says nothing."""
    paper = evaluate(C=100, tau=0.5)
    assert bool(paper["trivial_sim_gap"]) and bool(paper["trivial_sim_gap_product"])
    assert not bool(paper["vacuous_sim_gap"])  # Delta is defined; the bound is just huge
    small = evaluate(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=10000)
    assert not bool(small["trivial_sim_gap"]) and not bool(small["trivial_sim_gap_product"])
    # the threshold is exact: the same bound is trivial for a reference set just small enough
    s = float(small["sim_gap"])
    n_trivial = int(np.floor((1 + np.sqrt(1 + s * s)) / 2))  # 2 sqrt(n (n-1)) <= s
    at = evaluate(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=n_trivial)
    above = evaluate(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=n_trivial + 1)
    assert bool(at["trivial_sim_gap"]) and not bool(above["trivial_sim_gap"])
