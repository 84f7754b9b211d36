"""The synthetic class-structured generator: shapes, determinism, difficulty, the map."""

import math
import time

import pytest
import torch

from empirics.augment import make_augmenter, make_views
from empirics.data import SyntheticSpec, load_dataset, make_synthetic
from empirics.data.synthetic import prototypes


def _ncc_accuracy(train, test) -> float:
    """Nearest-class-centre accuracy on the raw inputs (a fixed, model-free probe)."""
    C = train.num_classes
    mu = torch.zeros(C, train.x.shape[1]).index_add_(0, train.y, train.x)
    mu = mu / train.class_counts()[:, None]
    return (torch.cdist(test.x, mu).argmin(1) == test.y).float().mean().item()


def test_shapes_labels_and_standardisation():
    tr, te, _ = make_synthetic(num_classes=7, n_per_class=30, n_test_per_class=5, input_dim=12)
    assert tr.x.shape == (210, 12) and te.x.shape == (35, 12)
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    assert tr.class_counts().tolist() == [30] * 7 and te.class_counts().tolist() == [5] * 7
    assert tr.kind == "vector" and tr.num_classes == 7 and len(tr.class_names) == 7
    # standardised with the training statistics
    assert torch.allclose(tr.x.mean(0), torch.zeros(12), atol=1e-4)
    assert torch.allclose(tr.x.std(0), torch.ones(12), atol=1e-4)


