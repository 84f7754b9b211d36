"""Batched augmentations driven only by an explicit ``torch.Generator``.

Every augmenter is a callable ``aug(x, generator) -> x_aug`` that transforms a whole batch
at once (one ``grid_sample`` for all crops, elementwise arithmetic for the rest) and never
touches the global random state, so the views of a batch are a pure function of the batch
and the generator's state. :func:`make_views` computes the ``K`` views of a batch once;
the lockstep trainer feeds the same views to every model (shared randomness, [P2]).

Devices and reproducibility: random numbers are drawn **on the generator's device** and
then moved to ``x``'s device. A CPU generator therefore gives bitwise the same random draws
whether ``x`` lives on the CPU or on a GPU (the arithmetic that follows may still differ in
the last bits between devices), at the price of a host-to-device copy of the noise. A CUDA
generator (``torch.Generator(device="cuda")``) avoids the copy; its stream is reproducible
on the same GPU model and torch version but differs from the CPU stream for the same seed.

Image pipeline (SimCLR order, Chen et al. 2020), images assumed in ``[0, 1]``:
random resized crop (per-sample area ``s ~ U(crop_scale)`` of the image and aspect ratio
``r``, ``log r ~ U(log ratio)``, resampled bilinearly to the input size) with horizontal
flip (probability ``flip``) folded into the same affine grid; with probability ``jitter_p``
colour jitter -- brightness ``x * b``, contrast ``c x + (1-c) mean(gray(x))``, saturation
``s x + (1-s) gray(x)``, hue as a rotation by ``2 pi h`` of the chroma plane in YIQ space --
``b ~ U(1-brightness, 1+brightness)``, likewise ``c`` and ``s``, ``h ~ U(-hue, hue)``, in that
fixed order (torchvision draws a random order; the YIQ rotation approximates its HSV hue shift);
random grayscale (probability ``grayscale_p``); gaussian noise (std ``noise``); clamp to
``[0, 1]``. Crop boxes wider than the image at extreme ratios are clipped to it (torchvision
instead re-draws up to ten times). Saturation, hue and grayscale are identities on
one-channel images.

Vector pipeline: per-sample scaling ``x * a``, ``a ~ U(1-scale, 1+scale)``; feature masking
(each feature zeroed with probability ``mask``); additive gaussian noise (std ``noise``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

_GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as torchvision's rgb_to_grayscale


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"Expected `generator` to be a torch.Generator, "
                        f"got {type(generator).__name__}")
    return generator


def _rand(gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws from ``gen`` (on its device), moved to ``like``'s device/dtype."""
    return torch.rand(shape, generator=gen, device=gen.device).to(like.device, like.dtype)


def _randn(gen: torch.Generator, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=gen.device).to(like.device, like.dtype)


def _uniform(gen: torch.Generator, n: int, low: float, high: float, like: torch.Tensor
             ) -> torch.Tensor:
    return low + (high - low) * _rand(gen, (n,), like)


def _check_range(name: str, value: Any, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
            low <= value <= high):
        raise ValueError(f"Expected `{name}` in [{low}, {high}], got {value!r}")


