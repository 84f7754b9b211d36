"""The adversarial suite of issue 10, section 1: exact near collapse, one-shot, streamed, merged.

Every number is compared with the extended-precision N x N twin of ``conftest.reference``.
Target: ``|error| <= 1e-9 |value| + 1e-12`` for cka (cosine and linear), rsa (Pearson),
similarity_gap, rho and r; values in range; NaN only where undefined, with a warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

import empirics.metrics.moments as moments
from empirics.metrics import (
    AlignmentAccumulator,
    alignment,
    cka,
    r,
    rho,
    rsa,
    similarity_gap,
)

KEYS = ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r")
GAPS = ("sim_gap", "rho", "r")


def _rng(seed):
    return np.random.default_rng(seed)


def _rank_one(ref):
    g = _rng(2)
    a, v = g.normal(size=(200, 1)), g.normal(size=(1, 32))
    return a * v, (a + 0.1 * g.normal(size=(200, 1))) * v + 0.01 * g.normal(size=(200, 32))


def _duplicated(ref):
    g = _rng(3)
    X = np.repeat(g.normal(size=(50, 32)), 4, axis=0)  # every row four times
    return X, X + 0.1 * g.normal(size=X.shape)


def _features(seed, N=200, d=32):
    g = _rng(seed)
    X = g.normal(size=(N, d))
    return X, np.tanh(X) + 0.3 * g.normal(size=(N, d))


def _float16(ref):
    X, Y = ref.one_point_collapse(1e-2)
    return X.astype(np.float16), Y.astype(np.float16)


def _float32(ref):
    X, Y = ref.one_point_collapse(1e-3)
    return X.astype(np.float32), Y.astype(np.float32)


def _integers(ref):
    g = _rng(4)
    X = g.integers(1000, 1003, size=(200, 32))  # integers near one point: collapse too
    return X, X + g.integers(0, 2, size=X.shape)


# cases that meet the target on every path
CASES = {
    **{f"one-point-{eps:.0e}": (lambda ref, e=eps: ref.one_point_collapse(e))
       for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)},
    **{f"class-{eps:.0e}": (lambda ref, e=eps: ref.class_collapse(e, shared=False))
       for eps in (1e-2, 1e-4, 1e-6)},
    "rank-one": _rank_one,
    "duplicated-rows": _duplicated,
    "d>N": lambda ref: (_rng(5).normal(size=(20, 100)), _rng(6).normal(size=(20, 60))),
    "N=3": lambda ref: (_rng(7).normal(size=(3, 5)), _rng(8).normal(size=(3, 4))),
    "N=2": lambda ref: (_rng(9).normal(size=(2, 5)), _rng(10).normal(size=(2, 4))),
    "scale-1e-150": lambda ref: tuple(1e-150 * z for z in _features(11)),
    "scale-1e150": lambda ref: tuple(1e150 * z for z in _features(12)),
    "scales-1e200-1e-150": lambda ref: (1e200 * _features(13)[0], 1e-150 * _features(13)[1]),
    "collapse-1e150": lambda ref: tuple(1e150 * z for z in ref.one_point_collapse(1e-5)),
    "float16": _float16,
    "float32": _float32,
    "integers": _integers,
}  # fmt: skip


def _near_identical(ref, name):
    """Representations whose similarity matrices nearly coincide: gaps far below their scale."""
    if name.startswith("shared-class"):
        return ref.class_collapse(SHARED[name], shared=True)
    g = _rng(14)
    X, Q = g.normal(size=(200, 32)), np.linalg.qr(g.normal(size=(32, 32)))[0]
    return (X, X @ Q) if name == "rotation" else (X, X @ Q + 1e-6 * g.normal(size=X.shape))


SHARED = {"shared-class-1e-2": 1e-2, "shared-class-1e-4": 1e-4, "shared-class-1e-6": 1e-6}
NEAR = (*SHARED, "rotation", "rotation+1e-6")


# ----------------------------------------------------------------------------- paths
def _one_shot(X, Y) -> dict:
    return {"cka": cka(X, Y), "cka_linear": cka(X, Y, "linear"), "rsa": rsa(X, Y),
            "sim_gap": similarity_gap(X, Y), "rho": rho(X, Y), "r": r(X, Y)}  # fmt: skip


def _streamed(X, Y) -> dict:
    acc = AlignmentAccumulator()
    cuts = sorted({0, 1, min(8, len(X)), min(71, len(X)), len(X)})  # a single first row too
    for i, j in zip(cuts[:-1], cuts[1:], strict=True):
        acc.update(X[i:j], torch.from_numpy(np.asarray(Y[i:j])))
    return acc.compute()


def _merged(X, Y) -> dict:
    shards = [AlignmentAccumulator().update(X[i::3], Y[i::3]) for i in range(3) if len(X) > i]
    out = AlignmentAccumulator()
    for s in shards:
        out.merge(s)
    via_stats = AlignmentAccumulator(dims=shards[0].dims)
    for s in shards:  # what a distributed reduction does (DistContext.reduce_accumulator_)
        via_stats.merge_stats_(s.stats_tensor())
    a, b = out.compute(), via_stats.compute()
    for k in KEYS:
        assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-15, nan_ok=True), k
    return a


def _chunked(X, Y, monkeypatch) -> dict:
    monkeypatch.setattr(moments, "_CHUNK_ROWS", 37)
    return alignment(X, Y)


def _check(got: dict, want: dict, ref, path: str, case: str, keys=KEYS) -> None:
    for k in keys:
        if math.isnan(want[k]):  # undefined (N = 2): must be NaN as well
            assert math.isnan(got[k]), f"{case} {path} {k}: got {got[k]}, want NaN"
            continue
        ref.assert_close(got[k], want[k], what=f"{case} {path} {k}")


def _quiet(fn, *args):
    """Run ``fn`` turning any RuntimeWarning into an error: defined values warn about nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return fn(*args)


