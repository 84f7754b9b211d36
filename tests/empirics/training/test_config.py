"""TrainConfig: defaults, TOML/dict round trips, unknown keys, and every validation error."""

from __future__ import annotations

import dataclasses

import pytest

from empirics.objectives import OBJECTIVES, canonical_objectives
from empirics.training.config import TrainConfig


def test_defaults_are_valid_and_frozen():
    cfg = TrainConfig()
    assert cfg.objectives == ("cl", "nscl", "scl", "ce")
    assert cfg.dataset == "synthetic"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.tau = 1.0  # type: ignore[misc]


def test_dict_round_trip_and_canonical_order():
    cfg = TrainConfig(objectives="ce,cl", tau=0.2, steps=10, warmup_steps=2)
    assert cfg.objectives == ("cl", "ce")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert canonical_objectives(list(reversed(OBJECTIVES.names()))) == OBJECTIVES.names()


def test_from_toml_top_level_and_table(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text('objectives = ["cl", "nscl"]\ntau = 1\nbatch_size = 64\n', encoding="utf-8")
    cfg = TrainConfig.from_toml(p)
    assert cfg.objectives == ("cl", "nscl") and cfg.tau == 1.0 and isinstance(cfg.tau, float)
    q = tmp_path / "b.toml"
    q.write_text("[train]\nclasses = 20\n", encoding="utf-8")
    assert TrainConfig.from_toml(q).classes == 20


def test_unknown_keys_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['taus'\]"):
        TrainConfig.from_dict({"taus": 0.5})
    p = tmp_path / "c.toml"
    p.write_text("learning_rate = 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(p)
    with pytest.raises(ValueError, match="unknown key"):
        TrainConfig().replace(nope=1)
    with pytest.raises(TypeError, match="dict"):
        TrainConfig.from_dict([("tau", 1.0)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "exc", "message"),
    [
        ({"objectives": "cl,byol"}, ValueError, "Expected `objectives` among .*got 'byol'"),
        ({"objectives": ["cl", "cl"]}, ValueError, "without repeats"),
        ({"objectives": ""}, ValueError, "at least one objective"),
        ({"objectives": 3}, TypeError, "comma list"),
        ({"tau": 0.0}, ValueError, r"Expected `tau` > 0, got 0.0"),
        ({"tau": -0.5}, ValueError, r"Expected `tau` > 0, got -0.5"),
        ({"tau": float("nan")}, ValueError, "`tau` to be finite"),
        ({"tau": "0.5"}, TypeError, "`tau` to be a number"),
        ({"lr": 0.0}, ValueError, "`lr` > 0"),
        ({"weight_decay": -1.0}, ValueError, "`weight_decay` >= 0"),
        ({"difficulty": -1.0}, ValueError, "`difficulty` >= 0"),
        ({"lars_trust": 0.0}, ValueError, "`lars_trust` > 0"),
        ({"momentum": 1.0}, ValueError, r"`momentum` in \[0, 1\)"),
        ({"delta": 1.0}, ValueError, r"`delta` in \(0, 1\)"),
        ({"classes": 1}, ValueError, "`classes` >= 2"),
        ({"classes": 2.5}, TypeError, "`classes` to be an int"),
        ({"classes": True}, TypeError, "`classes` to be an int"),
        ({"classes": None}, ValueError, "`classes` .* for 'synthetic'"),
        ({"dataset": "digits", "classes": 11}, ValueError, r"`classes` <= 10 .*'digits'"),
        ({"dataset": "cifar10", "classes": 12, "data_root": "x"}, ValueError, "<= 10"),
        ({"dataset": "cifar100", "classes": 101, "data_root": "x"}, ValueError, "<= 100"),
        ({"dataset": "cifar10"}, ValueError, "`data_root`"),
        ({"dataset": "mnist5"}, ValueError, "`dataset` among"),
        ({"data_root": 3, "dataset": "digits"}, TypeError, "`data_root`"),
        ({"out": 3}, TypeError, "`out`"),
        ({"arch": "vit"}, ValueError, "`arch` among"),
        ({"augment": "mixup"}, ValueError, "`augment` among"),
        ({"optimizer": "adam"}, ValueError, "`optimizer` among"),
        ({"lr_rule": "cubic"}, ValueError, "`lr_rule` among"),
        ({"schedule": "step"}, ValueError, "`schedule` among"),
        ({"eval_features": "x"}, ValueError, "`eval_features` among"),
        ({"probe": "knn"}, ValueError, "`probe` among"),
        ({"loss_gap_form": "balanced"}, ValueError, "`loss_gap_form` among"),
        ({"pairs": "some"}, ValueError, "`pairs` among"),
        ({"device": "tpu"}, ValueError, "`device` among"),
        ({"device": 0}, TypeError, "`device` to be a str"),
        ({"views": 1}, ValueError, "`views` >= 2"),
        ({"batch_size": 1}, ValueError, "`batch_size` >= 2"),
        ({"reference_size": 1}, ValueError, "`reference_size` >= 2"),
        ({"proj_dim": 0}, ValueError, "`proj_dim` >= 1"),
        ({"feature_dim": 0}, ValueError, "`feature_dim` >= 1"),
        ({"width": 0}, ValueError, "`width` >= 1"),
        ({"image_size": 0}, ValueError, "`image_size` >= 4"),  # the CNN needs 4 x 4 inputs
        ({"image_size": 2}, ValueError, "`image_size` >= 4"),
        ({"image_size": 4096}, ValueError, "`image_size` <= 1024"),
        ({"steps": 10**9}, ValueError, "`steps` <= 100000000"),
        ({"views": 65}, ValueError, "`views` <= 64"),
        ({"feature_dim": 10**5}, ValueError, "`feature_dim` <= 8192"),
        ({"lr": 1e300}, ValueError, "`lr` whose `lr_rule` .linear. rate at B = 256 is a float32"),
        ({"out": ""}, ValueError, "`out` to be a path, got .."),
        ({"data_root": " "}, ValueError, "`data_root` to be a path"),
        ({"train_size": 0}, ValueError, "`train_size` >= 1"),
        ({"train_size": 5}, ValueError, r"`train_size` >= `classes`"),
        ({"test_size": 0}, ValueError, "`test_size` >= 1"),
        ({"steps": 0}, ValueError, "`steps` >= 1"),
        ({"steps": None}, ValueError, "one of `steps` or `epochs`"),
        ({"epochs": 0}, ValueError, "`epochs` >= 1"),
        ({"epochs": 1.5}, TypeError, "`epochs` to be an int"),
        ({"warmup_steps": -1}, ValueError, "`warmup_steps` >= 0"),
        ({"warmup_steps": 400}, ValueError, r"`warmup_steps` < `steps`"),
        ({"eval_every": 0}, ValueError, "`eval_every` >= 1"),
        ({"checkpoint_every": 0}, ValueError, "`checkpoint_every` >= 1"),
        ({"seed": -1}, ValueError, "`seed` >= 0"),
        ({"threads": -1}, ValueError, "`threads` >= 0"),
        ({"deterministic": 1}, TypeError, "`deterministic` to be a bool"),
        ({"positive_in_denominator": "yes"}, TypeError, "`positive_in_denominator`"),
    ],
)
def test_validation_errors(changes, exc, message):
    with pytest.raises(exc, match=message):
        TrainConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "exc", "message"),
    [
        ({"schedule_unit": "month"}, ValueError, "Expected `schedule_unit` among step, epoch, "
                                                 "got 'month'"),
        ({"linearization_every": -1}, ValueError, "`linearization_every` >= 0, got -1"),
        ({"linearization_every": 1.5}, TypeError, "`linearization_every` to be an int"),
        ({"linearization_size": 1}, ValueError, "`linearization_size` >= 2, got 1"),
        ({"linearization_every": 30}, ValueError, r"`linearization_every` to be a multiple "
                                                  r"of `eval_every` \(50\), got 30"),
        ({"linearization_every": 50, "objectives": "scl,ce"}, ValueError,
         "Expected `objectives` to include cl or nscl for `linearization_every` > 0, got "
         "scl,ce"),
        ({"linearization_every": 50, "linearization_size": 600}, ValueError,
         r"`linearization_size` <= `reference_size` \(512\), got 600"),
    ],
)
def test_new_option_errors(changes, exc, message):
    with pytest.raises(exc, match=message):
        TrainConfig(**changes)


def test_new_options_are_declared_once_with_help_and_in_the_cache_key():
    import argparse

    cfg = TrainConfig(linearization_every=100, schedule_unit="epoch")
    key = cfg.key_dict()
    assert key["linearization_every"] == 100 and key["schedule_unit"] == "epoch"
    assert key["linearization_size"] == 64
    assert TrainConfig().key_dict()["linearization_every"] == 0
    parser = argparse.ArgumentParser()
    TrainConfig.add_arguments(parser)
    text = parser.format_help()
    for flag in ("--schedule-unit", "--linearization-every", "--linearization-size"):
        assert flag in text
    assert TrainConfig(linearization_size=600).linearization_size == 600  # off: unchecked
