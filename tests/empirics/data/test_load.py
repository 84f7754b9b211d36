"""load_dataset: dispatch, argument checks, class subsets and train/test sizes for every set."""

import numpy as np
import pytest
import torch

from empirics.data.catalog import DATASET_CLASSES, DATASETS, NEEDS_ROOT
from empirics.data.load import BUNDLED, load_dataset, num_available_classes
from empirics.data.subsets import choose_classes


def test_every_catalog_name_has_a_loader():
    assert set(BUNDLED) | set(NEEDS_ROOT) | {"synthetic"} == set(DATASETS)


def test_load_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="`name` among .*got 'svhn'"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match="`root` .* for dataset 'cifar10', got None"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="`root` .* for dataset 'imagefolder', got None"):
        load_dataset("imagefolder")
    for name in ("digits", "mnist", "synthetic"):
        with pytest.raises(ValueError, match=f"no `root` for dataset '{name}'"):
            load_dataset(name, root=tmp_path)
    # C > available is rejected before any file is read (the root does not even exist)
    with pytest.raises(ValueError, match="<= 100 .*got 101"):
        load_dataset("cifar100", classes=101, root=tmp_path / "missing")
    with pytest.raises(ValueError, match="<= 20 .*got 21"):
        load_dataset("cifar100", classes=21, root=tmp_path / "missing", label="coarse")
    with pytest.raises(ValueError, match="<= 10 .*got 11"):
        load_dataset("mnist", classes=11)


@pytest.mark.parametrize(
    ("kw", "exc", "text"),
    [
        ({"train_size": 0}, ValueError, "`train_size` >= 1, got 0"),
        ({"test_size": -3}, ValueError, "`test_size` >= 1, got -3"),
        ({"train_size": 10.0}, TypeError, "`train_size` to be an int, got float"),
        ({"test_size": True}, TypeError, "`test_size` to be an int, got bool"),
    ],
)
@pytest.mark.parametrize("name", ["synthetic", "digits"])
def test_sizes_are_validated(name, kw, exc, text):
    with pytest.raises(exc, match=text):
        load_dataset(name, classes=3, **kw)


def test_num_available_classes(tmp_path):
    assert num_available_classes("synthetic") is None
    for name, C in DATASET_CLASSES.items():
        assert num_available_classes(name) == C
    assert num_available_classes("mnist") == 10
    assert num_available_classes("cifar100", label="coarse") == 20
    for c in ("a", "b", "c"):
        (tmp_path / "train" / c).mkdir(parents=True)
    assert num_available_classes("imagefolder", root=tmp_path) == 3
    with pytest.raises(FileNotFoundError, match="nope"):
        num_available_classes("imagefolder", root=tmp_path / "nope")
    with pytest.raises(ValueError, match="`root`"):
        num_available_classes("imagefolder")
    with pytest.raises(ValueError, match="`name` among"):
        num_available_classes("svhn")


