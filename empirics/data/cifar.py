"""CIFAR-10 and CIFAR-100 from a local copy in their standard python-pickle format.

Expected layouts (as unpacked from the official ``*-python.tar.gz`` archives)::

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    ROOT/cifar-100-python/{train, test, meta}

``root`` may be ``ROOT`` or the inner folder itself. Each batch is a pickled dict with
``b"data"`` (``uint8``, ``(n, 3072)``, channel-major RGB 32x32) and ``b"labels"``
(CIFAR-10) or ``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100). Images are returned
as float32 ``(n, 3, 32, 32)`` in ``[0, 1]``; the class count is that of the meta file's
class names (:func:`count_classes`).

Pixel values (:func:`read_pixels`), one rule per file, never a silent cast:

- ``uint8`` (the format), or any integer type with every value in ``0..255``: pixels,
  divided by 255;
- floating point with every value in ``[0, 1]``: already intensities, kept as they are;
- floating point with every value a whole number in ``[0, 255]`` (uint8 pixels stored as
  floats; some above 1): pixels, divided by 255;
- anything else (negative or non-finite values, integers above 255, fractional values
  above 1, strings, booleans) is refused with one line naming the file, the dtype and the
  range found. (Before, a float batch in ``[0, 1)`` was cast to uint8: every image 0.)

Labels must be integers (or floats holding whole numbers) in ``0..C-1``.

The files are pickles, read with :func:`empirics.data.safe_pickle.load_data_pickle`: only
dicts, lists, bytes, str, numbers and numpy arrays are built, and a file that names any
other global (a planted payload) is refused before anything runs. A corrupt or truncated
file is a one-line ``ValueError`` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from empirics.data.catalog import check_root
from empirics.data.dataset import Dataset
from empirics.data.safe_pickle import load_data_pickle
from empirics.data.subsets import class_lookup, sized_indices

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                ["test_batch"], "batches.meta"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta"),
}


def _unpickle(path: Path) -> dict:
    return load_data_pickle(path, what="CIFAR file")


def _get(d: dict, key: str, path: Path):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise ValueError(f"Expected key {key!r} in the CIFAR file {str(path)!r}, got keys "
                     f"{sorted(str(k) for k in d)}")


def _numbers(d: dict, key: str, path: Path) -> np.ndarray:
    """``d[key]`` as a numeric numpy array (its own dtype); a ValueError naming the file."""
    value = _get(d, key, path)
    try:
        a = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"Expected `{key}` as an array of numbers in {str(path)!r}, got "
                         f"{type(err).__name__}: {err}") from err
    if a.dtype.kind not in "iuf":
        raise ValueError(f"Expected `{key}` as an array of numbers in {str(path)!r}, got "
                         f"dtype {a.dtype}")
    return a


def _range(a: np.ndarray) -> str:
    return f"[{a.min():g}, {a.max():g}]" if a.size else "no values"


def read_pixels(d: dict, path: Path) -> np.ndarray:
    """``d[b"data"]`` by the pixel rule of the module docstring: ``uint8`` pixels, or
    float32 intensities in ``[0, 1]``.

    Raises:
        ValueError: values that fit no rule, naming the file, the dtype and the range.

    >>> read_pixels({b"data": np.array([[0.0, 0.5, 1.0]])}, Path("b")).dtype.name
    'float32'
    >>> read_pixels({b"data": np.array([[0.0, 2.0, 255.0]])}, Path("b")).tolist()
    [[0, 2, 255]]
    >>> read_pixels({b"data": np.array([[0.0, 2.5]])}, Path("b"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Expected `data` as pixels 0..255 (...) in 'b', got float64 values in [0, 2.5]
    """
    a = _numbers(d, "data", path)
    if a.dtype == np.uint8 or a.size == 0:
        return a.astype(np.uint8, copy=False)
    if a.dtype.kind in "iu" and a.min() >= 0 and a.max() <= 255:
        return a.astype(np.uint8)
    if a.dtype.kind == "f" and np.isfinite(a).all() and a.min() >= 0:
        if a.max() <= 1:
            return a.astype(np.float32, copy=False)
        if a.max() <= 255 and np.array_equal(a, np.floor(a)):
            return a.astype(np.uint8)
    found = (f"{a.dtype} values in {_range(a)}" if a.dtype.kind in "iu" or np.isfinite(a).all()
             else f"{a.dtype} values with NaN or infinity")
    raise ValueError(f"Expected `data` as pixels 0..255 (uint8, or integers 0..255, or floats "
                     f"in [0, 1] or whole numbers 0..255) in {str(path)!r}, got {found}")


def read_labels(d: dict, key: str, path: Path) -> np.ndarray:
    """``d[key]`` as int64 labels (integers, or floats holding whole numbers).

    Raises:
        ValueError: fractional, non-finite or non-numeric labels, naming the file.
    """
    a = _numbers(d, key, path).reshape(-1)
    if a.dtype.kind == "f":
        if not (np.isfinite(a).all() and np.array_equal(a, np.floor(a))):
            raise ValueError(f"Expected `{key}` as whole numbers in {str(path)!r}, got "
                             f"{a.dtype} values that are not")
    return a.astype(np.int64)


def _find_dir(root: str | Path, folder: str) -> Path:
    root = check_root(root)  # a missing path, a file, an empty path: one sentence each
    for cand in (root / folder, root):
        if (cand / _LAYOUT_META[folder]).is_file():
            return cand
    raise FileNotFoundError(
        f"Expected a {folder!r} folder with {_LAYOUT_META[folder]!r} in the data root "
        f"{str(root)!r} (or the data root to be that folder), found neither"
    )


_LAYOUT_META = {v[0]: v[3] for v in _LAYOUT.values()}


def _check_name_label(name: str, label: str) -> None:
    if name not in _LAYOUT:
        raise ValueError(f"Expected `name` in {sorted(_LAYOUT)}, got {name!r}")
    if label not in ("fine", "coarse"):
        raise ValueError(f"Expected `label` in ['coarse', 'fine'], got {label!r}")


def _class_names(name: str, base: Path, label: str) -> list[str]:
    """The class names of the meta file in ``base`` (CIFAR-100: of ``label``)."""
    meta_file = base / _LAYOUT[name][3]
    key = "label_names" if name == "cifar10" else f"{label}_label_names"
    names = _get(_unpickle(meta_file), key, meta_file)
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"Expected `{key}` as a non-empty list in {str(meta_file)!r}, got "
                         f"{type(names).__name__}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def count_classes(name: str, root: str | Path, *, label: str = "fine") -> int:
    """The number of classes of the CIFAR copy in ``root``: its meta file's class names
    (read alone, a few kB, before any batch).

    Raises:
        FileNotFoundError: no CIFAR layout at ``root`` (naming it).
        ValueError: a bad ``name`` or ``label``; a meta file that cannot be read.
    """
    _check_name_label(name, label)
    return len(_class_names(name, _find_dir(root, _LAYOUT[name][0]), label))


def load_cifar(name: str, root: str | Path, *, label: str = "fine",
               classes: int | None = None, seed: int = 0, train_size: int | None = None,
               test_size: int | None = None) -> tuple[Dataset, Dataset]:
    """Train and test splits of CIFAR-10 or CIFAR-100 read from a local path.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: the folder holding ``cifar-10-batches-py`` / ``cifar-100-python`` (or that
            folder itself).
        label: for CIFAR-100, ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        classes: keep a seeded ``C``-way class subset relabelled ``0..C-1`` (chosen as by
            :func:`~empirics.data.class_subset`, before the float conversion, which saves
            memory); ``None`` keeps all classes.
        seed: selects the class subset and the size subsets.
        train_size, test_size: keep a seeded class-stratified subset of this many samples
            of the split (after the class subset; :func:`~empirics.data.sized_indices`),
            taken before the float conversion; ``None`` keeps all.

    Raises:
        FileNotFoundError: naming the missing path.
        ValueError: for an unknown ``name`` or ``label``, ``classes`` larger than the classes
            available, a size larger than the split, or a malformed, corrupt, truncated or
            unsafe file, or pixel values that fit no rule of the module docstring (naming
            it); the data root is a file.
    """
    _check_name_label(name, label)
    folder, train_files, test_files, _ = _LAYOUT[name]
    base = _find_dir(root, folder)
    label_key = "labels" if name == "cifar10" else f"{label}_labels"
    class_names = _class_names(name, base, label)
    keep, lut = class_lookup(len(class_names), classes, seed)
    kept_names = [class_names[c] for c in keep]

    suffix = "" if name == "cifar10" or label == "fine" else "-coarse"

    def read(files: list[str], split: str, size: int | None) -> Dataset:
        xs, ys = [], []
        for fname in files:
            path = base / fname
            d = _unpickle(path)
            data = read_pixels(d, path)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"Expected `data` of shape (n, 3072) in {str(path)!r}, "
                                 f"got {data.shape}")
            labels = read_labels(d, label_key, path)
            if len(labels) != len(data):
                raise ValueError(f"Expected one label per image in {str(path)!r} "
                                 f"({len(data)} images), got {len(labels)} labels")
            xs.append(data)
            ys.append(labels)
        y = np.concatenate(ys)
        if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise ValueError(f"Expected labels in [0, {len(class_names) - 1}] in {str(base)!r} "
                             f"({split}), got range [{y.min()}, {y.max()}]")
        new_y = lut[y]
        idx = np.flatnonzero(new_y >= 0)
        idx = idx[sized_indices(new_y[idx], size, seed, num_classes=len(keep), split=split,
                                dataset=name + suffix)]
        if all(a.dtype == np.uint8 for a in xs):  # the format: one division, in float32
            data = np.concatenate(xs)[idx].reshape(-1, 3, 32, 32)
            x = torch.from_numpy(data).float().div_(255.0)
        else:  # some file held [0, 1] floats: the same division for the uint8 ones
            data = np.concatenate([a if a.dtype == np.float32
                                   else a.astype(np.float32) / np.float32(255.0)
                                   for a in xs])[idx].reshape(-1, 3, 32, 32)
            x = torch.from_numpy(np.ascontiguousarray(data))
        meta = {"root": str(base), "split": split}
        if classes is not None:
            meta["original_classes"] = keep.tolist()
        return Dataset(x=x, y=torch.from_numpy(new_y[idx]), num_classes=len(keep),
                       kind="image", name=name + suffix, class_names=kept_names, meta=meta)

    return read(train_files, "train", train_size), read(test_files, "test", test_size)
