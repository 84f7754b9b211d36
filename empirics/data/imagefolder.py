"""Image-folder data sets (Mini-ImageNet, Tiny-ImageNet, ...) read from a local path.

Supported layouts (the first that matches is used)::

    ROOT/train/<class>/**/<image>  and  ROOT/val|test/<class>/**/<image>   split folders
    ROOT/train/<wnid>/images/*.JPEG and ROOT/val/images/*.JPEG             Tiny-ImageNet
        with ROOT/val/val_annotations.txt  (``file<TAB>wnid<TAB>...`` per line)
    ROOT/images/<image> with ROOT/{train,val,test}.csv (``filename,label``)  Mini-ImageNet
        (the few-shot csv layout, whose splits have disjoint classes: all csv rows are
        pooled and split by a seeded class-stratified split, ``test_fraction``)
    ROOT/<class>/**/<image>  (or ROOT/train/<class>/... alone)              one folder,
        split into train/test by a seeded class-stratified split (``test_fraction``)

Images (``.png .jpg .jpeg .bmp .gif .webp``, any case) are decoded with Pillow, converted
to RGB (or grayscale for ``channels=1``), resized to ``size x size`` (bilinear) and
returned as float32 ``(n, channels, size, size)`` in ``[0, 1]``. Modes, by one rule each
(:func:`to_8bit`): grayscale and colour images may be mixed (grayscale is repeated in the
three channels; colour becomes luma for ``channels=1``); an alpha channel is dropped (the
stored colour is kept, as torchvision's loader does); palette images go through RGBA;
16-bit images (``I;16`` grayscale PNGs, or mode ``I`` from a PNG) keep their high byte,
``0..65535 -> 0..255`` (Pillow reads 16-bit RGB PNGs so itself); 32-bit integer or float
images of other formats (mode ``I``, ``F``), whose range is unknown, are refused naming
the file; an animated image gives its first frame. Class names are the
sorted sub-folder names of the training part (hidden folders, ``.name``, are skipped). A
class subset, the per-class cap and the ``train_size`` / ``test_size`` subsets are chosen
*before* decoding, so ``classes=C`` on a large folder only reads the ``C`` chosen classes.

Bad folders are one-line errors naming the path: a missing root, a file given as root, a
folder with no class folders (and the layouts expected), an empty class folder, an
unreadable folder or annotation file, an image that cannot be decoded.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from empirics.data.catalog import check_root
from empirics.data.dataset import Dataset
from empirics.data.subsets import class_lookup, class_ranks, sized_indices, stratified_split
from empirics.seeds import rng

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
#: The layouts, as a user reads them in an error message.
LAYOUTS = ("ROOT/<class>/<image>, ROOT/train/<class>/<image> with ROOT/val/<class>/<image>, "
           "Tiny-ImageNet, or ROOT/images/ with train.csv/val.csv/test.csv")


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _no_class_folders(folder: Path, root: Path | None = None) -> ValueError:
    where = "the data root " if folder == root else ""
    return ValueError(f"Expected class folders in {where}{str(folder)!r} (one of the layouts "
                      f"{LAYOUTS}), found none")


def _scan_class_folders(folder: Path, class_names: list[str] | None, root: Path | None = None
                        ) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels of ``folder/<class>/**/<image>``; classes from ``class_names``.

    Raises:
        ValueError: when ``folder`` holds no class folder, a class folder holds no image,
            or (with ``class_names``) a class folder is not one of them.
    """
    dirs = _listing(folder, _class_dirs)
    if not dirs:
        raise _no_class_folders(folder, root)
    if class_names is None:
        class_names = [d.name for d in dirs]
    index = {c: i for i, c in enumerate(class_names)}
    files: list[Path] = []
    labels: list[int] = []
    for d in dirs:  # one iteration per class folder, not per image
        if d.name not in index:
            raise ValueError(f"Expected the class folder {str(d)!r} to be one of the "
                             f"{len(class_names)} training classes, got {d.name!r} (for "
                             "splits with disjoint classes, pass one split folder as root)")
        imgs = _listing(d, _images_under)
        if not imgs:
            raise ValueError(f"Expected images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the "
                             f"class folder {str(d)!r}, found none")
        files += imgs
        labels += [index[d.name]] * len(imgs)
    return files, labels, class_names


def _scan_tiny_val(val: Path, class_names: list[str]) -> tuple[list[Path], list[int]]:
    ann = val / "val_annotations.txt"
    index = {c: i for i, c in enumerate(class_names)}
    files, labels = [], []
    try:
        text = ann.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"Expected a readable UTF-8 annotation file at {str(ann)!r}, got "
                         f"{type(err).__name__}: {err}") from err
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise ValueError(f"Expected `file<TAB>class` with a training class at line "
                             f"{line_no} of {str(ann)!r}, got {line!r}")
        path = val / "images" / parts[0]
        if not path.is_file():
            raise FileNotFoundError(f"Expected the image {str(path)!r} listed in {str(ann)!r}, "
                                    "but it does not exist")
        files.append(path)
        labels.append(index[parts[1]])
    return files, labels


