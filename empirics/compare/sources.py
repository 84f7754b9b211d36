"""What ``A`` and ``B`` of ``python -m empirics.compare A B`` may be, loaded safely.

- **a feature file**: ``.npy``; ``.npz`` (``--key`` picks an array, default its only one);
  ``.pt`` / ``.pth`` holding one tensor. Shape ``(N, d)`` (rows = samples), or
  ``(K, N, d)``: ``K`` views of the ``N`` samples, whose view 0 is compared and all of which
  give the [P1] loss. Non-finite features are refused, never compared.
- **a run member**: ``RUN_DIR:cl``, ``RUN_DIR:nscl``, ... A trainer run is rebuilt from its
  ``config.json`` by the trainer itself (:class:`~empirics.training.lockstep.
  LockstepTrainer`: the same data, reference sets and evaluation views) and its members
  take the weights of ``checkpoints/last.pt``. A NSCL-twin run (:mod:`empirics.twin`) holds
  its members' reference features in its checkpoint instead.
- **a model checkpoint**: a state dict (``.pt`` / ``.pth``, optionally under a ``model`` or
  ``state_dict`` key) of an architecture named by ``--arch``: the toolkit's ``mlp``,
  ``cnn``, ``resnet18`` (:func:`empirics.models.build_model`; sizes read from the state
  dict, input shape from the data) or ``torchvision.resnet18/34/50/101/152`` (when
  torchvision is installed; ``h`` is the pooled backbone output and ``z = h``).

Everything is loaded with ``weights_only=True`` (numpy: ``allow_pickle=False``): a file
holding Python objects is refused unread. Every problem is a :class:`CompareError`, one
sentence naming the argument (``A``, ``B``, ``--key``, ``--arch``).

>>> parse_source("features.npy")
('file', 'features.npy', None)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["TOOLKIT_ARCHS", "TORCHVISION_ARCHS", "CompareError", "RunContext", "Side",
           "build_checkpoint_model", "check_arch", "load_feature_file", "load_run",
           "load_state_dict", "member_side", "parse_source", "resolve", "split_pair"]

TOOLKIT_ARCHS = ("mlp", "cnn", "resnet18")
TORCHVISION_ARCHS = tuple(f"torchvision.resnet{d}" for d in (18, 34, 50, 101, 152))
FEATURE_SUFFIXES = (".npy", ".npz")
TORCH_SUFFIXES = (".pt", ".pth")
TWIN_PRODUCER = "empirics.twin"  # config.json "producer" of a NSCL-twin run


class CompareError(ValueError):
    """A usage error of the comparison: one sentence naming the argument and the value."""


@dataclass
class RunContext:
    """A trainer run rebuilt by the trainer: its configuration, trainer and checkpoint step."""

    path: Path
    config: Any  # TrainConfig
    trainer: Any  # LockstepTrainer holding the checkpoint's weights
    step: int


@dataclass
class Side:
    """One encoder: rows in memory (``features``) or a model that embeds the data."""

    name: str  # "A" or "B"
    text: str  # as given on the command line
    what: str  # one line for the report
    features: torch.Tensor | None = None  # (N, d) compared rows
    views: torch.Tensor | None = None  # (K, N, d) feature views, for the [P1] loss
    labels: torch.Tensor | None = None  # labels that came with the rows (a twin run)
    model: nn.Module | None = None  # forward(x) -> (h, z)
    arch: str | None = None
    run: RunContext | None = None
    member: str | None = None
    state: dict | None = field(default=None, repr=False)  # a checkpoint awaiting --arch/data
    rows_what: str | None = None  # what the rows of ``features`` are, when known

    @property
    def is_model(self) -> bool:
        return self.model is not None or self.state is not None


def split_pair(value: str | None, name: str) -> tuple[str | None, str | None]:
    """``"X"`` -> ``(X, X)``; ``"X,Y"`` -> ``(X, Y)`` (per-source options such as ``--arch``).

    >>> split_pair("mlp,cnn", "arch"), split_pair("mlp", "arch"), split_pair(None, "arch")
    (('mlp', 'cnn'), ('mlp', 'mlp'), (None, None))
    """
    if value is None:
        return None, None
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) == 1 and parts[0]:
        return parts[0], parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise CompareError(f"Expected `--{name}` as VALUE or VALUE_A,VALUE_B, got {value!r}")


def parse_source(text: str) -> tuple[str, str, str | None]:
    """``("run", dir, member)`` for ``DIR:member`` with an existing folder, else
    ``("file", path, None)``."""
    head, sep, member = str(text).rpartition(":")
    if sep and head and Path(head).is_dir() and not Path(text).exists():
        return "run", head, member
    return "file", str(text), None


# ----------------------------------------------------------------------------- files
def _check_finite(a: np.ndarray, name: str, path: str) -> None:
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0].tolist()
        raise CompareError(f"Expected finite features in `{name}`, got NaN or inf in "
                           f"{path!r} at index {tuple(bad)} (refused: a measure of "
                           "non-finite features means nothing)")


def _as_features(a: Any, name: str, path: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy() if a.dtype != torch.bfloat16 else a.float().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise CompareError(f"Expected a real-valued array in `{name}`, got dtype {a.dtype} in "
                           f"{path!r}")
    if a.ndim not in (2, 3) or min(a.shape) < 1:
        raise CompareError(f"Expected features of shape (N, d) or (K, N, d) in `{name}`, got "
                           f"shape {a.shape} in {path!r}")
    _check_finite(a, name, path)
    return torch.from_numpy(np.ascontiguousarray(a))


def load_feature_file(path: str, key: str | None, name: str) -> torch.Tensor | dict:
    """The array of a feature file, or the state dict a ``.pt`` file holds.

    Raises:
        CompareError: a missing file, a file that is not an array (naming it), an unknown
            or unreadable ``--key``, a pickled object.
    """
    p = Path(path)
    if not p.exists():
        raise CompareError(f"Expected `{name}` to be a feature file, a checkpoint or "
                           f"RUN_DIR:member, got {path!r} (no such file)")
    if p.is_dir():
        raise CompareError(f"Expected `{name}` to be a file or RUN_DIR:member, got the folder "
                           f"{path!r} (name a member: {path}:cl)")
    suffix = p.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        return _load_torch(p, name)
    if suffix not in FEATURE_SUFFIXES:
        raise CompareError(f"Expected `{name}` to be a .npy, .npz, .pt or .pth file, got "
                           f"{path!r}")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        why = "it holds Python objects (refused unread)" if "pickle" in str(exc) else \
            str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CompareError(f"Expected `{name}` to be a numpy array file, got {path!r} "
                           f"({why})") from None
    if isinstance(data, np.ndarray):
        if key is not None:
            raise CompareError(f"Expected no `--key` for the .npy file {path!r}, got {key!r}")
        return _as_features(data, name, path)
    with data:
        names = list(data.files)
        if key is None:
            if len(names) != 1:
                raise CompareError(f"Expected `--key` to pick one array of {path!r} (arrays: "
                                   f"{', '.join(names) or 'none'}), got none")
            key = names[0]
        if key not in names:
            raise CompareError(f"Expected `--key` among the arrays of {path!r} ("
                               f"{', '.join(names) or 'none'}), got {key!r}")
        try:
            array = data[key]
        except (ValueError, OSError, EOFError) as exc:
            raise CompareError(f"Expected `--key` {key!r} of {path!r} to be a readable array, "
                               f"got an unreadable one ({str(exc).splitlines()[0][:120]})"
                               ) from None
    return _as_features(array, name, f"{path}[{key}]")


def _load_torch(p: Path, name: str) -> torch.Tensor | dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure: not a file we can trust
        text = str(exc).strip()
        why = ("it holds Python objects beyond tensors and plain data (refused unread)"
               if "weights_only" in text or "Unsupported global" in text
               else (text.splitlines()[0][:120] if text else type(exc).__name__))
        raise CompareError(f"Expected `{name}` to be a tensor or a state dict saved by "
                           f"torch.save, got {str(p)!r} ({why})") from None
    if isinstance(obj, torch.Tensor):
        return _as_features(obj, name, str(p))
    if isinstance(obj, dict):
        if "members" in obj and "tables" in obj:
            raise CompareError(f"Expected `{name}` to be a feature file or a state dict, got "
                               f"the run checkpoint {str(p)!r} (give RUN_DIR:member)")
        return load_state_dict(obj, name, str(p))
    raise CompareError(f"Expected `{name}` to hold a tensor or a state dict, got "
                       f"{type(obj).__name__} in {str(p)!r}")


def load_state_dict(obj: dict, name: str, path: str) -> dict:
    """The tensors of a state dict, unwrapped from a ``model`` / ``state_dict`` key."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CompareError(f"Expected `{name}` to hold a tensor or a state dict of tensors, "
                           f"got a dict without tensors in {path!r}")
    return tensors


