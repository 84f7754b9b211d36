"""Tests for empirics.losses: slow loop twins, pinned library values, closed forms, order.

Pinned values: ``reference_values.json`` holds seeded float64 inputs and the outputs of
lightly ``NTXentLoss`` / ``DCLLoss`` and pytorch-metric-learning ``SupConLoss`` on them (the
library versions are recorded in the file). Regenerate with the libraries importable::

    python tests/empirics/test_losses.py --regenerate
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch

from empirics.losses import LinearHead, ce_loss, cl_loss, nscl_loss, ntxent_loss, scl_loss

REFERENCE = Path(__file__).with_name("reference_values.json")
CASES = [  # (seed, B, d, C, tau): pinned against the libraries
    (0, 4, 3, 2, 0.5),
    (1, 16, 8, 3, 0.1),
    (2, 33, 32, 5, 0.07),
    (3, 16, 8, 4, 0.01),
    (4, 8, 64, 2, 1.0),
    (5, 40, 16, 10, 0.2),
]


def _views(seed, K, B, d, C, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(K, B, d, generator=g, dtype=dtype)
    y = torch.randint(0, C, (B,), generator=g)
    return v, y


# ----------------------------------------------------------------------------- loop twins
def _lse(values):
    m = max(values)
    return m + math.log(math.fsum(math.exp(v - m) for v in values))


def _unit(views):
    return [[[float(t) for t in (row / row.norm())] for row in view] for view in views]


def _dot(a, b):
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def loop_pair_loss(views, labels, tau, kind, pairs="distinct", pid=False):
    """Slow twin of cl/ntxent/nscl: the papers' formula, anchor by anchor, pair by pair."""
    K, B, _ = views.shape
    z = _unit(views)
    y = [int(t) for t in labels] if labels is not None else list(range(B))
    per = torch.zeros(K, B, dtype=torch.float64)
    for l1 in range(K):
        for i in range(B):
            terms = []
            for l2 in range(K):
                if pairs == "distinct" and l2 == l1:
                    continue
                pos = _dot(z[l1][i], z[l2][i]) / tau
                if kind in ("cl", "ntxent"):
                    keep = [j for j in range(B) if j != i]
                else:  # nscl
                    keep = [j for j in range(B) if y[j] != y[i]]
                den = [_dot(z[l1][i], z[l3][j]) / tau for l3 in range(K) for j in keep]
                if pid or kind == "ntxent":
                    den.append(pos)
                terms.append(_lse(den) - pos if den else float("nan"))
            per[l1, i] = math.fsum(terms) / len(terms)
    return per


def loop_scl(views, labels, tau):
    """Slow twin of SupCon (Khosla et al. 2020, L^sup_out) over all K*B anchors."""
    K, B, _ = views.shape
    z = [row for view in _unit(views) for row in view]
    y = [int(t) for t in labels] * K
    per = []
    for a in range(K * B):
        den = _lse([_dot(z[a], z[c]) / tau for c in range(K * B) if c != a])
        pos = [c for c in range(K * B) if c != a and y[c] == y[a]]
        per.append(math.fsum(den - _dot(z[a], z[p]) / tau for p in pos) / len(pos))
    return torch.tensor(per, dtype=torch.float64).reshape(K, B)


# ----------------------------------------------------------------------------- library values
def _library_values(v, y, tau):
    """The established implementations; raises ImportError when they are not importable."""
    from lightly.loss import DCLLoss, NTXentLoss
    from pytorch_metric_learning.losses import SupConLoss

    return {
        "ntxent_lightly": float(NTXentLoss(temperature=tau)(v[0], v[1])),
        "dcl_lightly": float(DCLLoss(temperature=tau)(v[0], v[1])),
        "supcon_pml": float(SupConLoss(temperature=tau)(torch.cat([v[0], v[1]]), y.repeat(2))),
    }


