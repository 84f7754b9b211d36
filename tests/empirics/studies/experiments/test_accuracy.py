"""Table 1 / Table 2 / few-shot accuracy: the probes on hand-checkable data and against slow
twins, the seeded support sets, one evaluation of a tiny run, and the tables over seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirics.studies import accuracy
from empirics.studies.evaluations import launch_evaluations


def test_probe_rows_on_hand_checkable_points():
    # two classes on the axes; every test point lies next to its own axis
    tr = torch.tensor([[1.0, 0.0], [2.0, 0.2], [0.0, 1.0], [0.2, 2.0]], dtype=torch.float64)
    te = torch.tensor([[3.0, 0.5], [0.5, 3.0], [1.0, 0.9]], dtype=torch.float64)
    y_tr, y_te = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1])
    f = {"m": {"train": {"h": tr, "z": tr}, "test": {"h": te, "z": te}}}
    rows = {(r["features"], r["probe"]): r["accuracy"]
            for r in accuracy.probe_rows(f, y_tr, y_te)}
    # cosine NCC: (1, 0.9) is nearer the class-0 centre direction (about 3 degrees from
    # the x axis) than the class-1 one: 2 of 3 correct, by hand
    assert rows[("h", "ncc")] == pytest.approx(2 / 3)
    assert set(rows) == {(f, p) for f in ("h", "z") for p in ("ncc", "linear", "logistic")}


def _loop_ncc(xt, yt, xs, ys):
    """Slow twin of the cosine NCC probe."""
    C = int(yt.max()) + 1
    unit = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    centres = [unit[yt == c].mean(0) for c in range(C)]
    centres = [c / np.linalg.norm(c) for c in centres]
    pred = [int(np.argmax([x @ c / np.linalg.norm(x) for c in centres])) for x in xs]
    return float(np.mean(np.array(pred) == ys))


def _loop_ridge(xt, yt, xs, ys, l2=1e-3):
    """Slow twin of the ridge probe: standardise, bias column, solve the normal equations."""
    mean, std = xt.mean(0), np.maximum(xt.std(0, ddof=1), 1e-12)
    A = np.hstack([(xt - mean) / std, np.ones((len(xt), 1))])
    B = np.hstack([(xs - mean) / std, np.ones((len(xs), 1))])
    T = np.eye(int(max(yt.max(), ys.max())) + 1)[yt]
    W = np.linalg.solve(A.T @ A + l2 * len(xt) * np.eye(A.shape[1]), A.T @ T)
    return float(np.mean((B @ W).argmax(1) == ys))


def test_probe_rows_match_slow_twins():
    g = np.random.default_rng(0)
    centres = 2 * g.normal(size=(3, 5))
    yt, ys = np.arange(60) % 3, np.arange(45) % 3
    xt = centres[yt] + g.normal(size=(60, 5))
    xs = centres[ys] + 1.5 * g.normal(size=(45, 5))
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    f = {"m": {"train": {"h": t(xt), "z": t(xt)}, "test": {"h": t(xs), "z": t(xs)}}}
    rows = {(r["features"], r["probe"]): r["accuracy"]
            for r in accuracy.probe_rows(f, t(yt), t(ys))}
    assert rows[("h", "ncc")] == pytest.approx(_loop_ncc(xt, yt, xs, ys))
    assert rows[("h", "linear")] == pytest.approx(_loop_ridge(xt, yt, xs, ys))


def test_support_indices_are_seeded_nested_and_stratified():
    y = np.repeat(np.arange(3), 12)
    a = accuracy.support_indices(y, 3, [1, 5, 10], seed=4, repetition=2)
    b = accuracy.support_indices(y, 3, [1, 5, 10], seed=4, repetition=2)
    c = accuracy.support_indices(y, 3, [1, 5, 10], seed=4, repetition=3)
    for m in (1, 5, 10):
        assert np.array_equal(a[m], b[m])
        assert np.bincount(y[a[m]], minlength=3).tolist() == [m] * 3
        assert len(set(a[m].tolist())) == 3 * m
    assert set(a[1]) <= set(a[5]) <= set(a[10])
    assert not np.array_equal(a[10], c[10])
    with pytest.raises(ValueError, match="`shots` <= 12"):
        accuracy.support_indices(y, 3, [13], seed=0, repetition=0)


@pytest.mark.parametrize("opts, match", [
    ({"shots": []}, "`shots`"), ({"shots": [0]}, "`shots`"), ({"repeats": 0}, "`repeats`"),
    ({"vs": "mean"}, "`vs`"), ({"shots": [10**6]}, "`shots` <= 100000"),
])
def test_bad_options_are_one_sentence(opts, match):
    with pytest.raises(ValueError, match=match):
        accuracy.AccuracyOptions.from_config(opts)
    with pytest.raises(ValueError, match="AccuracyOptions keys"):
        accuracy.AccuracyOptions.from_dict({"bogus": 1})
    with pytest.raises(TypeError, match="`normalize`"):
        accuracy.AccuracyOptions.from_config({"normalize": "yes"})


def test_options_round_trip_through_an_evaluations_configuration():
    """The configuration keeps the keys of the evaluations on disk (their cache keys):
    ``normalize`` is ``not raw_features``; ``shots`` as given."""
    opts = accuracy.AccuracyOptions(shots=(5, 1, 5), raw_features=True)
    cfg = opts.config()
    assert cfg == {"shots": [5, 1, 5], "repeats": 10, "vs": "support", "normalize": False}
    assert accuracy.AccuracyOptions.from_config({**cfg, "study": "accuracy"}) == opts
    assert opts.shot_list == [1, 5]


def test_the_papers_table_is_keyed_by_registered_objectives():
    accuracy.check_paper_keys()  # PAPER_TABLE1
    with pytest.raises(ValueError, match="paper's objectives"):
        accuracy.check_paper_keys({"CIFAR-10": {"cl": 1, "nscl": 2, "scl": 3, "byol": 4}})
    order = sorted(["ce", "zzz-plugin", "nscl", "cl"], key=accuracy.model_order)
    assert order == ["cl", "nscl", "ce", "zzz-plugin"]


@pytest.fixture(scope="module")
def evaluated(tiny_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("acc-evals")
    srcs = sorted(p for p in tiny_runs.iterdir() if p.name.startswith("train"))
    paths = launch_evaluations("accuracy", srcs, root, {"shots": [1, 5, 100], "repeats": 3})
    from empirics.runs import read_run

    return [read_run(p) for p in paths]


def test_one_evaluation_holds_every_model_probe_and_feature(evaluated):
    e = evaluated[0]
    assert e.kind == "custom"
    m = e.metrics
    assert set(m["model"]) == {"cl", "nscl", "scl", "ce"}
    assert len(m[m["probe"] != "head"]) == 4 * 2 * 3  # models x features x probes
    assert m[m["probe"] == "head"]["model"].tolist() == ["ce"]
    assert m["accuracy"].between(0, 1).all()
    s = e.summary
    assert s["shots"] == [1, 5] and s["shots_skipped"] == [100]  # 24 training samples a class
    assert s["n_test"] == 48 and s["C"] == 4 and "cka_h" in s and "cka_z" in s


def test_accuracy_equals_a_probe_of_the_plainly_embedded_model(evaluated):
    from empirics.studies.trained import load_trained
    from empirics.training.probe import ncc_accuracy

    e = evaluated[0]
    t = load_trained(e.summary["source"])
    mod = {m.name: m.module for m in t.trainer.members}["nscl"].eval()
    with torch.no_grad():
        h_tr, h_te = mod(t.train.x)[0], mod(t.test.x)[0]
    want = ncc_accuracy(h_tr, t.train.y, h_te, t.test.y)
    row = e.metrics[(e.metrics["model"] == "nscl") & (e.metrics["features"] == "h")
                    & (e.metrics["probe"] == "ncc")]
    assert float(row["accuracy"].iloc[0]) == pytest.approx(want, abs=1e-12)


def test_tables_over_seeds(evaluated):
    t1 = accuracy.table1(evaluated)
    by_n = {}
    for r in t1:
        by_n.setdefault(r["n_seeds"], []).append(r)
    assert sorted(by_n) == [1, 2]
    two = by_n[2][0]
    assert two["ci_low"] <= two["accuracy_mean"] <= two["ci_high"] and two["seeds"] == "0+1"
    assert all(math.isnan(r["ci_low"]) for r in by_n[1])  # one seed: no interval
    t2 = accuracy.table2(evaluated)
    assert {r["tau"] for r in t2} == {0.5, 1.0}
    assert {r["model"] for r in t2} == {"cl", "nscl", "scl", "ce"}
    few = accuracy.fewshot_table(evaluated)
    assert {r["m"] for r in few} == {1, 5}
    assert all(r["vacuous"] == (r["bound_mean"] > 1) for r in few)


def _per_seed(evaluated, table, keys, value="accuracy"):
    """{(setting label, key values): [per-seed values]} read straight from the files."""
    import pandas as pd

    from empirics.runs import read_table

    out = {}
    for e in evaluated:
        df = e.metrics if table == "metrics" else read_table(e.path / f"{table}.csv")
        label = accuracy.summary_label(e.summary)
        for rec in pd.DataFrame(df).to_dict("records"):
            out.setdefault((label, *(rec[k] for k in keys)), []).append(rec[value])
    return out


def test_std_columns_are_the_sample_std_of_the_seeds(evaluated):
    # ddof = 1 (the sample standard deviation), not ddof = 0
    per = _per_seed(evaluated, "metrics", ("model", "features", "probe"))
    t1 = accuracy.table1(evaluated)
    two = [r for r in t1 if r["n_seeds"] == 2]
    assert two
    for r in two:
        vals = per[(r["setting"], r["model"], r["features"], r["probe"])]
        assert r["accuracy_std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-15)
        if np.std(vals) > 0:
            assert r["accuracy_std"] != pytest.approx(np.std(vals, ddof=0))
    for r in accuracy.table2(evaluated):
        assert r["n_seeds"] == 1 or r["accuracy_std"] >= 0
    fper = _per_seed(evaluated, "fewshot", ("model", "features", "m"))
    for r in accuracy.fewshot_table(evaluated):
        if r["n_seeds"] == 2:
            vals = fper[(r["setting"], r["model"], r["features"], r["m"])]
            assert r["accuracy_std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-15)


def test_table2_std_is_the_sample_std():
    rows = [{"model": "cl", "features": "h", "probe": "linear", "accuracy": acc}
            for acc in (0.5, 0.7)]
    evs = [_eval(seed, {"dataset": "digits", "tau": tau}, rows[seed])
           for seed in (0, 1) for tau in (0.5, 1.0)]
    for r in accuracy.table2(evs):
        assert r["accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))  # 0.1414


def test_paired_differences_known_answer():
    # NSCL - CL per seed: +0.10, +0.05, +0.12 -> mean 0.09, sample std 0.0360555, t_{.975,2}
    # = 4.302653: half = 4.302653 * 0.0360555 / sqrt 3 = 0.0895674
    evs = [_eval(s, {"dataset": "digits", "tau": 0.5},
                 {"model": "cl", "features": "h", "probe": "ncc", "accuracy": cl},
                 {"model": "nscl", "features": "h", "probe": "ncc", "accuracy": cl + d})
           for s, cl, d in ((0, 0.5, 0.10), (1, 0.7, 0.05), (2, 0.6, 0.12))]
    (r,) = accuracy.paired_differences(evs)
    assert r["model"] == "nscl" and r["reference"] == "cl" and r["n_seeds"] == 3
    assert r["diff_mean"] == pytest.approx(0.09)
    assert r["diff_std"] == pytest.approx(0.0360555, abs=1e-6)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.09 - 0.0895674, 0.09 + 0.0895674),
                                                        abs=1e-6)
    assert 0 < r["p_value"] < 0.05


def test_accuracy_intervals_are_clipped_to_100_percent():
    # seeds at 0.99 and 1.0: the t interval is [0.931, 1.059]; clipped to [0.931, 1]
    evs = [_eval(s, {"dataset": "digits"},
                 {"model": "cl", "features": "h", "probe": "ncc", "accuracy": acc})
           for s, acc in ((0, 0.99), (1, 1.0))]
    (r,) = accuracy.table1(evs)
    assert r["ci_high"] == 1.0 and r["ci_clipped"] and r["ci_low"] == pytest.approx(
        0.995 - 12.706205 * 0.0070711 / np.sqrt(2), abs=1e-5)
    from empirics.studies.experiments import _cell

    assert _cell(r) == "99.5 [93.1, 100.0]*"


def _eval(seed, setting, *rows):
    import pandas as pd

    from empirics.runs import Run

    return Run(None, "custom", {}, pd.DataFrame(list(rows)), pd.DataFrame(), pd.DataFrame(),
               {"setting": setting, "seed": seed})


def test_setting_label():
    assert accuracy.setting_label({"dataset": "mnist", "tau": 0.1, "seed": 3}) == \
        "dataset=mnist tau=0.1"


def test_paper_numbers_are_those_of_theory():
    assert accuracy.PAPER_TABLE1["CIFAR-10"]["cl"] == (88.37, 90.16)
    assert accuracy.PAPER_TABLE1["Tiny-ImageNet"]["ce"] == (48.28, 52.57)


def test_table2_joins_runs_that_differ_only_in_the_objectives_trained_beside():
    """A four-objective base run at tau 0.5 and CL + NSCL runs at tau 1 are one Table 2 row
    (under shared randomness a model's run does not depend on the others)."""
    import types

    import pandas as pd

    def ev(tau, objectives, models, acc):
        setting = {"dataset": "mnist", "classes": 10, "tau": tau, "objectives": objectives}
        rows = [{"model": m, "features": "h", "probe": "linear", "accuracy": acc}
                for m in models]
        return types.SimpleNamespace(metrics=pd.DataFrame(rows), path=None,
                                     summary={"setting": setting, "seed": 0})

    evs = [ev(0.5, "cl+nscl+scl+ce", ("cl", "nscl", "scl", "ce"), 0.8),
           ev(1.0, "cl+nscl", ("cl", "nscl"), 0.7)]
    t2 = accuracy.table2(evs)
    assert {(r["model"], r["tau"]) for r in t2} == {("cl", 0.5), ("cl", 1.0), ("nscl", 0.5),
                                                    ("nscl", 1.0), ("scl", 0.5), ("ce", 0.5)}
    assert len({r["setting"] for r in t2}) == 1 and "objectives" not in t2[0]["setting"]


def test_the_logistic_probe_is_left_out_above_its_class_limit(monkeypatch):
    monkeypatch.setattr(accuracy, "LOGISTIC_MAX_CLASSES", 1)
    tr = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    f = {"m": {"train": {"h": tr, "z": tr}, "test": {"h": tr, "z": tr}}}
    y = torch.tensor([0, 1])
    rows = accuracy.probe_rows(f, y, y)
    assert {r["probe"] for r in rows} == {"ncc", "linear"}
