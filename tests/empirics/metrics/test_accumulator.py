"""Tests for empirics.metrics.accumulator: streaming == one-shot, merges, flat state round-trip."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics.metrics import AlignmentAccumulator, alignment, cka

KEYS = ("cka", "cka_cosine", "cka_linear", "rsa", "sim_gap", "rho", "r", "repr_angle",
        "cka_lower_from_rho", "rsa_lower_from_r", "k_norm", "sigma_a")  # fmt: skip


def _features(seed=0, N=500, d=12, e=9):
    g = np.random.default_rng(seed)
    X = np.maximum(g.normal(size=(N, d)) + 0.5, 0.0)  # ReLU-like, non-zero mean
    Y = np.tanh(X @ g.normal(size=(d, e))) + 0.5 * g.normal(size=(N, e))
    X[0] += 0.1  # no all-zero row
    return X, Y


def _assert_same(a: dict, b: dict, rtol=1e-10):
    for k in KEYS:
        assert a[k] == pytest.approx(b[k], rel=rtol, abs=1e-12), k
    assert a["n"] == b["n"] and a["M"] == b["M"]


@pytest.mark.parametrize("unbiased", [False, True])
def test_streaming_equals_one_shot(unbiased):
    X, Y = _features()
    one = AlignmentAccumulator(unbiased=unbiased).update(X, Y).compute()
    acc = AlignmentAccumulator(unbiased=unbiased)
    cuts = [0, 1, 7, 64, 65, 300, 500]  # uneven batches, including a single row
    for i, j in zip(cuts[:-1], cuts[1:], strict=True):
        acc.update(torch.from_numpy(X[i:j]), Y[i:j])  # torch and numpy batches mixed
    _assert_same(acc.compute(), one)
    assert one["cka"] == pytest.approx(cka(X, Y, unbiased=unbiased), rel=1e-12)


def test_merge_and_flat_stats_merge_equal_one_shot():
    X, Y = _features(1)
    one = alignment(X, Y)
    shards = [AlignmentAccumulator().update(X[i::3], Y[i::3]) for i in range(3)]
    merged = AlignmentAccumulator()
    for s in shards:
        merged.merge(s)
    _assert_same(merged.compute(), one)
    # what DistContext.reduce_accumulator_ does with the flat vectors: gather, merge in order
    flats = [s.stats_tensor() for s in shards]
    assert all(t.dtype == torch.float64 and t.dim() == 1 for t in flats)
    rank0 = AlignmentAccumulator(dims=(12, 9))
    for t in flats:
        rank0.merge_stats_(t)
    _assert_same(rank0.compute(), one)


def test_chunking_inside_one_update(monkeypatch):
    import empirics.metrics.moments as moments

    X, Y = _features(2, N=300)
    want = AlignmentAccumulator().update(X, Y).compute()
    monkeypatch.setattr(moments, "_CHUNK_ROWS", 37)
    _assert_same(AlignmentAccumulator().update(X, Y).compute(), want, rtol=1e-12)


def test_state_dict_round_trip_through_torch_save():
    X, Y = _features(3)
    acc = AlignmentAccumulator("linear", unbiased=True).update(X[:200], Y[:200])
    buf = io.BytesIO()
    torch.save(acc.state_dict(), buf)
    buf.seek(0)
    back = AlignmentAccumulator().load_state_dict(torch.load(buf))
    assert (back.kind, back.unbiased, back.dims) == ("linear", True, (12, 9))
    back.update(X[200:], Y[200:])
    _assert_same(back.compute(), acc.update(X[200:], Y[200:]).compute(), rtol=1e-14)
    empty = AlignmentAccumulator().load_state_dict(AlignmentAccumulator().state_dict())
    assert empty.dims is None and empty.n == 0


def test_compute_holds_every_moment_measure_and_procrustes_of_the_raw_moments():
    from empirics.measures import moment_measures
    from empirics.metrics import procrustes_distance

    g = np.random.default_rng(5)
    X, Y = g.normal(size=(90, 6)), g.normal(size=(90, 4))
    acc = AlignmentAccumulator()
    for i in range(0, 90, 25):  # streamed
        acc.update(X[i:i + 25], Y[i:i + 25])
    out = acc.compute()
    assert {m.name for m in moment_measures()} <= set(out)
    assert out["procrustes"] == pytest.approx(procrustes_distance(X, Y), rel=1e-12)
    other = AlignmentAccumulator().update(X[:40], Y[:40])
    merged = other.merge(AlignmentAccumulator().update(X[40:], Y[40:])).compute()
    assert merged["procrustes"] == pytest.approx(out["procrustes"], rel=1e-12)
    cos_only = AlignmentAccumulator(linear=False).update(X, Y).compute()
    assert math.isnan(cos_only["procrustes"]) and math.isnan(cos_only["cka_linear"])


def test_kind_and_linear_flag():
    X, Y = _features(4)
    cos = AlignmentAccumulator().update(X, Y).compute()
    lin = AlignmentAccumulator("linear").update(X, Y).compute()
    assert cos["cka_kind"] == "cosine" and lin["cka_kind"] == "linear"
    assert lin["cka"] == lin["cka_linear"] == pytest.approx(cka(X, Y, "linear"), rel=1e-12)
    assert cos["cka"] == cos["cka_cosine"] != cos["cka_linear"]
    cheap = AlignmentAccumulator(linear=False).update(X, Y)
    assert math.isnan(cheap.compute()["cka_linear"])
    assert cheap.stats_tensor().numel() * 2 == AlignmentAccumulator().update(X, Y).stats_tensor(
    ).numel()  # fmt: skip
    unb = AlignmentAccumulator(unbiased=True).update(X, Y).compute()
    assert unb["cka_kind"] == "cosine-unbiased"
    assert unb["repr_angle"] == pytest.approx(cos["repr_angle"], rel=1e-12)  # biased CKA's angle


def test_reset_keeps_dims_and_zeroes():
    X, Y = _features(5)
    acc = AlignmentAccumulator().update(X, Y)
    acc.reset()
    assert acc.n == 0 and acc.dims == (12, 9) and float(acc.stats_tensor().abs().sum()) == 0.0
    _assert_same(acc.update(X, Y).compute(), alignment(X, Y))


def test_zero_rows_streamed_give_nan_with_warning():
    X, Y = _features(6, N=50)
    acc = AlignmentAccumulator().update(X[:25], Y[:25])
    Y2 = Y[25:].copy()
    Y2[3] = 0.0
    acc.update(X[25:], Y2)
    with pytest.warns(RuntimeWarning, match=r"0 in X, 1 in Y"):
        out = acc.compute()
    assert all(math.isnan(out[k]) for k in ("cka", "rsa", "sim_gap", "rho", "r"))
    assert math.isfinite(out["cka_linear"])


def test_merge_of_empty_accumulators():
    X, Y = _features(7, N=40)
    acc = AlignmentAccumulator().merge(AlignmentAccumulator())
    assert acc.dims is None
    acc.merge(AlignmentAccumulator().update(X, Y))
    _assert_same(acc.compute(), alignment(X, Y))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 199), max_size=6, unique=True), seed=st.integers(0, 99))
def test_any_batches_in_any_merge_order_equal_one_shot(cuts, seed):
    X, Y = _features(seed, N=200)
    one = alignment(X, Y)
    bounds = [0, *sorted(cuts), 200]
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    parts = [AlignmentAccumulator().update(X[i:j], Y[i:j]) for i, j in spans]
    order = np.random.default_rng(seed).permutation(len(parts))
    merged = AlignmentAccumulator()
    for i in order:
        merged.merge(parts[i])
    _assert_same(merged.compute(), one)


def test_merge_stats_is_what_a_distributed_reduction_does():
    X, Y = _features(10, N=90)
    ranks = [AlignmentAccumulator(dims=(12, 9)) for _ in range(3)]
    ranks[0].update(X[:50], Y[:50])
    ranks[1].update(X[50:], Y[50:])  # rank 2 got no rows
    flats = [r.stats_tensor() for r in ranks]
    for r in ranks:  # every rank merges the gathered vectors in rank order
        r.reset()
        for t in flats:
            r.merge_stats_(t)
    outs = [r.compute() for r in ranks]
    _assert_same(outs[0], alignment(X, Y))
    assert all(o == outs[0] for o in outs)  # bitwise the same on every rank
    with pytest.raises(ValueError, match="length"):
        ranks[0].merge_stats_(torch.zeros(4))


@pytest.mark.parametrize("e", [9, 12])
def test_version_1_states_still_load(e):
    """Version 1 held plain sums about zero: the same moments about the shift 0."""
    X, Y = _features(11, N=60, e=e)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)

    def sums(A, B):
        q, p = (A * A).sum(1), (B * B).sum(1)
        parts = [[len(A)], A.sum(0), B.sum(0), (A.T @ A).ravel(), (B.T @ B).ravel(),
                 (A.T @ B).ravel(), [q.sum()], [p.sum()], [q @ q], [p @ p], [q @ p], A.T @ q,
                 A.T @ p, B.T @ q, B.T @ p, [0.0], [0.0]]  # fmt: skip
        return np.concatenate([np.asarray(v, dtype=float) for v in parts])

    v1 = {"version": 1, "kind": "cosine", "linear": True, "unbiased": False, "dims": (12, e),
          "stats": torch.from_numpy(np.concatenate([sums(Xn, Yn), sums(X, Y)]))}  # fmt: skip
    back = AlignmentAccumulator().load_state_dict(v1)
    _assert_same(back.compute(), alignment(X, Y), rtol=1e-8)


def _near_identical(seed=12, N=120, d=8, eps=1e-6):
    g = np.random.default_rng(seed)
    X = g.normal(size=(N, d))
    return X, X + eps * g.normal(size=(N, d))


def test_same_widths_keep_difference_moments_through_ranks_and_checkpoints():
    """d == e: the gaps stay exact through merge_stats_ (a distributed reduction) and a
    state_dict round trip; the vector length depends on the widths only."""
    X, Y = _near_identical()
    want = alignment(X, Y)  # one-shot, exact
    ranks = [AlignmentAccumulator(dims=(8, 8)) for _ in range(3)]
    ranks[0].update(X[:70], Y[:70])
    ranks[1].update(X[70:], Y[70:])  # rank 2 got no rows
    flats = [r.stats_tensor() for r in ranks]
    assert len({t.numel() for t in flats}) == 1
    for r in ranks:
        r.reset()
        for t in flats:
            r.merge_stats_(t)
    outs = [r.compute() for r in ranks]
    assert all(o == outs[0] for o in outs)
    for k in ("sim_gap", "rho", "r"):
        assert outs[0][k] == pytest.approx(want[k], rel=1e-9), k
    buf = io.BytesIO()
    torch.save(AlignmentAccumulator().update(X[:50], Y[:50]).state_dict(), buf)
    buf.seek(0)
    back = AlignmentAccumulator().load_state_dict(torch.load(buf)).update(X[50:], Y[50:])
    for k in ("sim_gap", "rho", "r"):
        assert back.compute()[k] == pytest.approx(want[k], rel=1e-9), k


def test_version_2_states_still_load():
    """Version 2 had no difference moments: they are derived (the former gap accuracy)."""
    from empirics.metrics import moments

    for d, e in ((8, 8), (8, 5)):
        X, Y = _near_identical(13, d=d, eps=1e-2)
        Y = Y[:, :e]
        acc = AlignmentAccumulator().update(X[:60], Y[:60])
        base = moments.size(d, e, cosine=False)
        old = torch.cat([s.flat[:base] for s in (acc._cos, acc._raw)])
        v2 = {**acc.state_dict(), "version": 2, "stats": old}
        back = AlignmentAccumulator().load_state_dict(v2).update(X[60:], Y[60:])
        _assert_same(back.compute(), alignment(X, Y), rtol=1e-8)
        with pytest.raises(ValueError, match="version-2 stats vector of length"):
            AlignmentAccumulator().load_state_dict({**v2, "stats": old[:-1]})


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda a, X, Y: AlignmentAccumulator("rbf"), ValueError, "kind"),
        (lambda a, X, Y: AlignmentAccumulator("linear", linear=False), ValueError, "linear"),
        (lambda a, X, Y: AlignmentAccumulator(dims=(0, 3)), ValueError, "dims"),
        (lambda a, X, Y: AlignmentAccumulator().compute(), ValueError, "n=0"),
        (lambda a, X, Y: AlignmentAccumulator().stats_tensor(), ValueError, "dims"),
        (
            lambda a, X, Y: AlignmentAccumulator().from_stats_tensor(torch.zeros(3)),
            ValueError,
            "dims",
        ),  # fmt: skip
        (lambda a, X, Y: a.from_stats_tensor(torch.zeros(3)), ValueError, "length"),
        (lambda a, X, Y: a.update(X[:, :5], Y), ValueError, r"\(d, e\) = \(12, 9\)"),
        (lambda a, X, Y: a.update(X, Y[:-1]), ValueError, r"\(40, 12\) and \(39, 9\)"),
        (lambda a, X, Y: a.update(np.full_like(X, np.nan), Y), ValueError, "finite"),
        (lambda a, X, Y: a.merge(object()), TypeError, "AlignmentAccumulator"),
        (
            lambda a, X, Y: a.merge(AlignmentAccumulator().update(X[:, :3], Y)),
            ValueError,
            "dims",
        ),  # fmt: skip
        (lambda a, X, Y: a.load_state_dict({"version": 0}), ValueError, "version 1, 2 or 3"),
        (lambda a, X, Y: a.merge(AlignmentAccumulator(linear=False).update(X, Y)), ValueError,
         "linear=True"),
        (lambda a, X, Y: AlignmentAccumulator(kind=None), ValueError, "`kind`.*None"),
        (lambda a, X, Y: AlignmentAccumulator(linear="no"), TypeError, "`linear`.*'no'"),
        (lambda a, X, Y: AlignmentAccumulator(unbiased=1), TypeError, "`unbiased`.*1"),
        (lambda a, X, Y: AlignmentAccumulator(dims=5), TypeError, "`dims`.*5"),
        (lambda a, X, Y: AlignmentAccumulator(dims=(True, 3)), ValueError, "`dims`.*True"),
        (lambda a, X, Y: AlignmentAccumulator(dims=(4, 3, 2)), ValueError, "`dims`"),
        (lambda a, X, Y: AlignmentAccumulator(device="tpu"), ValueError, "`device`.*'tpu'"),
        (lambda a, X, Y: a.update(np.full_like(X, np.inf), Y), ValueError, "finite.*`x`"),
        (lambda a, X, Y: a.update(X, Y.astype(complex)), TypeError, "`y`.*complex"),
        (lambda a, X, Y: a.update(X[:, 0], Y), ValueError, r"`x` of shape \(N, d\)"),
        (lambda a, X, Y: a.update(X.tolist(), Y), TypeError, "`x`.*list"),
    ],
)
def test_invalid_use_raises(call, exc, match):
    X, Y = _features(8, N=40)
    acc = AlignmentAccumulator().update(X, Y)
    with pytest.raises(exc, match=match):
        call(acc, X, Y)


# ----------------------------------------------------------------------------- malformed states
def _valid():
    X, Y = _features(14, N=40)
    acc = AlignmentAccumulator().update(X, Y)
    return acc, acc.stats_tensor(), X, Y


RAW = 5 + 2 * 12 + 2 * 9 + 12 * 12 + 9 * 9 + 12 * 9 + 5 + 2 * 12 + 2 * 9  # raw set's offset


def _edit(i, v):
    def f(t):
        t = t.clone()
        t[i] = v
        return t
    return f


BAD_VECTORS = [  # (name, edit of a valid flat state, exception, message)
    ("None", lambda t: None, TypeError, "`t` to be a torch tensor or numpy array, got NoneType"),
    ("list", lambda t: t.tolist(), TypeError, "`t`.*got list"),
    ("2-D", lambda t: t.reshape(1, -1), ValueError, r"1-D\) `t`, got shape \(1, "),
    ("short", lambda t: t[:-1], ValueError, "`t` of length .*got length"),
    ("empty", lambda t: t[:0], ValueError, "got length 0"),
    ("float32", lambda t: t.float(), ValueError, "float64 `t`, got dtype torch.float32"),
    ("int64", lambda t: t.long(), ValueError, "float64 `t`, got dtype torch.int64"),
    ("inf", _edit(50, float("inf")), ValueError, "`t`.*the first, inf, at index 50"),
    ("-inf in raw", _edit(RAW + 60, -float("inf")), ValueError, "finite values in `t`"),
    ("nan", _edit(7, float("nan")), ValueError, r"finite values in `t`, got 1 NaN or inf"),
    ("negative n", _edit(0, -5.0), ValueError, "row count n >= 0.*cosine.*n=-5.0"),
    ("fractional n", _edit(0, 2.5), ValueError, "n=2.5"),
    ("n of sets differ", _edit(RAW, 41.0), ValueError, r"same row count.*\[40, 41\]"),
    ("zero_x > n", _edit(3, 41.0), ValueError, r"zero_x in \[0, n=40\].*got 41.0"),
    ("negative zero_y", _edit(4, -1.0), ValueError, "zero_y.*got -1.0"),
    ("cosine exponent", _edit(1, 3.0), ValueError, r"exponent ex in \[-0, 0\].*cosine"),
    ("raw exponent", _edit(RAW + 2, 5000.0), ValueError, r"exponent ey in \[-1100, 1100\]"),
    ("fractional exponent", _edit(RAW + 1, 0.5), ValueError, "exponent ex"),
    ("moments without rows", lambda t: torch.cat([torch.zeros(1), t[1:RAW], torch.zeros(1),
                                                   t[RAW + 1:]]).double(),
     ValueError, "all-zero the cosine moments"),
]  # fmt: skip


@pytest.mark.parametrize("entry", ["merge_stats_", "from_stats_tensor"])
@pytest.mark.parametrize(("case", "edit", "exc", "match"), BAD_VECTORS,
                         ids=[c[0] for c in BAD_VECTORS])  # fmt: skip
def test_malformed_flat_states_raise_and_change_nothing(entry, case, edit, exc, match):
    acc, t, _, _ = _valid()
    before = acc.stats_tensor()
    with pytest.raises(exc, match=match):
        getattr(acc, entry)(edit(t))
    assert torch.equal(acc.stats_tensor(), before)


def test_the_reported_cases_now_raise():
    """Issue: merging a state with inf entries gave cka = 0.0; load_state_dict(None) an
    AttributeError."""
    acc, t, X, Y = _valid()
    with pytest.raises(ValueError, match="finite values in `t`"):
        AlignmentAccumulator(dims=(12, 9)).from_stats_tensor(_edit(20, float("inf"))(t))
    other = AlignmentAccumulator().update(X, Y)
    other._cos.flat[20] = float("inf")  # a state damaged behind the accumulator's back
    with pytest.raises(ValueError, match="finite values in `other`"):
        acc.merge(other)
    with pytest.raises(TypeError, match="`state` to be a mapping.*NoneType"):
        acc.load_state_dict(None)
    huge = _edit(slice(25, 169), 1e300)(t)  # finite, but no rows have such moments
    with pytest.raises(ValueError, match="merge overflows"):
        acc.merge_stats_(huge)


def test_a_valid_numpy_vector_is_accepted():
    acc, t, X, Y = _valid()
    back = AlignmentAccumulator(dims=(12, 9)).from_stats_tensor(t.numpy())
    _assert_same(back.compute(), acc.compute(), rtol=0)


def _state_with(**kw):
    acc, _, _, _ = _valid()
    state = acc.state_dict()
    for k, v in kw.items():
        if v is KeyError:
            del state[k]
        else:
            state[k] = v(state[k]) if callable(v) else v
    return state


BAD_STATES = [  # (name, state, exception, message)
    ("list", lambda: [1, 2], TypeError, "`state` to be a mapping.*list"),
    ("empty", lambda: {}, ValueError, "version 1, 2 or 3, got None"),
    ("version True", lambda: _state_with(version=True), ValueError, "got True"),
    ("version '3'", lambda: _state_with(version="3"), ValueError, "got '3'"),
    ("missing stats", lambda: _state_with(stats=KeyError), ValueError, r"missing \['stats'\]"),
    ("unknown key", lambda: {**_state_with(), "extra": 1}, ValueError, r"unknown \['extra'\]"),
    ("kind", lambda: _state_with(kind="rbf"), ValueError, r"`state\['kind'\]`.*'rbf'"),
    ("linear", lambda: _state_with(linear="yes"), TypeError, r"`state\['linear'\]`.*'yes'"),
    ("unbiased", lambda: _state_with(unbiased=None), TypeError, r"`state\['unbiased'\]`"),
    ("kind without raw", lambda: _state_with(kind="linear", linear=False), ValueError,
     r"`state\['linear'\]` True"),
    ("dims type", lambda: _state_with(dims=5), TypeError, r"`state\['dims'\]`.*5"),
    ("dims short", lambda: _state_with(dims=(12,)), ValueError, r"`state\['dims'\]`"),
    ("dims zero", lambda: _state_with(dims=(12, 0)), ValueError, r"`state\['dims'\]`"),
    ("widths", lambda: _state_with(dims=(13, 9)), ValueError, r"`state\['stats'\]` of length"),
    ("linear flag vs length", lambda: _state_with(linear=False), ValueError, "of length"),
    ("stats without dims", lambda: _state_with(dims=None), ValueError, "None when dims is None"),
    ("no stats", lambda: _state_with(stats=None), TypeError, r"`state\['stats'\]`.*NoneType"),
    ("float32 stats", lambda: _state_with(stats=lambda t: t.float()), ValueError, "float64"),
    ("inf stats", lambda: _state_with(stats=_edit(9, float("inf"))), ValueError,
     r"finite values in `state\['stats'\]`"),
    ("negative n", lambda: _state_with(stats=_edit(0, -1.0)), ValueError, "n=-1.0"),
    ("2-D stats", lambda: _state_with(stats=lambda t: t[None]), ValueError, "1-D"),
    ("version 2 with inf", lambda: _state_with(version=2, stats=_edit(3, float("nan"))),
     ValueError, "finite values"),
    ("version 1 length", lambda: _state_with(version=1), ValueError, "version-1 stats vector"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "exc", "match"), BAD_STATES,
                         ids=[c[0] for c in BAD_STATES])  # fmt: skip
def test_malformed_state_dicts_raise_and_change_nothing(case, make, exc, match):
    acc, _, _, _ = _valid()
    before = (acc.kind, acc.linear, acc.unbiased, acc.dims, acc.stats_tensor())
    with pytest.raises(exc, match=match):
        acc.load_state_dict(make())
    after = (acc.kind, acc.linear, acc.unbiased, acc.dims, acc.stats_tensor())
    assert after[:4] == before[:4] and torch.equal(after[4], before[4])


def test_a_refused_merge_leaves_an_empty_accumulator_empty():
    _, _, X, Y = _valid()
    empty = AlignmentAccumulator(linear=False)
    with pytest.raises(ValueError, match="linear=False"):
        empty.merge(AlignmentAccumulator().update(X, Y))
    assert empty.dims is None and empty.n == 0


def test_update_with_non_finite_rows_adds_nothing():
    acc, t, X, Y = _valid()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        acc.update(bad, Y)
    assert torch.equal(acc.stats_tensor(), t)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_stats_live_on_the_device_and_match_cpu():
    X, Y = _features(9)
    acc = AlignmentAccumulator().update(torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda())
    assert acc.stats_tensor().device.type == "cuda"
    _assert_same(acc.compute(), alignment(X, Y))
