"""Tests for empirics.surrogate.config: one declaration, validation, old config files."""

from __future__ import annotations

import pytest

from empirics.runs.spec import RunSpec
from empirics.surrogate import SurrogateConfig
from empirics.surrogate import config as cfg_module

BAD = [
    ({"C": 1}, ValueError, "`C`"),
    ({"N": 5, "C": 10}, ValueError, "`N`"),
    ({"B": 1}, ValueError, "`B`"),
    ({"B": 300}, ValueError, "`B`"),
    ({"tau": 0.0}, ValueError, "`tau`"),
    ({"tau": float("nan")}, ValueError, "`tau`"),
    ({"tau": 1e-300}, ValueError, r"`tau` in \[1e-150, 1e150\]"),
    ({"tau": 1e300}, ValueError, "`tau`"),
    ({"steps": 0}, ValueError, "`steps`"),
    ({"lr": -1.0}, ValueError, "`lr`"),
    ({"schedule": "step"}, ValueError, "`schedule`"),
    ({"warmup_steps": 200}, ValueError, "`warmup_steps`"),
    ({"seed": -1}, ValueError, "`seed`"),
    ({"init": "zeros"}, ValueError, "`init`"),
    ({"init_dim": 0}, ValueError, "`init_dim`"),
    ({"init_view_noise": -0.1}, ValueError, "`init_view_noise`"),
    ({"init_class_signal": -0.1}, ValueError, "`init_class_signal`"),
    ({"delta": 1.0}, ValueError, "`delta`"),
    ({"pi_max": 0.0}, ValueError, "`pi_max`"),
    ({"backend": "jax"}, ValueError, "`backend`"),
    ({"eval_every": -1}, ValueError, "`eval_every`"),
    ({"C": 2.5}, TypeError, "`C`"),
    ({"tau": "1"}, TypeError, "`tau`"),
    ({"tau": True}, TypeError, "`tau`"),
    ({"device": 0}, TypeError, "`device`"),
    ({"checkpoint_every": 0}, ValueError, "`checkpoint_every`"),
    ({"max_memory_gib": 0.0}, ValueError, "`max_memory_gib`"),
    # were torch's RuntimeError (or AssertionError) traceback from the first step
    ({"backend": "torch", "device": "tpu"}, ValueError, "`device` to be cpu, cuda or cuda:<index>, "
     "got 'tpu'"),
    ({"backend": "torch", "device": ""}, ValueError, "`device`.*got ''"),
    ({"backend": "torch", "device": "cuda:x"}, ValueError, "`device`.*'cuda:x'"),
    # silently ignored before: the numpy state lives on the CPU
    ({"device": "cuda"}, ValueError, "`device` = 'cpu' for `backend` = 'numpy'.*got 'cuda'"),
    # silently ignored before: the constant schedule has no warm-up
    ({"warmup_steps": 5}, ValueError, "`warmup_steps` = 0 for `schedule` = 'constant'.*got 5"),
    # a prior below 1/C is impossible (it gave a smaller, invalid Delta)
    ({"C": 4, "N": 32, "B": 8, "pi_max": 0.2}, ValueError,
     r"`pi_max` >= 1/`C`.*got pi_max=0.2, C=4"),
    # numpy's overflow warning, then "Expected `sum_eta` >= 0, got inf"
    ({"lr": 1e300, "steps": 200}, ValueError, r"`lr` \* `steps` <= 1e\+300.*1e\+300"),
    # squared norms overflowed: every initial cosine silently became 0 (Sigma_0 = I)
    ({"init_view_noise": 1e200}, ValueError, r"`init_view_noise` <= 1e\+150.*got 1e\+200"),
    ({"init_class_signal": 1e151}, ValueError, r"`init_class_signal` <= 1e\+150"),
]


def test_limits_are_inclusive():
    c = SurrogateConfig(C=4, N=32, B=8, pi_max=0.25, init_view_noise=1e150,
                        init_class_signal=1e150, lr=1e300 / 200, backend="torch",
                        device="cuda:1", schedule="cosine", warmup_steps=5)
    assert c.pi_max == 0.25 and c.device == "cuda:1"  # cuda:1 need not exist to configure


@pytest.mark.parametrize("kw,exc,match", BAD)
def test_config_validation(kw, exc, match):
    with pytest.raises(exc, match=match):
        SurrogateConfig(**kw)


def test_from_dict_rejects_unknown_and_round_trips():
    c = SurrogateConfig(C=4)
    assert SurrogateConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown"):
        SurrogateConfig.from_dict({"C": 4, "foo": 1})


def test_a_config_json_of_the_earlier_surrogate_still_loads():
    old = {"C": 10, "N": 256, "B": 32, "tau": 1.0, "steps": 200, "lr": 64.0,
           "schedule": "constant", "warmup_steps": 0, "seed": 0, "init": "features",
           "init_dim": 32, "init_view_noise": 0.5, "init_class_signal": 0.0,
           "positive_in_denominator": False, "delta": 0.05, "pi_max": None,
           "backend": "numpy", "device": "cpu", "eval_every": 0}
    c = SurrogateConfig.from_dict(old)
    assert c == SurrogateConfig()
    assert {k: v for k, v in c.to_dict().items() if k in old} == old


def test_every_field_is_declared_with_help_and_option_lists_have_their_own_names():
    for flag, _default, text in SurrogateConfig.describe():
        assert text.strip() and "(default: " in text, flag
    assert cfg_module.ARRAY_LIBRARIES == ("numpy", "torch")
    assert not hasattr(cfg_module, "BACKENDS")
    # execution knobs stay out of the cache key; everything that decides a number is in it
    key = SurrogateConfig().key_dict()
    assert {"device", "checkpoint_every", "max_memory_gib"}.isdisjoint(key)
    assert {"C", "N", "B", "tau", "steps", "lr", "seed", "backend"} <= set(key)


def test_the_run_spec_of_the_surrogate_kind_resolves_here():
    spec = RunSpec("surrogate", {"C": 4, "N": 32, "B": 8, "steps": 5})
    assert spec.options() == SurrogateConfig(C=4, N=32, B=8, steps=5)


@pytest.mark.parametrize("pi_max", [1 / 3, (1 / 3) * (1 - 1e-13), (1 / 3) * (1 - 1e-11), 0.2,
                                    0.34, 1.0])
def test_pi_max_is_checked_by_the_rule_of_the_bounds(pi_max):
    """``pi_max >= 1/C`` is bounds.validation.check_prior's rule (1e-12 relative slack, so
    that n_max/N of balanced classes passes): the surrogate accepts exactly what the bounds
    accept."""
    from bounds.validation import check_prior

    try:
        check_prior(pi_max, 3)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).replace("(", r"\(").replace(")", r"\)")):
            SurrogateConfig(C=3, N=12, B=4, pi_max=pi_max)
    else:
        assert SurrogateConfig(C=3, N=12, B=4, pi_max=pi_max).pi_max == pi_max
