"""Batched augmentations: explicit generators only, exact geometry, colour invariants."""

import numpy as np
import pytest
import torch

from empirics.augment import (
    ImageAugmenter,
    VectorAugmenter,
    _gray,
    _rotate_hue,
    make_augmenter,
    make_views,
)

NO_COLOUR = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, grayscale_p=0.0)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _imgs(B=6, C=3, H=8, W=8, seed=0):
    return torch.rand(B, C, H, W, generator=_gen(seed + 100))


@pytest.mark.parametrize("kind", ["image", "vector"])
def test_same_generator_state_same_views_and_global_rng_untouched(kind):
    x = _imgs() if kind == "image" else torch.randn(6, 5, generator=_gen(1))
    aug = make_augmenter(kind, noise=0.05)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = make_views(x, aug, _gen(7))
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(999)  # a different global seed changes nothing
    b = make_views(x, aug, _gen(7))
    c = make_views(x, aug, _gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # two views differ


def test_make_views_is_one_batched_call():
    x = _imgs(B=4)
    aug = make_augmenter("image")
    views = make_views(x, aug, _gen(3), K=3)
    assert views.shape == (3, 4, 3, 8, 8)
    direct = aug(x.repeat(3, 1, 1, 1), _gen(3)).reshape(3, 4, 3, 8, 8)
    assert torch.equal(views, direct)
    ident = make_views(x, None, _gen(0), K=2)
    assert torch.equal(ident[0], x) and torch.equal(ident[1], x)
    none = make_views(x, make_augmenter("none"), _gen(0), K=2)
    assert torch.equal(none, ident)


def test_identity_settings_are_exact():
    x = _imgs()
    aug = make_augmenter("image", crop_scale=(1, 1), flip=0.0, **NO_COLOUR)
    assert torch.equal(aug(x, _gen()), x)
    flip_all = make_augmenter("image", crop_scale=(1, 1), flip=1.0, **NO_COLOUR)
    assert torch.equal(flip_all(x, _gen()), x.flip(-1))
    v = torch.randn(5, 7)
    assert torch.equal(make_augmenter("vector", noise=0, mask=0, scale=0)(v, _gen()), v)


def _slow_crop(x, box):
    """Per-sample bilinear resampling with explicit coordinates (border clamping)."""
    B, C, H, W = x.shape
    out = np.zeros(x.shape)
    xn = x.double().numpy()
    u = (2 * np.arange(W) + 1) / W - 1  # output pixel centres in [-1, 1]
    v = (2 * np.arange(H) + 1) / H - 1
    for b in range(B):
        w, h, cx, cy, s = (float(box[k][b]) for k in ("w", "h", "cx", "cy", "sign"))
        px = np.clip(((s * w * u + cx + 1) * W - 1) / 2, 0, W - 1)
        py = np.clip(((h * v + cy + 1) * H - 1) / 2, 0, H - 1)
        x0 = np.floor(px).astype(int)
        y0 = np.floor(py).astype(int)
        x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
        fx, fy = px - x0, py - y0
        img = xn[b]
        top = img[:, y0][:, :, x0] * (1 - fx) + img[:, y0][:, :, x1] * fx
        bot = img[:, y1][:, :, x0] * (1 - fx) + img[:, y1][:, :, x1] * fx
        out[b] = top * (1 - fy)[:, None] + bot * fy[:, None]
    return out


def test_random_resized_crop_matches_slow_twin():
    x = _imgs(B=8, H=10, W=12)
    aug = ImageAugmenter(crop_scale=(0.1, 0.9), crop_ratio=(0.5, 2.0), flip=0.5)
    box = aug.sample_crop(8, _gen(5), x)
    fast = aug.crop_flip(x, box)
    np.testing.assert_allclose(fast.double().numpy(), _slow_crop(x, box), atol=1e-5)
    assert (box["sign"] < 0).any() and (box["sign"] > 0).any()


def test_crop_boxes_respect_scale_ratio_and_image():
    aug = ImageAugmenter(crop_scale=(0.2, 0.6), crop_ratio=(3 / 4, 4 / 3))
    box = aug.sample_crop(2000, _gen(1), torch.zeros(1))
    area = box["w"] * box["h"]
    assert area.min() >= 0.2 - 1e-6 and area.max() <= 0.6 + 1e-6
    ratio = box["w"] / box["h"]
    assert ratio.min() >= 0.75 - 1e-5 and ratio.max() <= 4 / 3 + 1e-5
    assert ((box["cx"].abs() + box["w"]) <= 1 + 1e-6).all()
    assert ((box["cy"].abs() + box["h"]) <= 1 + 1e-6).all()
    assert abs(float((box["sign"] < 0).float().mean()) - 0.5) < 0.05


def test_crop_of_a_quarter_zooms_into_that_quarter():
    # left-top quarter of an image whose left-top quarter is 1 and the rest 0
    x = torch.zeros(1, 1, 8, 8)
    x[..., :4, :4] = 1.0
    box = {"w": torch.tensor([0.5]), "h": torch.tensor([0.5]), "cx": torch.tensor([-0.5]),
           "cy": torch.tensor([-0.5]), "sign": torch.tensor([1.0])}
    out = ImageAugmenter.crop_flip(x, box)
    assert torch.allclose(out[..., :7, :7], torch.ones(1, 1, 7, 7))  # last row/col blends


def test_brightness_only_scales_each_image_by_one_factor():
    x = torch.full((500, 3, 2, 2), 0.5)
    aug = make_augmenter("image", crop_scale=(1, 1), flip=0.0, brightness=0.4, contrast=0.0,
                         saturation=0.0, hue=0.0, jitter_p=1.0, grayscale_p=0.0)
    y = aug(x, _gen())
    factor = (y / x).reshape(500, -1)
    assert torch.allclose(factor, factor[:, :1].expand_as(factor), atol=1e-6)
    assert factor.min() >= 0.6 - 1e-6 and factor.max() <= 1.4 + 1e-6
    assert factor.std() > 0.15  # U(0.6, 1.4) has std 0.23


def test_jitter_probability_leaves_other_samples_untouched():
    x = _imgs(B=400)
    aug = make_augmenter("image", crop_scale=(1, 1), flip=0.0, grayscale_p=0.0, jitter_p=0.3)
    y = aug(x, _gen(2))
    unchanged = (y == x).reshape(400, -1).all(1).float().mean()
    assert 0.6 < unchanged < 0.8


def test_saturation_and_hue_preserve_luma():
    x = 0.25 + 0.5 * _imgs(B=16)  # mid-range: no clamping
    aug = make_augmenter("image", crop_scale=(1, 1), flip=0.0, brightness=0.0, contrast=0.0,
                         saturation=0.3, hue=0.0, jitter_p=1.0, grayscale_p=0.0)
    y = aug(x, _gen())
    assert not torch.allclose(y, x)
    assert torch.allclose(_gray(y), _gray(x), atol=1e-5)
    rot = _rotate_hue(x, torch.full((16,), 0.3))
    assert torch.allclose(_gray(rot), _gray(x), atol=1e-5)
    back = _rotate_hue(rot, torch.full((16,), -0.3))
    assert torch.allclose(back, x, atol=1e-5)


def test_grayscale_single_channel_and_full_pipeline_range():
    x = _imgs()
    gray = make_augmenter("image", crop_scale=(1, 1), flip=0.0, brightness=0.0, contrast=0.0,
                          saturation=0.0, hue=0.0, grayscale_p=1.0)(x, _gen())
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    one = _imgs(C=1)
    y = make_augmenter("image", noise=0.1)(one, _gen())  # saturation/hue/gray: identities
    assert y.shape == one.shape and y.min() >= 0 and y.max() <= 1


def test_image_noise_std():
    x = torch.full((50, 1, 16, 16), 0.5)
    aug = make_augmenter("image", crop_scale=(1, 1), flip=0.0, noise=0.05, clamp=False,
                         **NO_COLOUR)
    d = aug(x, _gen()) - x
    assert abs(float(d.std()) - 0.05) < 0.003 and abs(float(d.mean())) < 0.003


def test_vector_scale_mask_noise():
    x = torch.randn(400, 50, generator=_gen(1)).abs() + 0.5
    scaled = make_augmenter("vector", noise=0.0, mask=0.0, scale=0.2)(x, _gen())
    f = scaled / x
    assert torch.allclose(f, f[:, :1].expand_as(f), atol=1e-6)
    assert f.min() >= 0.8 - 1e-6 and f.max() <= 1.2 + 1e-6
    masked = make_augmenter("vector", noise=0.0, mask=0.3, scale=0.0)(x, _gen())
    zero = masked == 0
    assert torch.equal(masked[~zero], x[~zero])
    assert abs(float(zero.float().mean()) - 0.3) < 0.02
    noisy = make_augmenter("vector", noise=0.2, mask=0.0, scale=0.0)(x, _gen())
    assert abs(float((noisy - x).std()) - 0.2) < 0.01


@pytest.mark.parametrize(
    ("kind", "kw", "exc", "text"),
    [
        ("video", {}, ValueError, "`kind` in"),
        ("image", {"blur": 1.0}, TypeError, r"got \['blur'\]"),
        ("none", {"noise": 0.1}, TypeError, "no strengths"),
        ("image", {"crop_scale": (0.0, 1.0)}, ValueError, "`crop_scale`"),
        ("image", {"crop_scale": (0.9, 0.5)}, ValueError, "`crop_scale`"),
        ("image", {"crop_ratio": (2.0, 1.0)}, ValueError, "`crop_ratio`"),
        ("image", {"flip": 1.5}, ValueError, r"`flip` in \[0.0, 1.0\], got 1.5"),
        ("image", {"hue": 0.6}, ValueError, "`hue`"),
        ("image", {"brightness": -0.1}, ValueError, "`brightness`"),
        ("image", {"noise": -1.0}, ValueError, "`noise`"),
        ("vector", {"mask": 2.0}, ValueError, "`mask`"),
        ("vector", {"scale": 1.0}, ValueError, "`scale`"),
        ("latent", {}, TypeError, "`map` to be a SyntheticMap"),
    ],
)
def test_make_augmenter_rejects(kind, kw, exc, text):
    with pytest.raises(exc, match=text):
        make_augmenter(kind, **kw)


def test_call_errors():
    img, vec = make_augmenter("image"), make_augmenter("vector")
    with pytest.raises(TypeError, match="`generator` to be a torch.Generator, got int"):
        img(_imgs(), 0)
    with pytest.raises(TypeError, match="`generator`"):
        make_views(_imgs(), img, None)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        img(torch.zeros(3, 4), _gen())
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        vec(_imgs(), _gen())
    with pytest.raises(ValueError, match="`K` >= 1, got 0"):
        make_views(_imgs(), img, _gen(), K=0)


def test_describe_lists_strengths():
    d = make_augmenter("vector", noise=0.3).describe()
    assert d == {"kind": "vector", "noise": 0.3, "mask": 0.1, "scale": 0.1}
    assert make_augmenter("image").describe()["crop_scale"] == (0.2, 1.0)
    assert isinstance(make_augmenter("vector"), VectorAugmenter)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_generator_gives_same_views_on_cuda():
    x = _imgs(B=16)
    aug = make_augmenter("image", noise=0.05)
    cpu = make_views(x, aug, _gen(4))
    gpu = make_views(x.cuda(), aug, _gen(4)).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)
    cuda_gen = torch.Generator(device="cuda").manual_seed(4)
    again = torch.Generator(device="cuda").manual_seed(4)
    assert torch.equal(make_views(x.cuda(), aug, cuda_gen), make_views(x.cuda(), aug, again))


@pytest.mark.parametrize("prototypes, C", [("random", 5), ("orthogonal", 5), ("orthogonal", 40)])
def test_latent_augmenter_moves_latents_of_either_prototype_layout(prototypes, C):
    """The latent space has ``max(latent_dim, C)`` dimensions for orthogonal prototypes; the
    augmenter reads that size, so it works past ``C > latent_dim`` (40 > 32)."""
    from empirics.data.synthetic import SyntheticSpec, make_synthetic

    train, _, g = make_synthetic(SyntheticSpec(num_classes=C, n_per_class=3, n_test_per_class=1,
                                               prototypes=prototypes))
    u = train.meta["latent"]
    assert u.shape[1] == g.spec.latent_size
    aug = make_augmenter("latent", map=g, noise=0.1)
    x = aug(u, torch.Generator().manual_seed(0))
    assert x.shape == train.x.shape and torch.isfinite(x).all()
    still = make_augmenter("latent", map=g, noise=0.0)(u, torch.Generator().manual_seed(0))
    torch.testing.assert_close(still, train.x, rtol=1e-5, atol=1e-5)