def _regenerate() -> None:  # pragma: no cover - run by hand with the libraries installed
    import importlib.metadata as md

    cases = []
    for seed, B, d, C, tau in CASES:
        v, y = _views(seed, 2, B, d, C)
        case = {"seed": seed, "B": B, "d": d, "C": C, "tau": tau}
        case.update(views=v.tolist(), labels=y.tolist(), **_library_values(v, y, tau))
        cases.append(case)
    data = {
        "description": "float64 inputs and the outputs of established contrastive losses on them",
        "libraries": {k: md.version(k) for k in ("lightly", "pytorch-metric-learning", "torch")},
        "calls": {
            "ntxent_lightly": "lightly.loss.NTXentLoss(temperature=tau)(views[0], views[1])",
            "dcl_lightly": "lightly.loss.DCLLoss(temperature=tau)(views[0], views[1])",
            "supcon_pml": "pytorch_metric_learning.losses.SupConLoss(temperature=tau)"
            "(cat(views[0], views[1]), labels.repeat(2))",
        },
        "note": "lightly was installed without dependencies; its package __init__ imports "
        "torchvision, which NTXentLoss and DCLLoss never call, so torchvision was an empty stub",
        "cases": cases,
    }
    head = json.dumps({k: v for k, v in data.items() if k != "cases"}, indent=1)[:-2]
    rows = ",\n  ".join(json.dumps(c) for c in cases)  # one line per case
    REFERENCE.write_text(f'{head},\n "cases": [\n  {rows}\n ]\n}}\n')


def _pinned():
    data = json.loads(REFERENCE.read_text())
    for c in data["cases"]:
        v = torch.tensor(c["views"], dtype=torch.float64)
        y = torch.tensor(c["labels"], dtype=torch.int64)
        yield c, v, y


# ----------------------------------------------------------------------------- tests
def test_reference_file_records_library_versions():
    data = json.loads(REFERENCE.read_text())
    assert set(data["libraries"]) == {"lightly", "pytorch-metric-learning", "torch"}
    assert len(data["cases"]) == len(CASES)


@pytest.mark.parametrize("i", range(len(CASES)))
def test_equal_to_pinned_library_values(i):
    c, v, y = list(_pinned())[i]
    tau = c["tau"]
    assert ntxent_loss(v, tau).item() == pytest.approx(c["ntxent_lightly"], rel=1e-9, abs=0)
    assert cl_loss(v, tau).item() == pytest.approx(c["dcl_lightly"], rel=1e-9, abs=0)
    assert scl_loss(v, y, tau).item() == pytest.approx(c["supcon_pml"], rel=1e-9, abs=0)


def test_scl_equals_live_pytorch_metric_learning():
    """Runs on every landing: .ci/run installs pytorch-metric-learning beside the CPU torch."""
    try:
        from pytorch_metric_learning.losses import SupConLoss
    except ImportError as exc:
        pytest.skip(f"pytorch-metric-learning is not installed: {exc}")
    for seed, B, d, C, tau in CASES:
        v, y = _views(seed + 100, 2, B, d, C)
        lib = float(SupConLoss(temperature=tau)(torch.cat([v[0], v[1]]), y.repeat(2)))
        assert scl_loss(v, y, tau).item() == pytest.approx(lib, rel=1e-9)


def test_ntxent_and_dcl_equal_live_lightly():
    """lightly needs torchvision, which does not install beside the CPU torch build: the
    pinned values above stand in for it; this runs where lightly is importable."""
    try:
        from lightly.loss import DCLLoss, NTXentLoss
    except ImportError as exc:
        pytest.skip(f"lightly is not installed: {exc}")
    for seed, B, d, C, tau in CASES:
        v, _ = _views(seed + 100, 2, B, d, C)
        assert ntxent_loss(v, tau).item() == pytest.approx(
            float(NTXentLoss(temperature=tau)(v[0], v[1])), rel=1e-9)
        assert cl_loss(v, tau).item() == pytest.approx(
            float(DCLLoss(temperature=tau)(v[0], v[1])), rel=1e-9)


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("pairs", ["distinct", "all"])
@pytest.mark.parametrize("tau", [0.5, 0.01])
def test_pair_losses_equal_loop_twin(K, pairs, tau):
    v, y = _views(7 + K, K, 6, 4, 3)
    y[0], y[1] = 0, 1  # at least two classes, so every anchor has negatives
    got = {
        "cl": cl_loss(v, tau, pairs=pairs, per_anchor=True),
        "ntxent": ntxent_loss(v, tau, pairs=pairs, per_anchor=True),
        "nscl": nscl_loss(v, y, tau, pairs=pairs, per_anchor=True),
        "nscl_pid": nscl_loss(
            v, y, tau, pairs=pairs, per_anchor=True, positive_in_denominator=True
        ),
    }
    want = {
        "cl": loop_pair_loss(v, None, tau, "cl", pairs),
        "ntxent": loop_pair_loss(v, None, tau, "ntxent", pairs),
        "nscl": loop_pair_loss(v, y, tau, "nscl", pairs),
        "nscl_pid": loop_pair_loss(v, y, tau, "nscl", pairs, pid=True),
    }
    for k in got:
        assert got[k].shape == (K, 6)
        torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=0, msg=k)
    assert cl_loss(v, tau, pairs=pairs).item() == pytest.approx(want["cl"].mean().item(), rel=1e-12)


