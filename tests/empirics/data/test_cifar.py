"""CIFAR-10 / CIFAR-100 loaders on tiny files in the real python-pickle format."""

import pickle

import numpy as np
import pytest
import torch

from empirics.data import load_cifar, load_dataset


def _dump(path, obj):
    # the official files were pickled by Python 2: keys come back as bytes
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _batch(rng, n, labels_key, n_classes, extra=None):
    d = {b"batch_label": b"tiny", b"filenames": [b"f%d.png" % i for i in range(n)],
         b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
         labels_key: [int(v) for v in rng.integers(0, n_classes, size=n)]}
    d.update(extra or {})
    return d


@pytest.fixture
def cifar10_root(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for i in range(1, 6):
        _dump(base / f"data_batch_{i}", _batch(rng, 3, b"labels", 10))
    _dump(base / "test_batch", _batch(rng, 4, b"labels", 10))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    _dump(base / "batches.meta", {b"label_names": names, b"num_cases_per_batch": 3,
                                  b"num_vis": 3072})
    return tmp_path


@pytest.fixture
def cifar100_root(tmp_path):
    rng = np.random.default_rng(1)
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for split, n in (("train", 30), ("test", 10)):
        fine = rng.integers(0, 100, size=n)
        d = _batch(rng, n, b"fine_labels", 100, {b"coarse_labels": [int(f) // 5 for f in fine]})
        d[b"fine_labels"] = [int(f) for f in fine]
        _dump(base / split, d)
    _dump(base / "meta", {b"fine_label_names": [b"fine%d" % i for i in range(100)],
                          b"coarse_label_names": [b"coarse%d" % i for i in range(20)]})
    return tmp_path


def test_cifar10_layout_pixels_and_labels(cifar10_root):
    tr, te = load_cifar("cifar10", cifar10_root)
    assert tr.x.shape == (15, 3, 32, 32) and te.x.shape == (4, 3, 32, 32)
    assert tr.num_classes == 10 and tr.class_names[0] == "airplane" and tr.kind == "image"
    with open(cifar10_root / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        b2 = pickle.load(f, encoding="bytes")
    # sample 0 of batch 2 is row 3; rows are channel-major R(1024) G(1024) B(1024), row-major
    row = b2[b"data"][0].astype(np.float32) / 255
    assert tr.x[3, 0, 0, 1].item() == pytest.approx(row[1])
    assert tr.x[3, 0, 1, 0].item() == pytest.approx(row[32])
    assert tr.x[3, 1, 0, 0].item() == pytest.approx(row[1024])
    assert tr.x[3, 2, 31, 31].item() == pytest.approx(row[3071])
    assert tr.y[3:6].tolist() == b2[b"labels"]


def test_cifar10_root_may_be_inner_folder(cifar10_root):
    a, _ = load_cifar("cifar10", cifar10_root)
    b, _ = load_cifar("cifar10", cifar10_root / "cifar-10-batches-py")
    assert torch.equal(a.x, b.x)


def test_cifar100_fine_and_coarse(cifar100_root):
    tr, te = load_cifar("cifar100", cifar100_root)
    assert tr.num_classes == 100 and len(tr) == 30 and len(te) == 10
    assert tr.class_names[7] == "fine7"
    ctr, _ = load_cifar("cifar100", cifar100_root, label="coarse")
    assert ctr.num_classes == 20 and ctr.name == "cifar100-coarse"
    assert torch.equal(ctr.y, tr.y // 5)


def test_cifar_class_subset_through_load_dataset(cifar10_root):
    tr, te = load_dataset("cifar10", classes=3, seed=0, root=cifar10_root)
    full, _ = load_cifar("cifar10", cifar10_root)
    orig = tr.meta["original_classes"]
    assert tr.num_classes == 3 and te.meta["original_classes"] == orig
    assert tr.class_names == [full.class_names[c] for c in orig]
    assert len(tr) == int(sum((full.y == c).sum() for c in orig))


def test_cifar_early_subset_equals_class_subset_of_full_load(cifar100_root):
    from empirics.data import class_subset

    tr, te = load_cifar("cifar100", cifar100_root, classes=7, seed=3)
    full_tr, full_te = load_cifar("cifar100", cifar100_root)
    ref_tr, ref_te = class_subset(full_tr, 7, seed=3), class_subset(full_te, 7, seed=3)
    assert torch.equal(tr.x, ref_tr.x) and torch.equal(tr.y, ref_tr.y)
    assert torch.equal(te.y, ref_te.y) and tr.class_names == ref_tr.class_names
    assert tr.meta["original_classes"] == ref_tr.meta["original_classes"]
    with pytest.raises(ValueError, match="<= 100 .*got 101"):
        load_cifar("cifar100", cifar100_root, classes=101)


def test_cifar_missing_files_name_the_path(cifar10_root, tmp_path):
    (cifar10_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar("cifar10", cifar10_root)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_cifar("cifar10", tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="'cifar-100-python' folder with 'meta'"):
        load_cifar("cifar100", empty)


def test_cifar_argument_and_format_errors(cifar10_root):
    with pytest.raises(ValueError, match="`name` in"):
        load_cifar("cifar5", cifar10_root)
    with pytest.raises(ValueError, match="`label` in"):
        load_cifar("cifar100", cifar10_root, label="medium")
    bad = cifar10_root / "cifar-10-batches-py" / "test_batch"
    _dump(bad, {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"`data` of shape \(n, 3072\)"):
        load_cifar("cifar10", cifar10_root)
    _dump(bad, {b"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(ValueError, match="key 'labels'"):
        load_cifar("cifar10", cifar10_root)
    _dump(bad, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(ValueError, match=r"labels in \[0, 9\].*got range \[0, 10\]"):
        load_cifar("cifar10", cifar10_root)


def test_cifar_reads_every_pickle_protocol_the_same(cifar10_root):
    """Python 3 writes bytes through `_codecs.encode` at protocols 0-2 and arrays through
    `_frombuffer` at 5: the safe unpickler reads them all like the plain one."""
    ref_tr, ref_te = load_cifar("cifar10", cifar10_root)
    base = cifar10_root / "cifar-10-batches-py"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        for f in base.iterdir():
            with open(f, "rb") as fh:
                obj = pickle.load(fh, encoding="bytes")
            with open(f, "wb") as fh:
                pickle.dump(obj, fh, protocol=protocol)
        tr, te = load_cifar("cifar10", cifar10_root)
        assert torch.equal(tr.x, ref_tr.x) and torch.equal(te.y, ref_te.y)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("fname", ["batches.meta", "data_batch_4", "test_batch"])
def test_cifar_planted_payload_is_refused_and_never_runs(cifar10_root, tmp_path, fname):
    marker = tmp_path / "payload_ran"
    path = cifar10_root / "cifar-10-batches-py" / fname
    _dump(path, {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0],
                 b"label_names": [b"x"] * 10, b"extra": _Payload(marker)})
    with pytest.raises(ValueError, match=rf"^Expected only data .* in the CIFAR file "
                                         rf"'{path}', got the global '\w+\.system'; refusing"):
        load_dataset("cifar10", root=cifar10_root)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_cifar_corrupt_file_is_one_line_naming_it(cifar10_root, damage):
    path = cifar10_root / "cifar-10-batches-py" / "data_batch_2"
    blob = path.read_bytes()
    path.write_bytes({"truncate": blob[: len(blob) // 2], "empty": b"",
                      "garbage": bytes(range(256)) * 4}[damage])
    with pytest.raises(ValueError, match=rf"^Expected a Python pickle in the CIFAR file "
                                         rf"'{path}', got a corrupt or truncated file"):
        load_cifar("cifar10", cifar10_root)


def test_cifar_malformed_contents_name_the_file(cifar10_root):
    base = cifar10_root / "cifar-10-batches-py"
    bad = base / "data_batch_5"
    _dump(bad, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"one label per image in .*data_batch_5.*\(2 images\), "
                                         r"got 3 labels"):
        load_cifar("cifar10", cifar10_root)
    _dump(bad, {b"data": [[b"x"] * 3072], b"labels": [0]})
    with pytest.raises(ValueError, match=r"`data` as an array of numbers in .*data_batch_5.*, "
                                         r"got dtype \|S1"):
        load_cifar("cifar10", cifar10_root)
    _dump(bad, [1, 2, 3])
    with pytest.raises(ValueError, match=r"a dict in the CIFAR file .*data_batch_5.*got list"):
        load_cifar("cifar10", cifar10_root)
    _dump(base / "batches.meta", {b"label_names": b"airplane"})
    with pytest.raises(ValueError, match=r"`label_names` as a non-empty list in .*batches.meta"):
        load_cifar("cifar10", cifar10_root)


def test_cifar_sizes_take_a_stratified_subset_before_conversion(cifar100_root, cifar10_root):
    full, full_te = load_cifar("cifar10", cifar10_root)
    tr, te = load_dataset("cifar10", root=cifar10_root, train_size=6, test_size=2, seed=1)
    assert len(tr) == 6 and len(te) == 2
    rows = {tuple(r.flatten().tolist()) for r in full.x}
    assert all(tuple(r.flatten().tolist()) in rows for r in tr.x)
    counts = tr.class_counts()
    assert counts.max() - counts[counts < full.class_counts()].min() <= 1  # balanced
    with pytest.raises(ValueError, match=(r"^Expected `train_size` <= 15 \(the training samples "
                                          r"of dataset 'cifar10' with 10 classes\), got 16$")):
        load_dataset("cifar10", root=cifar10_root, train_size=16)
    sub, _ = load_dataset("cifar100", root=cifar100_root, classes=20, label="coarse", seed=0)
    with pytest.raises(ValueError, match=(r"`test_size` <= 10 \(the test samples of dataset "
                                          r"'cifar100-coarse' with 20 classes\), got 11$")):
        load_dataset("cifar100", root=cifar100_root, label="coarse", test_size=11)
    assert len(sub) == 30


def _rewrite(root, fname, **changes):
    path = root / "cifar-10-batches-py" / fname
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    d.update({k.encode(): v for k, v in changes.items()})
    _dump(path, d)
    return d


def test_float_pixels_in_0_1_are_intensities_not_zeros(cifar10_root):
    """Was: a float batch in [0, 1) cast to uint8, every image 0."""
    ref_tr, ref_te = load_cifar("cifar10", cifar10_root)
    rng = np.random.default_rng(5)
    floats = rng.random((4, 3072))  # float64 in [0, 1)
    _rewrite(cifar10_root, "test_batch", data=floats)
    tr, te = load_cifar("cifar10", cifar10_root)
    assert te.x.dtype == torch.float32 and te.x.abs().sum() > 0
    assert torch.equal(te.x, torch.from_numpy(floats.astype(np.float32)).reshape(4, 3, 32, 32))
    assert torch.equal(tr.x, ref_tr.x) and torch.equal(te.y, ref_te.y)  # train untouched


def test_pixels_stored_as_other_numbers_load_bit_for_bit(cifar10_root):
    ref, _ = load_cifar("cifar10", cifar10_root)
    d = _rewrite(cifar10_root, "data_batch_1")
    u8 = d[b"data"]
    for stored in (u8.astype(np.float64), u8.astype(np.int64), u8.astype(np.uint16),
                   u8.tolist()):
        _rewrite(cifar10_root, "data_batch_1", data=stored)
        tr, _ = load_cifar("cifar10", cifar10_root)
        assert torch.equal(tr.x, ref.x)
    # one file of [0, 1] floats among uint8 files: each by its own rule, one float32 tensor
    _rewrite(cifar10_root, "data_batch_1", data=u8.astype(np.float32) / np.float32(255))
    tr, _ = load_cifar("cifar10", cifar10_root)
    assert torch.equal(tr.x, ref.x)


@pytest.mark.parametrize("data,found", [
    (np.full((3, 3072), 300, np.int64), r"int64 values in \[300, 300\]"),
    (np.full((3, 3072), -1, np.int16), r"int16 values in \[-1, -1\]"),
    (np.full((3, 3072), 127.5), r"float64 values in \[127.5, 127.5\]"),
    (np.full((3, 3072), -0.25, np.float32), r"float32 values in \[-0.25, -0.25\]"),
    (np.full((3, 3072), 256.0), r"float64 values in \[256, 256\]"),
    (np.full((3, 3072), np.nan), "float64 values with NaN or infinity"),
    (np.ones((3, 3072), bool), "dtype bool"),
])
def test_pixels_that_fit_no_rule_are_refused_naming_the_file(cifar10_root, data, found):
    _rewrite(cifar10_root, "data_batch_4", data=data)
    with pytest.raises(ValueError, match=r"`data` .*data_batch_4'.*got " + found):
        load_cifar("cifar10", cifar10_root)


def test_labels_must_be_whole_numbers(cifar10_root):
    ref, _ = load_cifar("cifar10", cifar10_root)
    d = _rewrite(cifar10_root, "data_batch_2")
    _rewrite(cifar10_root, "data_batch_2", labels=np.asarray(d[b"labels"], np.float64))
    assert torch.equal(load_cifar("cifar10", cifar10_root)[0].y, ref.y)
    _rewrite(cifar10_root, "data_batch_2", labels=[0.5, 1.0, 2.0])  # was cast to 0 silently
    with pytest.raises(ValueError, match=r"`labels` as whole numbers in .*data_batch_2'"):
        load_cifar("cifar10", cifar10_root)