class Augmenter:
    """Base class: ``aug(x, generator) -> x_aug`` on a batch, on ``x``'s device."""

    kind = "none"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_generator(generator)
        return x.clone()

    def describe(self) -> dict[str, Any]:
        """The augmenter's kind and strengths (for the saved run configuration)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self) if hasattr(self, "__dataclass_fields__") else ():
            value = getattr(self, f.name)
            if isinstance(value, (int, float, str, tuple)):
                out[f.name] = value
        return out


@dataclass(frozen=True)
class ImageAugmenter(Augmenter):
    """Random resized crop + flip, colour jitter, grayscale and noise on ``(B, C, H, W)``.

    Defaults follow SimCLR's CIFAR recipe (colour strength 0.5: brightness, contrast and
    saturation 0.4, hue 0.1, jitter probability 0.8, grayscale 0.2), with crop areas from
    20% (not 8%: the inputs here are 8x8 to 64x64 pixels).

    Attributes:
        crop_scale: range of the crop's area fraction, ``0 < lo <= hi <= 1``
            (``(1, 1)`` disables cropping).
        crop_ratio: range of the crop's aspect ratio ``w/h``.
        flip: probability of a horizontal flip.
        brightness, contrast, saturation: factors drawn from ``U(1-s, 1+s)``, ``s in [0, 1]``.
        hue: rotation ``2 pi h`` of the chroma plane, ``h ~ U(-hue, hue)``, ``hue <= 0.5``.
        jitter_p: probability that a sample is colour-jittered.
        grayscale_p: probability that a sample is turned to gray (3-channel images).
        noise: standard deviation of the additive gaussian noise.
        clamp: clamp the result to ``[0, 1]``.
    """

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    noise: float = 0.0
    clamp: bool = True
    kind = "image"

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"Expected `crop_scale` with 0 < lo <= hi <= 1, "
                             f"got {self.crop_scale!r}")
        rlo, rhi = self.crop_ratio
        if not 0 < rlo <= rhi:
            raise ValueError(f"Expected `crop_ratio` with 0 < lo <= hi, got {self.crop_ratio!r}")
        for name in ("flip", "jitter_p", "grayscale_p", "brightness", "contrast", "saturation"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        _check_range("hue", self.hue, 0.0, 0.5)
        _check_range("noise", self.noise, 0.0, math.inf)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        gen = _check_generator(generator)
        if x.ndim != 4:
            raise ValueError(f"Expected `x` of shape (B, C, H, W), got {tuple(x.shape)}")
        B, C = x.shape[:2]
        x = self.crop_flip(x, self.sample_crop(B, gen, x))
        if self.jitter_p > 0 and max(self.brightness, self.contrast, self.saturation,
                                     self.hue) > 0:
            x = self._jitter(x, gen)
        if self.grayscale_p > 0 and C == 3:
            to_gray = _rand(gen, (B,), x) < self.grayscale_p
            x = torch.where(to_gray[:, None, None, None], _gray(x).expand_as(x), x)
        if self.noise > 0:
            x = x + self.noise * _randn(gen, tuple(x.shape), x)
        return x.clamp(0.0, 1.0) if self.clamp else x

    def sample_crop(self, B: int, gen: torch.Generator, like: torch.Tensor
                    ) -> dict[str, torch.Tensor]:
        """Per-sample crop boxes in ``[-1, 1]`` coordinates: width ``w``, height ``h``,
        centre ``(cx, cy)``, and ``sign = -1`` for a flipped sample; each of shape ``(B,)``.

        Area ``a ~ U(crop_scale)`` and ``log r ~ U(log crop_ratio)`` give ``w = sqrt(a r)``,
        ``h = sqrt(a / r)`` (fractions of the image, clipped at 1); the centre is uniform
        over the positions that keep the box inside the image.
        """
        sign = 1.0 - 2.0 * (_rand(gen, (B,), like) < self.flip).to(like.dtype)
        lo, hi = self.crop_scale
        if lo == hi == 1.0:
            one, zero = torch.ones_like(sign), torch.zeros_like(sign)
            return {"w": one, "h": one, "cx": zero, "cy": zero, "sign": sign}
        area = _uniform(gen, B, lo, hi, like)
        r = torch.exp(_uniform(gen, B, math.log(self.crop_ratio[0]),
                               math.log(self.crop_ratio[1]), like))
        w = torch.sqrt(area * r).clamp(max=1.0)
        h = torch.sqrt(area / r).clamp(max=1.0)
        cx = (2 * _rand(gen, (B,), like) - 1) * (1 - w)
        cy = (2 * _rand(gen, (B,), like) - 1) * (1 - h)
        return {"w": w, "h": h, "cx": cx, "cy": cy, "sign": sign}

    @staticmethod
    def crop_flip(x: torch.Tensor, box: dict[str, torch.Tensor]) -> torch.Tensor:
        """Resample every crop box of ``box`` to the full size in one ``grid_sample``.

        Output pixel at normalised ``(u, v)`` reads input ``(sign w u + cx, h v + cy)``
        (bilinear, border padding); full boxes are flipped exactly, without resampling.
        """
        w, h, cx, cy, sign = (box[k] for k in ("w", "h", "cx", "cy", "sign"))
        full = bool(((w == 1) & (h == 1) & (cx == 0) & (cy == 0)).all())
        if full:
            return torch.where(sign[:, None, None, None] < 0, x.flip(-1), x)
        zero = torch.zeros_like(w)
        theta = torch.stack([torch.stack([w * sign, zero, cx], 1),
                             torch.stack([zero, h, cy], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                             align_corners=False)

    def _jitter(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        B, C = x.shape[:2]
        apply = _rand(gen, (B,), x) < self.jitter_p
        b, c, sat = (_uniform(gen, B, 1 - s, 1 + s, x)
                     for s in (self.brightness, self.contrast, self.saturation))
        hue = _uniform(gen, B, -self.hue, self.hue, x)
        v = lambda t: t[:, None, None, None]  # noqa: E731  (B,) -> (B, 1, 1, 1)
        y = x
        if self.brightness > 0:
            y = (y * v(b)).clamp(0, 1)
        if self.contrast > 0:
            m = _gray(y).mean(dim=(-2, -1), keepdim=True)
            y = (v(c) * y + (1 - v(c)) * m).clamp(0, 1)
        if C == 3 and self.saturation > 0:
            y = (v(sat) * y + (1 - v(sat)) * _gray(y)).clamp(0, 1)
        if C == 3 and self.hue > 0:
            y = _rotate_hue(y, 2 * math.pi * hue).clamp(0, 1)
        return torch.where(v(apply), y, x)  # samples not drawn for jitter stay bit-exact


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Luma ``(B, 1, H, W)``; the image itself for one channel."""
    if x.shape[1] == 1:
        return x
    r, g, b = _GRAY
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