@pytest.mark.parametrize("K", [2, 4])
def test_scl_equals_loop_twin(K):
    v, y = _views(11, K, 7, 5, 3)
    torch.testing.assert_close(scl_loss(v, y, 0.1, per_anchor=True), loop_scl(v, y, 0.1),
                               rtol=1e-10, atol=0)  # fmt: skip


def test_closed_forms_identical_embeddings():
    # every embedding equal: NT-Xent = log(2B - 1) (lightly's test); CL = log(2B - 2)
    B = 5
    v = torch.ones(2, B, 3, dtype=torch.float64)
    assert ntxent_loss(v, 0.3).item() == pytest.approx(math.log(2 * B - 1), rel=1e-12)
    assert cl_loss(v, 0.3).item() == pytest.approx(math.log(2 * B - 2), rel=1e-12)
    # K^2 form with K = 3: the l1 = l2 terms have the same value for identical embeddings
    v3 = torch.ones(3, B, 3, dtype=torch.float64)
    assert cl_loss(v3, 0.3, pairs="all").item() == pytest.approx(math.log(3 * (B - 1)), rel=1e-12)


def test_nscl_le_cl_le_ntxent_and_p1_bound():
    for seed in range(5):
        v, y = _views(seed, 2, 32, 16, 4)
        y[:4] = torch.arange(4)
        for tau in (0.05, 0.5, 2.0):
            cl = cl_loss(v, tau, per_anchor=True)
            nt = ntxent_loss(v, tau, per_anchor=True)
            ns = nscl_loss(v, y, tau, per_anchor=True)
            ns_pid = nscl_loss(v, y, tau, per_anchor=True, positive_in_denominator=True)
            assert (ns <= cl).all() and (cl <= nt).all() and (ns_pid <= nt).all()
            # [P1] (THEORY.md s3), tight form, per anchor: an anchor's own sample is never a
            # negative, so the same-class mass is at most e^{2/tau} (n_c - 1)/(B - n_c)
            n_c = torch.bincount(y, minlength=4)[y].to(torch.float64)  # (B,)
            bound = torch.log1p(math.exp(2 / tau) * (n_c - 1) / (32 - n_c))
            gap = cl - ns
            assert (gap >= -1e-12).all() and (gap <= bound + 1e-12).all()
            gap_pid = nt - ns_pid
            assert (gap_pid >= -1e-12).all() and (gap_pid <= bound + 1e-12).all()


def test_stable_at_small_tau_in_float32():
    v64, y = _views(3, 2, 64, 16, 4)
    v32 = v64.float().requires_grad_(True)
    for fn in (cl_loss, ntxent_loss, lambda v, t: nscl_loss(v, y, t),
               lambda v, t: scl_loss(v, y, t)):  # fmt: skip
        out = fn(v32, 0.01)
        (grad,) = torch.autograd.grad(out, v32)
        assert torch.isfinite(out) and torch.isfinite(grad).all()
        assert out.item() == pytest.approx(fn(v64, 0.01).item(), rel=1e-4)


def test_gradients_match_finite_differences():
    v, y = _views(5, 2, 4, 3, 2)
    v.requires_grad_(True)
    for fn in (lambda v: cl_loss(v, 0.3), lambda v: ntxent_loss(v, 0.3, pairs="all"),
               lambda v: nscl_loss(v, y, 0.3), lambda v: scl_loss(v, y, 0.3)):  # fmt: skip
        assert torch.autograd.gradcheck(fn, (v,))


