"""One frozen configuration for a lockstep training run.

:class:`TrainConfig` is the single description of a run: it is loaded from TOML
(stdlib ``tomllib``) or from command-line flags, unknown keys are rejected, every field
is validated before any work starts, and the resolved configuration is saved next to the
results as ``config.json``. Validation errors are one sentence naming the field and the
value, e.g. ``Expected `tau` > 0, got -0.5``.

>>> cfg = TrainConfig(classes=5, tau=0.2)
>>> cfg.objectives
('cl', 'nscl', 'scl', 'ce')
>>> TrainConfig.from_dict(cfg.to_dict()) == cfg
True
>>> TrainConfig(tau=0)
Traceback (most recent call last):
...
ValueError: Expected `tau` > 0, got 0
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ARCHS",
    "field_comments",
    "DATASETS",
    "OBJECTIVES",
    "OPTIMIZERS",
    "TrainConfig",
    "canonical_objectives",
]

#: Objectives in their canonical order; pairs are formed in this order (THEORY.md s2).
OBJECTIVES = ("cl", "ntxent", "nscl", "scl", "ce")
DATASETS = ("synthetic", "digits", "cifar10", "cifar100", "imagefolder")
ARCHS = ("auto", "mlp", "cnn", "resnet18")
OPTIMIZERS = ("sgd", "lars", "adamw")
LR_RULES = ("linear", "sqrt", "fourth-root", "constant")
SCHEDULES = ("constant", "cosine")
AUGMENTS = ("auto", "vector", "image", "none")
EVAL_FEATURES = ("z", "h", "both")
PROBES = ("ncc", "linear")
LOSS_GAP_FORMS = ("tight", "paper")
PAIRS = ("distinct", "all")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("loop", "vmap")


def canonical_objectives(objectives: Any) -> tuple[str, ...]:
    """Parse a comma string or a sequence of objective names into canonical order.

    >>> canonical_objectives("ce, cl,nscl")
    ('cl', 'nscl', 'ce')
    """
    if isinstance(objectives, str):
        items = [s.strip() for s in objectives.split(",") if s.strip()]
    elif isinstance(objectives, (list, tuple)):
        items = list(objectives)
    else:
        raise TypeError(
            f"Expected `objectives` to be a comma list or a sequence, got {objectives!r}"
        )
    for name in items:
        if name not in OBJECTIVES:
            raise ValueError(f"Expected `objectives` among {', '.join(OBJECTIVES)}, got {name!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"Expected `objectives` without repeats, got {objectives!r}")
    if not items:
        raise ValueError(f"Expected at least one objective in `objectives`, got {objectives!r}")
    return tuple(o for o in OBJECTIVES if o in items)


def field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of every field of a dataclass, from its source.

    The commented fields of :class:`TrainConfig` are the single description of each
    option; ``--help`` of ``python -m empirics.train`` is derived from them.

    >>> field_comments(TrainConfig)["tau"]
    'temperature of every contrastive loss (CE ignores it)'
    """
    import inspect
    import re

    names = {f.name for f in fields(cls)}
    out: dict[str, str] = {}
    pattern = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+?)\s*$")
    for line in inspect.getsource(cls).splitlines():
        m = pattern.match(line)
        if m and m.group(1) in names and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


