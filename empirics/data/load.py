"""One entry point for every data set: ``load_dataset(name, ...) -> (train, test)``.

Dispatches on the names of :mod:`empirics.data.catalog` and applies the two choices every
data set shares, in this order ([P2] Fig. 3 varies ``C`` this way):

1. ``classes=C``: a seeded ``C``-way class subset relabelled ``0..C-1`` (synthetic:
   the number of classes generated). ``classes=None`` means every class the data set has:
   its real class count (:func:`resolve_classes`: the class folders of an image folder,
   the class names of the CIFAR meta file, 100 fine or 20 coarse for CIFAR-100), and for
   the synthetic generator, which has none of its own, ``SYNTHETIC_CLASSES`` (10). A
   request for more classes than the data set has is a ``ValueError`` naming ``classes``
   and both numbers, raised before any image is read;
2. ``train_size`` / ``test_size``: synthetic generates ``size // C`` samples per class;
   every other data set keeps a seeded class-stratified subset of that many samples of
   the split (after the class subset), and a size larger than the split is a
   ``ValueError`` naming the argument, the value and the available count.

>>> train, test = load_dataset("synthetic", classes=5, seed=0, train_size=100, test_size=50)
>>> train.num_classes, train.kind, tuple(train.x.shape), len(test)
(5, 'vector', (100, 64), 50)
>>> train, test = load_dataset("digits", classes=3, seed=0, train_size=30)
>>> train.class_counts().tolist()
[10, 10, 10]
>>> resolve_classes("digits", None), resolve_classes("cifar100", None, label="coarse")
(10, 20)
>>> resolve_classes("mnist", 12)
Traceback (most recent call last):
...
ValueError: Expected `classes` <= 10 (the classes of dataset 'mnist'), got 12
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from empirics.data.catalog import SYNTHETIC_CLASSES, SYNTHETIC_SIZES, dataset_info
from empirics.data.dataset import Dataset
from empirics.data.subsets import _check_int, class_subset, sized_subset

__all__ = ["BUNDLED", "load_dataset", "num_available_classes", "resolve_classes"]

#: Loaders of the data sets shipped inside a package (arrays without an official split).
BUNDLED = {"digits": "empirics.data.bundled:load_digits",
           "mnist": "empirics.data.bundled:load_mnist"}


def num_available_classes(name: str, *, root: str | Path | None = None, **kw: Any
                          ) -> int | None:
    """Classes a data set offers, without loading it (``None``: unbounded, synthetic).

    Lets a caller reject ``classes=C`` before any work starts. With ``root``, CIFAR's count
    is that of its meta file (read alone, a few kB); without, the catalog's.

    Raises:
        ValueError: unknown ``name``; ``imagefolder`` without ``root``, or a folder that
            holds no class folders; a CIFAR meta file that cannot be read (naming it).
        FileNotFoundError: an image folder or CIFAR root that does not exist.

    Example:
        >>> num_available_classes("cifar100", label="coarse"), num_available_classes("mnist")
        (20, 10)
    """
    info = dataset_info(name)
    if name in ("cifar10", "cifar100") and root is not None:
        from empirics.data.cifar import count_classes as count_cifar

        return count_cifar(name, root, label=kw.get("label", "fine"))
    if name == "cifar100" and kw.get("label") == "coarse":
        return 20
    if info.classes is not None or name == "synthetic":
        return info.classes
    if root is None:
        raise ValueError(f"Expected `root` (the image folder) for dataset {name!r}, got None")
    from empirics.data.imagefolder import count_classes

    return count_classes(root)


def resolve_classes(name: str, classes: int | None = None, *,
                    root: str | Path | None = None, **kw: Any) -> int:
    """The number of classes ``load_dataset(name, classes=classes, ...)`` gives, checked
    before any data is read.

    ``classes=None`` means every class the data set has (:func:`num_available_classes`);
    for ``synthetic``, which has no count of its own, ``SYNTHETIC_CLASSES`` (10).

    Args:
        name: a data set name.
        classes: ``C`` (an int, ``>= 1``; ``>= 2`` for synthetic) or ``None``.
        root, **kw: as for :func:`load_dataset` (``label`` for CIFAR-100).

    Raises:
        TypeError: ``classes`` is neither an int nor ``None``.
        ValueError: ``classes`` below its minimum, or larger than the classes the data set
            has (naming ``classes`` and both numbers); the errors of
            :func:`num_available_classes`.
        FileNotFoundError: a missing ``root``.
    """
    low = 2 if name == "synthetic" else 1
    if classes is not None:
        classes = _check_int("classes", classes, low)
        # the catalog's count first: no file is read for a request no copy could meet
        _at_most(name, classes, num_available_classes(name, **kw)
                 if dataset_info(name).classes is not None else None)
    available = num_available_classes(name, root=root, **kw)
    if available is None:  # synthetic: any C
        return SYNTHETIC_CLASSES if classes is None else classes
    if classes is None:
        return available
    _at_most(name, classes, available)
    return classes


def _at_most(name: str, classes: int, available: int | None) -> None:
    if available is not None and classes > available:
        raise ValueError(f"Expected `classes` <= {available} (the classes of dataset "
                         f"{name!r}), got {classes}")


def _check_size(argument: str, value: Any) -> int | None:
    return None if value is None else _check_int(argument, value, 1)


def _synthetic(C: int, seed: int, train_size: int | None, test_size: int | None,
               kw: dict[str, Any]) -> tuple[Dataset, Dataset]:
    from empirics.data.synthetic import SyntheticSpec, make_synthetic

    if "num_classes" in kw:
        raise ValueError("Expected `classes` for the number of classes of dataset "
                         f"'synthetic', got `num_classes` = {kw['num_classes']!r}")
    for split, size, per_class in (("train", train_size, "n_per_class"),
                                   ("test", test_size, "n_test_per_class")):
        if size is not None and per_class in kw:
            raise ValueError(f"Expected one of `{split}_size` or `{per_class}`, got both")
        if per_class in kw:
            continue
        if size is None:  # the default size; at least one sample per class
            kw[per_class] = max(1, SYNTHETIC_SIZES[split] // C)
        elif size < C:
            raise ValueError(f"Expected `{split}_size` >= `classes` ({C}) for dataset "
                             f"'synthetic' (it generates {split}_size // classes per class), "
                             f"got {size}")
        else:
            kw[per_class] = size // C
    spec = SyntheticSpec(num_classes=C, seed=seed, **kw)
    train, test, _ = make_synthetic(spec)
    return train, test


def load_dataset(name: str, *, classes: int | None = None, seed: int = 0,
                 root: str | Path | None = None, train_size: int | None = None,
                 test_size: int | None = None, **kw: Any) -> tuple[Dataset, Dataset]:
    """Load the train and test splits of a data set, optionally a ``C``-way class subset.

    Args:
        name: one of :data:`~empirics.data.catalog.DATASETS` (``synthetic``, ``digits``,
            ``mnist``, ``cifar10``, ``cifar100``, ``imagefolder``).
        classes: ``C``. For ``"synthetic"`` the number of generated classes (any
            ``C >= 2``; ``None``: ``SYNTHETIC_CLASSES`` = 10); otherwise a seeded ``C``-way
            subset relabelled ``0..C-1`` ([P2] Fig. 3), ``None`` for every class the data
            set has (:func:`resolve_classes`).
        seed: the root seed of generation, split, class choice and size subsets
            (streams of :mod:`empirics.seeds`).
        root: local path for ``cifar10``, ``cifar100`` and ``imagefolder``.
        train_size, test_size: synthetic generates ``size // C`` samples per class
            (``None``: 4096 and 1024, at least one per class); the other data sets keep a
            seeded class-stratified subset of ``size`` samples of the split (``None``: all).
        **kw: passed on: :class:`~empirics.data.SyntheticSpec` fields for synthetic
            (``n_per_class`` and ``n_test_per_class`` instead of the sizes, ``input_dim``,
            ``difficulty``, ``image_shape``, ``prototypes``, ...); ``test_fraction`` for
            digits and mnist;
            ``label="fine"|"coarse"`` for cifar100; ``size``, ``channels``,
            ``test_fraction``, ``max_per_class``, ``workers`` for imagefolder.

    Raises:
        ValueError: unknown ``name``; ``classes`` larger than the classes available (naming
            ``classes`` and both numbers, before any image is read); ``train_size`` /
            ``test_size`` larger than the split (naming the argument, the value and the
            available count); ``root`` missing, empty, a file where a folder is expected,
            or given where unused; bad data (naming the file).
        TypeError: ``classes``, a size or ``root`` of the wrong type.
        FileNotFoundError: naming the missing path.
    """
    info = dataset_info(name)
    train_size = _check_size("train_size", train_size)
    test_size = _check_size("test_size", test_size)
    if info.needs_root and root is None:
        what = "image folder" if name == "imagefolder" else "folder holding the CIFAR files"
        raise ValueError(f"Expected `root` (the {what}) for dataset {name!r}, got None")
    if not info.needs_root and root is not None:
        raise ValueError(f"Expected no `root` for dataset {name!r}, got {str(root)!r}")
    # every class count is checked here, before any image is read (the catalog's count
    # first; then image folders list their class folders, CIFAR reads its small meta file)
    C = resolve_classes(name, classes, root=root,
                        **{k: v for k, v in kw.items() if k == "label"})
    if name == "synthetic":
        return _synthetic(C, seed, train_size, test_size, dict(kw))
    sizes = {"train_size": train_size, "test_size": test_size}
    if name == "imagefolder":
        from empirics.data.imagefolder import load_imagefolder

        return load_imagefolder(root, classes=classes, seed=seed, **sizes, **kw)
    if name in ("cifar10", "cifar100"):
        from empirics.data.cifar import load_cifar

        return load_cifar(name, root, classes=classes, seed=seed, **sizes, **kw)
    module, function = BUNDLED[name].split(":")
    loader = getattr(importlib.import_module(module), function)
    train, test = loader(seed=seed, **kw)
    if classes is not None:
        train, test = class_subset(train, classes, seed), class_subset(test, classes, seed)
    return (sized_subset(train, train_size, seed, split="train"),
            sized_subset(test, test_size, seed, split="test"))
