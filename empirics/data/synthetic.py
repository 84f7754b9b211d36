"""A synthetic class-structured data set for any number of classes ``C`` (2 to thousands).

Generative model (all parts fixed by one integer ``seed``; each part draws from its own
stream ``empirics.seeds.rng(seed, "data", part)``, part in :data:`PARTS`)::

    mu_c  ~ Uniform(unit sphere in R^k)                  class prototypes, c = 0..C-1
    u     =  mu_c + difficulty * xi,  xi ~ N(0, I_k / k)  within-class variation (||xi|| ~ 1)
    x     =  g(u) = standardise( W2 tanh(gain * W1 u + b1) / sqrt(m) )   fixed random map

with ``W1 ~ N(0, 1)^(m x k)``, ``b1 ~ N(0, 1)^m``, ``W2 ~ N(0, 1)^(D x m)``; the
standardisation uses the per-feature mean and standard deviation of the *training* inputs
and is applied unchanged to the test inputs. For ``image_shape=(C_in, H, W)`` the map
outputs a coarse ``C_in x ceil(H/4) x ceil(W/4)`` image that is bilinearly upsampled to
``H x W`` and squashed to ``(0, 1)`` by a sigmoid, so crops, flips and colour jitter act on
spatially smooth images.

**Prototypes** (``prototypes``): ``"random"`` (the default) draws them independently and
uniformly on the unit sphere of the ``k = latent_dim`` dimensional latent space; they are
about ``sqrt(2)`` apart on average, but they crowd as ``C`` grows (with ``C`` above ``k``
some pairs are much closer). ``"orthogonal"`` makes them exactly orthonormal: the standard
basis vectors ``e_0, ..., e_{C-1}`` of ``R^k``, ``k = max(latent_dim, C)``, so every pair
is exactly ``sqrt(2)`` apart for any ``C`` (any orthonormal set gives data of the same
distribution: the map's first layer ``W1`` is an isotropic Gaussian matrix and ``xi`` is
isotropic, so a rotation of the latent space is absorbed by them): a fixed separation as
``C`` grows, the C2 design of the claims study. The latent space then has
``max(latent_dim, C)`` dimensions; the within-class variation keeps its meaning,
``xi ~ N(0, I_k / k)`` with ``||xi|| ~ 1`` in latent units, and ``||u||`` (hence the map's
pre-activation scale) does not depend on ``k``. The fixed map to ``input_dim`` inputs
keeps the separation only approximately when ``k`` is larger than the map's width.

``difficulty`` is the knob of class overlap: it is the expected latent distance of a
sample from its prototype, measured in units of the prototype norm (1). Unit prototypes of
``C`` classes in ``k`` dimensions are about ``sqrt(2)`` apart, so ``difficulty = 0`` gives
one point per class (trivially separable), ``0.5`` well-separated but spread classes, ``1``
(the default) touching classes whose overlap grows with ``C`` (prototypes crowd), and
``>= 1.5`` strongly overlapping classes. Nearest-class-centre accuracy on the inputs
(``k = 32``, 50 train / 20 test per class, seed 0) at difficulty 0.5 / 1.0 / 1.5: C = 10:
1.00 / 0.99 / 0.83; C = 100: 1.00 / 0.91 / 0.55; C = 1000: 1.00 / 0.72 / 0.26. ``gain`` sets how
nonlinear the map is (tanh saturation).

Augmentation: the natural notion is a small move in latent space, ``u' = u + s xi'`` pushed
through the same map; each split keeps its latents in ``meta["latent"]`` and the map in
``meta["map"]``, so ``empirics.augment.make_augmenter("latent", map=ds.meta["map"])``
applied to ``ds.meta["latent"][idx]`` does exactly that.
The default pipeline (inputs only) uses the vector augmentations of
:mod:`empirics.augment` (gaussian noise, feature masking, scaling), which approximate a
latent move to first order by noise in the input space.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from empirics.data.catalog import SYNTHETIC_CLASSES
from empirics.data.dataset import Dataset
from empirics.seeds import rng

#: The parts of the generator, each its own stream ``rng(seed, "data", part)``.
PARTS = ("prototypes", "map", "train", "test")
#: How the class prototypes are drawn (see the module docstring).
PROTOTYPES = ("random", "orthogonal")
#: Latent rows generated at a time (bounds the float64 temporaries of large ``C``).
_CHUNK = 8192


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the synthetic generator (see the module docstring for the model).

    Attributes:
        num_classes: ``C >= 2``.
        n_per_class: training samples per class.
        n_test_per_class: test samples per class.
        input_dim: ``D``, the input dimension for vector data (ignored for images).
        latent_dim: ``k``, the latent dimension of prototypes and variation.
        hidden_dim: ``m``, the width of the random map.
        difficulty: expected latent distance of a sample from its prototype, ``>= 0``.
        gain: pre-activation scale of the tanh map, ``> 0`` (larger = more nonlinear).
        image_shape: ``None`` for vectors, or ``(C_in, H, W)`` for images in ``(0, 1)``.
        prototypes: ``"random"`` unit vectors in ``latent_dim`` dimensions, or
            ``"orthogonal"``: orthonormal in ``max(latent_dim, C)`` dimensions.
        seed: fixes prototypes, map and samples.
    """

    num_classes: int = SYNTHETIC_CLASSES
    n_per_class: int = 100
    n_test_per_class: int = 50
    input_dim: int = 64
    latent_dim: int = 32
    hidden_dim: int = 256
    difficulty: float = 1.0
    gain: float = 1.0
    image_shape: tuple[int, int, int] | None = None
    seed: int = 0
    prototypes: str = "random"

    def __post_init__(self) -> None:
        for name, low in (("num_classes", 2), ("n_per_class", 1), ("n_test_per_class", 0),
                          ("input_dim", 1), ("latent_dim", 1), ("hidden_dim", 1),
                          ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Expected `{name}` to be an int, got {type(v).__name__}")
            if v < low:
                raise ValueError(f"Expected `{name}` >= {low}, got {v!r}")
        if not (math.isfinite(self.difficulty) and self.difficulty >= 0):
            raise ValueError(f"Expected `difficulty` >= 0, got {self.difficulty!r}")
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"Expected `gain` > 0, got {self.gain!r}")
        if self.prototypes not in PROTOTYPES:
            raise ValueError(f"Expected `prototypes` among {', '.join(PROTOTYPES)}, got "
                             f"{self.prototypes!r}")
        if self.image_shape is not None:
            shp = tuple(self.image_shape)
            if len(shp) != 3 or any(int(s) < 1 for s in shp):
                raise ValueError(
                    f"Expected `image_shape` as (C_in, H, W) of positive ints, got {shp!r}"
                )
            object.__setattr__(self, "image_shape", tuple(int(s) for s in shp))

    @property
    def latent_size(self) -> int:
        """``k``, the dimension of the latent space: ``latent_dim``, or ``max(latent_dim,
        C)`` for orthogonal prototypes."""
        if self.prototypes == "orthogonal":
            return max(self.latent_dim, self.num_classes)
        return self.latent_dim

    @property
    def output_numel(self) -> int:
        """Dimension of the map's raw output (coarse image for ``image_shape``)."""
        if self.image_shape is None:
            return self.input_dim
        c, h, w = self.image_shape
        return c * math.ceil(h / 4) * math.ceil(w / 4)


