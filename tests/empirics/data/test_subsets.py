"""Seeded class subsets, class-stratified reference sets and splits."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics.data import (
    Dataset,
    choose_classes,
    class_subset,
    load_dataset,
    reference_indices,
    reference_set,
    sized_indices,
    sized_subset,
    split_dataset,
    stratified_indices,
    stratified_split,
)
from empirics.data.subsets import class_ranks


def _toy(counts, num_classes=None, names=True):
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    x = torch.arange(len(y), dtype=torch.float32)[:, None].repeat(1, 2)  # row i holds i
    C = num_classes or len(counts)
    return Dataset(x, y, C, "vector", "toy",
                   class_names=[f"c{i}" for i in range(C)] if names else None)


def test_choose_classes_seeded_sorted_distinct():
    a = choose_classes(100, 10, seed=5)
    assert a.tolist() == choose_classes(100, 10, seed=5).tolist()
    assert a.tolist() == sorted(set(a.tolist())) and len(a) == 10
    assert a.min() >= 0 and a.max() < 100
    assert a.tolist() != choose_classes(100, 10, seed=6).tolist()
    assert choose_classes(7, 7, seed=1).tolist() == list(range(7))


def test_choose_classes_too_many_names_both():
    with pytest.raises(ValueError, match=r"`classes` <= 10 \(the classes available\), got 11"):
        choose_classes(10, 11, seed=0)
    # the argument a user gives is `classes` (it read `C` before)
    with pytest.raises(ValueError, match="`classes` >= 1, got 0"):
        choose_classes(10, 0, seed=0)
    with pytest.raises(TypeError, match="`classes` to be an int"):
        choose_classes(10, 2.0, seed=0)


def test_class_subset_relabels_and_keeps_samples():
    ds = _toy([3, 4, 5, 6, 7])
    sub = class_subset(ds, 3, seed=2)
    chosen = choose_classes(5, 3, seed=2)
    assert sub.num_classes == 3 and sub.y.unique().tolist() == [0, 1, 2]
    assert sub.class_names == [f"c{c}" for c in chosen]
    assert sub.meta["original_classes"] == chosen.tolist()
    # every kept row is an original row whose original label maps to the new label
    rows = sub.x[:, 0].long()
    assert torch.equal(torch.as_tensor(chosen)[sub.y], ds.y[rows])
    assert len(sub) == sum([3, 4, 5, 6, 7][c] for c in chosen)


def test_nested_subsets_compose_original_classes():
    ds = _toy([2] * 10)
    sub = class_subset(class_subset(ds, 6, seed=0), 3, seed=1)
    first = choose_classes(10, 6, seed=0)
    second = choose_classes(6, 3, seed=1)
    assert sub.meta["original_classes"] == first[second].tolist()


def test_class_subset_error_names_both_numbers():
    with pytest.raises(ValueError, match="<= 5 .*got 9"):
        class_subset(_toy([1] * 5), 9, seed=0)


def test_load_dataset_subset_same_classes_train_and_test():
    tr, te = load_dataset("digits", classes=4, seed=7)
    assert tr.meta["original_classes"] == te.meta["original_classes"]
    assert tr.class_names == te.class_names and tr.num_classes == 4
    with pytest.raises(ValueError, match="<= 10 .*got 11"):
        load_dataset("digits", classes=11)


def test_reference_set_balanced_fixed_and_deterministic():
    ds = _toy([50, 50, 50, 50])
    ref = reference_set(ds, 40, seed=1)
    assert ref.class_counts().tolist() == [10] * 4
    again = reference_set(ds, 40, seed=1)
    assert torch.equal(ref.x, again.x)
    other = reference_set(ds, 40, seed=2)
    assert not torch.equal(ref.x, other.x)
    idx = reference_indices(ds, 40, seed=1)
    assert (np.diff(idx) > 0).all()  # sorted and distinct
    assert torch.equal(ds.x[torch.as_tensor(idx)], ref.x)


def test_reference_set_water_fills_small_classes():
    ds = _toy([1, 5, 10])
    assert reference_set(ds, 9, seed=0).class_counts().tolist() == [1, 4, 4]
    assert reference_set(ds, 16, seed=0).class_counts().tolist() == [1, 5, 10]
    counts = reference_set(ds, 8, seed=3).class_counts().tolist()
    assert counts[0] == 1 and sorted(counts[1:]) == [3, 4]  # one leftover to a random class


def test_reference_set_bounds_and_errors():
    ds = _toy([3, 3])
    assert len(reference_set(ds, 0, seed=0)) == 0
    assert len(reference_set(ds, 6, seed=0)) == 6
    with pytest.raises(ValueError, match=r"`n` <= 6 \(the data set size\), got 7"):
        reference_set(ds, 7, seed=0)
    with pytest.raises(ValueError, match="`n` >= 0, got -1"):
        reference_set(ds, -1, seed=0)


def test_stratified_indices_against_loop_twin():
    """Per-class counts match a slow per-class allocation loop."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, size=300)
    for n in (0, 1, 13, 100, 299, 300):
        idx = stratified_indices(y, n, seed=4)
        got = np.bincount(y[idx], minlength=7)
        left, quota = n, np.zeros(7, int)
        counts = np.bincount(y, minlength=7)
        while left > 0:  # slow twin: hand out one sample at a time, smallest quota first
            open_ = np.flatnonzero(quota < counts)
            c = open_[np.argmin(quota[open_])]
            quota[c] += 1
            left -= 1
        assert got.sum() == n
        # same allocation up to which classes receive the leftovers
        assert sorted(got.tolist()) == sorted(quota.tolist())
        assert (got <= counts).all()


