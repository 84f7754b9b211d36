"""Fig. 17 merging: the path's ends are the trained models (weights and accuracy), BatchNorm
statistics re-estimated against a brute-force twin, the path summary, and one evaluation."""

from __future__ import annotations

import math

import pytest
import torch

from empirics.models import build_model
from empirics.studies import merging
from empirics.studies.evaluations import launch_evaluations
from empirics.studies.trained import embed, load_trained
from empirics.training.probe import linear_probe_accuracy, ncc_accuracy


@pytest.fixture(scope="module")
def trained(run0):
    return load_trained(run0)


def test_alphas():
    a = merging.alphas(11)
    assert a[0] == 0.0 and a[-1] == 1.0 and len(a) == 11 and a[5] == 0.5
    with pytest.raises(ValueError, match="`points` >= 2"):
        merging.alphas(1)


@pytest.mark.parametrize("partner", ["nscl", "ce"])
def test_ends_equal_the_trained_models_weights_and_accuracy(trained, partner):
    mods = trained.modules()
    for a, end in ((0.0, mods["cl"]), (1.0, mods[partner])):
        model = merging.merged_model(mods["cl"], mods[partner], a,
                                     bn_inputs=trained.train.x)
        got, want = model.state_dict(), end.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
        splits = {"tr": trained.train, "te": trained.test}
        h = {s: embed(model, ds.x)[0] for s, ds in splits.items()}
        h_end = {s: embed(end, ds.x)[0] for s, ds in splits.items()}
        for probe in (ncc_accuracy, linear_probe_accuracy):
            assert probe(h["tr"], trained.train.y, h["te"], trained.test.y) == \
                probe(h_end["tr"], trained.train.y, h_end["te"], trained.test.y)


def test_midpoint_is_the_average_and_the_ends_are_untouched(trained):
    mods = trained.modules()
    before = {k: v.clone() for k, v in mods["cl"].state_dict().items()}
    mid = merging.merged_model(mods["cl"], mods["nscl"], 0.5)
    a, b = mods["cl"].state_dict(), mods["nscl"].state_dict()
    for k, v in mid.state_dict().items():
        torch.testing.assert_close(v, 0.5 * a[k] + 0.5 * b[k], rtol=0, atol=1e-7)
    assert all(torch.equal(before[k], a[k]) for k in a)


def _bn_pair():
    kw = dict(feature_dim=6, proj_dim=3, hidden=8, depth=1, norm="batch")
    return build_model("mlp", (5,), seed=0, **kw), build_model("mlp", (5,), seed=1, **kw)


def test_batchnorm_statistics_are_re_estimated_on_the_inputs():
    a, b = _bn_pair()
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    m = merging.merged_model(a, b, 0.3, bn="recompute", bn_inputs=x, batch_size=64)
    bn = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm1d)][0]
    lin = m.encoder.net[1]  # the Linear feeding the BatchNorm
    with torch.no_grad():
        pre = lin(x)  # brute force: the statistics of the pre-BatchNorm activations
    torch.testing.assert_close(bn.running_mean, pre.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, pre.var(0, unbiased=True), rtol=1e-5,
                               atol=1e-6)
    assert bn.momentum == 0.1 and not m.training


def test_batchnorm_interpolated_keeps_exact_ends():
    a, b = _bn_pair()
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(1))
    for mod in (a, b):  # give both models their own running statistics
        mod.train()
        with torch.no_grad():
            mod(x * (2 if mod is b else 1))
    m0 = merging.merged_model(a, b, 0.0, bn="interpolate")
    assert all(torch.equal(v, a.state_dict()[k]) for k, v in m0.state_dict().items())
    m1 = merging.merged_model(a, b, 1.0, bn="interpolate")
    for k, v in m1.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, b.state_dict()[k])
    with pytest.raises(ValueError, match="`bn_inputs`"):
        merging.merged_model(a, b, 0.5, bn="recompute")


@pytest.mark.parametrize("kw, match", [
    (dict(alpha=1.5), "`alpha` in"), (dict(alpha=0.5, bn="keep"), "`bn`"),
])
def test_merged_model_bad_arguments(kw, match):
    a, b = _bn_pair()
    with pytest.raises(ValueError, match=match):
        merging.merged_model(a, b, **kw)