@dataclass(frozen=True)
class TrainConfig:
    """A lockstep training run: data, models, objectives, optimisation, evaluation, output.

    Every objective in ``objectives`` trains its own copy of one initialisation, on the
    same batches and the same augmented views, with the same hyperparameters (shared
    randomness, THEORY.md s1 [stated]); only the loss differs.
    """

    # --- data -------------------------------------------------------------------------
    dataset: str = "synthetic"  # synthetic | digits | cifar10 | cifar100 | imagefolder
    classes: int | None = 10  # C: classes used (a seeded C-way subset); None = all of them
    data_root: str | None = None  # local path for cifar10/cifar100/imagefolder (no downloads)
    train_size: int | None = 4096  # synthetic only: train_size // C samples per class
    test_size: int | None = 1024  # synthetic only: test_size // C samples per class
    difficulty: float = 1.0  # synthetic only: within-class spread (latent units, 0 = points)
    image_size: int | None = None  # synthetic only: 3 x s x s images instead of vectors
    reference_size: int = 512  # samples in each fixed evaluation reference set (train, test)

    # --- model and views --------------------------------------------------------------
    arch: str = "auto"  # mlp | cnn | resnet18; auto = mlp for vectors, cnn for images
    feature_dim: int | None = None  # backbone width d_h; None = the architecture's default
    width: int | None = None  # CNN / ResNet base channels; None = the architecture's default
    proj_dim: int = 128  # projector output d_z (the embedding the contrastive losses see)
    augment: str = "auto"  # vector | image | none; auto = from the data kind
    views: int = 2  # K augmented views per sample (2 in every experiment of [P2])

    # --- objectives ---------------------------------------------------------------------
    objectives: tuple[str, ...] = ("cl", "nscl", "scl", "ce")  # any subset of OBJECTIVES
    tau: float = 0.5  # temperature of every contrastive loss (CE ignores it)
    pairs: str = "distinct"  # view pairs averaged: distinct (l1 != l2) | all (papers' K^2)
    positive_in_denominator: bool = False  # NT-Xent-style NSCL; loss_cl is then NT-Xent

    # --- optimisation -------------------------------------------------------------------
    batch_size: int = 256  # B, global (all ranks together)
    steps: int | None = 400  # T; give either steps or epochs (epochs wins when set)
    epochs: int | None = None  # T = epochs * ceil(N/B) via bounds.steps_from_epochs
    optimizer: str = "sgd"  # sgd (momentum) | lars (You et al. 2017) | adamw
    lr: float = 0.1  # base learning rate before the batch-size rule (0.3 diverges CE+SGD)
    lr_rule: str = "linear"  # linear lr*B/256 | sqrt lr*sqrt(B)/256 | fourth-root | constant
    schedule: str = "cosine"  # constant | cosine (bounds.schedules.schedule)
    warmup_steps: int | None = None  # warm-up steps before the cosine; None = min(20, T//10)
    momentum: float = 0.9  # SGD / LARS momentum (AdamW uses beta1 = momentum)
    weight_decay: float = 1e-4  # decoupled for AdamW; LARS excludes biases and norm params
    lars_trust: float = 1e-3  # LARS trust coefficient eta (You et al. 2017)

    # --- evaluation -----------------------------------------------------------------------
    eval_every: int = 50  # evaluate every k steps (and at step 0 and the last step)
    eval_features: str = "both"  # compare projection z, backbone h, or both (rows per kind)
    probe: str = "ncc"  # accuracy probe: ncc (nearest class centre) | linear (ridge, closed form)
    loss_gap_form: str = "tight"  # [P1] bound with n_max - 1 (tight) or n_max (paper)
    delta: float = 0.05  # failure probability for the run's own bounds (bounds.evaluate)

    # --- reliability and output ---------------------------------------------------------
    checkpoint_every: int = 100  # write checkpoints/last.pt every k steps (and at the end)
    seed: int = 0  # root seed; batch order, augmentation and init generators derive from it
    deterministic: bool = True  # torch.use_deterministic_algorithms(True) for the run
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda
    backend: str = "loop"  # loop (one model at a time) | vmap (torch.func-batched models)
    threads: int = 1  # torch CPU threads for the run (0 = torch's default); 1 is faster for
    # the small default models on a shared 2-core machine and keeps CPU results independent
    # of the core count (reduction order), so metrics.csv is byte-identical across machines
    out: str | None = None  # run directory; None = runs/<dataset>-C<C>-s<seed>-<UTC time>

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", canonical_objectives(self.objectives))
        self.validate()

    # ------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` (one sentence) on the first bad field."""
        _choice("dataset", self.dataset, DATASETS)
        _choice("arch", self.arch, ARCHS)
        _choice("augment", self.augment, AUGMENTS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("lr_rule", self.lr_rule, LR_RULES)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("eval_features", self.eval_features, EVAL_FEATURES)
        _choice("probe", self.probe, PROBES)
        _choice("loss_gap_form", self.loss_gap_form, LOSS_GAP_FORMS)
        _choice("pairs", self.pairs, PAIRS)
        _choice("device", self.device, DEVICES)
        _choice("backend", self.backend, BACKENDS)
        if self.classes is not None:
            _int("classes", self.classes, lo=2)
        for name in ("train_size", "test_size", "steps", "feature_dim", "width", "image_size"):
            if getattr(self, name) is not None:
                _int(name, getattr(self, name), lo=1)
        _int("reference_size", self.reference_size, lo=2)
        _int("proj_dim", self.proj_dim, lo=1)
        _int("views", self.views, lo=2)
        _int("batch_size", self.batch_size, lo=2)
        if self.warmup_steps is not None:
            _int("warmup_steps", self.warmup_steps, lo=0)
        _int("eval_every", self.eval_every, lo=1)
        _int("checkpoint_every", self.checkpoint_every, lo=1)
        _int("seed", self.seed, lo=0)
        _int("threads", self.threads, lo=0)
        for name in ("positive_in_denominator", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Expected `{name}` to be a bool, got {getattr(self, name)!r}")
        _positive("tau", self.tau)
        _positive("lr", self.lr)
        _nonneg("weight_decay", self.weight_decay)
        _nonneg("difficulty", self.difficulty)
        _positive("lars_trust", self.lars_trust)
        _float("momentum", self.momentum)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Expected `momentum` in [0, 1), got {self.momentum!r}")
        _float("delta", self.delta)
        if not 0 < self.delta < 1:
            raise ValueError(f"Expected `delta` in (0, 1), got {self.delta!r}")
        if self.epochs is not None:
            _int("epochs", self.epochs, lo=1)
        elif self.steps is None:
            raise ValueError("Expected one of `steps` or `epochs` to be set, got neither")
        if self.dataset in ("cifar10", "cifar100", "imagefolder") and not self.data_root:
            raise ValueError(
                f"Expected `data_root` (a local path) for dataset {self.dataset!r}, got None"
            )
        if self.data_root is not None and not isinstance(self.data_root, str):
            raise TypeError(f"Expected `data_root` to be a str path, got {self.data_root!r}")
        if self.out is not None and not isinstance(self.out, str):
            raise TypeError(f"Expected `out` to be a str path, got {self.out!r}")
        if self.dataset == "digits" and self.classes is not None and self.classes > 10:
            raise ValueError(
                f"Expected `classes` <= 10 (the classes of dataset 'digits'), got {self.classes}"
            )
        if self.dataset == "cifar10" and self.classes is not None and self.classes > 10:
            raise ValueError(
                f"Expected `classes` <= 10 (the classes of dataset 'cifar10'), got {self.classes}"
            )
        if self.dataset == "cifar100" and self.classes is not None and self.classes > 100:
            raise ValueError(
                f"Expected `classes` <= 100 (the classes of dataset 'cifar100'), got {self.classes}"
            )
        if self.dataset == "synthetic" and self.classes is None:
            raise ValueError(
                "Expected `classes` (the number to generate) for 'synthetic', got None"
            )
        if (
            self.dataset == "synthetic"
            and self.train_size is not None
            and self.classes is not None
            and self.train_size < self.classes
        ):
            raise ValueError(
                f"Expected `train_size` >= `classes` ({self.classes}), got {self.train_size}"
            )
        if self.warmup_steps and self.steps is not None and self.epochs is None:
            if self.warmup_steps >= self.steps:
                raise ValueError(
                    f"Expected `warmup_steps` < `steps` ({self.steps}), got {self.warmup_steps}"
                )

    # ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-ready dict of every field (tuples as lists)."""
        out = dataclasses.asdict(self)
        out["objectives"] = list(self.objectives)
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise TypeError(f"Expected a dict of configuration keys, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"Expected only TrainConfig keys, got unknown key(s) {unknown!r}")
        kw = dict(d)
        if "objectives" in kw and isinstance(kw["objectives"], list):
            kw["objectives"] = tuple(kw["objectives"])
        for name, value in list(kw.items()):
            kw[name] = _coerce(name, value)
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load a TOML file: top-level keys, or the keys of a ``[train]`` table."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10 fallback
            import tomli as tomllib
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        if set(data) == {"train"} and isinstance(data["train"], dict):
            data = data["train"]
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated again)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"Expected only TrainConfig keys, got unknown key(s) {unknown!r}")
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------
_FLOAT_FIELDS = {"difficulty", "tau", "lr", "momentum", "weight_decay", "lars_trust", "delta"}


def _coerce(name: str, value: Any) -> Any:
    """Accept ints for float fields (TOML ``tau = 1``); everything else is checked later."""
    if name in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if not isinstance(value, str):
        raise TypeError(f"Expected `{name}` to be a str, got {value!r}")
    if value not in options:
        raise ValueError(f"Expected `{name}` among {', '.join(options)}, got {value!r}")


def _int(name: str, value: Any, *, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Expected `{name}` to be an int, got {value!r}")
    if value < lo:
        raise ValueError(f"Expected `{name}` >= {lo}, got {value!r}")


def _float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected `{name}` to be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"Expected `{name}` to be finite, got {value!r}")


def _positive(name: str, value: Any) -> None:
    _float(name, value)
    if value <= 0:
        raise ValueError(f"Expected `{name}` > 0, got {value!r}")


def _nonneg(name: str, value: Any) -> None:
    _float(name, value)
    if value < 0:
        raise ValueError(f"Expected `{name}` >= 0, got {value!r}")
