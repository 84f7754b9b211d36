"""empirics.losses at any finite scale: an mpmath twin, the old formula, gradients, zero rows.

The twin takes the exact values of the inputs (``mpmath.mpf(float(x))``), normalises each
row in 40-digit arithmetic, where no scale overflows or underflows, and sums the papers'
formulas anchor by anchor. Nothing in it shares code with :mod:`empirics.losses`.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import pytest
import torch
import torch.nn.functional as F

import empirics.losses as losses
from empirics.losses import ce_loss, cl_loss, nscl_loss, ntxent_loss, scl_loss

F64_SCALES = [1e-300, 1e-200, 1e-160, 1e-100, 1e-30, 1.0, 1e30, 1e100, 1e160, 1e200, 1e300]
F32_SCALES = [1e-40, 1e-38, 1e-30, 1e-20, 1e-19, 1e-10, 1.0, 1e10, 1e19, 1e20, 1e30, 1e38]
TOL = {torch.float64: 1e-12, torch.float32: 1e-6}


# ----------------------------------------------------------------------------- the twin
def _mp_logits(views, tau):
    """40-digit ``s_ac = cos(v_a, v_c) / tau`` of the ``K*B`` anchors, view-major."""
    K, B, d = views.shape
    rows = [[mpmath.mpf(float(t)) for t in row] for row in views.reshape(K * B, d)]
    unit = []
    for row in rows:
        norm = mpmath.sqrt(mpmath.fsum(t * t for t in row))
        assert norm > 0, "the twin takes no zero rows"
        unit.append([t / norm for t in row])
    return [[mpmath.fsum(p * q for p, q in zip(a, c, strict=True)) / tau for c in unit]
            for a in unit]  # fmt: skip


def _mp_lse(values):
    return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in values))


def twin_pair_loss(views, labels, tau, kind, pairs="distinct", pid=False):
    """cl / ntxent / nscl per anchor (K, B), as THEORY.md s2 writes them, in mpmath."""
    K, B, _ = views.shape
    y = list(range(B)) if labels is None else [int(t) for t in labels]
    with mpmath.workdps(40):
        s = _mp_logits(views, tau)
        per = []
        for l1 in range(K):
            for i in range(B):
                a, terms = l1 * B + i, []
                for l2 in range(K):
                    if pairs == "distinct" and l2 == l1:
                        continue
                    pos = s[a][l2 * B + i]
                    keep = [j for j in range(B) if (j != i if kind != "nscl" else y[j] != y[i])]
                    den = [s[a][l3 * B + j] for l3 in range(K) for j in keep]
                    if pid or kind == "ntxent":
                        den.append(pos)
                    terms.append(_mp_lse(den) - pos)
                per.append(mpmath.fsum(terms) / len(terms))
        return torch.tensor([float(p) for p in per], dtype=torch.float64).reshape(K, B)


def twin_scl(views, labels, tau):
    """SupCon (Khosla et al. 2020, ``L^sup_out``) per anchor (K, B), in mpmath."""
    K, B, _ = views.shape
    y = [int(t) for t in labels] * K
    with mpmath.workdps(40):
        s = _mp_logits(views, tau)
        per = []
        for a in range(K * B):
            den = _mp_lse([s[a][c] for c in range(K * B) if c != a])
            pos = [c for c in range(K * B) if c != a and y[c] == y[a]]
            per.append(mpmath.fsum(den - s[a][p] for p in pos) / len(pos))
        return torch.tensor([float(p) for p in per], dtype=torch.float64).reshape(K, B)


def _all_losses(v, y, tau, K_pairs=("distinct", "all")):
    """(name, fast per-anchor, twin per-anchor) for every loss and option on ``v``."""
    for pairs in K_pairs:
        yield (
            f"cl/{pairs}",
            cl_loss(v, tau, pairs=pairs, per_anchor=True),
            lambda p=pairs: twin_pair_loss(v, None, tau, "cl", p),
        )
        yield (
            f"ntxent/{pairs}",
            ntxent_loss(v, tau, pairs=pairs, per_anchor=True),
            lambda p=pairs: twin_pair_loss(v, None, tau, "ntxent", p),
        )
        for pid in (False, True):
            got = nscl_loss(v, y, tau, pairs=pairs, per_anchor=True, positive_in_denominator=pid)
            yield (
                f"nscl/{pairs}/pid={pid}",
                got,
                lambda p=pairs, q=pid: twin_pair_loss(v, y, tau, "nscl", p, q),
            )
    yield "scl", scl_loss(v, y, tau, per_anchor=True), lambda: twin_scl(v, y, tau)


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Worst relative error of the per-anchor losses; float32: relative to ``max(|L|, 1)``.

    A per-anchor loss can lie near 0 (or below: CL has no positive in its denominator),
    where float32 keeps only its absolute accuracy, a few ulps of the logits ``1/tau``.
    """
    assert torch.isfinite(got).all(), got
    den = want.abs() if got.dtype == torch.float64 else want.abs().clamp_min(1.0)
    return float(((got.double() - want).abs() / den).max())


