"""Data: a synthetic class-structured generator, scikit-learn digits, CIFAR-10/100 and
image folders from a local path, seeded class subsets and fixed reference sets.

Nothing is downloaded. Every loader returns ``(train, test)`` :class:`Dataset` objects.

>>> train, test = load_dataset("synthetic", classes=5, seed=0, n_per_class=20)
>>> train.num_classes, train.kind, tuple(train.x.shape)
(5, 'vector', (100, 64))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from empirics.data.cifar import load_cifar
from empirics.data.dataset import Dataset
from empirics.data.digits import load_digits
from empirics.data.imagefolder import load_imagefolder
from empirics.data.subsets import (
    choose_classes,
    class_subset,
    reference_indices,
    reference_set,
    stratified_indices,
    stratified_split,
)
from empirics.data.synthetic import SyntheticMap, SyntheticSpec, make_synthetic

DATASETS = ("synthetic", "digits", "cifar10", "cifar100", "imagefolder")

__all__ = [
    "DATASETS",
    "Dataset",
    "SyntheticMap",
    "SyntheticSpec",
    "choose_classes",
    "class_subset",
    "load_cifar",
    "load_dataset",
    "load_digits",
    "load_imagefolder",
    "make_synthetic",
    "num_available_classes",
    "reference_indices",
    "reference_set",
    "stratified_indices",
    "stratified_split",
]


def num_available_classes(name: str, *, root: str | Path | None = None, **kw: Any
                          ) -> int | None:
    """Classes a data set offers, without loading it (``None``: unbounded, synthetic).

    Lets a caller reject ``classes=C`` before any work starts.
    """
    if name == "synthetic":
        return None
    if name == "digits":
        return 10
    if name == "cifar10":
        return 10
    if name == "cifar100":
        return 20 if kw.get("label") == "coarse" else 100
    if name == "imagefolder":
        if root is None:
            raise ValueError("Expected `root` (the image folder) for dataset 'imagefolder', "
                             "got None")
        r = Path(root).expanduser()
        if not r.is_dir():
            raise FileNotFoundError(f"Expected the image folder {str(r)!r} to exist, "
                                    "but it does not")
        if (r / "images").is_dir() and any((r / f"{s}.csv").is_file()
                                            for s in ("train", "val", "test")):
            from empirics.data.imagefolder import _scan_csv

            return len(_scan_csv(r)[2])
        base = r / "train" if (r / "train").is_dir() else r
        return sum(1 for p in base.iterdir() if p.is_dir())
    raise ValueError(f"Expected `name` in {DATASETS}, got {name!r}")


def load_dataset(name: str, *, classes: int | None = None, seed: int = 0,
                 root: str | Path | None = None, **kw: Any) -> tuple[Dataset, Dataset]:
    """Load the train and test splits of a data set, optionally a ``C``-way class subset.

    Args:
        name: one of ``"synthetic"``, ``"digits"``, ``"cifar10"``, ``"cifar100"``,
            ``"imagefolder"``.
        classes: ``C``. For ``"synthetic"`` the number of generated classes (default 10,
            any ``C >= 2``); otherwise a seeded ``C``-way subset relabelled ``0..C-1``
            ([P2] Fig. 3), ``None`` for all classes.
        seed: fixes generation / split / class choice.
        root: local path for ``cifar10``, ``cifar100`` and ``imagefolder``.
        **kw: passed on: :class:`SyntheticSpec` fields for synthetic (``n_per_class``,
            ``input_dim``, ``difficulty``, ``image_shape``, ...); ``test_fraction`` for
            digits; ``label="fine"|"coarse"`` for cifar100; ``size``, ``channels``,
            ``test_fraction``, ``max_per_class`` for imagefolder.

    Raises:
        ValueError: unknown ``name``; ``classes`` larger than the classes available (naming
            both); missing ``root``.
        FileNotFoundError: naming the missing path.
    """
    if name not in DATASETS:
        raise ValueError(f"Expected `name` in {DATASETS}, got {name!r}")
    if name == "synthetic":
        if root is not None:
            raise ValueError(f"Expected no `root` for dataset 'synthetic', got {str(root)!r}")
        spec = SyntheticSpec(num_classes=10 if classes is None else classes, seed=seed, **kw)
        train, test, _ = make_synthetic(spec)
        return train, test
    if name == "imagefolder":
        if root is None:
            raise ValueError("Expected `root` (the image folder) for dataset 'imagefolder', "
                             "got None")
        return load_imagefolder(root, classes=classes, seed=seed, **kw)
    if name == "digits":
        if root is not None:
            raise ValueError(f"Expected no `root` for dataset 'digits', got {str(root)!r}")
        train, test = load_digits(seed=seed, **kw)
    else:
        if root is None:
            raise ValueError(f"Expected `root` (the folder holding the CIFAR files) for "
                             f"dataset {name!r}, got None")
        if classes is not None:  # fail before reading 180 MB
            choose_classes(num_available_classes(name, **kw) or 0, classes, seed)
        return load_cifar(name, root, classes=classes, seed=seed, **kw)
    if classes is not None:
        train, test = class_subset(train, classes, seed), class_subset(test, classes, seed)
    return train, test