def _scan_csv(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels listed in ``root/{train,val,test}.csv`` (``filename,label`` rows)."""
    rows: list[tuple[str, str]] = []
    for name in ("train.csv", "val.csv", "test.csv"):
        path = root / name
        if not path.is_file():
            continue
        try:
            with path.open(newline="", encoding="utf-8") as f:
                for line_no, rec in enumerate(csv.reader(f), start=1):
                    if line_no == 1 and rec[:2] == ["filename", "label"] or not rec:
                        continue
                    if len(rec) < 2:
                        raise ValueError(f"Expected `filename,label` at line {line_no} of "
                                         f"{str(path)!r}, got {','.join(rec)!r}")
                    rows.append((rec[0], rec[1]))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"Expected a readable UTF-8 csv file at {str(path)!r}, got "
                             f"{type(err).__name__}: {err}") from err
    if not rows:
        raise ValueError(f"Expected `filename,label` rows in the csv files of {str(root)!r}, "
                         "found none")
    class_names = sorted({lab for _, lab in rows})
    index = {c: i for i, c in enumerate(class_names)}
    files = [root / "images" / fn for fn, _ in rows]
    missing = next((p for p in files if not p.is_file()), None)
    if missing is not None:
        raise FileNotFoundError(f"Expected the image {str(missing)!r} listed in the csv files "
                                f"of {str(root)!r}, but it does not exist")
    return files, [index[lab] for _, lab in rows], class_names


def _listing(folder: Path, list_it):
    """``list_it(folder)``, an unreadable folder raised as one sentence naming it."""
    try:
        return list_it(folder)
    except OSError as err:
        raise ValueError(f"Expected a readable folder at {str(folder)!r}, got "
                         f"{type(err).__name__}: {err.strerror or err}") from err


def _test_dir(root: Path) -> Path | None:
    return next((root / s for s in ("val", "test") if (root / s).is_dir()), None)


def _is_csv_layout(root: Path) -> bool:
    return (root / "images").is_dir() and any(
        (root / f"{s}.csv").is_file() for s in ("train", "val", "test"))


def count_classes(root: str | Path) -> int:
    """The number of classes of the image folder ``root``, without decoding any image.

    Raises:
        FileNotFoundError: when nothing is at ``root``.
        ValueError: when ``root`` is a file, is unreadable, or holds no class folders
            (naming the layouts expected).
    """
    root = check_root(root)
    if not ((root / "train").is_dir() and _test_dir(root) is not None) and _is_csv_layout(root):
        return len(_scan_csv(root)[2])
    folder = root / "train" if (root / "train").is_dir() else root
    n = len(_listing(folder, _class_dirs))
    if n == 0:
        raise _no_class_folders(folder, root)
    return n


#: Pillow modes of 16-bit grayscale (``I`` is what older Pillow gives for a 16-bit PNG).
_MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")


def to_8bit(im, path: Path):
    """``im`` in a mode Pillow converts to ``RGB`` / ``L`` without loss of meaning (the
    mode rules of the module docstring).

    Raises:
        ValueError: a 32-bit integer or float image (mode ``I`` not from a PNG, ``F``),
            whose range is unknown, naming the file.
    """
    from PIL import Image

    mode = im.mode
    if mode in _MODES_16 or (mode == "I" and im.format == "PNG"):
        a = np.asarray(im).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(f"Expected 16-bit values 0..65535 in the image {str(path)!r}, "
                             f"got [{a.min()}, {a.max()}]")
        return Image.fromarray((a >> 8).astype(np.uint8), "L")  # the high byte
    if mode in ("I", "F") or mode.startswith(("I;", "F;")):
        raise ValueError(f"Expected an image with 8-bit or 16-bit channels at {str(path)!r}, "
                         f"got Pillow mode {mode!r} (32-bit, of unknown range); convert it "
                         "to 8 bits first")
    if mode in ("P", "PA"):  # palette (maybe with transparency): through RGBA, no warning
        return im.convert("RGBA")
    return im


def _decode(files: list[Path], size: int, channels: int, workers: int) -> torch.Tensor:
    from PIL import Image

    mode = "RGB" if channels == 3 else "L"
    out = np.empty((len(files), size, size, channels), dtype=np.uint8)

    def one(i: int) -> None:
        try:
            with Image.open(files[i]) as im:
                im = to_8bit(im, files[i])
                im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(im, dtype=np.uint8).reshape(size, size, channels)
        except ValueError as err:
            if str(files[i]) in str(err):  # to_8bit's own sentence
                raise
            raise ValueError(f"Expected a readable image at {str(files[i])!r}, got "
                             f"{type(err).__name__}: {err}") from err
        except Exception as err:  # noqa: BLE001 - Pillow raises many types on a bad file
            raise ValueError(f"Expected a readable image at {str(files[i])!r}, got "
                             f"{type(err).__name__}: {err}") from err

    if workers > 1 and len(files) > 64:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(len(files))))
    else:
        for i in range(len(files)):
            one(i)
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _cap_per_class(labels: np.ndarray, cap: int | None, seed: int, split: str) -> np.ndarray:
    """Seeded choice of at most ``cap`` indices per class (sorted); all when ``cap`` is None.

    The stream is ``rng(seed, "cap", split)``.
    """
    if cap is None or len(labels) == 0:
        return np.arange(len(labels))
    return np.flatnonzero(class_ranks(labels, rng(seed, "cap", split)) < cap)


def load_imagefolder(root: str | Path, *, size: int = 32, channels: int = 3,
                     classes: int | None = None, seed: int = 0, test_fraction: float = 0.2,
                     max_per_class: int | None = None, train_size: int | None = None,
                     test_size: int | None = None, workers: int = 4,
                     name: str = "imagefolder") -> tuple[Dataset, Dataset]:
    """Train and test splits of an image-folder data set (layouts in the module docstring).

    Args:
        root: the data set folder.
        size: output height and width in pixels.
        channels: 3 (RGB) or 1 (grayscale).
        classes: keep a seeded ``C``-way class subset relabelled ``0..C-1`` (``None``: all).
        seed: selects the class subset, the per-class cap, the size subsets and
            (one-folder and csv layouts) the split.
        test_fraction: test share per class for the one-folder and csv layouts.
        max_per_class: read at most this many (seeded) images per class and split.
        train_size, test_size: read a seeded class-stratified subset of this many images of
            the split (after the class subset and the cap); ``None`` reads all.
        workers: decoding threads.
        name: the data set name recorded in the result.

    Raises:
        FileNotFoundError: naming ``root`` or the missing file when the folder is absent or
            an annotation lists a missing image.
        ValueError: for bad arguments, ``classes`` larger than the classes found, a size
            larger than the split, a file or an empty path as ``root``, a folder with no
            class folders, an empty class folder, an unreadable folder or annotation file,
            or an image that cannot be decoded or has 32-bit channels (naming the path).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"Expected `size` >= 1, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"Expected `channels` in (1, 3), got {channels!r}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"Expected `max_per_class` >= 1 or None, got {max_per_class!r}")
    root = check_root(root)
    train_dir, test_dir = root / "train", _test_dir(root)
    if train_dir.is_dir() and test_dir is not None:
        tr_files, tr_labels, class_names = _scan_class_folders(train_dir, None)
        if (test_dir / "val_annotations.txt").is_file():
            te_files, te_labels = _scan_tiny_val(test_dir, class_names)
        else:
            te_files, te_labels, _ = _scan_class_folders(test_dir, class_names)
        layout = "split-folders"
    else:
        if _is_csv_layout(root):
            files, labels, class_names = _scan_csv(root)
            layout = "csv"
        else:
            folder = train_dir if train_dir.is_dir() else root
            files, labels, class_names = _scan_class_folders(folder, None, root)
            layout = "one-folder"
        tr_idx, te_idx = stratified_split(np.asarray(labels), test_fraction, seed)
        tr_files = [files[i] for i in tr_idx]
        tr_labels = [labels[i] for i in tr_idx]
        te_files = [files[i] for i in te_idx]
        te_labels = [labels[i] for i in te_idx]

    keep, lut = class_lookup(len(class_names), classes, seed)
    kept_names = [class_names[c] for c in keep]

    def build(files: list[Path], labels: list[int], split: str, n: int | None) -> Dataset:
        lab = lut[np.asarray(labels, dtype=np.int64)] if labels else np.zeros(0, np.int64)
        idx = np.flatnonzero(lab >= 0)
        idx = idx[_cap_per_class(lab[idx], max_per_class, seed, split)]
        idx = idx[sized_indices(lab[idx], n, seed, num_classes=len(keep), split=split,
                                dataset=name)]
        x = _decode([files[i] for i in idx], size, channels, workers)
        return Dataset(x=x, y=torch.from_numpy(lab[idx].copy()), num_classes=len(keep),
                       kind="image", name=name, class_names=kept_names,
                       meta={"root": str(root), "split": split, "layout": layout,
                             "original_classes": keep.tolist()})

    return (build(tr_files, tr_labels, "train", train_size),
            build(te_files, te_labels, "test", test_size))