def _check_against_twin(v, y, tau=0.5):
    worst = 0.0
    for name, got, twin in _all_losses(v, y, tau):
        err = _rel_err(got, twin())
        assert err <= TOL[v.dtype], (name, err)
        worst = max(worst, err)
    return worst


def _base(seed, K, B, d, dtype, C=3):
    """Entries in [-1, 1] (so that ``1e38`` stays finite in float32), two classes or more."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(K, B, d, generator=g, dtype=torch.float64)
    v = v / v.abs().max()
    y = torch.randint(0, C, (B,), generator=g)
    y[0], y[1] = 0, 1  # every anchor has negatives under NSCL
    return v, y


# ----------------------------------------------------------------------------- scales
@pytest.mark.parametrize("scale", F64_SCALES)
@pytest.mark.parametrize("K", [2, 3])
def test_float64_equals_twin_at_every_scale(scale, K):
    v, y = _base(1, K, 4, 3, torch.float64)
    _check_against_twin(v * scale, y)


@pytest.mark.parametrize("scale", F32_SCALES)
def test_float32_equals_twin_over_its_whole_range(scale):
    v, y = _base(2, 2, 4, 3, torch.float32)
    v = (v * scale).float()  # 1e-40: subnormal entries, exactly what the twin reads
    assert torch.isfinite(v).all() and (v.abs().amax(dim=2) > 0).all()
    _check_against_twin(v, y)


@pytest.mark.parametrize("K", [2, 3])
def test_float32_three_views_and_tiny_batch(K):
    v, y = _base(3, K, 2, 3, torch.float32, C=2)  # B = 2: the smallest batch
    for scale in (1e-38, 1e-19, 1.0, 1e19, 1e38):
        _check_against_twin((v * scale).float(), y)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rows_of_very_different_scales_in_one_batch(dtype):
    v, y = _base(4, 3, 4, 3, torch.float64)
    scales = [1e-300, 1e-150, 1.0, 1e150, 1e300] if dtype == torch.float64 else [
        1e-30, 1e-10, 1.0, 1e10, 1e30]  # fmt: skip
    per_row = torch.tensor([scales[i % len(scales)] for i in range(12)], dtype=torch.float64)
    v = (v * per_row.reshape(3, 4, 1)).to(dtype)  # one row 1e-30, another 1e30, ...
    _check_against_twin(v, y)


@pytest.mark.parametrize("eps", [1e-4, 1e-8])
@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_near_collapsed_views(eps, scale):
    """Every row within ``eps`` of one direction: all similarities are ``1 - O(eps^2)``."""
    g = torch.Generator().manual_seed(5)
    base = torch.randn(1, 1, 4, generator=g, dtype=torch.float64)
    v = (base + eps * torch.randn(3, 5, 4, generator=g, dtype=torch.float64)) * scale
    y = torch.tensor([0, 1, 0, 1, 2])
    _check_against_twin(v, y, tau=0.1)


def test_the_reported_float32_values():
    """Issue: 2.84 at 1e19 and log(2B - 2) from 1e20 where the loss is 3.27."""
    g = torch.Generator().manual_seed(0)
    v = torch.randn(2, 8, 4, generator=g)
    want = float(twin_pair_loss(v, None, 0.5, "cl").mean())
    for scale in (1e19, 1e20, 1e30, 1e-20):
        got = float(cl_loss(v * scale))
        assert got == pytest.approx(want, rel=1e-6) and abs(got - math.log(14)) > 0.5


# ----------------------------------------------------------------------------- old formula
def _old_unit_rows(x, stacklevel):  # the formula before the rescale
    return F.normalize(x, dim=1)


def _fn_table(y):
    return [
        lambda v: cl_loss(v, 0.3, per_anchor=True),
        lambda v: ntxent_loss(v, 0.1, pairs="all", per_anchor=True),
        lambda v: nscl_loss(v, y, 0.5, per_anchor=True),
        lambda v: nscl_loss(v, y, 0.5, per_anchor=True, positive_in_denominator=True),
        lambda v: scl_loss(v, y, 0.2, per_anchor=True),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-8, 1e-3, 1.0, 3.7, 1e5, 1e9])
def test_bitwise_equal_to_the_old_formula_at_ordinary_scales(dtype, scale, monkeypatch):
    """Values AND gradients: a power-of-two rescale changes no bit where nothing overflowed."""
    v, y = _base(6, 3, 5, 4, torch.float64)
    v = (v * scale).to(dtype)
    new = []
    for fn in _fn_table(y):
        x = v.clone().requires_grad_(True)
        out = fn(x)
        new.append((out.detach(), torch.autograd.grad(out.sum(), x)[0]))
    monkeypatch.setattr(losses, "_unit_rows", _old_unit_rows)
    for fn, (value, grad) in zip(_fn_table(y), new, strict=True):
        x = v.clone().requires_grad_(True)
        out = fn(x)
        assert torch.equal(out.detach(), value)
        assert torch.equal(torch.autograd.grad(out.sum(), x)[0], grad)


def test_pinned_values_of_the_code_before_the_rescale():
    """Computed with the losses as they were before the rescale (float.hex)."""
    pinned = {
        torch.float32: {"cl": "0x1.74cc100000000p+1", "ntxent": "0x1.010afe0000000p+2",
                        "nscl": "0x1.35fcb80000000p+1", "scl": "0x1.161fc60000000p+2"},
        torch.float64: {"cl": "0x1.74cc10a2e9c60p+1", "ntxent": "0x1.010afdf7f0cedp+2",
                        "nscl": "0x1.35fcb73087c19p+1", "scl": "0x1.161fc387784b0p+2"},
    }  # fmt: skip
    for dtype, want in pinned.items():
        g = torch.Generator().manual_seed(20)
        v = torch.randn(3, 6, 5, generator=g, dtype=torch.float64).to(dtype)
        y = torch.randint(0, 3, (6,), generator=g)
        got = {"cl": cl_loss(v, 0.3), "ntxent": ntxent_loss(v, 0.1, pairs="all"),
               "nscl": nscl_loss(v, y, 0.5, positive_in_denominator=True),
               "scl": scl_loss(v, y, 0.2)}  # fmt: skip
        assert {k: float(t).hex() for k, t in got.items()} == want


def _fmt(x: float) -> str:
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_docs_state_the_tested_contract():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    for dtype, scales, err in (
        (torch.float64, F64_SCALES, "relative `{}`"),
        (torch.float32, F32_SCALES, "`{}` of `max(\\|loss\\|, 1)`"),
    ):
        low = f"`{_fmt(min(scales))}`" + " (subnormal)" * (dtype == torch.float32)
        high, tol = _fmt(max(scales)), err.format(_fmt(TOL[dtype]))
        row = f"| {str(dtype)[6:]} | {low} to `{high}` | {tol} |"
        assert row in text, row


def test_where_the_old_formula_was_wrong_as_the_docs_say(monkeypatch):
    """Norms below eps = 1e-12 (both dtypes), float32 above ~1e19, float64 above ~1e154."""
    v, _ = _base(0, 2, 8, 4, torch.float64)
    want = float(twin_pair_loss(v, None, 0.5, "cl").mean())
    monkeypatch.setattr(losses, "_unit_rows", _old_unit_rows)
    for dtype, right, wrong in ((torch.float32, (1e-11, 1e18), (1e-13, 1e20)),
                                (torch.float64, (1e-11, 1e153), (1e-13, 1e155))):  # fmt: skip
        for scale in right:
            assert float(cl_loss((v * scale).to(dtype))) == pytest.approx(want, rel=1e-6)
        for scale in wrong:
            assert float(cl_loss((v * scale).to(dtype))) == pytest.approx(math.log(14), abs=1e-3)


# ----------------------------------------------------------------------------- gradients
def _twin_grad(fn_name, v64, y, tau):
    """Autograd through a plain float64 loop twin (``row / row.norm()``, no rescale)."""
    x = v64.clone().requires_grad_(True)
    K, B, d = x.shape
    z = [row / row.norm() for row in x.reshape(K * B, d)]
    s = [[torch.dot(a, c) / tau for c in z] for a in z]
    total = 0.0
    for l1 in range(K):
        for i in range(B):
            a, terms = l1 * B + i, []
            for l2 in range(K):
                if l2 == l1:
                    continue
                keep = [j for j in range(B) if (j != i if fn_name != "nscl" else y[j] != y[i])]
                den = [s[a][l3 * B + j] for l3 in range(K) for j in keep]
                if fn_name == "ntxent":
                    den.append(s[a][l2 * B + i])
                terms.append(torch.logsumexp(torch.stack(den), 0) - s[a][l2 * B + i])
            total = total + sum(terms) / len(terms)
    (g,) = torch.autograd.grad(total / (K * B), x)
    return g


FAST = {"cl": lambda v, y: cl_loss(v, 0.5), "ntxent": lambda v, y: ntxent_loss(v, 0.5),
        "nscl": lambda v, y: nscl_loss(v, y, 0.5)}  # fmt: skip


def _grad(fn, v, y):
    x = v.clone().requires_grad_(True)
    return torch.autograd.grad(fn(x, y), x)[0]


@pytest.mark.parametrize("scale", [1e-30, 1e-19, 1.0, 1e20, 1e30])
def test_float32_gradients_equal_the_float64_twin(scale):
    """The float64 twin of float32 inputs never overflows (its squares reach 1e60 at most)."""
    v, y = _base(7, 2, 4, 3, torch.float32)
    v = (v * scale).float()
    for name, fn in FAST.items():
        g = _grad(fn, v, y)
        want = _twin_grad(name, v.double(), y.tolist(), 0.5)
        assert torch.isfinite(g).all()
        assert float((g.double() - want).norm() / want.norm()) < 1e-5, name


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_float64_gradients_equal_the_twin_of_the_scaled_input(scale):
    """``grad L(u 2^j) = 2^-j grad L(u)``: the twin runs on ``u = v 2^-j``, exact by hand."""
    v, y = _base(8, 3, 3, 4, torch.float64)
    v = v * scale
    j = int(math.frexp(float(v.abs().max()))[1])
    u = v * 2.0**-j  # one power of two for the whole tensor (the losses use one per row)
    for name, fn in FAST.items():
        g = _grad(fn, v, y)
        assert torch.isfinite(g).all() and float(g.abs().max()) > 0
        g = g * 2.0**j  # exact; back to ordinary scale, so that the norms below are finite
        want = _twin_grad(name, u, y.tolist(), 0.5)
        assert float((g - want).norm() / want.norm()) < 1e-12, name


@pytest.mark.parametrize(("dtype", "j"), [(torch.float64, j) for j in (-1000, -500, 500, 1000)]
                         + [(torch.float32, j) for j in (-120, -60, 60, 120)])  # fmt: skip
def test_powers_of_two_change_no_bit(dtype, j):
    """Exactly scale-invariant: ``L(v 2^j) == L(v)`` and ``grad L(v 2^j) == 2^-j grad L(v)``."""
    v, y = _base(9, 2, 5, 3, torch.float64)
    v = (v.sign() * v.abs().clamp_min(1e-3)).to(dtype)  # no entry goes subnormal below
    for fn in _fn_table(y):
        x, xs = v.clone().requires_grad_(True), torch.ldexp(v, torch.tensor(j)).requires_grad_()
        out, out_s = fn(x), fn(xs)
        assert torch.equal(out, out_s)
        (g,), (gs,) = torch.autograd.grad(out.sum(), x), torch.autograd.grad(out_s.sum(), xs)
        assert torch.equal(torch.ldexp(gs, torch.tensor(j)), g)


# ----------------------------------------------------------------------------- degenerate rows
def test_zero_rows_give_nan_with_a_warning_and_spare_the_rest():
    v, _ = _base(10, 2, 4, 3, torch.float64)
    v[1, 2] = 0.0  # view 1 of sample 2 (class 1)
    y = torch.tensor([0, 0, 1, 1])
    with pytest.warns(RuntimeWarning, match="1 of 8 embeddings are zero rows"):
        assert math.isnan(cl_loss(v).item())  # every CL denominator holds sample 2
    with pytest.warns(RuntimeWarning, match="zero rows"):
        per = nscl_loss(v, y, per_anchor=True)
    # NSCL: class 0 has the zero row among its negatives, sample 2 has it as itself or as
    # its positive; only sample 3 (class 1, negatives of class 0) never meets it
    assert torch.isnan(per[:, :3]).all() and torch.isfinite(per[:, 3]).all()
    with pytest.warns(RuntimeWarning, match="zero rows"):
        assert math.isnan(scl_loss(v, y).item())


def test_zero_row_in_nscl_matches_the_twin_on_the_untouched_anchors():
    """The anchors whose positives and negatives avoid the zero row keep their exact value."""
    v, _ = _base(11, 2, 4, 3, torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    v[:, 3] = 0.0  # sample 3 (class 1), both views: a negative of class 0 only
    with pytest.warns(RuntimeWarning, match="2 of 8"):
        per = nscl_loss(v, y, per_anchor=True)
    assert torch.isnan(per[:, :2]).all()  # class 0 has sample 3 among its negatives
    assert torch.isnan(per[:, 3]).all()  # its own anchors
    # sample 2 (class 1) sees classes 0 only: untouched, equal to the twin without sample 3
    want = twin_pair_loss(v[:, :3], y[:3], 0.5, "nscl")[:, 2]
    torch.testing.assert_close(per[:, 2], want, rtol=1e-12, atol=0)


def test_nan_and_inf_entries_propagate_without_error_or_warning():
    """A diverged model gives NaN, which the trainer reports with its step (no ValueError)."""
    v, y = _base(12, 2, 4, 3, torch.float32)
    for bad in (float("nan"), float("inf")):
        w = v.float().clone()
        w[0, 1, 2] = bad
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for fn in _fn_table(y):
                assert torch.isnan(fn(w)).any()


def test_ce_loss_is_exact_at_extreme_logit_scales():
    """CE does not normalise: log_softmax subtracts the row maximum (no rescale needed)."""
    g = torch.Generator().manual_seed(13)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, 1])
    for dtype, scale in ((torch.float64, 1e300), (torch.float64, 1e-300), (torch.float32, 1e30)):
        x = (logits * scale).to(dtype)
        with mpmath.workdps(40):
            rows = [[mpmath.mpf(float(t)) for t in row] for row in x]
            want = mpmath.fsum(_mp_lse(r) - r[int(c)] for r, c in zip(rows, y, strict=True)) / 5
        assert ce_loss(x, y).item() == pytest.approx(float(want), rel=TOL[dtype])