# ----------------------------------------------------------------------------- checkpoints
def _linear_weights(state: dict, prefix: str) -> list[torch.Tensor]:
    keys = sorted((k for k in state if k.startswith(prefix) and k.endswith(".weight")
                   and state[k].dim() == 2), key=lambda k: int(k[len(prefix):].split(".")[0]))
    return [state[k] for k in keys]


def _norm_of(state: dict, prefix: str, norm: str, arch: str, name: str) -> str:
    if norm != "auto":
        return norm
    if any(k.startswith(prefix) and k.endswith("running_mean") for k in state):
        return "batch"
    scales = [k for k in state if k.startswith(prefix) and k.endswith(".weight")
              and state[k].dim() == 1]
    if not scales:
        return "none"
    if arch == "mlp":
        return "layer"  # the MLP's only norm without running statistics
    raise CompareError(f"Expected `--norm` group or layer for the {arch} checkpoint `{name}` "
                       "(its normalisation has no running statistics, and group and layer "
                       "norms store the same tensors), got auto")


def _toolkit_model(arch: str, state: dict, input_shape: tuple[int, ...], norm: str,
                   name: str) -> nn.Module:
    from empirics.models import build_model

    proj = _linear_weights(state, "projector.net.")
    if len(proj) != 2:
        raise CompareError(f"Expected the state dict of `{name}` to match --arch {arch!r} "
                           "(an encoder and a 2-layer projector), got no such projector")
    kw: dict[str, Any] = {"proj_dim": int(proj[-1].shape[0]),
                          "norm": _norm_of(state, "encoder.", norm, arch, name)}
    if arch == "mlp":
        lin = _linear_weights(state, "encoder.net.")
        if len(lin) < 1:
            raise CompareError(f"Expected the state dict of `{name}` to match --arch 'mlp', "
                               "got no encoder Linear layers")
        kw.update(feature_dim=int(lin[-1].shape[0]), depth=len(lin) - 1,
                  hidden=int(lin[0].shape[0]) if len(lin) > 1 else None)
    elif arch == "cnn":
        first, lin = state.get("encoder.net.0.weight"), _linear_weights(state, "encoder.net.")
        if first is None or first.dim() != 4 or not lin:
            raise CompareError(f"Expected the state dict of `{name}` to match --arch 'cnn', "
                               "got no first convolution")
        kw.update(width=int(first.shape[0]), feature_dim=int(lin[-1].shape[0]))
    else:
        stem = state.get("encoder.stem.0.weight")
        if stem is None or stem.dim() != 4:
            raise CompareError(f"Expected the state dict of `{name}` to match --arch "
                               "'resnet18', got no stem convolution")
        kw["width"] = int(stem.shape[0])
    try:
        model = build_model(arch, input_shape, **kw)
    except (ValueError, TypeError) as exc:
        raise CompareError(f"Expected the state dict of `{name}` to match --arch {arch!r} on "
                           f"inputs {tuple(input_shape)}, got {exc}") from None
    _load_strict(model, state, arch, name)
    return model