class SyntheticMap:
    """The fixed random map ``g: R^k -> inputs`` of one :class:`SyntheticSpec` (torch).

    Callable on latents of shape ``(n, k)`` on any device; returns ``(n, D)`` or
    ``(n, C_in, H, W)`` float32, identical to how the data set's inputs were made.
    """

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        gen = rng(spec.seed, "data", "map")
        m, k, D = spec.hidden_dim, spec.latent_size, spec.output_numel
        self.W1 = torch.from_numpy(gen.standard_normal((k, m))).float()
        self.b1 = torch.from_numpy(gen.standard_normal(m)).float()
        self.W2 = torch.from_numpy(gen.standard_normal((m, D)) / math.sqrt(m)).float()
        self.mean = torch.zeros(D)
        self.std = torch.ones(D)

    def raw(self, u: torch.Tensor) -> torch.Tensor:
        """The map before standardisation, shape ``(n, output_numel)``."""
        W1, b1, W2 = (t.to(u.device) for t in (self.W1, self.b1, self.W2))
        return torch.tanh(self.spec.gain * (u @ W1) + b1) @ W2

    def fit_standardisation(self, r: torch.Tensor) -> None:
        """Set the per-feature mean/std from raw training outputs ``r = raw(u_train)``."""
        self.mean = r.mean(0).cpu()
        self.std = r.std(0).clamp_min(1e-6).cpu() if r.shape[0] > 1 else torch.ones(r.shape[1])

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return self.finish(self.raw(u))

    def finish(self, r: torch.Tensor) -> torch.Tensor:
        """Standardise raw outputs (and, for images, upsample and squash to ``(0, 1)``)."""
        s = (r - self.mean.to(r.device)) / self.std.to(r.device)
        if self.spec.image_shape is None:
            return s
        c, h, w = self.spec.image_shape
        coarse = s.reshape(-1, c, math.ceil(h / 4), math.ceil(w / 4))
        img = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
        return torch.sigmoid(img)


