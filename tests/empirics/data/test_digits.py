"""scikit-learn digits as 8x8 one-channel images with a seeded stratified split."""

import numpy as np
import pytest
import torch

from empirics.data import load_dataset, load_digits, stratified_split


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