_RGB2YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma plane (I, Q) of YIQ by ``angle`` radians per sample."""
    T = torch.tensor(_RGB2YIQ, dtype=x.dtype, device=x.device)
    Ti = torch.linalg.inv(T)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    R = torch.stack([torch.stack([one, zero, zero], -1),
                     torch.stack([zero, cos, -sin], -1),
                     torch.stack([zero, sin, cos], -1)], -2)  # (B, 3, 3)
    M = Ti @ R @ T  # (B, 3, 3): RGB -> YIQ -> rotate -> RGB
    B, C, H, W = x.shape
    return torch.bmm(M, x.reshape(B, C, H * W)).reshape(B, C, H, W)


@dataclass(frozen=True)
class VectorAugmenter(Augmenter):
    """Scaling, feature masking and gaussian noise on ``(B, D)`` vectors.

    Attributes:
        noise: standard deviation of the additive gaussian noise (inputs of the synthetic
            data are standardised, so this is relative to a unit feature scale).
        mask: probability that a feature is set to zero, per sample and feature.
        scale: per-sample factor ``a ~ U(1-scale, 1+scale)``, ``0 <= scale < 1``.
    """

    noise: float = 0.1
    mask: float = 0.1
    scale: float = 0.1
    kind = "vector"

    def __post_init__(self) -> None:
        _check_range("noise", self.noise, 0.0, math.inf)
        _check_range("mask", self.mask, 0.0, 1.0)
        _check_range("scale", self.scale, 0.0, 0.999999)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        gen = _check_generator(generator)
        if x.ndim != 2:
            raise ValueError(f"Expected `x` of shape (B, D), got {tuple(x.shape)}")
        B = x.shape[0]
        if self.scale > 0:
            x = x * _uniform(gen, B, 1 - self.scale, 1 + self.scale, x)[:, None]
        if self.mask > 0:
            x = x * (_rand(gen, tuple(x.shape), x) >= self.mask).to(x.dtype)
        if self.noise > 0:
            x = x + self.noise * _randn(gen, tuple(x.shape), x)
        return x


@dataclass(frozen=True)
class LatentAugmenter(Augmenter):
    """The synthetic data's natural augmentation: a move in latent space, then the map.

    ``x_aug = g(u + noise * xi / sqrt(k))``, ``xi ~ N(0, I_k)``: the view stays on the data
    manifold. Input ``u`` has shape ``(B, k)`` (the latents ``meta["latent"]`` of a synthetic
    :class:`~empirics.data.Dataset`); the output has the data set's input shape.

    Attributes:
        map: the data set's :class:`~empirics.data.SyntheticMap`.
        noise: latent step size, in units of the prototype norm (compare ``difficulty``).
    """

    map: Any = None
    noise: float = 0.25
    kind = "latent"

    def __post_init__(self) -> None:
        if self.map is None or not callable(self.map):
            raise TypeError(f"Expected `map` to be a SyntheticMap, got {type(self.map).__name__}")
        _check_range("noise", self.noise, 0.0, math.inf)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        gen = _check_generator(generator)
        k = self.map.spec.latent_size
        if x.ndim != 2 or x.shape[1] != k:
            raise ValueError(f"Expected latents of shape (B, {k}), got {tuple(x.shape)}")
        return self.map(x + self.noise / math.sqrt(k) * _randn(gen, tuple(x.shape), x))


_KINDS = {"image": ImageAugmenter, "vector": VectorAugmenter, "latent": LatentAugmenter,
          "none": None}


def make_augmenter(kind: str, **strengths: Any) -> Augmenter:
    """Build an augmenter: ``"image"``, ``"vector"``, ``"latent"`` or ``"none"``.

    Args:
        kind: the pipeline (see the module docstring).
        **strengths: fields of :class:`ImageAugmenter` / :class:`VectorAugmenter` /
            :class:`LatentAugmenter`; unknown names are rejected.

    Raises:
        ValueError: unknown ``kind`` or a strength out of range.
        TypeError: unknown strength name.

    Example:
        >>> aug = make_augmenter("vector", noise=0.0, mask=0.0, scale=0.0)
        >>> x = torch.ones(2, 3)
        >>> bool((aug(x, torch.Generator().manual_seed(0)) == x).all())
        True
    """
    if kind not in _KINDS:
        raise ValueError(f"Expected `kind` in {sorted(_KINDS)}, got {kind!r}")
    cls = _KINDS[kind]
    if cls is None:
        if strengths:
            raise TypeError(f"Expected no strengths for kind 'none', got {sorted(strengths)}")
        return Augmenter()
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(strengths) - allowed)
    if unknown:
        raise TypeError(f"Expected strengths among {sorted(allowed)} for kind {kind!r}, "
                        f"got {unknown}")
    for key in ("crop_scale", "crop_ratio"):
        if key in strengths:
            strengths[key] = tuple(float(v) for v in strengths[key])
    return cls(**strengths)


def make_views(x: torch.Tensor, augmenter: Augmenter | None, generator: torch.Generator,
               K: int = 2) -> torch.Tensor:
    """The ``K`` augmented views of a batch, computed once, shape ``(K, B, ...)``.

    All ``K * B`` samples go through the augmenter in one call; view ``l`` of sample ``i``
    is ``out[l, i]``. With ``augmenter=None`` the views are ``K`` copies of ``x``.

    Raises:
        ValueError: when ``K < 1``.
        TypeError: when ``generator`` is not a ``torch.Generator``.

    Example:
        >>> v = make_views(torch.zeros(4, 3), make_augmenter("vector"),
        ...                torch.Generator().manual_seed(0), K=2)
        >>> tuple(v.shape)
        (2, 4, 3)
    """
    _check_generator(generator)
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"Expected `K` >= 1, got {K!r}")
    B = x.shape[0]
    stacked = x.unsqueeze(0).expand(K, *x.shape).reshape(K * B, *x.shape[1:])
    out = stacked.clone() if augmenter is None else augmenter(stacked, generator)
    return out.reshape(K, B, *out.shape[1:])