def test_stratified_split_disjoint_complete_and_proportional():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    tr, te = stratified_split(y, 0.25, seed=0)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 100
    assert np.bincount(y[te]).tolist() == [2, 5, 8, 10]  # round(0.25 * n_c)
    tr2, _ = stratified_split(y, 0.25, seed=1)
    assert tr.tolist() != tr2.tolist()
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="`test_fraction` in \\(0, 1\\)"):
            stratified_split(y, bad, seed=0)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(0, 12), min_size=1, max_size=8), frac=st.floats(0, 1),
       seed=st.integers(0, 2**31 - 1))
def test_stratified_indices_properties(counts, frac, seed):
    """Water-filling promise: exact size, within class sizes, balanced among unsaturated."""
    y = np.repeat(np.arange(len(counts)), counts)
    n = int(round(frac * len(y)))
    idx = stratified_indices(y, n, seed, num_classes=len(counts))
    got = np.bincount(y[idx], minlength=len(counts))
    assert len(idx) == n and len(np.unique(idx)) == n
    assert (got <= np.array(counts)).all()
    unsaturated = got < np.array(counts)
    if unsaturated.any():
        # a class that could give more never has fewer than (any class's count) - 1
        assert got[unsaturated].min() >= got.max() - 1


def test_streams_are_the_named_purposes_of_the_one_splitter():
    """Class choice, sizes, splits and reference sets draw from rng(seed, purpose, *keys)."""
    from empirics.seeds import rng

    assert choose_classes(50, 5, seed=9).tolist() == sorted(
        rng(9, "subset", "classes").choice(50, size=5, replace=False).tolist())
    y = np.repeat(np.arange(3), 10)
    tr, te = stratified_split(y, 0.3, seed=4)
    ranks = class_ranks(y, rng(4, "split"))
    assert te.tolist() == np.flatnonzero(ranks < 3).tolist()
    ds = _toy([10, 10, 10])
    assert reference_indices(ds, 9, 2, "test").tolist() == stratified_indices(
        ds.y, 9, 2, 3, purpose="reference", keys=("test",)).tolist()
    assert sized_indices(y, 9, 2, num_classes=3, split="train", dataset="t").tolist() == \
        stratified_indices(y, 9, 2, 3, purpose="subset", keys=("train",)).tolist()


def test_reference_sets_of_two_keys_are_independent():
    ds = _toy([40, 40])
    a = reference_indices(ds, 20, 0, "train")
    b = reference_indices(ds, 20, 0, "test")
    assert a.tolist() != b.tolist()
    assert reference_indices(ds, 20, 0).tolist() == reference_indices(ds, 20, 0).tolist()


def test_class_ranks_are_a_permutation_within_each_class():
    y = np.array([2, 0, 2, 1, 2, 0, 0])
    r = class_ranks(y, np.random.default_rng(1))
    for c, n in enumerate(np.bincount(y)):
        assert sorted(r[y == c].tolist()) == list(range(n))
    assert class_ranks(np.zeros(0, np.int64), np.random.default_rng(0)).tolist() == []


def test_sized_subset_and_its_errors():
    ds = _toy([5, 7, 9])
    assert sized_subset(ds, None, 0, split="train") is ds
    sub = sized_subset(ds, 12, 0, split="train")
    assert sub.class_counts().tolist() == [4, 4, 4] and sub.name == "toy"
    assert sized_subset(ds, 21, 0, split="test").class_counts().tolist() == [5, 7, 9]
    with pytest.raises(ValueError, match=(r"^Expected `test_size` <= 21 \(the test samples of "
                                          r"dataset 'toy' with 3 classes\), got 22$")):
        sized_subset(ds, 22, 0, split="test")
    with pytest.raises(ValueError, match="`train_size` >= 1, got 0"):
        sized_subset(ds, 0, 0, split="train")
    with pytest.raises(TypeError, match="`train_size` to be an int, got float"):
        sized_subset(ds, 2.0, 0, split="train")


def test_split_dataset_is_stratified_split():
    ds = _toy([8, 4])
    tr, te = split_dataset(ds, 0.25, seed=3)
    a, b = stratified_split(ds.y.numpy(), 0.25, 3)
    assert tr.x[:, 0].long().tolist() == a.tolist() and te.x[:, 0].long().tolist() == b.tolist()
    assert te.class_counts().tolist() == [2, 1]
