"""Tests of bounds.grid (``bounds.evaluate_bounds``): keys, the paper's numbers, vacuity, the
product form through the schedule groups, normaliser sources, broadcasting, every error
path, the named steps, and agreement with the registry's numeric twins on random grids."""

import math
import re
import warnings

import numpy as np
import pytest

import bounds
from bounds import evaluate_bounds
from bounds import numeric as num
from bounds import schedules as sch
from bounds.registry import REGISTRY

DESIGN_KEYS = {"C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "eps", "Delta",
               "loss_gap", "sim_gap", "sim_gap_product", "cka_lower", "rsa_lower",
               "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "log10_sim_gap"}


def test_keys_and_paper_numbers():
    out = evaluate_bounds(100, 0.5)
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
    d01 = evaluate_bounds(100, 0.1)
    assert 1e7 < float(d01["Delta"]) < 1e9                           # THEORY.md s12: ~1e8


def test_product_form_through_schedule_groups_matches_recurrence_path():
    B = np.array([256, 1024, 4096])[:, None]
    tau = np.array([0.5, 1.0])
    out = evaluate_bounds(10, tau, B, epochs=5, N=5000, warmup_epochs=1)
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
    a = evaluate_bounds(10, 0.5, 256, eta=eta)
    assert int(a["T"]) == 200 and float(a["sum_eta"]) == pytest.approx(eta.sum())
    assert float(a["sim_gap_product"]) == pytest.approx(
        num.product_form(eta, 0.5, 256, float(a["Delta"])), rel=1e-10)
    b = evaluate_bounds(10, 0.5, 256, T=200, sum_eta=eta.sum())
    assert float(b["sim_gap"]) == pytest.approx(float(a["sim_gap"]), rel=1e-12)
    # with S alone, the constant schedule S/T (AM-GM) bounds every schedule's product form
    assert float(a["sim_gap_product"]) <= float(b["sim_gap_product"]) <= float(b["sim_gap"])


def test_non_vacuous_corollaries_and_tight_form():
    out = evaluate_bounds(10, 1.0, 4096, T=1000, sum_eta=1.0, N_ref=10000)
    rho = float(out["sim_gap"]) / (10000 / 3)
    assert float(out["rho_bound"]) == pytest.approx(rho)
    assert float(out["cka_lower"]) == pytest.approx((1 - rho) / (1 + rho))
    assert not out["vacuous_cka"] and 0 < float(out["cka_lower"]) < 1
    r_paper = float(out["r_bound"])
    tight = evaluate_bounds(10, 1.0, 4096, T=1000, sum_eta=1.0, N_ref=10000, tight=True)
    assert float(tight["r_bound"]) == pytest.approx(r_paper / math.sqrt(2))
    assert float(tight["rsa_lower"]) > float(out["rsa_lower"])
    assert float(out["rsa_lower"]) == pytest.approx((1 - r_paper) / (1 + r_paper))


def test_vacuous_delta_flags_everything():
    out = evaluate_bounds(2, 0.5, 2, T=10**6, sum_eta=10.0)    # eps > 1
    assert out["vacuous_sim_gap"] and out["vacuous_cka"] and out["vacuous_rsa"]
    assert math.isinf(out["Delta"]) and math.isinf(out["sim_gap"])
    assert float(out["cka_lower"]) == 0.0 and float(out["rsa_lower"]) == -1.0
    zero = evaluate_bounds(2, 0.5, 2, T=10**6, sum_eta=0.0)
    assert not np.isnan(zero["sim_gap"]) and zero["vacuous_sim_gap"]


def test_beyond_float_range_keeps_log10():
    out = evaluate_bounds(100, 1e-3, T=10**6, sum_eta=1e6)
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
    a = evaluate_bounds(10, 1.0, 4096, T=10, sum_eta=1e-3, features=X)
    b = evaluate_bounds(10, 1.0, 4096, T=10, sum_eta=1e-3, features=str(tmp_path / "f.npy"))
    c = evaluate_bounds(10, 1.0, 4096, T=10, sum_eta=1e-3, N_ref=50, K_norm=fn["K_norm"],
                 sigma_a=fn["sigma_a"])
    for k in ("K_norm", "sigma_a", "N_ref", "cka_lower", "rsa_lower"):
        assert float(a[k]) == pytest.approx(float(b[k])) == pytest.approx(float(c[k]))
    assert int(a["N_ref"]) == 50


def test_theorem2_and_nmax():
    out = evaluate_bounds(10, 0.5, G=2.0, beta=1e-4)
    want = num.theorem2(2.0, 1e-4, 0.5, float(out["Delta"]), float(out["sum_eta"]))
    assert float(out["weight_gap"]) == pytest.approx(want)
    assert "weight_gap" not in evaluate_bounds(10, 0.5)
    p = evaluate_bounds(10, 0.5, n_max=6000, N=50000)
    assert float(p["pi_max"]) == pytest.approx(0.12)
    assert float(p["loss_gap"]) == pytest.approx(num.loss_gap_bound(0.5, n_max=6000, N=50000))
    lin = evaluate_bounds(10, 0.5, loss_form="balanced-linear")
    assert float(lin["loss_gap"]) == pytest.approx(math.exp(4) / 9)


def test_broadcasting_shapes():
    out = evaluate_bounds(np.array([10, 100, 1000])[:, None, None],
                          np.geomspace(0.1, 1, 4)[:, None], np.array([256, 1024]), G=1.0,
                          beta=1e-3)
    for k, v in out.items():
        assert v.shape == (3, 4, 2), k
    assert out["vacuous_cka"].dtype == bool


def test_cli_module_is_a_module_and_the_function_has_its_own_name():
    import bounds.evaluate as cli  # the CLI module, no longer made callable

    assert not callable(cli) and callable(cli.main)
    assert bounds.evaluate is cli and bounds.evaluate_bounds is bounds.grid.evaluate_bounds
    assert float(bounds.evaluate_bounds(10, 0.5)["T"]) == 14700


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
    (dict(C=10, tau=0.5, B=2000, N=1000), "^Expected `B` <= `N`, got B=2000, N=1000$"),
    (dict(C=10, tau=0.5, B=np.array([64, 4096]), N=1000),
     "^Expected `B` <= `N`, got B=4096, N=1000$"),
    (dict(C=10, tau=0.5, B=2000, N=1000, sum_eta=3.0), "Expected `B` <= `N`"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate_bounds(**kwargs)


def test_sigma_a_zero_makes_rsa_vacuous_without_warnings(recwarn):
    out = evaluate_bounds(10, 1.0, 4096, T=10, sum_eta=1e-6, N_ref=10)   # one sample per class
    assert float(out["sigma_a"]) == 0.0
    assert out["vacuous_rsa"] and float(out["rsa_lower"]) == -1.0
    assert not out["vacuous_cka"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_trivial_sim_gap_flags_bounds_above_the_largest_possible_distance():
    """Theorem 1 at or above 2 sqrt(N_ref (N_ref - 1)) is true but says nothing."""
    paper = evaluate_bounds(C=100, tau=0.5)
    assert bool(paper["trivial_sim_gap"]) and bool(paper["trivial_sim_gap_product"])
    assert not bool(paper["vacuous_sim_gap"])  # Delta is defined; the bound is just huge
    small = evaluate_bounds(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=10000)
    assert not bool(small["trivial_sim_gap"]) and not bool(small["trivial_sim_gap_product"])
    # the threshold is exact: the same bound is trivial for a reference set just small enough
    s = float(small["sim_gap"])
    n_trivial = int(np.floor((1 + np.sqrt(1 + s * s)) / 2))  # 2 sqrt(n (n-1)) <= s
    at = evaluate_bounds(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=n_trivial)
    above = evaluate_bounds(C=10, tau=1.0, B=64, T=500, sum_eta=50.0, N_ref=n_trivial + 1)
    assert bool(at["trivial_sim_gap"]) and not bool(above["trivial_sim_gap"])


def test_batch_larger_than_N_is_fine_where_N_sets_nothing():
    """``N`` only sets ``T`` (and the warm-up) from epochs; with ``T`` or ``eta`` given it is
    unused, so ``B > N`` there is no contradiction (the trainer passes its own ``eta``)."""
    a = evaluate_bounds(10, 0.5, 2000, N=1000, T=50)
    b = evaluate_bounds(10, 0.5, 2000, N=1000, eta=np.full(50, 0.1))
    assert int(a["T"]) == int(b["T"]) == 50
    assert int(evaluate_bounds(10, 0.5, 1000, N=1000)["T"]) == 300    # B = N is one step/epoch


# ------------------------------------------------------------------ the registry is the source


def _registry(name, **kw):
    """The registry entry's numeric twin, as a float."""
    return float(REGISTRY[name].numeric(**kw))


def _close(got, want, *, rtol=1e-11, atol=0.0, what=""):
    """Equal to ``rtol`` (inf equals inf of the same sign, NaN equals NaN)."""
    got, want = float(got), float(want)
    if math.isnan(want) or math.isinf(want):
        assert got == want or (math.isnan(got) and math.isnan(want)), (what, got, want)
    else:
        assert got == pytest.approx(want, rel=rtol, abs=atol), (what, got, want)


#: Every key :func:`evaluate_bounds` returns is an input echo, or is checked against the
#: registry (or, for flags, against the registry's values) by the test below. A new output
#: key fails here until the test checks it.
_ECHOED = {"C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "lr", "warmup_steps"}
_CHECKED = {
    "eps", "Delta", "log10_Delta", "loss_gap", "exponent", "sim_gap", "log10_sim_gap",
    "sim_gap_product", "log10_sim_gap_product", "K_norm", "sigma_a", "rho_bound",
    "log10_rho_bound", "r_bound", "log10_r_bound", "cka_lower", "rsa_lower",
    "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa", "trivial_sim_gap",
    "trivial_sim_gap_product", "weight_gap", "log10_weight_gap",
}


def _random_grid(rng, mode):
    """A random 5 x 4 grid of (C, tau) at one setting; small tau overflows, B = 2 with many
    steps makes eps > 1 (vacuous), tiny S makes the corollaries bite."""
    kw = dict(C=rng.integers(2, 3000, 5).astype(float)[:, None],
              tau=np.exp(rng.uniform(np.log(1e-3), np.log(10.0), 4)),
              B=float(rng.choice([2, 3, 16, 256, 4096])), delta=float(rng.uniform(1e-3, 0.5)),
              N_ref=float(rng.integers(3000, 10**5)), tight=bool(rng.integers(2)))
    if rng.random() < 0.6:
        kw.update(G=float(np.exp(rng.uniform(-3, 3))), beta=float(np.exp(rng.uniform(-9, 0))))
    if rng.random() < 0.3:  # a largest class of at least ceil(N/C) samples (every C)
        N = 1000.0 + kw["B"]
        least = math.ceil(N / kw["C"].min())
        kw.update(n_max=float(min(least + rng.integers(0, 400), N - 1)), N=N,
                  loss_form=str(rng.choice(["paper", "tight"])))
    elif rng.random() < 0.3:
        kw.update(loss_form=str(rng.choice(["balanced", "balanced-linear"])))
    if mode == "sum_eta":
        kw.update(T=float(rng.integers(1, 200_000)),
                  sum_eta=np.exp(rng.uniform(np.log(1e-6), np.log(1e6), 5))[:, None])
    elif mode == "eta":
        kw.update(eta=rng.uniform(0.0, 3.0, int(rng.integers(1, 400))))
    else:
        epochs = float(rng.integers(1, 20))
        kw.update(N=float(rng.integers(int(kw["B"]), 6000)), epochs=epochs,
                  warmup_epochs=float(rng.integers(0, epochs)),
                  lr=float(np.exp(rng.uniform(-5, 1))),
                  lr_rule=str(rng.choice(sch.LR_RULES)), schedule=str(rng.choice(sch.SCHEDULES)))
    return kw


def _point_schedule(kw, p):
    """The learning rates of grid point ``p`` (the product form's ``eta``)."""
    if "eta" in kw:
        return np.asarray(kw["eta"], dtype=float)
    T = int(p["T"])
    if "sum_eta" in kw:                                   # the constant schedule S/T (AM-GM)
        return np.full(T, p["sum_eta"] / T)
    return sch.schedule(kw["schedule"], p["lr"], T, int(p["warmup_steps"]))


@pytest.mark.parametrize("mode", ["sum_eta", "eta", "schedule"])
@pytest.mark.parametrize("seed", range(6))
def test_every_reported_value_equals_the_registry_twin(mode, seed):
    """The grid evaluation reports what the registry's numeric twins give at each point,
    including vacuous points (inf, trivial bounds) and points beyond float range (inf values,
    finite log10 twins checked against the log-space twins)."""
    _check_against_registry(mode, seed)


def _check_against_registry(mode, seed) -> dict:
    """Check one random grid point by point; return how many points were vacuous,
    overflowing and with a biting CKA bound."""
    rng = np.random.default_rng(1000 * seed + len(mode))
    kw = _random_grid(rng, mode)
    with np.errstate(all="ignore"):
        out = evaluate_bounds(**kw)
    assert set(out) <= _ECHOED | _CHECKED and _CHECKED - set(out) <= {
        "weight_gap", "log10_weight_gap"}
    tight, ln10 = kw["tight"], math.log(10.0)
    loss_form = kw.get("loss_form") or ("paper" if "n_max" in kw else "balanced")
    seen = {"vacuous": 0, "overflow": 0, "cka_bites": 0}
    for idx in np.ndindex(out["sim_gap"].shape):
        p = {k: float(v[idx]) for k, v in out.items()}
        B, T, tau, S, C = p["B"], p["T"], p["tau"], p["sum_eta"], p["C"]
        # eps, Delta and vacuity (registry: eps, Delta)
        eps = _registry("eps", B=B, delta=p["delta"], T=T)
        _close(p["eps"], eps, what="eps")
        D = _registry("Delta", B=B, tau=tau, delta=p["delta"], T=T, pi_max=p["pi_max"])
        _close(p["Delta"], D, what="Delta")
        vac = p["pi_max"] + eps >= 1.0
        assert bool(out["vacuous_sim_gap"][idx]) == vac
        log_D = float(num.log_Delta(B, tau, p["delta"], T, p["pi_max"]))
        _close(p["log10_Delta"], log_D / ln10, rtol=1e-13, what="log10_Delta")
        seen["vacuous"] += vac
        seen["overflow"] += (not vac) and math.isinf(D)
        # [P1] (registry: loss_gap_*)
        if loss_form in ("paper", "tight"):
            want = _registry(f"loss_gap_{loss_form}", tau=tau, n_max=kw["n_max"], N=kw["N"])
        else:
            want = _registry("loss_gap_" + loss_form.replace("-", "_"), tau=tau, C=C)
        _close(p["loss_gap"], want, what="loss_gap")
        # Theorem 1 and the product form (registry: theorem1, recurrence_product)
        _close(p["exponent"], S * num.L_const(tau, B), rtol=1e-15, what="exponent")
        eta = _point_schedule(kw, p)
        log_sim = np.inf if vac else float(num.log_theorem1(S, tau, B, log_D))
        log_prod = np.inf if vac else float(num.log_product_form(eta, tau, B, log_D))
        _close(p["log10_sim_gap"], log_sim / ln10, rtol=1e-12, what="log10_sim_gap")
        _close(p["log10_sim_gap_product"], log_prod / ln10, rtol=1e-10, atol=1e-12,
               what="log10_sim_gap_product")
        if math.isfinite(D) or vac:  # the value-space twins take Delta itself
            _close(p["sim_gap"], _registry("theorem1", S=S, tau=tau, B=B, Delta=D),
                   what="sim_gap")
            _close(p["sim_gap_product"],
                   _registry("recurrence_product", eta=eta, tau=tau, B=B, Delta=D),
                   rtol=1e-9, what="sim_gap_product")
        # Corollaries (registry: K_norm_etf, sigma_a_etf, rho_bound, r_bound[_tight],
        # cka_lower, rsa_lower)
        N_ref = p["N_ref"]
        _close(p["K_norm"], _registry("K_norm_etf", N_ref=N_ref, C=C), what="K_norm")
        _close(p["sigma_a"], _registry("sigma_a_etf", N_ref=N_ref, C=C), what="sigma_a")
        log_rho = float(num.log_rho_bound(log_sim, p["K_norm"]))
        log_r = float(num.log_r_bound(log_sim, p["sigma_a"], N_ref, tight=tight))
        _close(p["log10_rho_bound"], log_rho / ln10, rtol=1e-12, what="log10_rho_bound")
        _close(p["log10_r_bound"], log_r / ln10, rtol=1e-12, what="log10_r_bound")
        if math.isfinite(p["sim_gap"]) or vac:
            _close(p["rho_bound"], _registry("rho_bound", sim_gap=p["sim_gap"],
                                             K_norm=p["K_norm"]), what="rho_bound")
            r_name = "r_bound_tight" if tight else "r_bound"
            _close(p["r_bound"], _registry(r_name, sim_gap=p["sim_gap"], N_ref=N_ref,
                                           sigma_a=p["sigma_a"]), what="r_bound")
        _close(p["cka_lower"], _registry("cka_lower", rho=p["rho_bound"]), atol=1e-12,
               what="cka_lower")
        _close(p["rsa_lower"], _registry("rsa_lower", r=p["r_bound"]), atol=1e-12,
               what="rsa_lower")
        assert bool(out["vacuous_cka"][idx]) == (vac or log_rho >= 0)
        assert bool(out["vacuous_rsa"][idx]) == (vac or log_r >= 0)
        seen["cka_bites"] += not (vac or log_rho >= 0)
        largest = math.log(2 * math.sqrt(N_ref * (N_ref - 1)))
        assert bool(out["trivial_sim_gap"][idx]) == (vac or log_sim >= largest - 1e-12)
        assert bool(out["trivial_sim_gap_product"][idx]) == (vac or log_prod >= largest - 1e-12)
        # Theorem 2 (registry: theorem2)
        if "G" in kw:
            log_w = float(num.log_theorem2(kw["G"], kw["beta"], tau, log_D, S))
            _close(p["log10_weight_gap"], log_w / ln10, rtol=1e-12, what="log10_weight_gap")
            if math.isfinite(D):
                _close(p["weight_gap"], _registry("theorem2", G=kw["G"], beta=kw["beta"],
                                                  tau=tau, Delta=D, S=S), what="weight_gap")
    return seen


def test_random_grids_cover_vacuous_overflowing_and_biting_points():
    """The seeds above are not all easy: together they hold vacuous Delta, values beyond
    float range and non-vacuous CKA bounds."""
    total = {"vacuous": 0, "overflow": 0, "cka_bites": 0}
    for mode in ("sum_eta", "eta", "schedule"):
        for seed in range(6):
            seen = _check_against_registry(mode, seed)
            total = {k: total[k] + seen[k] for k in total}
    assert all(v > 0 for v in total.values()), total


def test_grid_disagreeing_with_the_registry_fails_the_check(monkeypatch):
    """The agreement test catches a grid that re-derives a bound by itself: here the
    corollaries drop Corollary 2's sqrt(M)."""
    import types

    from bounds import grid

    def no_sqrt_M(ls, sg, n, tight=False):
        return num.log_r_bound(ls, sg, 2.0, tight=tight)  # M = 1 whatever N_ref

    monkeypatch.setattr(grid, "_num", types.SimpleNamespace(**{**vars(num),
                                                                "log_r_bound": no_sqrt_M}))
    with pytest.raises(AssertionError, match="log10_r_bound"):
        _check_against_registry("sum_eta", 0)


# ------------------------------------------------------------------ the named steps


def test_steps_compose_to_evaluate_bounds():
    """The six steps, called by hand, give the function's outputs."""
    from bounds import grid

    out = evaluate_bounds(100, 0.5, 512, G=1.0, beta=1e-3)
    steps = grid.schedule_step(lr_rule="linear", schedule="cosine", lr=0.3, B=512.0,
                               N=50000.0, epochs=300.0, warmup_epochs=10.0, T=None,
                               sum_eta=None, eta=None, warmup_steps=None)
    hp = grid.high_probability_step(C=100.0, tau=0.5, B=512.0, delta=0.05, T=steps.T,
                                    N=50000.0, pi_max=None, n_max=None)
    th1 = grid.theorem1_step(steps, tau=0.5, B=512.0, log_Delta=hp.log_Delta,
                             vacuous=hp.vacuous, schedule="cosine", shape=())
    cor = grid.corollaries_step(log_sim_gap=th1.log_sim_gap, vacuous=hp.vacuous, C=100.0,
                                N_ref=10000, K_norm=None, sigma_a=None, features=None,
                                tight=False)
    log_w = grid.theorem2_step(G=1.0, beta=1e-3, tau=0.5, log_Delta=hp.log_Delta,
                               sum_eta=steps.sum_eta)
    assert float(out["T"]) == float(steps.T) and float(out["sum_eta"]) == float(steps.sum_eta)
    assert float(out["log10_Delta"]) == float(hp.log_Delta) / math.log(10)
    assert float(out["log10_sim_gap_product"]) == float(th1.log_sim_gap_product) / math.log(10)
    assert float(out["cka_lower"]) == float(cor.cka_lower)
    assert float(out["log10_weight_gap"]) == float(log_w) / math.log(10)
    assert float(out["loss_gap"]) == float(grid.loss_gap_step(
        tau=0.5, C=100.0, N=50000.0, n_max=None, loss_form=None))


# -- schedule stepped per epoch (THEORY.md s13: the official code's convention) ---------------
@pytest.mark.parametrize("N,B,epochs,we", [(50000, 1024, 300, 10), (1000, 64, 7, 2),
                                           (1000, 1000, 5, 1), (999, 100, 3, 0)])
def test_schedule_unit_epoch_follows_the_schedule_exactly(N, B, epochs, we):
    out = evaluate_bounds(10, 0.5, B, epochs=epochs, N=N, warmup_epochs=we,
                          schedule_unit="epoch")
    P = sch.epoch_steps(N, B)
    eta = sch.schedule("cosine", 0.3 * B / 256, epochs * P, we * P, unit="epoch",
                       steps_per_epoch=P)
    assert int(out["T"]) == epochs * P and int(out["warmup_steps"]) == we * P
    assert float(out["sum_eta"]) == pytest.approx(math.fsum(eta), rel=1e-12)
    D = float(out["Delta"])
    path = bounds.recurrence_path(eta, 0.5, B, D / (0.5 * math.sqrt(B)))
    assert float(out["sim_gap_product"]) == pytest.approx(path[-1], rel=1e-9)
    explicit = evaluate_bounds(10, 0.5, B, eta=eta)  # the explicit schedule: every output
    for k in ("sum_eta", "exponent", "sim_gap", "sim_gap_product", "cka_lower"):
        assert float(out[k]) == pytest.approx(float(explicit[k]), rel=1e-9), k


def test_schedule_unit_step_is_the_default_bitwise():
    a = evaluate_bounds(np.array([10, 100]), 0.5, np.array([[256], [1024]]))
    b = evaluate_bounds(np.array([10, 100]), 0.5, np.array([[256], [1024]]),
                        schedule_unit="step")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_schedule_unit_epoch_with_T_given_keeps_whole_warm_up_epochs():
    # N/B = 10 steps per epoch; T = 95 -> 10 epochs (the last partial); 10% warm-up = 1 epoch
    out = evaluate_bounds(10, 0.5, 100, N=1000, T=95, epochs=10, warmup_epochs=1,
                          schedule_unit="epoch")
    eta = sch.schedule("cosine", 0.3 * 100 / 256, 95, 10, unit="epoch", steps_per_epoch=10)
    assert int(out["warmup_steps"]) == 10
    assert float(out["sum_eta"]) == pytest.approx(math.fsum(eta), rel=1e-12)


def test_schedule_unit_errors():
    with pytest.raises(ValueError, match="Expected `schedule_unit` in"):
        evaluate_bounds(10, 0.5, schedule_unit="month")
    with pytest.raises(ValueError, match="whole number of epochs"):
        evaluate_bounds(10, 0.5, 100, N=1000, epochs=5, warmup_steps=15,
                        schedule_unit="epoch")


# -- issue 20: impossible priors, non-boolean flags, extreme scales ---------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(C=10, tau=0.5, pi_max=0.001), r"^Expected `pi_max` >= 1/`C` \(the largest of C class "
     r"priors is at least 1/C\), got pi_max=0.001, C=10$"),
    (dict(C=np.array([2, 10]), tau=0.5, pi_max=0.3), "got pi_max=0.3, C=2$"),
    (dict(C=10, tau=0.5, N=50000, n_max=4999), r"^Expected `n_max` >= ceil\(`N`/`C`\) \(the "
     r"largest of C classes holds at least N/C samples\), got n_max=4999, N=50000, C=10$"),
    (dict(C=10, tau=0.5, N=50001, n_max=5000), "got n_max=5000, N=50001, C=10$"),
    (dict(C=10, tau=0.5, N=50000, n_max=5000.5), "^Expected `n_max` to be an integer >= 1"),
    (dict(C=10, tau=0.5, N=50000, n_max=6000, loss_form="tight", pi_max=0.05),
     "got pi_max=0.05, C=10$"),
])
def test_impossible_class_priors_are_refused(kwargs, match):
    """A prior below 1/C, or a largest class below ceil(N/C), is impossible; it used to give
    a smaller, invalid Delta and Theorem 1."""
    with pytest.raises(ValueError, match=match):
        evaluate_bounds(**kwargs)


def test_the_smallest_possible_priors_are_accepted():
    for C in (3, 7, 10, 997):
        out = evaluate_bounds(C, 0.5, pi_max=1 / C)
        assert float(out["Delta"]) == float(evaluate_bounds(C, 0.5)["Delta"])
    assert float(evaluate_bounds(10, 0.5, N=50001, n_max=5001)["pi_max"]) == 5001 / 50001
    assert float(evaluate_bounds(10, 0.5, N=50000, n_max=5000)["pi_max"]) == 0.1


@pytest.mark.parametrize("flag", ["no", "False", 0, 1, None, 1.0, [True]])
def test_a_non_boolean_flag_is_a_type_error(flag):
    """``tight="no"`` used to select the tight form (truthiness)."""
    want = f"^Expected `tight` to be a bool, got {re.escape(repr(flag))}$"
    with pytest.raises(TypeError, match=want):
        evaluate_bounds(10, 1.0, 4096, T=1000, sum_eta=1.0, tight=flag)


def test_numpy_bools_are_flags():
    kw = dict(C=10, tau=1.0, B=4096, T=1000, sum_eta=1.0)
    assert float(evaluate_bounds(**kw, tight=np.bool_(True))["r_bound"]) == float(
        evaluate_bounds(**kw, tight=True)["r_bound"]) < float(evaluate_bounds(**kw)["r_bound"])
    from bounds import grid
    with pytest.raises(TypeError, match="`tight`"):
        grid.corollaries_step(log_sim_gap=0.0, vacuous=False, C=10.0, N_ref=100, K_norm=None,
                              sigma_a=None, features=None, tight="yes")


@pytest.mark.parametrize("mode", ["schedule", "epoch", "sum_eta", "eta"])
def test_product_form_is_finite_and_below_theorem1_at_every_temperature(mode):
    """Issue 20: the product form was NaN from tau = 1e154 on (L underflowed to 0) while
    Theorem 1 stayed finite. Now both are finite wherever Theorem 1's logarithm is, the
    product form never above it, without a floating-point warning; where L is negligible
    the two meet at Delta S/(tau sqrt B)."""
    tau = np.geomspace(2.3e-308, 1.7e308, 41)
    kw = {"schedule": {}, "epoch": dict(schedule_unit="epoch"),
          "sum_eta": dict(T=14700, sum_eta=8821.2),
          "eta": dict(eta=sch.schedule("cosine", 1.2, 2000, 100))}[mode]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evaluate_bounds(10, tau, **kw)
    lp, le = out["log10_sim_gap_product"], out["log10_sim_gap"]
    assert not np.isnan(lp).any() and not np.isnan(le).any()
    assert np.all(lp <= le)
    assert np.all(np.isfinite(lp[tau >= 1e-100]))
    far = tau > 1e20
    np.testing.assert_allclose(lp[far], le[far], rtol=1e-12)
    assert np.all(np.isfinite(out["sim_gap_product"][tau >= 1e154]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(tau=1e-320), r"^Expected `tau` not subnormal \(0, or a magnitude of at least "
     r"2.2250738585072014e-308\), got 1e-320$"),
    (dict(lr=5e-324), "^Expected `lr` not subnormal"),
    (dict(delta=1e-310), "^Expected `delta` not subnormal"),
    (dict(T=10, sum_eta=1e-315), "^Expected `sum_eta` not subnormal"),
    (dict(C=1e300),
     r"^Expected `C` to be an integer <= 2\*\*53 \(exact in float64\), got 1e\+300$"),
    (dict(T=2.0**53 + 2), r"^Expected `T` to be an integer <= 2\*\*53"),
    (dict(B=2, N=2.0**53), r"^Expected at most 2\*\*53 steps, epochs \* ceil\(N/B\), got "
     r"epochs=300, N=9007199254740992, B=2$"),
    (dict(lr=1e307), r"^Expected the linear rule's base rate within float range, got "
     r"lr=1e\+307, B=1024$"),
    (dict(lr=1e300, lr_rule="constant", schedule="constant", T=10**10),
     "^Expected `lr` small enough that the sum of rates S is finite, got lr=1e"),
    (dict(eta=np.full(4, 1e308)), "^Expected `eta` with a finite sum"),
])
def test_values_beyond_exact_float_range_are_refused(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            evaluate_bounds(**{"C": 10, "tau": 0.5, **kwargs})
