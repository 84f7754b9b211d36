"""CIFAR-10 and CIFAR-100 from a local copy in their standard python-pickle format.

Expected layouts (as unpacked from the official ``*-python.tar.gz`` archives)::

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    ROOT/cifar-100-python/{train, test, meta}

``root`` may be ``ROOT`` or the inner folder itself. Each batch is a pickled dict with
``b"data"`` (``uint8``, ``(n, 3072)``, channel-major RGB 32x32) and ``b"labels"``
(CIFAR-10) or ``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100). Images are returned
as float32 ``(n, 3, 32, 32)`` in ``[0, 1]``.

The files are pickles, read with :func:`empirics.data.safe_pickle.load_data_pickle`: only
dicts, lists, bytes, str, numbers and numpy arrays are built, and a file that names any
other global (a planted payload) is refused before anything runs. A corrupt or truncated
file is a one-line ``ValueError`` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

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


def _array(d: dict, key: str, path: Path, dtype: type) -> np.ndarray:
    """``d[key]`` as a numpy array of ``dtype``; a ValueError naming the file if it is not one."""
    value = _get(d, key, path)
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"Expected `{key}` as {np.dtype(dtype).name} numbers in "
                         f"{str(path)!r}, got {type(err).__name__}: {err}") from err


def _find_dir(root: str | Path, folder: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"Expected the data root {str(root)!r} to exist, but it does not")
    for cand in (root / folder, root):
        if (cand / _LAYOUT_META[folder]).is_file():
            return cand
    raise FileNotFoundError(
        f"Expected a {folder!r} folder with {_LAYOUT_META[folder]!r} in {str(root)!r} "
        f"(or {str(root)!r} to be that folder), found neither"
    )


_LAYOUT_META = {v[0]: v[3] for v in _LAYOUT.values()}


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
            unsafe file (naming it).
    """
    if name not in _LAYOUT:
        raise ValueError(f"Expected `name` in {sorted(_LAYOUT)}, got {name!r}")
    if label not in ("fine", "coarse"):
        raise ValueError(f"Expected `label` in ['coarse', 'fine'], got {label!r}")
    folder, train_files, test_files, meta_file = _LAYOUT[name]
    base = _find_dir(root, folder)
    meta = _unpickle(base / meta_file)
    if name == "cifar10":
        label_key, names_key = "labels", "label_names"
    else:
        label_key, names_key = f"{label}_labels", f"{label}_label_names"
    names = _get(meta, names_key, base / meta_file)
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"Expected `{names_key}` as a non-empty list in "
                         f"{str(base / meta_file)!r}, got {type(names).__name__}")
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    keep, lut = class_lookup(len(class_names), classes, seed)
    kept_names = [class_names[c] for c in keep]

    suffix = "" if name == "cifar10" or label == "fine" else "-coarse"

    def read(files: list[str], split: str, size: int | None) -> Dataset:
        xs, ys = [], []
        for fname in files:
            path = base / fname
            d = _unpickle(path)
            data = _array(d, "data", path, np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"Expected `data` of shape (n, 3072) in {str(path)!r}, "
                                 f"got {data.shape}")
            labels = _array(d, label_key, path, np.int64).reshape(-1)
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
        data = np.concatenate(xs)[idx].reshape(-1, 3, 32, 32)
        x = torch.from_numpy(data).float().div_(255.0)
        meta = {"root": str(base), "split": split}
        if classes is not None:
            meta["original_classes"] = keep.tolist()
        return Dataset(x=x, y=torch.from_numpy(new_y[idx]), num_classes=len(keep),
                       kind="image", name=name + suffix, class_names=kept_names, meta=meta)

    return read(train_files, "train", train_size), read(test_files, "test", test_size)
