"""Seeded class subsets, class-stratified reference sets, size subsets and train/test splits.

All choices depend only on the labels and an integer seed, through the one seed splitter
:func:`empirics.seeds.rng` with a named purpose: ``subset`` (the ``C``-way class choice, key
``"classes"``; the ``train_size`` / ``test_size`` subsets, key = the split), ``split``
(train/test splits of data sets without an official one) and ``reference`` (the fixed
evaluation sets). So the same seed selects the same classes and samples on every machine,
and the train and test splits of one data set get the same classes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from empirics.data.dataset import Dataset, index_meta
from empirics.seeds import rng


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Expected `{name}` to be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"Expected `{name}` >= {low}, got {value!r}")
    return int(value)


def class_ranks(y: np.ndarray, gen: np.random.Generator,
                counts: np.ndarray | None = None) -> np.ndarray:
    """A random rank of every sample among the samples of its class (``0 .. n_c - 1``).

    Vectorised: one permutation, one stable sort by class. Keeping the samples whose rank
    is below a per-class quota is a class-stratified random choice.

    Example:
        >>> r = class_ranks(np.array([1, 0, 1, 1]), np.random.default_rng(0))
        >>> sorted(r[[0, 2, 3]].tolist()), int(r[1])
        ([0, 1, 2], 0)
    """
    y = np.asarray(y, dtype=np.int64)
    if counts is None:
        counts = np.bincount(y)
    perm = gen.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random within
    starts = np.concatenate([np.zeros(1, np.int64), np.cumsum(counts)[:-1]])
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - starts[y[order]]
    return rank


def choose_classes(num_classes: int, C: int, seed: int) -> np.ndarray:
    """A seeded choice of ``C`` of the ``num_classes`` original classes, sorted ascending.

    The choice depends only on ``(num_classes, C, seed)`` (stream ``rng(seed, "subset",
    "classes")``): train and test splits of one data set get the same classes ([P2] Fig. 3
    varies ``C`` this way).

    Raises:
        ValueError: when ``C`` exceeds ``num_classes`` (naming both) or ``C < 1``.

    Example:
        >>> choose_classes(10, 3, seed=0).tolist() == choose_classes(10, 3, seed=0).tolist()
        True
    """
    num_classes = _check_int("num_classes", num_classes, 1)
    C = _check_int("classes", C, 1)
    if C > num_classes:
        raise ValueError(
            f"Expected `classes` <= {num_classes} (the classes available), got {C!r}"
        )
    if C == num_classes:
        return np.arange(num_classes)
    gen = rng(seed, "subset", "classes")
    return np.sort(gen.choice(num_classes, size=C, replace=False))


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


def _balanced_quota(counts: np.ndarray, n: int, gen: np.random.Generator) -> np.ndarray:
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
            pick = gen.choice(np.flatnonzero(open_), size=remaining, replace=False)
            quota[pick] += 1
            break
        add = np.where(open_, np.minimum(level, counts - quota), 0)
        quota += add
        remaining -= int(add.sum())
        open_ = quota < counts
    return quota


def stratified_indices(y: torch.Tensor | np.ndarray, n: int, seed: int,
                       num_classes: int | None = None, *, purpose: str = "reference",
                       keys: tuple[int | str, ...] = ()) -> np.ndarray:
    """Sorted indices of a class-stratified random sample of size ``n`` from labels ``y``.

    Each class contributes as equally as its size allows (a class with too few samples gives
    all of them, the rest is shared among the others; see :func:`_balanced_quota`).
    Vectorised: one permutation, one stable sort by class, then a rank-within-class
    threshold.

    Args:
        y: labels, shape ``(N,)``.
        n: sample size, ``0 <= n <= N``.
        seed: the root seed; the stream is ``rng(seed, purpose, *keys)``.
        num_classes: number of classes (default ``max(y) + 1``).
        purpose, keys: the named stream (:data:`empirics.seeds.PURPOSES`).

    Raises:
        ValueError: when ``n`` is larger than ``len(y)``.

    Example:
        >>> idx = stratified_indices(np.array([0, 0, 0, 1, 1, 1]), 4, seed=0)
        >>> len(idx), np.bincount(np.array([0, 0, 0, 1, 1, 1])[idx]).tolist()
        (4, [2, 2])
    """
    y_np = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64)
    n = _check_int("n", n, 0)
    if n > len(y_np):
        raise ValueError(f"Expected `n` <= {len(y_np)} (the data set size), got {n!r}")
    C = int(num_classes if num_classes is not None else (y_np.max() + 1 if len(y_np) else 0))
    gen = rng(seed, purpose, *keys)
    counts = np.bincount(y_np, minlength=C)
    quota = _balanced_quota(counts, n, gen)
    return np.flatnonzero(class_ranks(y_np, gen, counts) < quota[y_np])


def sized_indices(y: torch.Tensor | np.ndarray, size: int | None, seed: int, *,
                  num_classes: int, split: str, dataset: str) -> np.ndarray:
    """Indices of the seeded class-stratified ``size``-sample subset of one split.

    What ``load_dataset(..., train_size=, test_size=)`` takes from a real data set (after
    the class subset): as :func:`stratified_indices` on the stream ``rng(seed, "subset",
    split)``; ``size=None`` keeps every sample.

    Args:
        y: the split's labels, shape ``(N,)``.
        size: samples to keep, ``1 <= size <= N``, or ``None`` for all.
        seed: the root seed.
        num_classes: the split's number of classes (for the error message and the quota).
        split: ``"train"`` or ``"test"``; names the argument (``train_size``/``test_size``).
        dataset: the data set's name, for the error message.

    Raises:
        ValueError: when ``size`` exceeds the samples available, naming the argument, the
            value and the available count.

    Example:
        >>> y = np.repeat(np.arange(3), 4)
        >>> np.bincount(y[sized_indices(y, 6, 0, num_classes=3, split="train",
        ...                               dataset="toy")]).tolist()
        [2, 2, 2]
        >>> sized_indices(y, 13, 0, num_classes=3, split="train", dataset="toy")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Expected `train_size` <= 12 (the training samples of dataset 'toy' ...), got 13
    """
    y_len = int(y.shape[0]) if isinstance(y, torch.Tensor) else len(y)
    if size is None:
        return np.arange(y_len)
    argument = f"{split}_size"
    size = _check_int(argument, size, 1)
    if size > y_len:
        what = "training" if split == "train" else split
        raise ValueError(f"Expected `{argument}` <= {y_len} (the {what} samples of dataset "
                         f"{dataset!r} with {num_classes} classes), got {size}")
    return stratified_indices(y, size, seed, num_classes, purpose="subset", keys=(split,))


def sized_subset(ds: Dataset, size: int | None, seed: int, *, split: str) -> Dataset:
    """The :func:`sized_indices` subset of ``ds`` (``ds`` itself for ``size=None``).

    Example:
        >>> ds = Dataset(torch.zeros(8, 2), torch.tensor([0, 1] * 4), 2, "vector", "toy")
        >>> sized_subset(ds, 4, seed=0, split="test").class_counts().tolist()
        [2, 2]
    """
    if size is None:
        return ds
    idx = sized_indices(ds.y, size, seed, num_classes=ds.num_classes, split=split,
                        dataset=ds.name)
    return ds.select(idx, name=ds.name)


def reference_indices(ds: Dataset, n: int, seed: int, *keys: int | str) -> np.ndarray:
    """Indices of :func:`reference_set` (sorted), for callers that need the positions."""
    return stratified_indices(ds.y, n, seed, ds.num_classes, purpose="reference", keys=keys)


def reference_set(ds: Dataset, n: int, seed: int, *keys: int | str) -> Dataset:
    """A fixed, class-stratified subset of ``n`` samples used for evaluation.

    The similarity matrices of THEORY.md s6-s7 are taken over such a set; the same
    ``(ds, n, seed, keys)`` always gives the same samples in the same order. The stream is
    ``rng(seed, "reference", *keys)``: pass the split as key (``"train"``, ``"test"``) to
    draw the two reference sets of a run independently from one root seed.

    Args:
        ds: the data set (train or test split).
        n: reference-set size, ``0 <= n <= len(ds)``; ``n = len(ds)`` returns every sample.
        seed: the root seed.
        *keys: optional keys of the stream (e.g. the split).

    Raises:
        ValueError: when ``n`` exceeds ``len(ds)``.

    Example:
        >>> ds = Dataset(torch.zeros(8, 2), torch.tensor([0, 0, 0, 0, 0, 0, 1, 1]), 2,
        ...              "vector", "t")
        >>> reference_set(ds, 4, 0, "test").class_counts().tolist()
        [2, 2]
    """
    return ds.select(reference_indices(ds, n, seed, *keys), name=ds.name)


def check_test_fraction(test_fraction: float) -> None:
    """``0 < test_fraction < 1`` (a loader checks it before reading any file).

    Raises:
        ValueError: naming ``test_fraction`` and the value.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"Expected `test_fraction` in (0, 1), got {test_fraction!r}")


