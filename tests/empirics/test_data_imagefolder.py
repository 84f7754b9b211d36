"""Image-folder loader on tiny PNG/JPEG trees in the real layouts (incl. Tiny-ImageNet)."""

import numpy as np
import pytest
import torch
from PIL import Image

from empirics.data import load_dataset, load_imagefolder

COLOURS = {"n01": (255, 0, 0), "n02": (0, 255, 0), "n03": (0, 0, 255), "n04": (255, 255, 0)}


def _png(path, colour, size=(6, 5)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _one_folder(root, per_class=5):
    for c, col in COLOURS.items():
        for i in range(per_class):
            _png(root / c / f"img{i}.png", col)
    return root


def _expected_label_colour(ds):
    names = ds.class_names
    return torch.tensor([COLOURS[names[int(y)]] for y in ds.y], dtype=torch.float32) / 255


def test_one_folder_layout_resizes_labels_and_splits(tmp_path):
    root = _one_folder(tmp_path / "data")
    tr, te = load_imagefolder(root, size=4, test_fraction=0.2, seed=0)
    assert tr.x.shape == (16, 3, 4, 4) and te.x.shape == (4, 3, 4, 4)
    assert tr.class_names == sorted(COLOURS) and tr.num_classes == 4
    assert te.class_counts().tolist() == [1, 1, 1, 1]
    # solid colour images: every pixel of a sample is its class colour
    want = _expected_label_colour(tr)[:, :, None, None].expand_as(tr.x)
    assert torch.allclose(tr.x, want, atol=1 / 255)
    assert tr.meta["layout"] == "one-folder"


def test_split_folders_and_grayscale(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for c in ("n01", "n02"):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.jpg", COLOURS[c], size=(10, 10))
    tr, te = load_imagefolder(tmp_path, size=8, channels=1)
    assert tr.x.shape == (6, 1, 8, 8) and te.x.shape == (4, 1, 8, 8)
    assert tr.meta["layout"] == "split-folders"
    # luma of pure red / green (JPEG is lossy: loose tolerance)
    lum = tr.x.mean(dim=(1, 2, 3))
    assert torch.allclose(lum[tr.y == 0], torch.full((3,), 0.299), atol=0.03)
    assert torch.allclose(lum[tr.y == 1], torch.full((3,), 0.587), atol=0.03)


def test_tiny_imagenet_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    for c in COLOURS:
        for i in range(2):
            _png(root / "train" / c / "images" / f"{c}_{i}.JPEG", COLOURS[c], size=(8, 8))
    lines = []
    for k, c in enumerate(["n03", "n01", "n04", "n02", "n01"]):
        _png(root / "val" / "images" / f"val_{k}.JPEG", COLOURS[c], size=(8, 8))
        lines.append(f"val_{k}.JPEG\t{c}\t0\t0\t8\t8")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "wnids.txt").write_text("\n".join(COLOURS) + "\n")
    tr, te = load_imagefolder(root, size=8)
    assert len(tr) == 8 and tr.class_counts().tolist() == [2, 2, 2, 2]
    assert te.y.tolist() == [2, 0, 3, 1, 0]
    want = _expected_label_colour(te)[:, :, None, None].expand_as(te.x)
    assert torch.allclose(te.x, want, atol=0.05)  # JPEG


def test_mini_imagenet_csv_layout_pools_and_splits(tmp_path):
    root = tmp_path / "mini"
    rows = {"train.csv": ["n01", "n02"], "val.csv": ["n03"], "test.csv": ["n04"]}
    for split, classes in rows.items():
        lines = ["filename,label"]
        for c in classes:
            for i in range(4):
                fn = f"{c}{i:08d}.jpg"
                _png(root / "images" / fn, COLOURS[c], size=(9, 7))
                lines.append(f"{fn},{c}")
        (root / split).write_text("\n".join(lines) + "\n")
    tr, te = load_imagefolder(root, size=4, test_fraction=0.25, seed=0)
    assert tr.meta["layout"] == "csv" and tr.class_names == sorted(COLOURS)
    assert tr.class_counts().tolist() == [3] * 4 and te.class_counts().tolist() == [1] * 4
    want = _expected_label_colour(tr)[:, :, None, None].expand_as(tr.x)
    assert torch.allclose(tr.x, want, atol=0.05)
    from empirics.data import num_available_classes

    assert num_available_classes("imagefolder", root=root) == 4
    (root / "images" / "n0200000001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="n0200000001.jpg"):
        load_imagefolder(root)
    (root / "val.csv").write_text("filename,label\nlonely\n")
    with pytest.raises(ValueError, match="`filename,label` at line 2"):
        load_imagefolder(root)


def test_train_folder_alone_is_split(tmp_path):
    _one_folder(tmp_path / "train", per_class=2)
    tr, te = load_imagefolder(tmp_path, size=2, test_fraction=0.5)
    assert tr.class_names == sorted(COLOURS) and len(tr) == 4 and len(te) == 4


def test_class_subset_reads_only_chosen_classes(tmp_path):
    root = _one_folder(tmp_path / "data", per_class=4)
    (root / "n03" / "broken.png").write_bytes(b"not an image")  # never opened unless chosen
    tr, te = load_dataset("imagefolder", root=root, classes=2, seed=1, size=4,
                          test_fraction=0.25)
    orig = tr.meta["original_classes"]
    assert orig == [1, 3] and te.meta["original_classes"] == orig  # n03 (2) not chosen
    assert tr.num_classes == 2 and tr.class_names == ["n02", "n04"]
    assert len(tr) == 6 and len(te) == 2  # and its broken file was never opened
    want = _expected_label_colour(tr)[:, :, None, None].expand_as(tr.x)
    assert torch.allclose(tr.x, want, atol=1 / 255)
    with pytest.raises(ValueError, match="<= 4 .*got 5"):
        load_dataset("imagefolder", root=root, classes=5)
    with pytest.raises(ValueError, match="readable image at .*broken.png"):
        load_dataset("imagefolder", root=root, size=4, test_fraction=0.25)


def test_max_per_class_is_seeded(tmp_path):
    root = tmp_path / "d"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(6):
            _png(root / c / f"{i}.png", tuple(int(v) for v in rng.integers(0, 256, 3)))
    a, _ = load_imagefolder(root, size=2, max_per_class=2, test_fraction=0.5, seed=0)
    b, _ = load_imagefolder(root, size=2, max_per_class=2, test_fraction=0.5, seed=0)
    assert a.class_counts().tolist() == [2, 2] and torch.equal(a.x, b.x)


def test_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_imagefolder(tmp_path / "missing")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="empty"):
        load_imagefolder(tmp_path / "empty")
    root = tmp_path / "tiny"
    _png(root / "train" / "n01" / "images" / "a.JPEG", COLOURS["n01"])
    (root / "val" / "images").mkdir(parents=True)
    (root / "val" / "val_annotations.txt").write_text("gone.JPEG\tn01\t0\t0\t1\t1\n")
    with pytest.raises(FileNotFoundError, match="gone.JPEG"):
        load_imagefolder(root)
    (root / "val" / "val_annotations.txt").write_text("a.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="line 1"):
        load_imagefolder(root)


def test_test_class_not_in_train_and_bad_arguments(tmp_path):
    _png(tmp_path / "train" / "a" / "0.png", (1, 2, 3))
    _png(tmp_path / "test" / "zzz" / "0.png", (1, 2, 3))
    with pytest.raises(ValueError, match="training classes, got 'zzz'"):
        load_imagefolder(tmp_path)
    with pytest.raises(ValueError, match="`size` >= 1, got 0"):
        load_imagefolder(tmp_path, size=0)
    with pytest.raises(ValueError, match="`channels` in"):
        load_imagefolder(tmp_path, channels=2)
    with pytest.raises(ValueError, match="`max_per_class` >= 1"):
        load_imagefolder(tmp_path, max_per_class=0)
