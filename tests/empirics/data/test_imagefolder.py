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
    from empirics.data import choose_classes

    root = _one_folder(tmp_path / "data", per_class=4)
    chosen = choose_classes(4, 2, seed=1).tolist()
    dropped = sorted(COLOURS)[next(c for c in range(4) if c not in chosen)]
    (root / dropped / "broken.png").write_bytes(b"not an image")  # never opened unless chosen
    tr, te = load_dataset("imagefolder", root=root, classes=2, seed=1, size=4,
                          test_fraction=0.25)
    orig = tr.meta["original_classes"]
    assert orig == chosen and te.meta["original_classes"] == orig
    assert tr.num_classes == 2 and tr.class_names == [sorted(COLOURS)[c] for c in chosen]
    assert len(tr) == 6 and len(te) == 2  # and the broken file was never opened
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
    root = tmp_path / "tiny"
    _png(root / "train" / "n01" / "images" / "a.JPEG", COLOURS["n01"])
    (root / "val" / "images").mkdir(parents=True)
    (root / "val" / "val_annotations.txt").write_text("gone.JPEG\tn01\t0\t0\t1\t1\n")
    with pytest.raises(FileNotFoundError, match="gone.JPEG"):
        load_imagefolder(root)
    (root / "val" / "val_annotations.txt").write_text("a.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="line 1"):
        load_imagefolder(root)


@pytest.mark.parametrize("where", ["empty", "loose-images", "empty-train", "empty-val"])
def test_folder_without_class_folders_says_so_and_shows_the_layouts(tmp_path, where):
    """Was "Expected `classes` <= 0" through the trainer."""
    from empirics.data import num_available_classes

    root = tmp_path / "data"
    root.mkdir()
    folder = root
    if where == "loose-images":
        _png(root / "a.png", (1, 2, 3))
    elif where == "empty-train":
        (root / "train").mkdir()
        (root / "val" / "n01").mkdir(parents=True)
        folder = root / "train"
    elif where == "empty-val":
        _png(root / "train" / "n01" / "0.png", (1, 2, 3))
        (root / "val").mkdir()
        folder = root / "val"
    named = "the data root " if folder == root else ""  # names --data-root on a CLI
    pattern = (rf"^Expected class folders in {named}'{folder}' \(one of the layouts "
               r"ROOT/<class>/<image>, ROOT/train/<class>/<image> with .*\), found none$")
    with pytest.raises(ValueError, match=pattern):
        load_imagefolder(root)
    if where != "empty-val":
        with pytest.raises(ValueError, match=pattern):
            num_available_classes("imagefolder", root=root)


@pytest.mark.parametrize("split", ["one-folder", "val"])
def test_empty_class_folder_is_named(tmp_path, split):
    root = tmp_path / "data"
    if split == "one-folder":
        _one_folder(root, per_class=2)
        (root / "n05").mkdir()
        (root / "n05" / "notes.txt").write_text("no images here")
        empty = root / "n05"
    else:
        for c in ("n01", "n02"):
            _png(root / "train" / c / "0.png", COLOURS[c])
        _png(root / "val" / "n01" / "0.png", COLOURS["n01"])
        (root / "val" / "n02").mkdir(parents=True)
        empty = root / "val" / "n02"
    with pytest.raises(ValueError, match=(rf"^Expected images \(\.bmp, .*\.webp\) in the class "
                                          rf"folder '{empty}', found none$")):
        load_imagefolder(root)


def test_hidden_folders_are_not_classes(tmp_path):
    root = _one_folder(tmp_path / "data", per_class=2)
    (root / ".ipynb_checkpoints").mkdir()
    tr, _ = load_imagefolder(root, size=2, test_fraction=0.5)
    assert tr.class_names == sorted(COLOURS)


@pytest.mark.parametrize("content", [b"", b"not an image", "truncated"])
def test_unreadable_image_names_the_file(tmp_path, content):
    root = _one_folder(tmp_path / "data", per_class=2)
    bad = root / "n02" / "bad.png"
    if content == "truncated":
        _png(bad, (9, 9, 9), size=(40, 40))
        content = bad.read_bytes()[:60]
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^Expected a readable image at '{bad}', got \w+"):
        load_imagefolder(root, size=4, test_fraction=0.5, seed=0, workers=1)


def test_unreadable_image_through_the_thread_pool(tmp_path):
    root = _one_folder(tmp_path / "data", per_class=20)  # > 64 files: decoded by threads
    bad = root / "n04" / "img7.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"readable image at '{bad}'"):
        load_imagefolder(root, size=2, test_fraction=0.1, workers=3)


def test_csv_without_rows(tmp_path):
    root = tmp_path / "mini"
    (root / "images").mkdir(parents=True)
    (root / "train.csv").write_text("filename,label\n")
    with pytest.raises(ValueError, match=r"`filename,label` rows in the csv files of .*found none"):
        load_imagefolder(root)


def test_sizes_are_taken_before_decoding(tmp_path):
    root = _one_folder(tmp_path / "data", per_class=6)
    tr, te = load_imagefolder(root, size=2, test_fraction=0.5, train_size=8, test_size=4,
                              seed=3)
    assert tr.class_counts().tolist() == [2] * 4 and te.class_counts().tolist() == [1] * 4
    again, _ = load_imagefolder(root, size=2, test_fraction=0.5, train_size=8, seed=3)
    assert torch.equal(again.y, tr.y)
    # through load_dataset, after the class subset
    tr, _ = load_dataset("imagefolder", root=root, classes=2, size=2, test_fraction=0.5,
                         train_size=6)
    assert tr.class_counts().tolist() == [3, 3]
    with pytest.raises(ValueError, match=(r"^Expected `train_size` <= 6 \(the training samples "
                                          r"of dataset 'imagefolder' with 2 classes\), got 7$")):
        load_dataset("imagefolder", root=root, classes=2, size=2, test_fraction=0.5,
                     train_size=7)
    with pytest.raises(ValueError, match=r"`test_size` <= 12 \(the test samples .*got 13$"):
        load_dataset("imagefolder", root=root, size=2, test_fraction=0.5, test_size=13)


def test_size_subset_skips_files_it_does_not_choose(tmp_path):
    """A broken file outside the size subset is never opened (the subset precedes decoding)."""
    from empirics.data import sized_indices, stratified_split

    root = _one_folder(tmp_path / "data", per_class=4)
    tr, _ = load_imagefolder(root, size=2, test_fraction=0.25, seed=0)
    files = sorted((root / c / f"img{i}.png") for c in sorted(COLOURS) for i in range(4))
    labels = np.repeat(np.arange(4), 4)
    tr_idx, _ = stratified_split(labels, 0.25, 0)
    kept = tr_idx[sized_indices(labels[tr_idx], 4, 0, num_classes=4, split="train",
                                dataset="imagefolder")]
    unchosen = next(files[i] for i in tr_idx if i not in kept)
    unchosen.write_bytes(b"broken")
    sub, _ = load_imagefolder(root, size=2, test_fraction=0.25, seed=0, train_size=4)
    assert sub.class_counts().tolist() == [1] * 4


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


def _png16(path, array):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): grayscale for a
    ``(H, W)`` array, RGB for ``(H, W, 3)`` (PNG spec: big-endian samples, filter 0)."""
    import struct
    import zlib

    a = np.asarray(array, dtype=">u2")
    colour = 0 if a.ndim == 2 else 2
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour,
                                                                     0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_pngs_keep_their_high_byte(tmp_path):
    """Was: 16-bit grayscale clipped to 255 (every value above 255 white)."""
    root = tmp_path / "d"
    _png16(root / "gray" / "0.png", np.full((4, 4), 0x8000))  # mid-grey, 32768
    _png16(root / "gray" / "1.png", np.full((4, 4), 0x40FF))
    _png16(root / "rgb" / "0.png", np.tile(np.array([0xFFFF, 0x8000, 0x00FF]), (4, 4, 1)))
    _png16(root / "rgb" / "1.png", np.tile(np.array([0x1000, 0, 0xC0C0]), (4, 4, 1)))
    tr, te = load_imagefolder(root, size=4, test_fraction=0.5, seed=0)
    x = torch.cat([tr.x, te.x])[:, :, 0, 0] * 255
    y = torch.cat([tr.y, te.y])
    names = tr.class_names
    got = sorted(tuple(round(v) for v in x[i].tolist()) for i in range(4)
                 if names[int(y[i])] == "gray")
    assert got == [(0x40, 0x40, 0x40), (0x80, 0x80, 0x80)]
    got = sorted(tuple(round(v) for v in x[i].tolist()) for i in range(4)
                 if names[int(y[i])] == "rgb")
    assert got == [(0x10, 0, 0xC0), (0xFF, 0x80, 0x00)]
    g, _ = load_imagefolder(root, size=4, channels=1, test_fraction=0.5, seed=0)
    assert g.x.shape[1] == 1 and float(g.x.max()) < 1.0  # not clipped to white


def test_modes_alpha_palette_bilevel_and_gray_mixed_with_rgb(tmp_path, recwarn):
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    Image.new("RGBA", (3, 3), (255, 0, 0, 0)).save(root / "a" / "rgba.png")  # transparent red
    Image.new("L", (3, 3), 128).save(root / "a" / "gray.png")
    Image.new("LA", (3, 3), (64, 0)).save(root / "a" / "la.png")
    Image.new("1", (3, 3), 1).save(root / "a" / "bilevel.png")
    pal = Image.new("P", (3, 3), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.info["transparency"] = 0
    pal.save(root / "a" / "palette.png", transparency=0)
    _png(root / "b" / "rgb.png", (0, 255, 0), size=(3, 3))
    x = _all_images(root, channels=3)
    assert x == {"rgba": (255, 0, 0), "gray": (128, 128, 128), "la": (64, 64, 64),
                 "bilevel": (255, 255, 255), "palette": (0, 0, 255), "rgb": (0, 255, 0)}
    x = _all_images(root, channels=1)
    assert x["gray"] == (128,) and x["rgb"] == (150,)  # luma of pure green
    assert not [w for w in recwarn if "Palette" in str(w.message)]


def _all_images(root, channels):
    from empirics.data.imagefolder import _decode, _images_under

    files = _images_under(root)
    x = _decode(files, 3, channels, workers=1)[:, :, 1, 1] * 255
    return {f.stem: tuple(round(v) for v in x[i].tolist()) for i, f in enumerate(files)}


def test_32_bit_images_of_unknown_range_are_refused(tmp_path):
    from empirics.data.imagefolder import to_8bit

    for mode in ("F", "I"):
        with pytest.raises(ValueError, match=rf"8-bit or 16-bit channels at '.*x.tif', got "
                                             rf"Pillow mode '{mode}'"):
            to_8bit(Image.new(mode, (2, 2)), tmp_path / "x.tif")


def test_classes_none_is_every_class_of_the_folder(tmp_path):
    """A folder of 12 classes gives 12 (not the trainer's default 10); one of 3 classes
    refuses 10 naming `classes` and both numbers, before any image is decoded."""
    from empirics.data import resolve_classes

    big, small = tmp_path / "twelve", tmp_path / "three"
    for root, n in ((big, 12), (small, 3)):
        for c in range(n):
            for i in range(2):
                _png(root / f"c{c:02d}" / f"{i}.png", (20 * c, 0, 0), size=(2, 2))
    tr, te = load_dataset("imagefolder", root=big, classes=None, size=2, test_fraction=0.5)
    assert tr.num_classes == te.num_classes == 12 == resolve_classes("imagefolder", root=big)
    assert tr.class_counts().tolist() == [1] * 12
    assert resolve_classes("imagefolder", 10, root=big) == 10
    assert load_dataset("imagefolder", root=big, classes=10, size=2,
                        test_fraction=0.5)[0].num_classes == 10
    tr, _ = load_dataset("imagefolder", root=small, size=2, test_fraction=0.5)
    assert tr.num_classes == 3 == resolve_classes("imagefolder", None, root=small)
    (small / "c00" / "0.png").write_bytes(b"broken")  # never decoded: refused before
    msg = r"^Expected `classes` <= 3 \(the classes of dataset 'imagefolder'\), got 10$"
    with pytest.raises(ValueError, match=msg):
        load_dataset("imagefolder", root=small, classes=10)
    with pytest.raises(ValueError, match=msg):
        resolve_classes("imagefolder", 10, root=small)