def test_same_seed_same_data_other_seed_other_data():
    a, at, _ = make_synthetic(num_classes=5, n_per_class=10, seed=3)
    b, bt, _ = make_synthetic(num_classes=5, n_per_class=10, seed=3)
    c, _, _ = make_synthetic(num_classes=5, n_per_class=10, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(at.x, bt.x)
    assert not torch.allclose(a.x, c.x)


def test_prototypes_unit_norm_and_nested_in_C():
    p10 = prototypes(SyntheticSpec(num_classes=10, seed=1))
    p50 = prototypes(SyntheticSpec(num_classes=50, seed=1))
    assert p10.shape == (10, 32)
    assert abs(float((p50**2).sum(1).max()) - 1.0) < 1e-12
    assert (p50[:10] == p10).all()


def test_map_reproduces_inputs_from_latents():
    tr, te, g = make_synthetic(num_classes=4, n_per_class=6, input_dim=9)
    assert torch.allclose(g(tr.meta["latent"]), tr.x, atol=1e-5)
    assert torch.allclose(g(te.meta["latent"]), te.x, atol=1e-5)
    assert tr.meta["map"] is g and te.meta["map"] is g


def test_zero_difficulty_collapses_each_class():
    tr, _, _ = make_synthetic(num_classes=3, n_per_class=5, difficulty=0.0)
    for c in range(3):
        xc = tr.x[tr.y == c]
        assert torch.allclose(xc, xc[:1].expand_as(xc), atol=1e-5)


def test_difficulty_reduces_separability():
    accs = [_ncc_accuracy(*make_synthetic(num_classes=50, n_per_class=20, n_test_per_class=10,
                                          difficulty=d)[:2]) for d in (0.3, 1.5, 3.0)]
    assert accs[0] > 0.99
    assert accs[0] > accs[1] > accs[2]


def test_thousand_classes_is_fast():
    t0 = time.perf_counter()
    tr, te = load_dataset("synthetic", classes=1000, n_per_class=20, n_test_per_class=5)
    elapsed = time.perf_counter() - t0
    assert tr.num_classes == 1000 and len(tr) == 20000 and len(te) == 5000
    assert set(tr.y.unique().tolist()) == set(range(1000))
    assert elapsed < 5.0, f"1000-class generation took {elapsed:.2f} s"


def test_image_mode_is_smooth_and_in_unit_interval():
    tr, _, g = make_synthetic(num_classes=3, n_per_class=4, image_shape=(3, 16, 16))
    assert tr.kind == "image" and tr.x.shape == (12, 3, 16, 16)
    assert float(tr.x.min()) > 0.0 and float(tr.x.max()) < 1.0
    # bilinear upsampling of a 4x4 map: neighbouring pixels differ much less than far ones
    near = (tr.x[..., 1:] - tr.x[..., :-1]).abs().mean()
    far = (tr.x[..., 8:] - tr.x[..., :8]).abs().mean()
    assert near < 0.5 * far
    assert g(tr.meta["latent"]).shape == (12, 3, 16, 16)


def test_latent_augmentation_stays_near_its_class():
    tr, _, g = make_synthetic(num_classes=10, n_per_class=20, difficulty=0.5)
    u = tr.meta["latent"]
    gen = torch.Generator().manual_seed(0)
    same = make_augmenter("latent", map=g, noise=0.0)(u, gen)
    assert torch.allclose(same, tr.x, atol=1e-5)
    views = make_views(u, make_augmenter("latent", map=g, noise=0.25), gen, K=2)
    assert views.shape == (2, 200, 64)
    assert not torch.allclose(views[0], views[1])
    mu = torch.zeros(10, 64).index_add_(0, tr.y, tr.x) / 20
    pred = torch.cdist(views.reshape(400, 64), mu).argmin(1)
    assert (pred == tr.y.repeat(2)).float().mean() > 0.95


def test_subset_keeps_latents_aligned():
    tr, _, g = make_synthetic(num_classes=6, n_per_class=5, input_dim=8)
    sub = tr.select(torch.tensor([3, 17, 29]))
    assert torch.allclose(g(sub.meta["latent"]), sub.x, atol=1e-5)


@pytest.mark.parametrize(
    ("kw", "exc", "text"),
    [
        ({"num_classes": 1}, ValueError, "`num_classes` >= 2, got 1"),
        ({"num_classes": 2.5}, TypeError, "`num_classes` to be an int"),
        ({"n_per_class": 0}, ValueError, "`n_per_class` >= 1"),
        ({"difficulty": -0.1}, ValueError, "`difficulty` >= 0, got -0.1"),
        ({"difficulty": math.nan}, ValueError, "`difficulty`"),
        ({"gain": 0.0}, ValueError, "`gain` > 0, got 0.0"),
        ({"image_shape": (3, 8)}, ValueError, "`image_shape`"),
    ],
)
def test_spec_validation(kw, exc, text):
    with pytest.raises(exc, match=text.replace("(", r"\(").replace(")", r"\)")):
        SyntheticSpec(**kw)


def test_spec_and_keywords_together_rejected():
    with pytest.raises(TypeError, match="either `spec` or keywords"):
        make_synthetic(SyntheticSpec(), num_classes=3)


def test_load_dataset_synthetic_forwards_options_and_rejects_root(tmp_path):
    tr, te = load_dataset("synthetic", classes=4, seed=2, n_per_class=3, input_dim=5,
                          difficulty=0.2)
    assert tr.x.shape == (12, 5) and tr.meta["spec"]["difficulty"] == 0.2
    assert tr.meta["spec"]["seed"] == 2
    with pytest.raises(ValueError, match="no `root` for dataset 'synthetic'"):
        load_dataset("synthetic", root=tmp_path)


def test_parts_draw_from_their_own_named_streams():
    import numpy as np

    from empirics.data.synthetic import sample_latents
    from empirics.seeds import rng

    spec = SyntheticSpec(num_classes=4, seed=11)
    g = rng(11, "data", "prototypes").standard_normal((4, 32))
    assert np.array_equal(prototypes(spec), g / np.linalg.norm(g, axis=1, keepdims=True))
    # one part does not move when another one's size changes
    a, _, _ = make_synthetic(num_classes=4, n_per_class=5, n_test_per_class=1, seed=11)
    b, _, _ = make_synthetic(num_classes=4, n_per_class=5, n_test_per_class=9, seed=11)
    assert torch.equal(a.x, b.x)
    u_tr, _ = sample_latents(spec, 3, "train")
    u_te, _ = sample_latents(spec, 3, "test")
    assert not np.allclose(u_tr, u_te)
    with pytest.raises(ValueError, match="`split` in \\('train', 'test'\\), got 'val'"):
        sample_latents(spec, 3, "val")


def test_seed_must_be_a_nonnegative_int():
    with pytest.raises(ValueError, match="`seed` >= 0, got -1"):
        SyntheticSpec(seed=-1)
    with pytest.raises(TypeError, match="`seed` to be an int"):
        SyntheticSpec(seed=1.5)