def test_interpolate_state_rejects_other_architectures():
    with pytest.raises(ValueError, match="different keys"):
        merging.interpolate_state({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match="one shape"):
        merging.interpolate_state({"a": torch.zeros(1)}, {"a": torch.zeros(2)}, 0.5)


def test_path_summary():
    rows = [{"alpha": a, "accuracy": acc} for a, acc in ((0.0, 0.6), (0.5, 0.7), (1.0, 0.65))]
    s = merging.path_summary(rows)
    assert s["beats_both"] and s["alpha_best"] == 0.5 and s["gain"] == pytest.approx(0.05)
    flat = merging.path_summary([{"alpha": a, "accuracy": 0.6} for a in (0.0, 0.5, 1.0)])
    assert not flat["beats_both"] and flat["gain"] == 0.0


def test_the_partner_end_best_gives_a_negative_gain():
    # test accuracy rises to the partner end (a = 1 is best on validation and on test): the
    # interior a* is 0.75 (the best interior point on validation); its test accuracy 0.70
    # is 0.05 below the partner's 0.75, so the gain against both ends is -0.05, and +0.10
    # against CL. An end counted as interior would give a* = 1 and a gain of 0.
    rows = [{"alpha": a, "accuracy": t, "val_accuracy": v}
            for a, t, v in ((0.0, 0.60, 0.58), (0.25, 0.63, 0.61), (0.5, 0.66, 0.64),
                            (0.75, 0.70, 0.69), (1.0, 0.75, 0.74))]
    s = merging.path_summary(rows)
    assert s["alpha_best"] == 0.75 and not s["beats_both"]
    assert s["gain"] == pytest.approx(-0.05) and s["gain_vs_cl"] == pytest.approx(0.10)
    assert s["acc_partner"] == 0.75 and s["oracle_interior"] == 0.70


def test_the_interior_point_is_chosen_on_validation_not_on_test():
    # the best interior test accuracy is at a = 0.25 (0.80), but validation prefers a = 0.5:
    # a* = 0.5, its test accuracy 0.66 is the one judged (the oracle 0.80 is not used)
    rows = [{"alpha": a, "accuracy": t, "val_accuracy": v}
            for a, t, v in ((0.0, 0.60, 0.6), (0.25, 0.80, 0.60), (0.5, 0.66, 0.70),
                            (0.75, 0.62, 0.65), (1.0, 0.64, 0.6))]
    s = merging.path_summary(rows)
    assert s["alpha_best"] == 0.5 and s["best_interior"] == 0.66
    assert s["gain"] == pytest.approx(0.02) and s["oracle_interior"] == 0.80
    tie = [dict(r, val_accuracy=0.7) for r in rows]  # ties: the smallest interior a
    assert merging.path_summary(tie)["alpha_best"] == 0.25


def test_validation_split_is_seeded_and_disjoint():
    fit, val = merging.validation_split(50, 0.2, seed=3)
    again = merging.validation_split(50, 0.2, seed=3)
    assert len(val) == 10 and not set(fit.tolist()) & set(val.tolist())
    assert (fit.tolist(), val.tolist()) == (again[0].tolist(), again[1].tolist())
    with pytest.raises(ValueError, match="`validation`"):
        merging.MergingOptions.from_config({"validation": 1.0})


def test_merging_options():
    assert merging.MergingOptions.from_config({"study": "merging"}).points == 11
    for bad, match in (({"bn": "x"}, "`bn`"), ({"partners": ["cl"]}, "`partners`"),
                       ({"partners": []}, "`partners`"), ({"points": 1}, "`points`")):
        with pytest.raises(ValueError, match=match):
            merging.MergingOptions.from_config(bad)
    with pytest.raises(ValueError, match="MergingOptions keys"):
        merging.MergingOptions.from_dict({"nope": 1})
    # the default partners: the paper's objectives beside CL, from the registry
    from empirics.objectives import paper_objectives

    assert merging.MergingOptions().partners == paper_objectives()[1:]
    # an evaluation's key: validation only where it is not the 0.2 of every earlier one
    assert merging.MergingOptions().config() == {"points": 11, "bn": "recompute",
                                                 "partners": ["nscl", "scl", "ce"]}
    assert merging.MergingOptions(validation=0.3).config()["validation"] == 0.3


def test_one_evaluation_and_the_summary_over_seeds(tiny_runs, tmp_path):
    from empirics.runs import read_run

    srcs = sorted(p for p in tiny_runs.iterdir() if p.name.startswith("train"))
    paths = launch_evaluations("merging", srcs, tmp_path, {"points": 3})
    evs = [read_run(p) for p in paths]
    m = evs[0].metrics
    assert set(m["partner"]) == {"nscl", "scl", "ce"} and sorted(set(m["alpha"])) == [0, 0.5, 1]
    from empirics.runs import read_table

    val = read_table(evs[0].path / "validation.csv")
    assert len(val) == len(m) and evs[0].summary["n_validation"] > 0
    path = evs[0].summary["paths"]["nscl/h/ncc"]
    assert path["alpha_best"] == 0.5  # the one interior point of three
    assert evs[0].summary["bn"].startswith("none")
    # the a = 0 rows of every path are the CL model: one accuracy per feature kind and probe
    ends = m[m["alpha"] == 0].groupby(["features", "probe"])["accuracy"].nunique()
    assert (ends == 1).all()
    rows = merging.merging_summary(evs)
    two = [r for r in rows if r["n_seeds"] == 2]
    assert two and all(0 <= r["seeds_beating"] <= 2 for r in rows)
    assert all(math.isnan(r["ci_low"]) for r in rows if r["n_seeds"] == 1)
