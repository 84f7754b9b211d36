"""Seeded class subsets, class-stratified reference sets and train/test splits.

All choices depend only on the labels and an integer seed (numpy ``SeedSequence``), so the
same seed selects the same classes and samples on every machine, and the train and test
splits of one data set get the same classes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from empirics.data.dataset import Dataset, index_meta


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Expected `{name}` to be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"Expected `{name}` >= {low}, got {value!r}")
    return int(value)


def _rng(seed: int, purpose: int) -> np.random.Generator:
    """A numpy generator for one purpose, derived from the root ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), purpose]))


def choose_classes(num_classes: int, C: int, seed: int) -> np.ndarray:
    """A seeded choice of ``C`` of the ``num_classes`` original classes, sorted ascending.

    The choice depends only on ``(num_classes, C, seed)``: train and test splits of one
    data set get the same classes ([P2] Fig. 3 varies ``C`` this way).

    Raises:
        ValueError: when ``C`` exceeds ``num_classes`` (naming both) or ``C < 1``.

    Example:
        >>> choose_classes(10, 3, seed=0).tolist() == choose_classes(10, 3, seed=0).tolist()
        True
    """
    num_classes = _check_int("num_classes", num_classes, 1)
    C = _check_int("C", C, 1)
    if C > num_classes:
        raise ValueError(
            f"Expected `classes` <= {num_classes} (the classes available), got {C!r}"
        )
    if C == num_classes:
        return np.arange(num_classes)
    return np.sort(_rng(seed, 1).choice(num_classes, size=C, replace=False))


def class_lookup(num_classes: int, C: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept original classes and a lookup table original -> new label (-1 = dropped).

    ``C = None`` keeps every class. Loaders apply it to raw labels before decoding
    anything, so a C-way subset never pays for the classes it drops.

    Example:
        >>> keep, lut = class_lookup(5, None, seed=0)
        >>> keep.tolist(), lut.tolist()
        ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    """
    keep = np.arange(num_classes) if C is None else choose_classes(num_classes, C, seed)
    lut = np.full(num_classes, -1, dtype=np.int64)
    lut[keep] = np.arange(len(keep))
    return keep, lut


def relabel(ds: Dataset, classes: np.ndarray | list[int]) -> Dataset:
    """Keep the samples of the given original ``classes``, relabelled ``0 .. len-1`` in order.

    ``meta["original_classes"]`` records the mapping (composed with any earlier one).
    """
    classes = np.asarray(classes, dtype=np.int64)
    lut = torch.full((ds.num_classes,), -1, dtype=torch.int64)
    lut[torch.as_tensor(classes)] = torch.arange(len(classes))
    new_y = lut[ds.y]
    keep = torch.nonzero(new_y >= 0).squeeze(1)
    names = None if ds.class_names is None else [ds.class_names[c] for c in classes]
    meta = index_meta(ds.meta, keep, len(ds))
    prev = meta.get("original_classes")
    meta["original_classes"] = (
        [int(prev[c]) for c in classes] if prev is not None else classes.tolist()
    )
    return replace(ds, x=ds.x[keep], y=new_y[keep], num_classes=len(classes),
                   class_names=names, meta=meta)


def class_subset(ds: Dataset, C: int, seed: int) -> Dataset:
    """A seeded ``C``-way class subset of ``ds``, relabelled ``0 .. C-1`` ([P2] Fig. 3).

    Args:
        ds: the data set.
        C: number of classes to keep, ``1 <= C <= ds.num_classes``.
        seed: selects the classes (see :func:`choose_classes`).

    Raises:
        ValueError: when ``C`` exceeds the classes available, naming both.

    Example:
        >>> ds = Dataset(torch.zeros(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]), 3, "vector", "t")
        >>> sub = class_subset(ds, 2, seed=0)
        >>> sub.num_classes, sorted(set(sub.y.tolist()))
        (2, [0, 1])
    """
    return relabel(ds, choose_classes(ds.num_classes, C, seed))


def _balanced_quota(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class sample numbers summing to ``n``, as equal as the class sizes allow.

    Water-filling: every class gets ``min(count, level)``; the remainder that does not
    divide evenly goes to randomly chosen classes that still have samples left.
    """
    quota = np.zeros_like(counts)
    remaining = n
    open_ = counts > 0
    while remaining > 0:
        k = int(open_.sum())
        level = remaining // k
        if level == 0:  # fewer leftovers than open classes: spread them at random
            pick = rng.choice(np.flatnonzero(open_), size=remaining, replace=False)
            quota[pick] += 1
            break
        add = np.where(open_, np.minimum(level, counts - quota), 0)
        quota += add
        remaining -= int(add.sum())
        open_ = quota < counts
    return quota


def stratified_indices(y: torch.Tensor | np.ndarray, n: int, seed: int,
                       num_classes: int | None = None) -> np.ndarray:
    """Sorted indices of a class-stratified random sample of size ``n`` from labels ``y``.

    Each class contributes as equally as its size allows (a class with too few samples gives
    all of them, the rest is shared among the others). Vectorised: one permutation, one
    stable sort by class, then a rank-within-class threshold.

    Raises:
        ValueError: when ``n`` is larger than ``len(y)``.
    """
    y_np = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64)
    n = _check_int("n", n, 0)
    if n > len(y_np):
        raise ValueError(f"Expected `n` <= {len(y_np)} (the data set size), got {n!r}")
    C = int(num_classes if num_classes is not None else (y_np.max() + 1 if len(y_np) else 0))
    rng = _rng(seed, 2)
    counts = np.bincount(y_np, minlength=C)
    quota = _balanced_quota(counts, n, rng)
    perm = rng.permutation(len(y_np))
    order = perm[np.argsort(y_np[perm], kind="stable")]  # grouped by class, random within
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(y_np), dtype=np.int64)
    rank[order] = np.arange(len(y_np)) - starts[y_np[order]]
    return np.flatnonzero(rank < quota[y_np])


def reference_indices(ds: Dataset, n: int, seed: int) -> np.ndarray:
    """Indices of :func:`reference_set` (sorted), for callers that need the positions."""
    return stratified_indices(ds.y, n, seed, ds.num_classes)


def reference_set(ds: Dataset, n: int, seed: int) -> Dataset:
    """A fixed, class-stratified subset of ``n`` samples used for evaluation.

    The similarity matrices of THEORY.md s6-s7 are taken over such a set; the same
    ``(ds, n, seed)`` always gives the same samples in the same order.

    Args:
        ds: the data set (train or test split).
        n: reference-set size, ``0 <= n <= len(ds)``; ``n = len(ds)`` returns every sample.
        seed: selects the samples.

    Raises:
        ValueError: when ``n`` exceeds ``len(ds)``.

    Example:
        >>> ds = Dataset(torch.zeros(8, 2), torch.tensor([0, 0, 0, 0, 0, 0, 1, 1]), 2,
        ...              "vector", "t")
        >>> reference_set(ds, 4, seed=0).class_counts().tolist()
        [2, 2]
    """
    return ds.select(reference_indices(ds, n, seed), name=ds.name)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test index split that keeps each class's share in both parts.

    Each class ``c`` with ``n_c`` samples puts ``round(test_fraction * n_c)`` in the test
    part. Returns sorted ``(train_idx, test_idx)``.

    Raises:
        ValueError: when ``test_fraction`` is not in ``(0, 1)``.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"Expected `test_fraction` in (0, 1), got {test_fraction!r}")
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y)
    n_test = np.rint(counts * float(test_fraction)).astype(np.int64)
    rng = _rng(seed, 3)
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - starts[y[order]]
    is_test = rank < n_test[y]
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