def test_num_available_classes_of_a_folder_without_class_folders(tmp_path):
    """Was "Expected `classes` <= 0" in the trainer; now it says what is wrong."""
    (tmp_path / "stray.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"class folders in .*ROOT/<class>/<image>.*found none"):
        num_available_classes("imagefolder", root=tmp_path)


# -- synthetic sizes ------------------------------------------------------------------------

def test_synthetic_generates_size_over_C_per_class():
    tr, te = load_dataset("synthetic", classes=4, seed=0, train_size=100, test_size=41)
    assert tr.class_counts().tolist() == [25] * 4 and te.class_counts().tolist() == [10] * 4
    tr, te = load_dataset("synthetic", classes=3, seed=0)  # defaults 4096 and 1024
    assert len(tr) == 3 * (4096 // 3) and len(te) == 3 * (1024 // 3)
    tr, te = load_dataset("synthetic", classes=2000, seed=0, input_dim=4, latent_dim=4,
                          hidden_dim=8)
    assert tr.class_counts().min() == 2 and te.class_counts().tolist() == [1] * 2000


def test_synthetic_keeps_the_per_class_keywords_the_trainer_passes():
    tr, te = load_dataset("synthetic", classes=3, seed=1, n_per_class=5, n_test_per_class=2,
                          difficulty=0.5, image_shape=(3, 8, 8))
    assert tr.x.shape == (15, 3, 8, 8) and te.x.shape == (6, 3, 8, 8)
    assert tr.meta["spec"]["difficulty"] == 0.5
    with pytest.raises(ValueError, match="one of `train_size` or `n_per_class`, got both"):
        load_dataset("synthetic", classes=3, train_size=30, n_per_class=10)
    with pytest.raises(ValueError, match="one of `test_size` or `n_test_per_class`"):
        load_dataset("synthetic", classes=3, test_size=30, n_test_per_class=10)


def test_synthetic_size_below_classes_is_rejected():
    with pytest.raises(ValueError, match=r"`train_size` >= `classes` \(10\).*got 9"):
        load_dataset("synthetic", classes=10, train_size=9)
    with pytest.raises(ValueError, match=r"`test_size` >= `classes` \(10\).*got 3"):
        load_dataset("synthetic", classes=10, test_size=3)
    with pytest.raises(ValueError, match="`classes` >= 2, got 1"):
        load_dataset("synthetic", classes=1)


# -- real data sets: a seeded class-stratified subset ---------------------------------------

@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_sizes_take_a_seeded_stratified_subset_after_the_class_subset(name):
    full_tr, full_te = load_dataset(name, classes=4, seed=2)
    tr, te = load_dataset(name, classes=4, seed=2, train_size=42, test_size=10)
    assert len(tr) == 42 and len(te) == 10
    assert sorted(tr.class_counts().tolist()) == [10, 10, 11, 11]
    assert sorted(te.class_counts().tolist()) == [2, 2, 3, 3]
    assert tr.meta["original_classes"] == full_tr.meta["original_classes"]
    # every kept sample is a sample of the full split, with its label
    def pairs(ds):
        return {(x.numpy().tobytes(), int(y)) for x, y in zip(ds.x, ds.y, strict=True)}

    assert pairs(tr) <= pairs(full_tr)
    again, _ = load_dataset(name, classes=4, seed=2, train_size=42)
    other, _ = load_dataset(name, classes=4, seed=3, train_size=42)
    assert torch.equal(tr.x, again.x) and not torch.equal(tr.x, other.x)
    # the size subset does not move the split: the test split is the same without sizes
    _, te_all = load_dataset(name, classes=4, seed=2, train_size=42)
    assert torch.equal(te_all.x, full_te.x)


@pytest.mark.parametrize(("name", "classes", "split"), [("digits", None, "train"),
                                                        ("digits", 3, "test"),
                                                        ("mnist", 2, "train")])
def test_size_larger_than_the_split_names_argument_value_and_count(name, classes, split):
    tr, te = load_dataset(name, classes=classes, seed=0)
    have = len(tr if split == "train" else te)
    C = classes or 10
    what = "training" if split == "train" else "test"
    with pytest.raises(ValueError, match=(
            rf"^Expected `{split}_size` <= {have} \(the {what} samples of dataset '{name}' "
            rf"with {C} classes\), got {have + 1}$")):
        load_dataset(name, classes=classes, seed=0, **{f"{split}_size": have + 1})
    ok = load_dataset(name, classes=classes, seed=0, **{f"{split}_size": have})
    assert len(ok[0 if split == "train" else 1]) == have


def test_class_choice_is_independent_of_the_sizes():
    a, _ = load_dataset("digits", classes=3, seed=5)
    b, _ = load_dataset("digits", classes=3, seed=5, train_size=12)
    assert a.meta["original_classes"] == b.meta["original_classes"]
    assert a.meta["original_classes"] == choose_classes(10, 3, 5).tolist()
    assert np.isin(b.y.numpy(), [0, 1, 2]).all()


def _cifar(root, n_names, name="cifar10"):
    """A tiny CIFAR copy whose meta file names ``n_names`` classes."""
    import pickle

    inner = root / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    inner.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def dump(fname, obj):
        with open(inner / fname, "wb") as f:
            pickle.dump(obj, f, protocol=2)

    key = b"labels" if name == "cifar10" else b"fine_labels"
    files = ([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if name == "cifar10"
             else ["train", "test"])
    for fname in files:
        y = [i % n_names for i in range(2 * n_names)]
        dump(fname, {b"data": rng.integers(0, 256, (len(y), 3072), dtype=np.uint8), key: y,
                     b"coarse_labels": [0] * len(y)})
    names = [b"k%d" % i for i in range(n_names)]
    if name == "cifar10":
        dump("batches.meta", {b"label_names": names})
    else:
        dump("meta", {b"fine_label_names": names, b"coarse_label_names": [b"c0"]})
    return root


def test_classes_none_is_every_class_the_data_set_has(tmp_path):
    from empirics.data import resolve_classes
    from empirics.data.catalog import SYNTHETIC_CLASSES
    from empirics.data.synthetic import SyntheticSpec

    # the catalog's counts, and the real count of a copy (its meta file) when given
    assert resolve_classes("cifar100", None) == 100
    assert resolve_classes("cifar100", None, label="coarse") == 20
    assert [resolve_classes(n, None) for n in ("digits", "mnist", "cifar10")] == [10, 10, 10]
    seven = _cifar(tmp_path / "c100", 7, "cifar100")
    assert resolve_classes("cifar100", None, root=seven) == 7
    tr, te = load_dataset("cifar100", root=seven)
    assert tr.num_classes == te.num_classes == 7
    with pytest.raises(ValueError, match=r"^Expected `classes` <= 7 \(the classes of dataset "
                                         r"'cifar100'\), got 8$"):
        load_dataset("cifar100", root=seven, classes=8)
    # synthetic has no count of its own: one named default, the generator's too
    assert resolve_classes("synthetic", None) == SYNTHETIC_CLASSES == SyntheticSpec().num_classes
    assert load_dataset("synthetic", train_size=40, test_size=20)[0].num_classes == 10
    assert resolve_classes("synthetic", 1000) == 1000


@pytest.mark.parametrize("name,classes,exc,text", [
    ("synthetic", 1, ValueError, "`classes` >= 2, got 1"),
    ("digits", 0, ValueError, "`classes` >= 1, got 0"),
    ("digits", "none", TypeError, "`classes` to be an int, got str"),
    ("mnist", 2.0, TypeError, "`classes` to be an int, got float"),
    ("digits", 11, ValueError, r"`classes` <= 10 \(the classes of dataset 'digits'\), got 11"),
])
def test_bad_classes_name_the_argument(name, classes, exc, text):
    from empirics.data import resolve_classes

    with pytest.raises(exc, match=text):
        load_dataset(name, classes=classes)
    with pytest.raises(exc, match=text):
        resolve_classes(name, classes)


def test_synthetic_num_classes_keyword_is_refused():
    with pytest.raises(ValueError, match="`classes` for the number of classes.*`num_classes`"):
        load_dataset("synthetic", num_classes=4)


def _bad_roots(tmp_path):
    """(label, root, exception, text): every kind of bad path, once."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    return [
        ("missing", tmp_path / "nowhere", FileNotFoundError,
         r"data root '.*nowhere' \(`root`\) to exist"),
        ("file", a_file, ValueError,
         r"data root \(`root`\) to be a folder, got the file .*file.txt'"),
        ("empty string", "", ValueError, r"`root` \(the data root\) to be a folder path, got ''"),
        ("blank", "  ", ValueError, "`root` .* to be a folder path, got '  '"),
        ("NUL", "a\0b", ValueError, r"`root` .* to be a folder path, got 'a\\x00b'"),
        ("not a path", 5, TypeError, "`root` .* to be a path, got int"),
        ("empty folder", empty, (ValueError, FileNotFoundError), "the data root '.*empty'"),
    ]


@pytest.mark.parametrize("entry,name", [
    *[(e, n) for e in ("load_dataset", "num_available_classes", "resolve_classes")
      for n in ("imagefolder", "cifar10", "cifar100")],
    ("load_imagefolder", "imagefolder"), ("load_cifar", "cifar10"), ("load_cifar", "cifar100"),
])
def test_every_bad_root_is_one_sentence_naming_it(tmp_path, monkeypatch, entry, name):
    """Was: '' read the current folder, a file was "does not exist", 5 a bare TypeError."""
    import empirics.data as data

    monkeypatch.chdir(tmp_path)  # '' must not mean this folder
    call = {
        "load_dataset": lambda root: data.load_dataset(name, root=root),
        "load_imagefolder": lambda root: data.load_imagefolder(root),
        "load_cifar": lambda root: data.load_cifar(name, root),
        "num_available_classes": lambda root: data.num_available_classes(name, root=root),
        "resolve_classes": lambda root: data.resolve_classes(name, None, root=root),
    }[entry]
    for label, root, exc, text in _bad_roots(tmp_path):
        with pytest.raises(exc, match=text) as err:
            call(root)
        assert "\n" not in str(err.value), label


def test_corrupt_and_unreadable_files_name_the_path(tmp_path):
    from PIL import Image

    from empirics.data import load_imagefolder

    root = tmp_path / "d"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        Image.new("RGB", (2, 2)).save(root / c / "0.png")
        Image.new("RGB", (2, 2)).save(root / c / "1.png")
    (root / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"readable image at .*b/1.png'"):
        load_imagefolder(root, test_fraction=0.5)
    # csv and annotation files that are not UTF-8 text: was a decode error naming no file
    mini = tmp_path / "mini"
    (mini / "images").mkdir(parents=True)
    (mini / "train.csv").write_bytes(b"filename,label\n\xff\xfe,a\n")
    with pytest.raises(ValueError, match=r"readable UTF-8 csv file at .*train.csv'"):
        load_imagefolder(mini)
    tiny = tmp_path / "tiny"
    (tiny / "train" / "n01" / "images").mkdir(parents=True)
    Image.new("RGB", (2, 2)).save(tiny / "train" / "n01" / "images" / "0.png")
    (tiny / "val" / "images").mkdir(parents=True)
    (tiny / "val" / "val_annotations.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"readable UTF-8 annotation file at .*annotations.txt'"):
        load_imagefolder(tiny)