# ----------------------------------------------------------------------------- the target
@pytest.mark.parametrize("case", list(CASES))
def test_every_path_is_exact(case, ref, monkeypatch):
    X, Y = CASES[case](ref)
    want = ref.reference(X, Y)
    if len(X) == 2:  # one pair: RSA and r are undefined, and say so
        with pytest.warns(RuntimeWarning, match="at least 3 rows"):
            got = _one_shot(X, Y)
        _check(got, want, ref, "one-shot", case)
        for path in (_streamed, _merged):
            with pytest.warns(RuntimeWarning, match="at least 3 rows"):
                _check(path(X, Y), want, ref, path.__name__, case)
        return
    _check(_quiet(_one_shot, X, Y), want, ref, "one-shot", case)
    _check(_quiet(_streamed, X, Y), want, ref, "streamed", case)
    _check(_quiet(_merged, X, Y), want, ref, "merged", case)
    _check(_quiet(_chunked, X, Y, monkeypatch), want, ref, "chunked", case)
    out = _quiet(_streamed, X, Y)
    assert 0.0 <= out["cka"] <= 1.0 and 0.0 <= out["cka_linear"] <= 1.0
    assert -1.0 <= out["rsa"] <= 1.0
    ref.assert_close(out["k_norm"], want["k_norm"], what=f"{case} k_norm")
    ref.assert_close(out["sigma_a"], want["sigma_a"], what=f"{case} sigma_a")


# ----------------------------------------------------------------------------- gaps, d == e
def _rotation(X, t, g):
    """``X W`` with ``W = expm(t A)``, ``A`` antisymmetric of spectral norm 1: ``|W - I| ~ t``."""
    A = g.normal(size=(X.shape[1],) * 2)
    A = (A - A.T) / 2
    return X @ expm(t * A / np.linalg.norm(A, 2))


def _same_width(name):
    """Nearly identical representations of the same width (d == e = 32, N = 200)."""
    g = _rng(20)
    X, noise = g.normal(size=(200, 32)), g.normal(size=(200, 32))
    kind, _, arg = name.partition(":")
    if kind == "noise":
        return X, X + float(arg) * noise
    if kind == "rotation":
        return X, _rotation(X, float(arg), g)
    if kind == "identical":
        return X, X.copy()
    if kind == "duplicated":  # every pair four times
        return np.repeat(X[:50], 4, axis=0), np.repeat(X[:50] + 1e-6 * noise[:50], 4, axis=0)
    if kind == "scale":
        return float(arg) * X, float(arg) * (X + 1e-6 * noise)
    if kind == "float32":
        return X.astype(np.float32), (X + float(arg) * noise).astype(np.float32)
    if kind == "collapsed":  # rows near one point, the second set 1e-3 of the spread apart
        v = g.normal(size=32)
        return v + 1e-3 * X, v + 1e-3 * (X + 1e-3 * noise)
    raise AssertionError(name)


SAME = (
    *(f"noise:{eps:.0e}" for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)),
    "rotation:1e-05", "rotation:1e-07", "identical", "duplicated", "scale:1e-150",
    "scale:1e150", "float32:1e-04", "float32:1e-06", "collapsed",
)  # fmt: skip


def _stream_37(X, Y) -> dict:
    acc = AlignmentAccumulator()
    for i in range(0, len(X), 37):
        acc.update(X[i : i + 37], Y[i : i + 37])
    return acc.compute()