def test_per_anchor_mean_is_the_loss_and_is_view_major():
    v, y = _views(2, 3, 5, 4, 2)
    y[:2] = torch.tensor([0, 1])
    for fn in (cl_loss, ntxent_loss):
        assert fn(v, per_anchor=True).mean().item() == pytest.approx(fn(v).item(), rel=1e-14)
    per = cl_loss(v, per_anchor=True)
    # swapping two samples swaps their columns (anchors are ordered (view, sample))
    perm = torch.tensor([1, 0, 2, 3, 4])
    torch.testing.assert_close(cl_loss(v[:, perm], per_anchor=True), per[:, perm])
    assert nscl_loss(v, y, per_anchor=True).shape == scl_loss(v, y, per_anchor=True).shape == (3, 5)


def test_one_class_batch_nscl_is_nan_with_warning_but_exact_with_positive():
    v, _ = _views(0, 2, 4, 3, 2)
    y = torch.zeros(4, dtype=torch.int64)
    with pytest.warns(RuntimeWarning, match="empty denominator"):
        assert math.isnan(nscl_loss(v, y).item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # log(e^s / e^s) = 0: no negatives and the positive in the denominator
        assert nscl_loss(v, y, positive_in_denominator=True).item() == 0.0
    # the NaN anchors do not poison the gradient of the others
    y2 = torch.tensor([0, 0, 0, 1])
    v.requires_grad_(True)
    (g,) = torch.autograd.grad(nscl_loss(v, y2, positive_in_denominator=True), v)
    assert torch.isfinite(g).all()


def test_ce_loss_and_linear_head():
    g = torch.Generator().manual_seed(0)
    head = LinearHead(6, 4)
    h = torch.randn(5, 6, generator=g)
    y = torch.tensor([0, 3, 1, 2, 3])
    logits = head(h)
    want = -sum(torch.log_softmax(logits[i], 0)[y[i]] for i in range(5)) / 5
    assert ce_loss(logits, y).item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda v, y: cl_loss(v.numpy()), TypeError, "views"),
        (lambda v, y: cl_loss(v[0]), ValueError, "shape"),
        (lambda v, y: cl_loss(v[:1]), ValueError, "K=1"),
        (lambda v, y: cl_loss(v[:, :1]), ValueError, "B=1"),
        (lambda v, y: cl_loss(v[:, :, :0]), ValueError, "d=0"),
        (lambda v, y: cl_loss(v.long()), TypeError, "floating"),
        (lambda v, y: cl_loss(v, 0.0), ValueError, "tau"),
        (lambda v, y: cl_loss(v, float("nan")), ValueError, "tau"),
        (lambda v, y: cl_loss(v, "0.5"), TypeError, "tau"),
        (lambda v, y: ntxent_loss(v, pairs="some"), ValueError, "pairs"),
        (lambda v, y: nscl_loss(v, y.tolist()), TypeError, "labels"),
        (lambda v, y: nscl_loss(v, y.float()), TypeError, "integer"),
        (lambda v, y: scl_loss(v, y[:-1]), ValueError, "labels"),
        (lambda v, y: ce_loss(v[0].numpy(), y), TypeError, "logits"),
        (lambda v, y: ce_loss(v, y), ValueError, "logits"),
        (lambda v, y: LinearHead(0, 3), ValueError, "d"),
        (lambda v, y: LinearHead(4, 1), ValueError, "C"),
        (lambda v, y: LinearHead(4.0, 3), TypeError, "d"),
        # each answer names the argument and the value
        (lambda v, y: cl_loss(v, float("inf")), ValueError, r"`tau` > 0, got inf"),
        (lambda v, y: cl_loss(v, -0.5), ValueError, r"`tau` > 0, got -0.5"),
        (lambda v, y: cl_loss(v, True), TypeError, "`tau`.*bool"),
        (lambda v, y: cl_loss(v, torch.tensor(0.5)), TypeError, "`tau`.*Tensor"),
        (lambda v, y: cl_loss(v.float(), 1e-39), ValueError, r"`tau` >= 2.94e-39.*got 1e-39"),
        (lambda v, y: cl_loss(v, 1e-320), ValueError, r"`tau` >= 5.56e-309.*got 1e-320"),
        (lambda v, y: ntxent_loss(v, pairs=["all"]), ValueError, r"`pairs`.*\['all'\]"),
        (lambda v, y: ntxent_loss(v, pairs=None), ValueError, "`pairs`.*None"),
        (lambda v, y: cl_loss(v, per_anchor="yes"), TypeError, "`per_anchor`.*'yes'"),
        (lambda v, y: scl_loss(v, y, per_anchor=1), TypeError, "`per_anchor`.*1"),
        (lambda v, y: nscl_loss(v, y, positive_in_denominator="no"), TypeError,
         "`positive_in_denominator`.*'no'"),
        (lambda v, y: cl_loss(torch.empty(2, 0, 3)), ValueError, "`views`, got B=0"),
        (lambda v, y: cl_loss(torch.empty(0, 4, 3)), ValueError, "`views`, got K=0"),
        (lambda v, y: cl_loss(torch.empty(0)), ValueError, r"`views`.*shape \(0,\)"),
        (lambda v, y: cl_loss(v.to(torch.complex128)), TypeError, "`views`.*complex128"),
        (lambda v, y: nscl_loss(v, y.bool()), TypeError, "`labels`.*torch.bool"),
        (lambda v, y: nscl_loss(v, y.double()), TypeError, "`labels`.*torch.float64"),
        (lambda v, y: scl_loss(v, y[:, None]), ValueError, r"`labels`.*\(4, 1\)"),
        (lambda v, y: nscl_loss(v, torch.tensor([], dtype=torch.long)), ValueError,
         r"`labels`.*shape \(0,\)"),
        (lambda v, y: ce_loss(v[0], torch.tensor([0, 1, 3, 0])), ValueError,
         r"`labels` in \[0, 3\).*got 3"),
        (lambda v, y: ce_loss(v[0], torch.tensor([0, -100, 1, 0])), ValueError,
         r"`labels` in \[0, 3\).*got -100"),
        (lambda v, y: ce_loss(v[0].long(), y), TypeError, "`logits`.*int64"),
        (lambda v, y: ce_loss(torch.zeros(0, 3), y[:0]), ValueError, r"`logits`.*\(0, 3\)"),
        (lambda v, y: ce_loss(torch.zeros(4, 1), y), ValueError, r"C >= 2.*\(4, 1\)"),
        (lambda v, y: ce_loss(v[0], y[:-1]), ValueError, r"`labels`.*\(3,\)"),
        (lambda v, y: LinearHead(True, 3), TypeError, "`d`.*bool"),
    ],
)
def test_invalid_inputs_raise(call, exc, match):
    v, y = _views(0, 2, 4, 3, 2)
    with pytest.raises(exc, match=match):
        call(v, y)


