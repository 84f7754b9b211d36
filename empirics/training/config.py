"""The configuration of a lockstep training run, declared once (:mod:`cl_nscl_align.options`).

Every objective in ``objectives`` (:data:`empirics.objectives.OBJECTIVES`: the built-ins and
any installed plugin) trains its own copy of one initialisation, on the same
batches and the same augmented views, with the same hyperparameters (shared randomness,
THEORY.md s1 [stated]); only the loss differs. Each field below is declared once, with its
type, default, help and checks; the flags of ``python -m empirics.train``, TOML loading,
``--help`` and validation all follow from it.

>>> cfg = TrainConfig(classes=5, tau=0.2)
>>> cfg.objectives
('cl', 'nscl', 'scl', 'ce')
>>> TrainConfig.from_dict(cfg.to_dict()) == cfg
True
>>> TrainConfig(tau=0)
Traceback (most recent call last):
...
ValueError: Expected `tau` > 0, got 0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bounds.schedules import LR_RULES, SCHEDULE_UNITS, SCHEDULES, lr_from_rule
from cl_nscl_align.options import (
    Options,
    at_least,
    in_open_unit,
    in_range,
    option,
    path_text,
    positive,
)
from empirics.data.catalog import DATASET_CLASSES, DATASETS, NEEDS_ROOT, SYNTHETIC_SIZES
from empirics.objectives import OBJECTIVES, THEOREM_PAIR, canonical_objectives, paper_objectives

__all__ = [
    "ARCHS",
    "AUGMENTS",
    "DEVICES",
    "EVAL_FEATURES",
    "EXECUTIONS",
    "LOSS_GAP_FORMS",
    "MAX_STEPS",
    "OPTIMIZERS",
    "PAIRS",
    "PROBES",
    "TrainConfig",
]

ARCHS = ("auto", "mlp", "cnn", "resnet18")
OPTIMIZERS = ("sgd", "lars", "adamw")
AUGMENTS = ("auto", "vector", "image", "none")
EVAL_FEATURES = ("z", "h", "both")
PROBES = ("ncc", "linear")
LOSS_GAP_FORMS = ("tight", "paper")
PAIRS = ("distinct", "all")
DEVICES = ("auto", "cpu", "cuda")
#: How the lockstep models are executed (not an array library: see the surrogate's).
EXECUTIONS = ("loop", "vmap")
#: The most steps a run may have: the schedule ``eta_t`` and its running sum are held in
#: memory (16 bytes a step, 1.6 GB at the limit), and a larger ``T`` is a typo.
MAX_STEPS = 10**8
#: Ceilings that catch typos before memory runs out (a segfault or a traceback otherwise):
#: samples of a split or reference set, image side, widths, views, coefficients.
MAX_SAMPLES = 10**8
MAX_IMAGE_SIZE = 1024
MAX_WIDTH = 8192
MAX_CHANNELS = 1024
MAX_VIEWS = 64
MAX_DIFFICULTY = 1e6
MAX_COEFFICIENT = 1e6


def _coefficient(name: str, value: Any) -> None:
    """``0 < value <= MAX_COEFFICIENT``."""
    positive(name, value)
    in_range(0, MAX_COEFFICIENT)(name, value)


@dataclass(frozen=True)
class TrainConfig(Options):
    """A lockstep training run: data, models, objectives, optimisation, evaluation, output."""

    toml_tables = ("train",)

    # --- data -------------------------------------------------------------------------
    dataset: str = option("synthetic", "data set (nothing is downloaded; CIFAR and image "
                          "folders load from --data-root)", choices=DATASETS)
    classes: int | None = option(10, "C: classes used, a seeded C-way subset (none = all "
                                 "the classes of the data set; synthetic needs a number)",
                                 check=at_least(2))
    data_root: str | None = option(None, "local path of cifar10 / cifar100 / imagefolder "
                                   "data", check=path_text)
    train_size: int | None = option(None, "training samples: synthetic generates this many "
                                    "(train_size // C per class; none = 4096); other data "
                                    "sets use a seeded class-stratified subset of this size "
                                    "(none = all)", check=in_range(1, MAX_SAMPLES))
    test_size: int | None = option(None, "test samples: synthetic generates this many (none "
                                   "= 1024); other data sets use a seeded class-stratified "
                                   "subset of this size (none = all)",
                                   check=in_range(1, MAX_SAMPLES))
    difficulty: float = option(1.0, "synthetic only: within-class spread in latent units "
                               "(0 = points)", check=in_range(0, MAX_DIFFICULTY))
    image_size: int | None = option(None, "synthetic only: 3 x s x s images instead of "
                                    "vectors (the CNN needs s >= 4)",
                                    check=in_range(4, MAX_IMAGE_SIZE))
    # the choices are empirics.data.synthetic.PROTOTYPES (not imported: torch-free here)
    prototypes: str = option("random", "synthetic only: class prototypes, random unit "
                             "vectors in 32 latent dimensions (they crowd as C grows) or "
                             "orthogonal (orthonormal in max(32, C) dimensions: every pair "
                             "sqrt(2) apart for any C)", choices=("random", "orthogonal"))
    reference_size: int = option(512, "samples in each fixed evaluation reference set "
                                 "(train and test; at most the split's size)",
                                 check=in_range(2, MAX_SAMPLES))

    # --- model and views --------------------------------------------------------------
    arch: str = option("auto", "encoder; auto = mlp for vectors, cnn for images",
                       choices=ARCHS)
    feature_dim: int | None = option(None, "backbone width d_h (none = the architecture's "
                                     "default)", check=in_range(1, MAX_WIDTH))
    width: int | None = option(None, "CNN / ResNet base channels (none = the architecture's "
                               "default)", check=in_range(1, MAX_CHANNELS))
    proj_dim: int = option(128, "projector output d_z, the embedding the contrastive losses "
                           "see", check=in_range(1, MAX_WIDTH))
    augment: str = option("auto", "augmentations; auto = from the data kind", choices=AUGMENTS)
    views: int = option(2, "K augmented views per sample (2 in every experiment of [P2])",
                        check=in_range(2, MAX_VIEWS))

    # --- objectives ---------------------------------------------------------------------
    objectives: tuple[str, ...] = option(paper_objectives(), "objectives trained in lockstep",
                                         choices=lambda: OBJECTIVES.names())
    tau: float = option(0.5, "temperature of every contrastive loss (CE ignores it)",
                        check=positive)
    pairs: str = option("distinct", "view pairs averaged: distinct (l1 != l2) or all (the "
                        "papers' K^2 form)", choices=PAIRS)
    positive_in_denominator: bool = option(False, "NT-Xent-style NSCL (and loss_cl is then "
                                           "NT-Xent)")

    # --- optimisation -------------------------------------------------------------------
    batch_size: int = option(256, "B, the global batch (all ranks together)",
                             check=at_least(2))
    steps: int | None = option(400, "T, the number of steps (give steps or epochs; epochs "
                               "wins when set; at most 10^8)", check=at_least(1))
    epochs: int | None = option(None, "epochs; T = epochs * ceil(N/B)", check=at_least(1))
    optimizer: str = option("sgd", "sgd (with momentum), lars (You et al. 2017) or adamw",
                            choices=OPTIMIZERS)
    lr: float = option(0.1, "base learning rate before the batch-size rule (0.3 diverges "
                       "CE with SGD)", check=positive)
    lr_rule: str = option("linear", "batch-size rule: linear lr*B/256, sqrt lr*sqrt(B)/256, "
                          "fourth-root lr*B^(1/4)/256, constant lr", choices=LR_RULES)
    schedule: str = option("cosine", "learning-rate schedule after the warm-up",
                           choices=SCHEDULES)
    warmup_steps: int | None = option(None, "linear warm-up steps (none = min(20, T // 10), "
                                      "in whole epochs with schedule_unit epoch)",
                                      check=at_least(0))
    schedule_unit: str = option("step", "how often the schedule moves: every step, or once "
                                "per epoch of ceil(N/B) steps as the official code of [P2] "
                                "(warmup_steps then a multiple of ceil(N/B)); bounds' S "
                                "follows", choices=SCHEDULE_UNITS)
    momentum: float = option(0.9, "SGD / LARS momentum (AdamW: beta1)")
    weight_decay: float = option(1e-4, "weight decay (decoupled for AdamW; LARS skips biases "
                                 "and norm parameters)",
                                 check=in_range(0, MAX_COEFFICIENT))
    lars_trust: float = option(1e-3, "LARS trust coefficient (You et al. 2017)",
                               check=_coefficient)

    # --- evaluation -----------------------------------------------------------------------
    eval_every: int = option(50, "evaluate every k steps (and at step 0 and the last step)",
                             check=at_least(1))
    eval_features: str = option("both", "features compared: projection z, backbone h, or "
                                "both (one row each)", choices=EVAL_FEATURES)
    probe: str = option("ncc", "accuracy probe: ncc (nearest class centre) or linear (ridge, "
                        "closed form)", choices=PROBES)
    loss_gap_form: str = option("tight", "[P1] bound with n_max - 1 (tight) or n_max (paper)",
                                choices=LOSS_GAP_FORMS)
    delta: float = option(0.05, "failure probability of the run's own [P2] bounds",
                          check=in_open_unit)
    linearization_every: int = option(0, "every k steps (a multiple of eval_every), measure "
                                      "[P2] Appendix D on the CL and NSCL models: the "
                                      "Jacobian norm L_Sigma and the second-order remainder "
                                      "of the next optimiser step, into linearization.csv "
                                      "(0 = off)", check=at_least(0))
    linearization_size: int = option(64, "reference samples (the first n of the train "
                                     "reference set, unaugmented) on which Sigma(w) is "
                                     "formed for linearization_every", check=at_least(2))

    # --- reliability and output ---------------------------------------------------------
    checkpoint_every: int = option(100, "write checkpoints/last.pt every k steps (and at "
                                   "the end)", check=at_least(1))
    seed: int = option(0, "root seed; every random stream derives from it (empirics.seeds)",
                       check=at_least(0))
    deterministic: bool = option(True, "torch.use_deterministic_algorithms for the run")
    device: str = option("auto", "auto (CUDA when present), cpu or cuda", choices=DEVICES,
                         result=False)
    backend: str = option("loop", "loop: one model after another; vmap: all models as one "
                          "torch.func-batched computation (equal to float tolerance)",
                          choices=EXECUTIONS)
    threads: int = option(1, "torch CPU threads (0 = torch's default, at most the cores of "
                          "the machine); 1 is fastest for the small default models on a "
                          "shared 2-core machine and makes CPU results independent of the "
                          "core count, so metrics.csv is byte-identical across machines; a "
                          "resume must use the thread count of the checkpoint",
                          check=at_least(0), result=False)
    out: str | None = option(None, "run directory (none = runs/<dataset>-C<C>-s<seed>-<UTC "
                             "time>)", check=path_text, result=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", canonical_objectives(self.objectives))
        super().__post_init__()

    def check(self) -> None:
        """Rules between fields (each raises one sentence naming them)."""
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Expected `momentum` in [0, 1), got {self.momentum!r}")
        if self.epochs is None and self.steps is None:
            raise ValueError("Expected one of `steps` or `epochs` to be set, got neither")
        try:
            with np.errstate(all="ignore"):  # an overflow is the error below, not a warning
                rate = float(lr_from_rule(self.lr_rule, self.lr, self.batch_size))
        except (ValueError, OverflowError):
            rate = math.inf
        if not rate < float(np.finfo(np.float32).max):
            raise ValueError(f"Expected `lr` whose `lr_rule` {self.lr_rule!r} rate at B = "
                             f"{self.batch_size} is a float32 number, got {self.lr!r} "
                             f"(rate {rate!r})")
        if self.epochs is None and self.steps > MAX_STEPS:
            raise ValueError(f"Expected `steps` <= {MAX_STEPS} (the schedule is held in "
                             f"memory), got {self.steps}")
        if self.epochs is not None and self.epochs > MAX_STEPS:
            raise ValueError(f"Expected `epochs` <= {MAX_STEPS} (a run has at most "
                             f"{MAX_STEPS} steps), got {self.epochs}")
        if self.dataset in NEEDS_ROOT and not self.data_root:
            raise ValueError(
                f"Expected `data_root` (a local path) for dataset {self.dataset!r}, got None")
        limit = DATASET_CLASSES.get(self.dataset)
        if limit is not None and self.classes is not None and self.classes > limit:
            raise ValueError(f"Expected `classes` <= {limit} (the classes of dataset "
                             f"{self.dataset!r}), got {self.classes}")
        if self.dataset == "synthetic":
            if self.classes is None:
                raise ValueError(
                    "Expected `classes` (the number to generate) for 'synthetic', got None")
            if (self.train_size or SYNTHETIC_SIZES["train"]) < self.classes:
                raise ValueError(f"Expected `train_size` >= `classes` ({self.classes}), got "
                                 f"{self.train_size or SYNTHETIC_SIZES['train']}")
        if self.warmup_steps and self.steps is not None and self.epochs is None \
                and self.warmup_steps >= self.steps:
            raise ValueError(
                f"Expected `warmup_steps` < `steps` ({self.steps}), got {self.warmup_steps}")
        if self.linearization_every:
            if self.linearization_every % self.eval_every:
                raise ValueError(
                    f"Expected `linearization_every` to be a multiple of `eval_every` "
                    f"({self.eval_every}), got {self.linearization_every}")
            if not set(THEOREM_PAIR) & set(self.objectives):
                raise ValueError(
                    f"Expected `objectives` to include {' or '.join(THEOREM_PAIR)} for "
                    f"`linearization_every` > 0, got {','.join(self.objectives)}")
            if self.linearization_size > self.reference_size:
                raise ValueError(
                    f"Expected `linearization_size` <= `reference_size` "
                    f"({self.reference_size}), got {self.linearization_size}")
