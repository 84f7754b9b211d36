"""scikit-learn's bundled handwritten digits as real 8x8 one-channel images.

1797 images of the digits 0-9 (UCI optdigits test set, shipped inside scikit-learn, so
nothing is downloaded). Pixel values ``0..16`` are scaled to ``[0, 1]``; inputs have shape
``(n, 1, 8, 8)``. The train/test split is class-stratified and fixed by ``seed`` (stream
``rng(seed, "split")``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from empirics.data.dataset import Dataset
from empirics.data.subsets import split_dataset


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 images ``(n, 8, 8)`` (values 0..16) and labels, from scikit-learn's file.

    Reads the bundled ``digits.csv.gz`` directly (what ``sklearn.datasets.load_digits``
    reads), which avoids importing scikit-learn (seconds); falls back to that function.
    """
    spec = importlib.util.find_spec("sklearn")
    path = None
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
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
    images, target = _read_digits()
    x = torch.from_numpy((images / 16.0).astype(np.float32)[:, None])
    y = torch.from_numpy(target)
    names = [str(c) for c in range(10)]
    full = Dataset(x=x, y=y, num_classes=10, kind="image", name="digits", class_names=names)
    return split_dataset(full, test_fraction, seed)
