"""Encoders with a projector: MLP (vectors), small CNN (images), CIFAR-style ResNet-18.

Every model is a :class:`ContrastiveModel`: ``forward(x) -> (h, z)`` with ``h = f(x)`` the
backbone features (where alignment is measured and where CE attaches its linear head,
``empirics.losses.LinearHead``) and ``z = g(h)`` the projection fed to the contrastive
losses; the projector is the 2-layer MLP of SimCLR ([P2] uses a 2-layer projector to 128).

Initialisation is a pure function of ``seed`` (or an explicit ``torch.Generator``): the
modules are built on the ``meta`` device (so construction draws nothing from the global
random state) and every parameter is then initialised from the generator, in module order.
Copies of one initialisation are bitwise identical, which the lockstep trainer relies on.

Normalisation layers: the default MLP and CNN have none, so each sample's output depends
only on that sample and on the weights (no batch statistics): lockstep and DDP runs stay
equal without extra care. ResNet-18 uses BatchNorm by default, as in the paper's ResNets;
lockstep models with identical batches still stay identical (their batch statistics are
equal), but under DDP each rank would normalise with its own shard's statistics: convert
with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` to match a single-process run, or
build with ``norm="group"`` (GroupNorm, batch-independent) or ``norm="none"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ARCHS = ("mlp", "cnn", "resnet18")
NORMS = ("none", "batch", "group", "layer")


def _norm2d(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        return nn.GroupNorm(min(32, channels), channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class MLPEncoder(nn.Module):
    """``depth`` hidden layers ``Linear -> ReLU`` of width ``hidden``, then ``Linear`` to
    ``feature_dim``; input ``(B, ...)`` is flattened."""

    def __init__(self, in_dim: int, feature_dim: int, hidden: int = 256, depth: int = 2,
                 norm: str = "none") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden)]
            if norm == "layer":
                layers += [nn.LayerNorm(hidden)]
            elif norm == "batch":
                layers += [nn.BatchNorm1d(hidden)]
            layers += [nn.ReLU()]
            d = hidden
        layers += [nn.Linear(d, feature_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Four 3x3 convolutions (widths ``w, 2w, 4w, 4w``; the 2nd and 3rd with stride 2),
    ReLU, global average pooling, ``Linear`` to ``feature_dim``. Works from 4x4 inputs up."""

    def __init__(self, in_channels: int, feature_dim: int, width: int = 32,
                 norm: str = "none") -> None:
        super().__init__()
        w = width
        chans = [(in_channels, w, 1), (w, 2 * w, 2), (2 * w, 4 * w, 2), (4 * w, 4 * w, 1)]
        layers: list[nn.Module] = []
        for cin, cout, stride in chans:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1,
                                 bias=norm in ("none",)),
                       _norm2d(norm, cout), nn.ReLU()]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, feature_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicBlock(nn.Module):
    """ResNet basic block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = _norm2d(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=bias)
        self.bn2 = _norm2d(norm, cout)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias),
                                          _norm2d(norm, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (He et al. 2016): 3x3 stem with stride 1 and no max-pool, four
    stages of two basic blocks (widths ``w, 2w, 4w, 8w``, strides ``1, 2, 2, 2``), global
    average pooling. Features have ``8 * width`` dimensions (512 for ``width = 64``).
    Works on 8x8 digits (final map 1x1) and 32x32 CIFAR images (final map 4x4)."""

    def __init__(self, in_channels: int, width: int = 64, norm: str = "batch") -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, stride=1, padding=1,
                                            bias=norm == "none"),
                                  _norm2d(norm, w), nn.ReLU())
        stages: list[nn.Module] = []
        cin = w
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = w * 2 ** i
            stages += [BasicBlock(cin, cout, stride, norm), BasicBlock(cout, cout, 1, norm)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))