def _merge_37(X, Y, reverse: bool) -> dict:
    parts = [AlignmentAccumulator().update(X[i : i + 37], Y[i : i + 37])
             for i in range(0, len(X), 37)]  # fmt: skip
    parts = parts[::-1] if reverse else parts
    out, via_stats = AlignmentAccumulator(), AlignmentAccumulator(dims=parts[0].dims)
    for p in parts:
        out.merge(p)
        via_stats.merge_stats_(p.stats_tensor())
    a, b = out.compute(), via_stats.compute()
    assert all(a[k] == b[k] for k in GAPS)
    return a


GAP_PATHS = {
    "one-shot": _one_shot,
    "streamed in 37-row batches": _stream_37,
    "37-row parts merged in order": lambda X, Y: _merge_37(X, Y, False),
    "37-row parts merged in reverse": lambda X, Y: _merge_37(X, Y, True),
    "streamed": _streamed,
    "merged": _merged,
}


def _check_gaps(got, want, what, rel=1e-9, floor=1e-12):
    """Relative ``rel``, absolute ``floor`` of the scale (``||1 - Sigma(X)||`` for the gap)."""
    scale = {"sim_gap": want["a_norm"], "rho": 1.0, "r": 1.0}
    for k in GAPS:
        assert_close = want["_ref"].assert_close
        assert_close(got[k], want[k], rel=rel, abs_=floor * scale[k], what=f"{what} {k}")


@pytest.mark.parametrize("case", SAME + tuple(SHARED))
@pytest.mark.parametrize("path", list(GAP_PATHS))
def test_near_identical_gaps_of_the_same_width_are_exact_on_every_path(case, path, ref):
    """d == e: the difference moments make streamed and merged gaps exact (issue 10 s1)."""
    X, Y = _same_width(case) if case in SAME else _near_identical(ref, case)
    want = {**ref.reference(X, Y), "_ref": ref}
    got = _quiet(GAP_PATHS[path], X, Y)
    _check_gaps(got, want, f"{case} {path}")
    if case == "identical":
        assert (got["sim_gap"], got["rho"], got["r"]) == (0.0, 0.0, 0.0)


def test_near_identical_gaps_of_the_same_width_in_internal_chunks(ref, monkeypatch):
    monkeypatch.setattr(moments, "_CHUNK_ROWS", 37)
    for case in ("noise:1e-07", "rotation:1e-05", "collapsed"):
        X, Y = _same_width(case)
        acc = AlignmentAccumulator().update(X[:100], Y[:100]).update(X[100:], Y[100:])
        _check_gaps(_quiet(acc.compute), {**ref.reference(X, Y), "_ref": ref}, case)


@pytest.mark.parametrize(
    "case", ["rotation:1e-2", "rotation:1e-3", "rotation:1e-4", "rotation", "rotation+1e-6"]
)
def test_a_rotation_keeps_a_floor_proportional_to_its_angle(case, ref):
    """A gap that cancels within the differences (``X W``, ``|W - I| = t``, true gap 0):
    float64 moments leave about ``sqrt(1e-16 T)`` with ``T ~ t^2`` (docs/metrics.md), an
    absolute error of about ``1e-8 t`` of the scale streamed and merged (tested: ``1e-7 t``;
    a random rotation, ``t ~ 1``: the ``1e-8`` of differences of squares); one-shot is
    exact (the factor fallback of metrics.functional)."""
    if case.startswith("rotation:"):
        X, Y = _same_width(case)
        t = float(case.partition(":")[2])
    else:
        X, Y = _near_identical(ref, case)
        t = 3.0  # a random rotation: |W - I| is of order 1
    want = {**ref.reference(X, Y), "_ref": ref}
    _check_gaps(_quiet(_one_shot, X, Y), want, f"{case} one-shot")
    _check_gaps(_quiet(alignment, X, Y), want, f"{case} alignment")
    for path in (_stream_37, _merged, lambda X, Y: _merge_37(X, Y, True)):
        _check_gaps(_quiet(path, X, Y), want, f"{case} streamed/merged", floor=1e-7 * t)


@pytest.mark.parametrize("eps", [1e-2, 1e-6])
def test_near_identical_gaps_of_different_widths_keep_the_moment_floor(eps, ref):
    """d != e (here ``Y`` has one more, zero, column): no difference moments, so streamed and
    merged gaps are a difference of squares, exact to about 1e-8 of the scale; one-shot is
    exact (the factor fallback of metrics.functional)."""
    X, Y = _same_width(f"noise:{eps}")
    Y = np.hstack([Y, np.zeros((len(Y), 1))])  # the same unit rows, e = d + 1
    want = {**ref.reference(X, Y), "_ref": ref}
    _check_gaps(_quiet(_one_shot, X, Y), want, f"d != e {eps} one-shot")
    floor = {"sim_gap": 1e-7, "rho": 1e-7, "r": 3e-7}
    for path in (_stream_37, _merged):
        got = _quiet(path, X, Y)
        for k in GAPS:
            scale = want["a_norm"] if k == "sim_gap" else 1.0
            ref.assert_close(got[k], want[k], rel=1e-9, abs_=floor[k] * scale,
                             what=f"d != e {eps} {path.__name__} {k} (moment floor)")  # fmt: skip


