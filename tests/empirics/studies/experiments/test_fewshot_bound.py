"""[P1] Proposition 1 evaluated on features: the bound's ingredients equal the metrics'
functions and the registry's twin, each Vs_f option, vacuity, and the m-shot error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bounds.registry import get
from empirics.metrics.fewshot import class_variability, nearest_mean_accuracy
from empirics.studies.accuracy import support_indices
from empirics.studies.fewshot_bound import fewshot_rows


def _features(seed=0, C=3, d=6, n_tr=60, n_te=90, spread=0.4):
    g = np.random.default_rng(seed)
    centres = g.normal(size=(C, d))
    y_tr, y_te = np.arange(n_tr) % C, np.arange(n_te) % C
    x_tr = centres[y_tr] + spread * g.normal(size=(n_tr, d))
    x_te = centres[y_te] + spread * g.normal(size=(n_te, d))
    t = torch.from_numpy
    f = {"m": {"train": {"h": t(x_tr), "z": t(2 * x_tr)}, "test": {"h": t(x_te),
                                                                  "z": t(2 * x_te)}}}
    return f, t(y_tr), t(y_te)


@pytest.mark.parametrize("vs", ["support", "directional", "total"])
def test_rows_equal_the_metrics_and_the_registry(vs):
    f, y_tr, y_te = _features()
    sup = [support_indices(y_tr.numpy(), 3, [1, 5], seed=0, repetition=r) for r in range(4)]
    rows = fewshot_rows(f, y_tr, y_te, 3, sup, vs=vs, normalize=False, kinds=("h",))
    assert [r["m"] for r in rows] == [1, 5]
    ref = class_variability(f["m"]["test"]["h"], y_te)
    for r in rows:
        assert r["V_f"] == pytest.approx(ref["V_f"], rel=1e-12)
        assert r["Vt_f"] == pytest.approx(ref["Vt_f"], rel=1e-12)
        want_vs = {"directional": r["Vt_f"], "total": r["V_f"]}.get(vs, r["Vs_f"])
        assert r["Vs_f"] == pytest.approx(want_vs)
        b = get("fewshot_p1").numeric(C_prime=3, m=r["m"], V_f=r["V_f"], Vt_f=r["Vt_f"],
                                      Vs_f=r["Vs_f"])
        assert r["bound"] == pytest.approx(b, rel=1e-15)
        assert r["vacuous"] == (b > 1) and r["holds"] == (r["error"] <= b)
        accs = [nearest_mean_accuracy(f["m"]["train"]["h"][s[r["m"]]],
                                      y_tr[s[r["m"]]], f["m"]["test"]["h"], y_te)
                for s in sup]
        assert r["accuracy"] == pytest.approx(np.mean(accs))
        assert r["error"] == pytest.approx(1 - np.mean(accs))


def test_normalised_rows_are_scale_free():
    f, y_tr, y_te = _features(1)
    sup = [support_indices(y_tr.numpy(), 3, [2], seed=1, repetition=0)]
    rows = {r["features"]: r for r in fewshot_rows(f, y_tr, y_te, 3, sup)}
    # z = 2 h: identical after L2 normalisation
    assert rows["z"]["bound"] == pytest.approx(rows["h"]["bound"], rel=1e-12)
    assert rows["z"]["accuracy"] == rows["h"]["accuracy"]


def test_bound_above_one_is_reported_vacuous_and_unclipped():
    f, y_tr, y_te = _features(2, spread=3.0)  # overlapping classes: a loose bound
    sup = [support_indices(y_tr.numpy(), 3, [1], seed=0, repetition=0)]
    (row,) = fewshot_rows(f, y_tr, y_te, 3, sup, normalize=False, kinds=("h",))
    assert row["bound"] > 1 and row["vacuous"] is True and row["holds"] is True


def test_bad_arguments():
    f, y_tr, y_te = _features()
    with pytest.raises(ValueError, match="`vs`"):
        fewshot_rows(f, y_tr, y_te, 3, [{1: [0, 1, 2]}], vs="max")
    with pytest.raises(ValueError, match="support set"):
        fewshot_rows(f, y_tr, y_te, 3, [])