def test_numpy_scalars_and_labels_of_any_integer_dtype_are_accepted():
    import numpy as np

    v, y = _views(0, 2, 4, 3, 2)
    want = nscl_loss(v, y, 0.5).item()
    assert nscl_loss(v, y.int(), np.float32(0.5)).item() == want  # 0.5 is exact in float32
    assert nscl_loss(v, y.to(torch.uint8), np.float64(0.5), positive_in_denominator=np.bool_(
        False)).item() == want  # fmt: skip
    assert LinearHead(np.int64(4), np.int32(3)).linear.weight.shape == (3, 4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_labels_on_another_device_are_moved_to_the_views():
    v, y = _views(1, 2, 16, 8, 3)
    assert nscl_loss(v.cuda(), y).item() == pytest.approx(nscl_loss(v, y).item(), rel=1e-10)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    v, y = _views(1, 2, 16, 8, 3)
    for fn in (cl_loss, ntxent_loss, lambda v: nscl_loss(v, y.to(v.device)),
               lambda v: scl_loss(v, y.to(v.device))):  # fmt: skip
        assert fn(v.cuda()).item() == pytest.approx(fn(v).item(), rel=1e-10)


if __name__ == "__main__" and "--regenerate" in sys.argv:  # pragma: no cover
    _regenerate()