def _load_strict(model: nn.Module, state: dict, arch: str, name: str) -> None:
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    shapes = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected),
                            ("shape differs", shapes)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}")
        raise CompareError(f"Expected the state dict of `{name}` to match --arch {arch!r}, "
                           f"got {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


class _Backbone(nn.Module):
    """A torchvision ResNet as ``forward(x) -> (h, z)``: ``h`` the pooled backbone output,
    ``z = h`` (no projector); parameter names keep the ``encoder.`` prefix."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        net.fc = nn.Identity()
        self.encoder = net
        self.projector = nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h, h


def _torchvision_model(arch: str, state: dict, name: str) -> nn.Module:
    try:
        import torchvision  # the optional extra
    except ImportError:
        raise CompareError(f"Expected torchvision for `--arch` {arch!r}, got none installed "
                           "(pip install torchvision)") from None
    fc = state.get("fc.weight")
    if fc is None:
        raise CompareError(f"Expected the state dict of `{name}` to match --arch {arch!r}, "
                           "got no fc.weight")
    net = getattr(torchvision.models, arch.split(".", 1)[1])(weights=None,
                                                              num_classes=int(fc.shape[0]))
    _load_strict(net, state, arch, name)
    return _Backbone(net)


def check_arch(side: Side, arch: str | None) -> None:
    """A checkpoint needs a known ``--arch`` (checked before any data is loaded)."""
    if arch is None:
        raise CompareError(f"Expected `--arch` for the state-dict checkpoint `{side.name}` "
                           f"({side.text!r}), got none")
    if arch not in TOOLKIT_ARCHS + TORCHVISION_ARCHS:
        raise CompareError(f"Expected `--arch` among {', '.join(TOOLKIT_ARCHS)}, "
                           f"torchvision.resnet18/34/50/101/152, got {arch!r}")


def build_checkpoint_model(side: Side, arch: str | None, input_shape, norm: str) -> None:
    """Turn ``side.state`` into ``side.model`` (in place)."""
    check_arch(side, arch)
    if arch in TORCHVISION_ARCHS:
        model = _torchvision_model(arch, side.state, side.name)
    else:
        model = _toolkit_model(arch, side.state, tuple(input_shape), norm, side.name)
    side.model, side.arch, side.state = model.eval(), arch, None
    side.what = f"{side.text} ({arch} checkpoint)"


# ----------------------------------------------------------------------------- runs
def load_run(path: str, device: str, cache: dict) -> RunContext | dict:
    """A trainer run rebuilt (cached by path), or a twin run's checkpoint state."""
    from empirics.runs.layout import RunDir
    from empirics.runs.tables import RunFileError
    from empirics.runs.writer import load_checkpoint, read_config

    key = os.path.realpath(path)
    if key in cache:
        return cache[key]
    run = RunDir(path)
    try:
        saved = read_config(run)
        state = load_checkpoint(run.last)
    except RunFileError as exc:
        raise CompareError(f"Expected a run directory with a checkpoint for a member, got "
                           f"{exc}") from None
    if saved.get("producer") == TWIN_PRODUCER:
        cache[key] = state
        return state
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer

    try:
        config = TrainConfig.from_dict(saved).replace(device=device)
        trainer = LockstepTrainer(config)
        step = trainer.load_state_dict(state)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise CompareError(f"Expected run {path!r} to rebuild from its config.json and "
                           f"checkpoint, got {' '.join(str(exc).split())[:300]}") from None
    cache[key] = RunContext(Path(path), config, trainer, step)
    return cache[key]


def member_side(name: str, text: str, path: str, member: str, features: str, device: str,
                cache: dict) -> Side:
    """The side of ``RUN_DIR:member`` (a trainer run's model, or a twin run's features)."""
    try:
        ctx = load_run(path, device, cache)
    except CompareError as exc:
        raise CompareError(f"`{name}` = {text!r}: {exc}") from None
    if isinstance(ctx, dict):  # a NSCL-twin run: features of the reference set
        ref = ctx.get("reference", {})
        feats = ref.get("features", {})
        if member not in feats:
            raise CompareError(f"Expected `{name}` to name a member of run {path!r} ("
                               f"{', '.join(feats) or 'none'}), got {member!r}")
        kinds = feats[member]
        kind = features if features in kinds else "h"
        x = kinds[kind].double()
        return Side(name, text, f"{text} (NSCL-twin run, step {ctx.get('step')}, features "
                    f"{kind})", features=x, labels=ref.get("labels"), member=member,
                    rows_what=f"the reference set of NSCL-twin run {Path(path).name} "
                              f"({x.shape[0]} rows, step {ctx.get('step')})")
    names = [m.name for m in ctx.trainer.members]
    if member not in names:
        raise CompareError(f"Expected `{name}` to name a member of run {path!r} ("
                           f"{', '.join(names)}), got {member!r}")
    module = ctx.trainer.members[names.index(member)].module.eval()
    return Side(name, text, f"{text} ({ctx.trainer.arch}, step {ctx.step} of run "
                f"{ctx.path.name})", model=module, arch=ctx.trainer.arch, run=ctx,
                member=member)


def resolve(name: str, text: str, key: str | None, features: str, device: str,
            cache: dict) -> Side:
    """``A`` or ``B`` as given: a feature file, a run member or a checkpoint (not built)."""
    kind, path, member = parse_source(text)
    if kind == "run":
        if not member:
            raise CompareError(f"Expected `{name}` as RUN_DIR:member, got {text!r} (no member)")
        return member_side(name, text, path, member, features, device, cache)
    loaded = load_feature_file(path, key, name)
    if isinstance(loaded, dict):
        return Side(name, text, f"{text} (checkpoint)", state=loaded)
    if loaded.dim() == 3:
        K, N, d = loaded.shape
        return Side(name, text, f"{text} ({K} views of {N} rows, view 0 compared, width {d})",
                    features=loaded[0], views=loaded)
    return Side(name, text, f"{text} ({loaded.shape[0]} rows, width {loaded.shape[1]})",
                features=loaded)

