"""Tests for empirics.metrics.moments: each moment against its plain sum; shift, merge, rescale;
the rows of a chunk (unit and scaled, centred) at every finite scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics.metrics import moments as mo

LD = np.longdouble


def _rows(seed, N=30, d=4, e=3, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, d, generator=g, dtype=torch.float64) + offset
    y = torch.randn(N, e, generator=g, dtype=torch.float64) + offset
    return x, y


def _plain(x, y, cx, cy) -> dict[str, np.ndarray]:
    """Every moment as a direct long-double sum over rows (the slow twin)."""
    w, z = x.numpy().astype(LD) - cx.numpy(), y.numpy().astype(LD) - cy.numpy()
    g, h = (w * w).sum(1), (z * z).sum(1)
    return {"n": LD(len(w)), "Sw": w.sum(0), "Sz": z.sum(0), "Gww": w.T @ w, "Gzz": z.T @ z,
            "Gwz": w.T @ z, "Sg": g.sum(), "Sh": h.sum(), "Sgg": (g * g).sum(),
            "Shh": (h * h).sum(), "Sgh": (g * h).sum(), "Wg": w.T @ g, "Wh": w.T @ h,
            "Zg": z.T @ g, "Zh": z.T @ h}  # fmt: skip


def _assert_moments(m: mo.Moments, want: dict, rtol=1e-12, like: mo.Moments | None = None):
    """Each moment to ``rtol`` of its size (or of its size in ``like``, the moments it was
    moved from: a shift rounds relative to what it moves, e.g. ``Sz - n b``)."""
    for k, v in want.items():
        got = m[k].numpy()
        scale = float(np.abs(np.asarray(v, dtype=np.float64)).max()) or 1.0
        if like is not None:
            scale = max(scale, float(like[k].abs().max()))
        np.testing.assert_allclose(got, np.asarray(v, dtype=np.float64), rtol=0,
                                   atol=rtol * scale, err_msg=k)  # fmt: skip


def test_of_chunk_equals_plain_sums():
    x, y = _rows(0)
    p, q = x[0].clone(), y[0].clone()
    m = mo.of_chunk(x - p, y - q, p, q, zero_x=2, zero_y=1, cosine=False)
    _assert_moments(m, _plain(x, y, p, q))
    assert (m["zero_x"].item(), m["zero_y"].item(), m.exponents()) == (2.0, 1.0, (0, 0))
    assert torch.equal(m["cx"], p) and torch.equal(m["cy"], q)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), scale=st.floats(1e-3, 1e3))
def test_shift_equals_the_moments_about_the_new_shift(seed, scale):
    x, y = _rows(seed, offset=3.0)
    m = mo.of_chunk(x - x[0], y - y[0], x[0].clone(), y[0].clone(), cosine=False)
    g = torch.Generator().manual_seed(seed + 1)
    cx = x.mean(0) + scale * torch.randn(4, generator=g, dtype=torch.float64) / 100
    cy = y.mean(0) + scale * torch.randn(3, generator=g, dtype=torch.float64) / 100
    _assert_moments(mo.shift(m, cx, cy), _plain(x, y, cx, cy), rtol=1e-10, like=m)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), cuts=st.lists(st.integers(1, 59), max_size=5, unique=True))
def test_merge_of_parts_equals_one_shot_in_any_grouping(seed, cuts):
    x, y = _rows(seed, N=60, offset=2.0)
    bounds = [0, *sorted(cuts), 60]
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    parts = [mo.accumulate(x[i:j], y[i:j], raw=True) for i, j in spans]
    one = mo.accumulate(x, y, raw=True)
    for k in (0, 1):  # cosine, raw
        left = None
        for p in parts:
            left = mo.merge(left, p[k])
        right = None
        for p in parts[::-1]:
            right = mo.merge(p[k], right)
        for got in (left, right):
            same = mo.shift(got, one[k]["cx"], one[k]["cy"])
            torch.testing.assert_close(same.flat, one[k].flat, rtol=1e-10, atol=1e-10)


def test_merge_moves_to_the_combined_mean_and_keeps_exact_zeros():
    x, y = _rows(1, offset=5.0)
    a, b = mo.accumulate(x[:10], y[:10])[0], mo.accumulate(x[10:], y[10:])[0]
    m = mo.merge(a, b)
    assert float(m["Sw"].abs().max()) < 1e-13 and float(m["Sz"].abs().max()) < 1e-13
    const = torch.ones(12, 4, dtype=torch.float64)
    c = mo.merge(mo.accumulate(const[:5], const[:5])[0], mo.accumulate(const[5:], const[5:])[0])
    assert float(c["Gww"].abs().sum() + c["Sgg"].abs() + c["Sw"].abs().sum()) == 0.0
    assert mo.merge(None, a) is a and mo.merge(a, mo.empty(4, 3, cosine=True)) is a


def test_an_outlier_first_row_is_not_kept_as_the_shift():
    x, y = _rows(6, N=50)
    x = 1e-6 * x + torch.ones(4, dtype=torch.float64)
    x[0] += 1.0  # the pilot: far from the other rows
    m = mo.accumulate(x, y, cosine=False, raw=True)[1]
    torch.testing.assert_close(m["cx"], x.mean(0), rtol=1e-15, atol=0)  # moved to the mean
    rows = torch.cat((x[1:2], x[1] + (x[2:] - x[2:].mean(0))))  # the first row at the mean
    typical = mo.accumulate(rows, y[1:], cosine=False, raw=True)[1]
    assert torch.equal(typical["cx"], rows[0])  # a central first row stays the shift


def test_identical_sides_give_bitwise_equal_moments():
    x, _ = _rows(2, offset=1.0)
    cos, raw = mo.accumulate(x[:7], x[:7], raw=True)
    cos, raw = mo.accumulate(x[7:], x[7:], (cos, raw), raw=True)
    for m in (cos, mo.merge(cos, mo.accumulate(x, x)[0]), raw):
        assert torch.equal(m["Gww"], m["Gwz"]) and torch.equal(m["Gzz"], m["Gwz"])
        assert torch.equal(m["Wg"], m["Zh"]) and torch.equal(m["Wh"], m["Zg"])
        assert m["Sgg"].item() == m["Sgh"].item() == m["Shh"].item()


def test_rescale_is_exact_and_merges_different_scales():
    x, y = _rows(3)
    m = mo.accumulate(x, y, cosine=False, raw=True)[1]
    there = mo.rescale(m, 7, -3)
    assert torch.equal(mo.rescale(there, 0, 0).flat, m.flat)  # powers of two: exact
    assert there["Gwz"][0, 0].item() == m["Gwz"][0, 0].item() * 2.0**-7 * 2.0**3
    assert there["Sgh"].item() == m["Sgh"].item() * 2.0**-14 * 2.0**6
    big, small = mo.accumulate(x * 1e200, y, cosine=False, raw=True)[1], m
    assert big.exponents()[0] > 600 and small.exponents() == (0, 0)
    merged = mo.merge(big, mo.rescale(small, 0, 0))
    assert merged.exponents() == (big.exponents()[0], 0)


def test_flat_round_trip_and_length_check():
    x, y = _rows(4)
    m = mo.accumulate(x, y)[0]
    back = mo.from_flat(mo.to_flat(m), 4, 3, cosine=True)
    assert torch.equal(back.flat, m.flat) and back.flat is not m.flat
    assert mo.size(4, 3) == m.flat.numel()
    with pytest.raises(ValueError, match="length"):
        mo.from_flat(torch.zeros(5), 4, 3, cosine=True)
    with pytest.raises(ValueError, match="same widths"):
        mo.merge(m, mo.accumulate(x[:, :2], y)[0])


def test_accumulate_reads_any_dtype_and_rejects_non_finite():
    x, y = _rows(5)
    ref = mo.accumulate(x.float().double(), y)[0]
    torch.testing.assert_close(mo.accumulate(x.float(), y)[0].flat, ref.flat, rtol=0, atol=0)
    with pytest.raises(ValueError, match="finite values in `x` and `y`"):
        mo.accumulate(torch.full((3, 4), float("nan")), y[:3])
    with pytest.raises(ValueError, match="finite"):
        mo.accumulate(x, torch.where(y > 1, float("inf"), y), raw=True)


# ----------------------------------------------------------------------------- differences
def _plain_differences(x, y, cx, cy, cd) -> dict[str, np.ndarray]:
    """The difference moments as direct long-double sums (``delta = x - y - cd``)."""
    z = y.numpy().astype(LD) - cy.numpy()
    delta = x.numpy().astype(LD) - y.numpy() - cd.numpy()
    s = (delta * (z + delta / 2)).sum(1)
    return {"Sd": delta.sum(0), "Gdd": delta.T @ delta, "Gzd": z.T @ delta, "Ss": s.sum(),
            "Sss": (s * s).sum(), "Zs": z.T @ s, "Ds": delta.T @ s}  # fmt: skip


@pytest.mark.parametrize("y_scale", [1.0, 0.01, 100.0])  # both bases: |Z| <= |W| and |W| < |Z|
def test_difference_moments_equal_plain_sums(y_scale):
    x, y = _rows(7, d=4, e=4)
    y = x + y_scale * 0.1 * y
    p, q = x[0].clone(), y[0].clone()
    m = mo.of_chunk(x - p, y - q, p, q, cosine=True)
    assert m.diff and m.flat.numel() == mo.size(4, 4, cosine=True) > mo.size(4, 4, cosine=False)
    _assert_moments(m, _plain(x, y, p, q))  # the derived Gram moments too
    _assert_moments(m, _plain_differences(x, y, p, q, p - q))
    assert torch.equal(m["cd"], p - q)
    assert not mo.of_chunk(x - p, y - q, p, q, cosine=False).diff  # raw moments: none


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), scale=st.floats(1e-3, 1e3))
def test_shift_moves_the_difference_moments(seed, scale):
    x, y = _rows(seed, d=4, e=4, offset=3.0)
    y = x + 0.01 * y
    m = mo.of_chunk(x - x[0], y - y[0], x[0].clone(), y[0].clone(), cosine=True)
    g = torch.Generator().manual_seed(seed + 1)
    cx, cy, cd = (v + scale * torch.randn(4, generator=g, dtype=torch.float64) / 100
                  for v in (x.mean(0), y.mean(0), (x - y).mean(0)))  # fmt: skip
    moved = mo.shift(m, cx, cy, cd)
    _assert_moments(moved, _plain(x, y, cx, cy), rtol=1e-10, like=m)
    _assert_moments(moved, _plain_differences(x, y, cx, cy, cd), rtol=1e-10, like=m)
    default = mo.shift(m, cx, cy)  # the differences about cx - cy
    _assert_moments(default, _plain_differences(x, y, cx, cy, cx - cy), rtol=1e-10, like=m)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), cuts=st.lists(st.integers(1, 59), max_size=5, unique=True))
def test_difference_moments_merge_in_any_grouping(seed, cuts):
    x, y = _rows(seed, N=60, d=4, e=4, offset=2.0)
    y = x + 1e-3 * y
    bounds = [0, *sorted(cuts), 60]
    parts = [mo.accumulate(x[i:j], y[i:j])[0]
             for i, j in zip(bounds[:-1], bounds[1:], strict=True)]  # fmt: skip
    one = mo.accumulate(x, y)[0]
    left = right = None
    for p in parts:
        left = mo.merge(left, p)
    for p in parts[::-1]:
        right = mo.merge(p, right)
    for got in (left, right):
        same = mo.shift(got, one["cx"], one["cy"], one["cd"])
        torch.testing.assert_close(same.flat, one.flat, rtol=1e-10, atol=1e-12)


def test_identical_sides_give_zero_difference_moments():
    x, _ = _rows(8, d=5, e=5, offset=1.0)
    m = mo.accumulate(x[7:], x[7:], mo.accumulate(x[:7], x[:7]))[0]
    m = mo.merge(m, mo.accumulate(x, x)[0])
    for k in ("cd", "Sd", "Gdd", "Gzd", "Ss", "Sss", "Zs", "Ds"):
        assert float(m[k].abs().sum()) == 0.0, k


def test_upgrade_derives_the_differences_of_a_former_vector():
    x, y = _rows(9, d=4, e=4)
    m = mo.accumulate(x, y)[0]
    old = m.flat[: mo.size(4, 4, cosine=False)]
    up = mo.upgrade(old, 4, 4, cosine=True)
    torch.testing.assert_close(up.flat, m.flat, rtol=1e-9, atol=1e-12)
    assert torch.equal(up.flat[: old.numel()], old)
    raw = mo.accumulate(x, y, cosine=False, raw=True)[1]
    assert torch.equal(mo.upgrade(raw.flat, 4, 4, cosine=False).flat, raw.flat)
    with pytest.raises(ValueError, match="length"):
        mo.upgrade(m.flat, 4, 4, cosine=True)
    with pytest.raises(ValueError, match=r"Expected exponents \(0, 0\)"):
        mo.rescale(m, 1, 0)


# ----------------------------------------------------------------------------- rows of a chunk
# unit and scaled rows, centred, at every finite scale
def _x(scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(20, 5, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-150, 1.0, 1e150, 1e200, 1e300])
def test_unit_rows_at_any_scale_equal_the_long_double_twin(scale):
    x = _x(scale)
    w, pilot, zero = mo.centred_unit_rows(x, *mo.checked_norms(x, "`x`"))
    X = x.numpy().astype(np.longdouble)
    U = X / np.sqrt((X * X).sum(axis=1, keepdims=True))
    np.testing.assert_allclose((w + pilot).numpy(), U.astype(float), rtol=0, atol=4e-16)
    assert zero == 0 and torch.equal(w[0], torch.zeros(5, dtype=torch.float64))


def test_zero_rows_stay_zero_and_are_counted():
    x = _x()
    x[3] = 0.0
    x[7] = 0.0
    norm, ok = mo.checked_norms(x, "`x`")
    assert not ok
    w, pilot, zero = mo.centred_unit_rows(x, norm, ok)
    assert zero == 2 and torch.equal(w[3], -pilot)


def test_a_given_pilot_is_used_and_equal_rows_centre_to_exact_zeros():
    x = _x().repeat(2, 1)  # rows 0..19 twice
    pilot = x[4] / torch.linalg.vector_norm(x[4])
    w, p, _ = mo.centred_unit_rows(x, *mo.checked_norms(x, "`x`"), pilot)
    assert p is pilot and not w[4].any() and not w[24].any()


def test_scaled_rows_keep_differences_exact_and_scale_by_powers_of_two():
    x = _x(1e200)
    k = mo.scale_exponent(x, mo.checked_norms(x, "`x`")[0])
    w, pilot = mo.centred_scaled_rows(x, k)
    assert 0.5 <= float((w + pilot).abs().max()) < 1.0  # the largest entry, its norm overflows
    X = np.ldexp(x.numpy().astype(np.longdouble), -k)
    assert (w.numpy() == (X - X[0]).astype(np.float64)).all()  # the difference, rounded once
    assert mo.scale_exponent(_x(), mo.checked_norms(_x(), "`x`")[0]) == 0  # usual scales: untouched
    tiny = _x(1e-170)  # norms underflow in a plain sum of squares
    assert mo.scale_exponent(tiny, mo.checked_norms(tiny, "`x`")[0]) < -500


def test_non_finite_input_raises_naming_the_arguments():
    x = _x()
    x[2, 1] = float("inf")
    with pytest.raises(ValueError, match="Expected finite values in `X` and `Y`, got NaN or inf"):
        mo.checked_norms(x, "`X` and `Y`")
