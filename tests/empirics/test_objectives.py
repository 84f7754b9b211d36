"""The registry of objectives: names, canonical order, pairs, losses, plugin entries."""

from __future__ import annotations

import pytest
import torch

import empirics.objectives as objectives
from empirics import losses
from empirics.objectives import (
    OBJECTIVES,
    THEOREM_PAIR,
    Objective,
    canonical_objectives,
    contrastive,
    objective_loss,
    pair_color,
    pair_name,
    paper_objectives,
)
from empirics.training.config import TrainConfig


def test_the_paper_s_objectives_and_the_theorem_pair():
    assert paper_objectives() == ("cl", "nscl", "scl", "ce")
    assert set(THEOREM_PAIR) <= set(paper_objectives())
    assert contrastive() == tuple(o for o in OBJECTIVES.names() if OBJECTIVES[o].kind ==
                                  "contrastive") and "ce" not in contrastive()
    assert contrastive(["ce", "nscl"]) == ("nscl",)
    assert pair_name(*THEOREM_PAIR) == "cl-nscl"
    assert pair_color("cl-nscl") == OBJECTIVES["nscl"].color
    colours = [o.color for o in OBJECTIVES]
    assert len(set(colours)) == len(colours)  # every built-in its own colour


@pytest.mark.parametrize(("value", "exc", "match"), [
    ("cl,byol", ValueError, "among cl, ntxent, nscl, scl, ce, got 'byol'"),
    ("cl,,nscl", ValueError, "without empty items"),
    (["cl", "cl"], ValueError, "without repeats"),
    ("", ValueError, "at least one objective"),
    (3, TypeError, "comma list or a sequence"),
])
def test_canonical_objectives_refuses_bad_lists(value, exc, match):
    with pytest.raises(exc, match=match):
        canonical_objectives(value)


def test_canonical_order_whatever_the_given_order():
    assert canonical_objectives("ce, scl ,cl") == ("cl", "scl", "ce")
    assert canonical_objectives(list(reversed(OBJECTIVES.names()))) == OBJECTIVES.names()


@pytest.mark.parametrize("pid", [False, True])
@pytest.mark.parametrize("pairs", ["distinct", "all"])
def test_each_built_in_loss_is_its_loss_of_empirics_losses(pid, pairs):
    g = torch.Generator().manual_seed(0)
    views, labels = torch.randn(2, 12, 5, generator=g), torch.arange(12) % 3
    cfg = TrainConfig(tau=0.3, pairs=pairs, positive_in_denominator=pid)
    kw = dict(tau=0.3, pairs=pairs)
    want = {
        "cl": losses.ntxent_loss(views, **kw) if pid else losses.cl_loss(views, **kw),
        "ntxent": losses.ntxent_loss(views, **kw),
        "nscl": losses.nscl_loss(views, labels, positive_in_denominator=pid, **kw),
        "scl": losses.scl_loss(views, labels, tau=0.3),
    }
    for name in contrastive():
        assert torch.equal(objective_loss(name, views, labels, cfg), want[name]), name
    with pytest.raises(ValueError, match="Expected a contrastive objective"):
        objective_loss("ce", views, labels, cfg)


def test_a_plugin_entry_takes_its_declared_metadata_and_a_plain_call():
    calls = []

    def loss(views, labels, tau):
        calls.append(tau)
        return views.sum() * 0 + tau

    plain = objectives._plugin("mine", loss)
    assert (plain.label, plain.plugin, plain.kind, plain.in_paper) == ("mine", True,
                                                                       "contrastive", False)
    assert plain.order == 50 and plain.color in objectives._PLUGIN_COLORS
    rich = objectives._plugin("mine", {"loss": loss, "label": "Mine", "color": "#123456",
                                       "needs_labels": False, "in_paper": True,
                                       "kind": "head"})
    assert (rich.label, rich.color, rich.needs_labels) == ("Mine", "#123456", False)
    assert rich.kind == "contrastive" and not rich.in_paper  # never the paper's, never a head
    out = rich.loss_function()(torch.zeros(2, 3, 4, dtype=torch.float64), None, 0.7,
                               pairs="all", positive_in_denominator=True)
    assert float(out) == 0.7  # the run's options are not passed to a plain loss
    assert calls == [0.7]
    as_entry = objectives._plugin("other", Objective("x", "X", "#000000", 5, True, loss=loss))
    assert as_entry.name == "other" and as_entry.order == 5


@pytest.mark.parametrize(("obj", "match"), [
    (3, "Expected a loss function, an Objective or a dict"),
    ({"loss": len, "nope": 1}, "unknown key"),
    ({"label": "no loss"}, "callable `loss`"),
])
def test_a_bad_plugin_entry_is_refused(obj, match):
    with pytest.raises((TypeError, ValueError), match=match):
        objectives._plugin("mine", obj)