@pytest.mark.parametrize("eps", [1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-14])
def test_below_1e_6_within_1e_6_or_nan_beyond_float64_resolution(eps, ref):
    X, Y = ref.one_point_collapse(eps)
    want = ref.reference(X, Y)
    for path in (_one_shot, _streamed):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = path(X, Y)
        messages = " | ".join(str(w.message) for w in caught)
        for k in KEYS:
            if math.isnan(got[k]):
                assert "beyond float64 resolution" in messages, (eps, k, messages)
            else:
                ref.assert_close(got[k], want[k], rel=1e-6, abs_=0.0, what=f"{eps} {k}")
        # raw features are centred exactly (a difference of two floats): linear CKA stays exact
        ref.assert_close(got["cka_linear"], want["cka_linear"], what=f"{eps} cka_linear")
    if eps <= 1e-10:  # directions closer than float64 resolves: NaN, never a plausible value
        with pytest.warns(RuntimeWarning, match="beyond float64 resolution"):
            assert math.isnan(cka(X, Y))


def test_cka_of_finite_input_at_1e200_works(ref):
    X, Y = _features(15)
    want = ref.reference(X, Y)
    for kind in ("cosine", "linear"):
        key = "cka" if kind == "cosine" else "cka_linear"
        ref.assert_close(_quiet(cka, X * 1e200, Y, kind), want[key], what=kind)
        ref.assert_close(_quiet(cka, X * 1e-300, Y * 1e300, kind), want[key], what=kind)


def test_exactly_constant_rows_are_zero_variance_not_resolution():
    X = np.tile(_rng(16).normal(size=(1, 8)), (30, 1))  # 30 equal rows
    Y = _rng(17).normal(size=(30, 8))
    for kind in ("cosine", "linear"):
        with pytest.warns(RuntimeWarning, match=r"zero variance\)"):
            assert math.isnan(cka(X, Y, kind))
    acc = AlignmentAccumulator().update(X[:7], Y[:7]).update(X[7:], Y[7:])  # streamed too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = acc.compute()
    said = {str(w.message).split(":")[0]: str(w.message) for w in caught}
    assert sorted(said) == ["cka_cosine, cka, rsa", "cka_linear", "procrustes", "r", "rho"]
    assert all("zero variance" in m for m in said.values()) and "K_CL = 0" in said["rho"]
    assert math.isnan(out["cka"]) and math.isnan(out["rsa"]) and math.isnan(out["rho"])
    assert math.isfinite(out["sim_gap"])  # defined: ||1 1^T - Sigma(Y)||
    assert similarity_gap(X, X) == 0.0 and rho(Y, X) == pytest.approx(1.0, abs=1e-15)


def test_identical_inputs_have_exactly_zero_gaps():
    X, _ = _features(18)
    out = AlignmentAccumulator().update(X, X).compute()
    assert (out["sim_gap"], out["rho"], out["r"]) == (0.0, 0.0, 0.0)
    assert (similarity_gap(X, X), rho(X, X), r(X, X)) == (0.0, 0.0, 0.0)
    assert out["cka"] == out["rsa"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    N=st.integers(2, 40),
    d=st.integers(1, 8),
    log_eps=st.floats(-9, 0),
    log_scale=st.integers(-150, 150),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
)
def test_values_always_in_range(seed, N, d, log_eps, log_scale, dtype):
    g = _rng(seed)
    v = g.normal(size=d)
    X = v + 10.0**log_eps * g.normal(size=(N, d))
    Y = v + 10.0**log_eps * g.normal(size=(N, d))
    if dtype is np.int64:
        X, Y = np.round(100 * X).astype(dtype), np.round(100 * Y).astype(dtype)
    else:
        with np.errstate(over="ignore"):
            X, Y = (10.0**log_scale * X).astype(dtype), (10.0**log_scale * Y).astype(dtype)
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        return  # float32 overflow at 1e150: not this test's business
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate draws: NaN, checked below
        out = alignment(X, Y)
    ranges = {"cka": (0, 1), "cka_linear": (0, 1), "rsa": (-1, 1), "sim_gap": (0, 2 * N),
              "rho": (0, math.inf), "r": (0, math.inf)}  # fmt: skip
    for k, (lo, hi) in ranges.items():
        assert math.isnan(out[k]) or lo <= out[k] <= hi, (k, out[k])
    assert math.isfinite(out["cka_linear"]) or np.ptp(X.astype(float), axis=0).max() == 0 or (
        np.ptp(Y.astype(float), axis=0).max() == 0
    )  # linear CKA is NaN only for a constant feature set
