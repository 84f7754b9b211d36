"""NCC, the [P1] loss gap, the bootstrap and the [P2] setting, against slow twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirics.compare import measures, theory
from empirics.measures import MEASURES


def _loo_twin(x, y) -> float:
    """Leave-one-out nearest class centre, by Python loops."""
    u = torch.nn.functional.normalize(x.double(), dim=1)
    right = 0
    for i in range(len(y)):
        best, pick = -math.inf, None
        for c in sorted(set(y.tolist())):
            members = [j for j in range(len(y)) if y[j] == c and j != i]
            if not members:
                continue
            centre = u[members].mean(0)
            score = float(u[i] @ centre / centre.norm())
            if score > best:
                best, pick = score, c
        right += pick == int(y[i])
    return right / len(y)


def test_leave_one_out_ncc_equals_loops():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3])  # class 3 has one row: never predicted for it
    x = torch.randn(9, 3, generator=g) + y[:, None].float()
    assert theory.ncc_leave_one_out(x, y) == pytest.approx(_loo_twin(x, y), abs=1e-15)


def test_streamed_ncc_equals_the_probe():
    from empirics.training.probe import ncc_accuracy

    g = torch.Generator().manual_seed(1)
    xt, yt = torch.randn(60, 4, generator=g), torch.arange(60) % 3
    xs, ys = torch.randn(25, 4, generator=g), torch.arange(25) % 3
    xt[:, 0] += yt
    xs[:, 0] += ys
    centres = theory.ncc_centres(iter([(xt[:17], yt[:17]), (xt[17:], yt[17:])]))
    score = theory.ncc_score(xs[:9], ys[:9], *centres) + theory.ncc_score(xs[9:], ys[9:],
                                                                            *centres)
    assert score / 25 == ncc_accuracy(xt, yt, xs, ys)


def test_loss_gap_equals_the_losses_and_bound_batch_by_batch():
    from bounds import loss_gap_bound
    from empirics.losses import cl_loss, nscl_loss, ntxent_loss

    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(2, 8, 5, generator=g, dtype=torch.float64),
                torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])) for _ in range(3)]
    for pid in (False, True):
        out = theory.loss_gap(iter(batches), tau=0.3, positive_in_denominator=pid,
                              form="paper")
        cl = [float((ntxent_loss if pid else cl_loss)(z, tau=0.3)) for z, _ in batches]
        ns = [float(nscl_loss(z, y, tau=0.3, positive_in_denominator=pid)) for z, y in batches]
        assert out["loss_cl"] == pytest.approx(np.mean(cl), rel=1e-14)
        assert out["loss_gap_min"] == pytest.approx(min(a - b for a, b in zip(cl, ns,
                                                                            strict=True)))
        assert out["loss_gap_bound"] == pytest.approx(float(loss_gap_bound(0.3, n_max=3, N=8,
                                                                           form="paper")))
        assert out["p1_holds"] and out["n_batches"] == 3


def test_trainer_eta_is_the_trainers_schedule():
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import run_schedule

    cfg = TrainConfig(batch_size=64, steps=120, lr=0.3)
    assert np.array_equal(theory.trainer_eta(64, 120, 0.3), run_schedule(cfg, 1000).eta)


def test_weights_need_two_models_of_one_architecture():
    from empirics.models import build_model

    a, b = build_model("mlp", (4,), seed=0), build_model("mlp", (4,), seed=1)
    w = theory.weights(a, b)
    assert w["available"] and 80 < w["weight_angle"] < 100
    assert not theory.weights(a, None)["available"]
    other = theory.weights(a, build_model("mlp", (4,), hidden=7))
    assert not other["available"] and "different architectures" in other["why"]


def _pair(N=80):
    g = torch.Generator().manual_seed(4)
    X = torch.randn(N, 4, generator=g, dtype=torch.float64)
    return X, X + 0.5 * torch.randn(N, 4, generator=g, dtype=torch.float64)


def test_bootstrap_is_seeded_and_its_intervals_follow_their_definitions():
    X, Y = _pair()
    est, _ = measures.measure(X, Y)
    est.update(measures.row_values(X, Y, k=5, metric="cosine")[0])
    kw = dict(replicates=30, level=0.8, k=5, metric="cosine")
    a = measures.bootstrap(X, Y, np.arange(80), est, seed=0, **kw)
    assert a == measures.bootstrap(X, Y, np.arange(80), est, seed=0, **kw)
    assert a != measures.bootstrap(X, Y, np.arange(80), est, seed=1, **kw)
    p = measures.bootstrap(X, Y, np.arange(80), est, seed=0, interval="percentile", **kw)
    for name in est:
        if name not in a:
            continue
        # basic = 2 v - percentile, reflected about the estimate (clipped to the range)
        lo, hi = MEASURES[name].range
        assert a[name]["low"] == pytest.approx(max(lo, 2 * est[name] - p[name]["high"]))
        assert a[name]["high"] == pytest.approx(min(hi, 2 * est[name] - p[name]["low"]))
        assert a[name]["replicates"] == 30


def test_knn_replicates_reweight_the_per_sample_overlaps():
    from empirics.metrics.knn import knn_overlaps
    from empirics.seeds import rng

    X, Y = _pair()
    est = {"mutual_knn": measures.row_values(X, Y, k=5, metric="cosine")[0]["mutual_knn"]}
    rows = np.arange(0, 80, 2)
    out = measures.bootstrap(X, Y, rows, est, replicates=1, level=0.5, seed=7, k=5,
                             metric="cosine", interval="percentile")
    c = rng(7, "bootstrap", "compare", 0).poisson(1.0, size=80)[rows]
    o = knn_overlaps(X[rows], Y[rows], 5).double().numpy() / 5
    assert out["mutual_knn"]["low"] == pytest.approx((c * o).sum() / c.sum(), rel=1e-12)


def test_the_reported_metadata_is_the_registrys():
    for m in MEASURES:
        meta = measures.metadata(m, k=3)
        assert {k: meta[k] for k in ("name", "label", "range", "direction", "basis", "source",
                                     "needs_labels")} == {
            "name": m.name, "label": m.label, "range": m.range, "direction": m.direction,
            "basis": m.basis, "source": m.source, "needs_labels": m.needs_labels}
        assert ("options" in meta) == (m.basis == "rows")