def stratified_split(y: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test index split that keeps each class's share in both parts.

    Each class ``c`` with ``n_c`` samples puts ``round(test_fraction * n_c)`` in the test
    part. The stream is ``rng(seed, "split")``. Returns sorted ``(train_idx, test_idx)``.

    Raises:
        ValueError: when ``test_fraction`` is not in ``(0, 1)``.

    Example:
        >>> tr, te = stratified_split(np.repeat([0, 1], 4), 0.25, seed=0)
        >>> len(tr), len(te)
        (6, 2)
    """
    check_test_fraction(test_fraction)
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y)
    n_test = np.rint(counts * float(test_fraction)).astype(np.int64)
    is_test = class_ranks(y, rng(seed, "split"), counts) < n_test[y]
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def split_dataset(ds: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """The :func:`stratified_split` of ``ds`` as two data sets ``(train, test)``.

    For data sets without an official split (digits, mnist, one image folder).

    Example:
        >>> ds = Dataset(torch.zeros(8, 2), torch.tensor([0, 1] * 4), 2, "vector", "toy")
        >>> tr, te = split_dataset(ds, 0.25, seed=0)
        >>> tr.class_counts().tolist(), te.class_counts().tolist()
        ([3, 3], [1, 1])
    """
    tr_idx, te_idx = stratified_split(ds.y.cpu().numpy(), test_fraction, seed)
    return ds.select(tr_idx, name=ds.name), ds.select(te_idx, name=ds.name)