def prototypes(spec: SyntheticSpec) -> np.ndarray:
    """Unit-norm class prototypes ``mu_c``, shape ``(C, k)`` with ``k = spec.latent_size``.

    ``random``: independent uniform directions, nested in ``C`` (the first ``C'``
    prototypes for ``C > C'`` are those of ``C'``). ``orthogonal``: the standard basis
    vectors ``e_c`` of ``R^k`` (see the module docstring), so ``||mu_c - mu_c'|| = sqrt(2)``
    exactly for ``c != c'``; nested in ``C`` while ``C <= latent_dim``.

    >>> mu = prototypes(SyntheticSpec(num_classes=40, prototypes="orthogonal"))
    >>> mu.shape, bool(np.array_equal(mu @ mu.T, np.eye(40)))
    ((40, 40), True)
    """
    if spec.prototypes == "orthogonal":
        return np.eye(spec.num_classes, spec.latent_size)
    g = rng(spec.seed, "data", "prototypes")
    mu = g.standard_normal((spec.num_classes, spec.latent_dim))
    return mu / np.linalg.norm(mu, axis=1, keepdims=True)


def sample_latents(spec: SyntheticSpec, n_per_class: int, split: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Latents ``u = mu_c + difficulty * xi`` and labels, ``n_per_class`` per class.

    ``split`` (``"train"`` or ``"test"``) names the stream ``rng(seed, "data", split)``.
    """
    u, y = _latents(spec, n_per_class, split, np.float64)
    return u, y


def _latents(spec: SyntheticSpec, n_per_class: int, split: str, dtype
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_latents` in ``dtype``, formed :data:`_CHUNK` rows at a time (the
    values are those of one draw: a generator fills consecutive draws in order)."""
    if split not in ("train", "test"):
        raise ValueError(f"Expected `split` in ('train', 'test'), got {split!r}")
    orthogonal = spec.prototypes == "orthogonal"
    mu = None if orthogonal else prototypes(spec)
    k = spec.latent_size
    y = np.repeat(np.arange(spec.num_classes), n_per_class)
    g = rng(spec.seed, "data", split)
    u = np.empty((len(y), k), dtype=dtype)
    for start in range(0, len(y), _CHUNK):
        rows = y[start:start + _CHUNK]
        if orthogonal:  # mu_c = e_c: add 1 at the class's coordinate (float32 draws: the
            # large-C latents are the generator's cost)
            chunk = g.standard_normal((len(rows), k), dtype=np.float32)
            chunk *= np.float32(spec.difficulty / math.sqrt(k))
            chunk[np.arange(len(rows)), rows] += np.float32(1.0)
        else:
            xi = g.standard_normal((len(rows), k))
            chunk = mu[rows] + spec.difficulty * xi / math.sqrt(k)
        u[start:start + len(rows)] = chunk
    return u, y


def make_synthetic(spec: SyntheticSpec | None = None, **kw: object
                   ) -> tuple[Dataset, Dataset, SyntheticMap]:
    """Generate the train and test splits of the synthetic data set and its map.

    Args:
        spec: a :class:`SyntheticSpec`, or ``None`` and its fields as keywords.

    Returns:
        ``(train, test, g)``: two :class:`Dataset` (latents in ``meta["latent"]`` as float32
        tensors, the map in ``meta["map"]``) and the :class:`SyntheticMap` ``g`` with its
        standardisation fitted on train.

    Example:
        >>> tr, te, g = make_synthetic(num_classes=3, n_per_class=4, n_test_per_class=2,
        ...                            input_dim=5)
        >>> tuple(tr.x.shape), tuple(te.x.shape), tr.num_classes
        ((12, 5), (6, 5), 3)
    """
    if spec is None:
        spec = SyntheticSpec(**kw)  # type: ignore[arg-type]
    elif kw:
        raise TypeError(f"Expected either `spec` or keywords, got both (keywords {sorted(kw)})")
    g = SyntheticMap(spec)
    u_tr, y_tr = _latents(spec, spec.n_per_class, "train", np.float32)
    u_te, y_te = _latents(spec, spec.n_test_per_class, "test", np.float32)
    u_tr_t = torch.from_numpy(u_tr)
    u_te_t = torch.from_numpy(u_te)
    with torch.no_grad():
        r_tr = g.raw(u_tr_t)
        g.fit_standardisation(r_tr)
        x_tr, x_te = g.finish(r_tr).contiguous(), g(u_te_t).contiguous()
    kind = "vector" if spec.image_shape is None else "image"
    names = [f"class_{c}" for c in range(spec.num_classes)]
    meta = {"spec": asdict(spec)}

    def build(x: torch.Tensor, u: torch.Tensor, y: np.ndarray, split: str) -> Dataset:
        return Dataset(x=x, y=torch.from_numpy(y).long(), num_classes=spec.num_classes,
                       kind=kind, name="synthetic", class_names=names,
                       meta={**meta, "split": split, "latent": u, "map": g})

    return build(x_tr, u_tr_t, y_tr, "train"), build(x_te, u_te_t, y_te, "test"), g
