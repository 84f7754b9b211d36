"""CIFAR-10 and CIFAR-100 from a local copy in their standard python-pickle format.

Expected layouts (as unpacked from the official ``*-python.tar.gz`` archives)::

    ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    ROOT/cifar-100-python/{train, test, meta}

``root`` may be ``ROOT`` or the inner folder itself. Each batch is a pickled dict with
``b"data"`` (``uint8``, ``(n, 3072)``, channel-major RGB 32x32) and ``b"labels"``
(CIFAR-10) or ``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100). Images are returned
as float32 ``(n, 3, 32, 32)`` in ``[0, 1]``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from empirics.data.dataset import Dataset
from empirics.data.subsets import class_lookup

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                ["test_batch"], "batches.meta"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta"),
}


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"Expected the CIFAR file {str(path)!r}, but it does not exist")
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


def _get(d: dict, key: str, path: Path):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise ValueError(f"Expected key {key!r} in the CIFAR file {str(path)!r}, got keys "
                     f"{sorted(str(k) for k in d)}")


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
               classes: int | None = None, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Train and test splits of CIFAR-10 or CIFAR-100 read from a local path.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: the folder holding ``cifar-10-batches-py`` / ``cifar-100-python`` (or that
            folder itself).
        label: for CIFAR-100, ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        classes: keep a seeded ``C``-way class subset relabelled ``0..C-1`` (chosen as by
            :func:`~empirics.data.class_subset`, before the float conversion, which saves
            memory); ``None`` keeps all classes.
        seed: selects the class subset.

    Raises:
        FileNotFoundError: naming the missing path.
        ValueError: for an unknown ``name`` or ``label``, ``classes`` larger than the classes
            available, or a malformed file.
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
    class_names = [n.decode() if isinstance(n, bytes) else str(n)
                   for n in _get(meta, names_key, base / meta_file)]
    keep, lut = class_lookup(len(class_names), classes, seed)
    kept_names = [class_names[c] for c in keep]

    def read(files: list[str], split: str) -> Dataset:
        xs, ys = [], []
        for fname in files:
            d = _unpickle(base / fname)
            data = np.asarray(_get(d, "data", base / fname), dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"Expected `data` of shape (n, 3072) in "
                                 f"{str(base / fname)!r}, got {data.shape}")
            xs.append(data)
            ys.append(np.asarray(_get(d, label_key, base / fname), dtype=np.int64))
        y = np.concatenate(ys)
        if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise ValueError(f"Expected labels in [0, {len(class_names) - 1}] in {str(base)!r} "
                             f"({split}), got range [{y.min()}, {y.max()}]")
        new_y = lut[y]
        idx = np.flatnonzero(new_y >= 0)
        data = np.concatenate(xs)[idx].reshape(-1, 3, 32, 32)
        x = torch.from_numpy(data).float().div_(255.0)
        suffix = "" if name == "cifar10" or label == "fine" else "-coarse"
        meta = {"root": str(base), "split": split}
        if classes is not None:
            meta["original_classes"] = keep.tolist()
        return Dataset(x=x, y=torch.from_numpy(new_y[idx]), num_classes=len(keep),
                       kind="image", name=name + suffix, class_names=kept_names, meta=meta)

    return read(train_files, "train"), read(test_files, "test")