class Projector(nn.Module):
    """SimCLR projection head: ``Linear(d, d) -> ReLU -> Linear(d, proj_dim)``."""

    def __init__(self, feature_dim: int, proj_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or feature_dim
        self.net = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, proj_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class ContrastiveModel(nn.Module):
    """Encoder ``f`` plus projector ``g``: ``forward(x) -> (h, z) = (f(x), g(f(x)))``.

    Attributes:
        arch, input_shape, feature_dim, proj_dim: as passed to :func:`build_model`.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, *, arch: str,
                 input_shape: tuple[int, ...], feature_dim: int, proj_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.feature_dim = feature_dim
        self.proj_dim = proj_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h, self.projector(h)


@torch.no_grad()
def init_parameters(model: nn.Module, generator: torch.Generator, *,
                    conv_init: str = "default") -> nn.Module:
    """Initialise every parameter and buffer of ``model`` from ``generator``, in module order.

    Linear and MLP/CNN convolutions: PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    for weights and biases. With ``conv_init="kaiming"`` (used for ResNet-18) convolution
    weights are Kaiming normal (fan-out, ReLU), as in torchvision.
    Norm layers: weight 1, bias 0, running mean 0, running variance 1.
    """
    if conv_init not in ("default", "kaiming"):
        raise ValueError(f"Expected `conv_init` in ('default', 'kaiming'), got {conv_init!r}")
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            if isinstance(m, nn.Conv2d) and conv_init == "kaiming":
                fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
            else:
                bound = 1.0 / math.sqrt(fan_in)
                m.weight.uniform_(-bound, bound, generator=generator)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(fan_in)
                m.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.num_batches_tracked.zero_()
    return model


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Expected `{name}` to be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"Expected `{name}` >= 1, got {value!r}")
    return value


def build_model(arch: str, input_shape: Sequence[int], *, feature_dim: int | None = None,
                proj_dim: int = 128, num_classes: int | None = None, seed: int = 0,
                generator: torch.Generator | None = None, width: int | None = None,
                hidden: int | None = None, depth: int = 2, norm: str | None = None,
                device: torch.device | str = "cpu") -> ContrastiveModel:
    """Build an encoder + projector with a deterministic initialisation.

    Args:
        arch: ``"mlp"`` (any input, flattened), ``"cnn"`` or ``"resnet18"`` (``(C, H, W)``).
        input_shape: one input's shape, ``(D,)`` or ``(C, H, W)``.
        feature_dim: dimension of ``h``. Defaults: mlp 128, cnn 128, resnet18 ``8 * width``
            (512); for resnet18 it must equal ``8 * width``.
        proj_dim: dimension of ``z`` (default 128).
        num_classes: accepted for interface symmetry and recorded as ``model.num_classes``;
            the CE head is attached by the trainer on ``h``, so every objective shares one
            architecture and one initialisation.
        seed: seeds a fresh CPU generator when ``generator`` is not given.
        generator: initialise from this generator instead (its state advances).
        width: CNN base channels (default 32) / ResNet base width (default 64).
        hidden: MLP hidden width (default 256).
        depth: MLP hidden layers (default 2).
        norm: ``"none"`` (default for mlp/cnn), ``"batch"`` (default for resnet18),
            ``"group"`` or ``"layer"``.
        device: where the parameters live (initialised on the CPU, then moved, so the
            values do not depend on the device).

    Raises:
        ValueError: unknown ``arch``/``norm``, an ``input_shape`` the architecture cannot
            take, or an inconsistent ``feature_dim``.
        TypeError: non-integer sizes.

    Example:
        >>> m = build_model("mlp", (10,), seed=0)
        >>> h, z = m(torch.zeros(3, 10))
        >>> tuple(h.shape), tuple(z.shape)
        ((3, 128), (3, 128))
    """
    if arch not in ARCHS:
        raise ValueError(f"Expected `arch` in {ARCHS}, got {arch!r}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"Expected a non-empty `input_shape` of positive sizes, got {shape!r}")
    norm = norm if norm is not None else ("batch" if arch == "resnet18" else "none")
    if norm not in NORMS:
        raise ValueError(f"Expected `norm` in {NORMS}, got {norm!r}")
    proj_dim = _positive_int("proj_dim", proj_dim)
    if num_classes is not None:
        _positive_int("num_classes", num_classes)
    if arch in ("cnn", "resnet18") and len(shape) != 3:
        raise ValueError(f"Expected `input_shape` (C, H, W) for arch {arch!r}, got {shape!r}")
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"Expected `generator` to be a torch.Generator, "
                        f"got {type(generator).__name__}")

    with torch.device("meta"):
        if arch == "mlp":
            fd = _positive_int("feature_dim", feature_dim or 128)
            encoder: nn.Module = MLPEncoder(math.prod(shape), fd,
                                            hidden=_positive_int("hidden", hidden or 256),
                                            depth=depth, norm=norm)
        elif arch == "cnn":
            fd = _positive_int("feature_dim", feature_dim or 128)
            encoder = SmallCNN(shape[0], fd, width=_positive_int("width", width or 32),
                               norm=norm)
        else:
            w = _positive_int("width", width or (feature_dim // 8 if feature_dim else 64))
            if feature_dim is not None and feature_dim != 8 * w:
                raise ValueError(f"Expected `feature_dim` = 8 * width = {8 * w} for resnet18, "
                                 f"got {feature_dim!r}")
            encoder = ResNet18(shape[0], width=w, norm=norm)
            fd = encoder.feature_dim
        projector = Projector(fd, proj_dim)
        model = ContrastiveModel(encoder, projector, arch=arch, input_shape=shape,
                                 feature_dim=fd, proj_dim=proj_dim)
    model = model.to_empty(device="cpu")
    init_parameters(model, generator, conv_init="kaiming" if arch == "resnet18" else "default")
    model.num_classes = num_classes
    return model.to(device)
