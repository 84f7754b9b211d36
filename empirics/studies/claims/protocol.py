"""The protocol of the claims study: every setting, declared once, fixed before any result.

A protocol says which runs test each claim of THEORY.md s13 (C1-C7), how many seeds, and
how the interval of each statistic is formed. It is a frozen
:class:`~empirics.options.Options` (one declaration per field: type, default, help,
check), loaded from a committed TOML file: ``protocols/{tiny,quick,medium,full}.toml``
beside this module, or any file given with ``--protocol``. In the file, a key ``k`` of a
table ``[t]`` is the field ``t_k`` (``[c3] taus = [0.1, 0.5, 1.0]`` is ``c3_taus``); the
other keys are top-level fields.

Grids (``c2_real_classes``, ``c3_taus``, ...) are lists of numbers in the file and comma
lists of number texts in the object (the declared-once configuration holds strings,
ints, floats, bools and string tuples); :meth:`Protocol.ints` and :meth:`Protocol.floats`
read them back.

The verdict rule (:data:`empirics.studies.claims.statistics.VERDICT_RULE`) is part of the
protocol: a 95% interval over seeds per statistic (Student t by default, a percentile
bootstrap as the option), ``holds`` when it excludes zero in the paper's direction,
``reversed`` when it excludes zero the other way, ``inconclusive`` otherwise.

>>> p = load_protocol("quick")
>>> p.name, p.seeds >= 3, p.interval
('quick', True, 't')
>>> p.floats("c3_taus")
(0.1, 0.5, 1.0)
>>> Protocol.from_dict({"c3_taus": [0.1, -1]})
Traceback (most recent call last):
...
ValueError: Expected every value of `c3_taus` > 0, got '-1.0'
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bounds.schedules import LR_RULES, SCHEDULES
from empirics.data.catalog import DATASET_CLASSES, DATASETS, NEEDS_ROOT
from empirics.options import (
    Options,
    at_least,
    in_open_unit,
    load_toml,
    nonnegative,
    option,
    positive,
)

__all__ = [
    "BUDGETS",
    "CLAIMS",
    "GRIDS",
    "PROTOCOL_DIR",
    "SIZES",
    "Protocol",
    "load_protocol",
    "protocol_path",
    "read_protocol_file",
]

#: The claims of THEORY.md s13 this study tests.
CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7")
#: The committed protocols, by ``--size``.
SIZES = ("tiny", "quick", "medium", "full")
PROTOCOL_DIR = Path(__file__).resolve().parent / "protocols"
#: How a C4 run at batch size B is as long as the base run: the same number of steps, or
#: the same number of samples seen (epochs): steps * B0 / B.
BUDGETS = ("steps", "epochs")
ARCHS = ("auto", "mlp", "cnn", "resnet18")
OPTIMIZERS = ("sgd", "lars", "adamw")


def _grid_check(kind: type, low: float, *, strict: bool = True):
    """A check that every entry of a grid parses as ``kind`` and exceeds ``low``."""

    def check(name: str, value: tuple[str, ...]) -> None:
        if not value:
            raise ValueError(f"Expected at least one value in `{name}`, got none")
        for text in value:
            try:
                x = kind(text)
                if kind is int and str(x) != text.strip():
                    raise ValueError
            except ValueError:
                raise ValueError(f"Expected every value of `{name}` to be "
                                 f"{'an int' if kind is int else 'a number'}, got {text!r}"
                                 ) from None
            if not math.isfinite(x) or (x <= low if strict else x < low):
                rel = ">" if strict else ">="
                raise ValueError(f"Expected every value of `{name}` {rel} {low:g}, got {text!r}")
        if len(set(kind(t) for t in value)) != len(value):
            raise ValueError(f"Expected distinct values in `{name}`, got {list(value)!r}")

    check.__name__ = f"grid_{kind.__name__}"
    return check


#: Grid fields and the type of their entries.
GRIDS: dict[str, type] = {
    "c2_real_classes": int,
    "c2_synthetic_classes": int,
    "c3_taus": float,
    "c4_batch_sizes": int,
}


def _number_text(value: Any, kind: type) -> Any:
    """A grid entry as the text the grid holds: ints plain, numbers of a float grid by
    ``repr(float)`` (so ``1``, ``1.0`` and ``"1"`` are one value); anything else as given,
    for the grid's check to name."""
    if isinstance(value, bool):
        return value
    if kind is float:
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


@dataclass(frozen=True)
class Protocol(Options):
    """One size of the claims study (see the module docstring and docs/claims.md)."""

    # --- the study ----------------------------------------------------------------------
    name: str = option("custom", "name of the protocol (quick, medium, full, or yours)")
    seeds: int = option(3, "root seeds 0..seeds-1 of every setting (the interval is over "
                        "these)", check=at_least(2))
    claims: tuple[str, ...] = option(CLAIMS, "claims tested", choices=CLAIMS)
    interval: str = option("t", "interval over seeds: t (Student t on the seed values) or "
                           "bootstrap (percentile bootstrap of the mean)",
                           choices=("t", "bootstrap"))
    level: float = option(0.95, "coverage of each interval", check=in_open_unit)
    bootstrap_resamples: int = option(10000, "resamples of the bootstrap interval",
                                      check=at_least(100))
    split: str = option("test", "reference set of the trend statistics (C2, C3, C4, C6)",
                        choices=("train", "test"))
    trend_features: tuple[str, ...] = option(("h", "z"), "features of the trend statistics: "
                                             "h backbone (the paper's CKA code), z projection "
                                             "(the theory's); one row each",
                                             choices=("h", "z"))
    metric: str = option("cka", "alignment of the trend statistics: cka (cosine Gram, the "
                         "theory's), rsa or cka_linear (raw features, the paper's code)",
                         choices=("cka", "rsa", "cka_linear"))

    # --- the base setting: real data, C <= its classes ------------------------------------
    dataset: str = option("digits", "real data set of every claim at C <= its classes "
                          "(cifar10 / cifar100 / imagefolder read from data_root)",
                          choices=DATASETS)
    data_root: str | None = option(None, "local path of cifar10 / cifar100 / imagefolder "
                                   "data (--data-root sets it)", result=False)
    classes: int = option(10, "C of the base setting (all-way on a 10-class set)",
                          check=at_least(2))
    train_size: int | None = option(None, "training samples of the real set (none = all)",
                                    check=at_least(2))
    test_size: int | None = option(None, "test samples of the real set (none = all)",
                                   check=at_least(2))
    arch: str = option("mlp", "encoder of the real-data runs", choices=ARCHS)
    feature_dim: int | None = option(None, "backbone width d_h (none = the architecture's)",
                                     check=at_least(1))
    width: int | None = option(None, "CNN / ResNet base channels (none = the architecture's)",
                               check=at_least(1))
    proj_dim: int = option(128, "projector output d_z", check=at_least(1))
    reference_size: int = option(256, "samples of each evaluation reference set",
                                 check=at_least(4))
    batch_size: int = option(64, "B of the base setting", check=at_least(2))
    steps: int = option(200, "T of the base setting (steps)", check=at_least(2))
    eval_every: int = option(50, "evaluate every k steps (and at 0 and T)",
                             check=at_least(1))
    optimizer: str = option("sgd", "optimiser of every run", choices=OPTIMIZERS)
    lr: float = option(0.4, "base learning rate before the batch-size rule", check=positive)
    lr_rule: str = option("linear", "batch-size rule of the base setting: lr * B/256, ...",
                          choices=LR_RULES)
    schedule: str = option("cosine", "learning-rate schedule after the warm-up",
                           choices=SCHEDULES)
    warmup_steps: int | None = option(None, "warm-up steps (none = the trainer's "
                                      "min(20, T // 10))", check=at_least(0))
    tau: float = option(0.5, "temperature of the base setting", check=positive)

    # --- synthetic data, for C beyond the real set ------------------------------------------
    synthetic_train_size: int = option(4096, "synthetic training samples (train_size // C "
                                       "per class)", check=at_least(2))
    synthetic_test_size: int = option(1024, "synthetic test samples", check=at_least(2))
    synthetic_difficulty: float = option(1.0, "within-class spread of the synthetic data",
                                         check=nonnegative)
    synthetic_image_size: int | None = option(None, "synthetic 3 x s x s images instead of "
                                              "vectors", check=at_least(4))
    synthetic_arch: str = option("auto", "encoder of the synthetic runs (auto: mlp for "
                                 "vectors, cnn for images)", choices=ARCHS)

    # --- the claims ---------------------------------------------------------------------------
    c2_real_classes: tuple[str, ...] = option(("2", "5", "10"), "C2: C of the seeded C-way "
                                              "subsets of the real set",
                                              check=_grid_check(int, 1))
    c2_synthetic_classes: tuple[str, ...] = option(("10", "100", "1000"), "C2: C of the "
                                                   "synthetic runs",
                                                   check=_grid_check(int, 1))
    c3_taus: tuple[str, ...] = option(("0.1", "0.5", "1.0"), "C3: temperatures",
                                      check=_grid_check(float, 0.0))
    c4_batch_sizes: tuple[str, ...] = option(("32", "64", "128"), "C4: batch sizes",
                                             check=_grid_check(int, 1))
    c4_rules: tuple[str, ...] = option(("linear", "sqrt", "fourth-root"), "C4: learning-rate "
                                       "rules (linear is the reference of the contrasts)",
                                       choices=LR_RULES)
    c4_match_lr: bool = option(True, "C4: scale each rule's lr so that every rule gives the "
                               "base run's rate at the base B (false: the rules as written)")
    c4_budgets: tuple[str, ...] = option(("steps",), "C4: equal steps, or equal samples seen "
                                         "(epochs: T * B0 / B steps)", choices=BUDGETS)
    c5_steps: int = option(2000, "C5, C6: steps of the long run at the base setting",
                           check=at_least(2))
    c5_eval_every: int = option(100, "C5, C6: evaluation interval of the long run",
                                check=at_least(1))
    c5_power_iters: int = option(20, "C5: power iterations of beta (Hessian) and G "
                                 "(Jacobian of the similarities)", check=at_least(1))
    c5_batches: int = option(2, "C5: training batches the curvature is averaged over",
                             check=at_least(1))

    # ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Protocol:
        """Build from a mapping; grids may be lists of numbers (as in the TOML files)."""
        if isinstance(d, Mapping):
            d = dict(d)
            for k, kind in GRIDS.items():
                val = d.get(k)
                if isinstance(val, str):
                    val = [v.strip() for v in val.split(",") if v.strip()]
                if isinstance(val, (list, tuple)):
                    d[k] = tuple(_number_text(v, kind) for v in val)
        return super().from_dict(d)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Protocol:
        """Load a protocol file (tables flattened: ``[c3] taus`` is ``c3_taus``)."""
        return cls.from_dict(read_protocol_file(path))

    def ints(self, name: str) -> tuple[int, ...]:
        """An int grid (``c2_real_classes``, ``c4_batch_sizes``, ...) as ints."""
        return tuple(int(v) for v in getattr(self, name))

    def floats(self, name: str) -> tuple[float, ...]:
        """A number grid as floats."""
        return tuple(float(v) for v in getattr(self, name))

    def check(self) -> None:
        """Rules between fields, each one sentence naming them."""
        if self.dataset in NEEDS_ROOT and not self.data_root:
            raise ValueError(f"Expected `data_root` (--data-root) for dataset "
                             f"{self.dataset!r}, got None")
        limit = DATASET_CLASSES.get(self.dataset)
        if limit is not None:
            for C in (self.classes, *self.ints("c2_real_classes")):
                if C > limit:
                    raise ValueError(f"Expected `classes` and `c2_real_classes` <= {limit} "
                                     f"(the classes of {self.dataset!r}), got {C}")
        if self.c5_steps <= self.steps:
            raise ValueError(f"Expected `c5_steps` > `steps` ({self.steps}: the long run is "
                             f"longer), got {self.c5_steps}")
        for C in self.ints("c2_synthetic_classes"):
            if C > self.synthetic_train_size:
                raise ValueError(f"Expected `c2_synthetic_classes` <= `synthetic_train_size` "
                                 f"({self.synthetic_train_size}), got {C}")
        if "linear" not in self.c4_rules and "C4" in self.claims:
            raise ValueError(f"Expected 'linear' among `c4_rules` (the reference of the C4 "
                             f"contrasts), got {list(self.c4_rules)!r}")
        if self.batch_size not in self.ints("c4_batch_sizes") and "C4" in self.claims:
            raise ValueError(f"Expected `c4_batch_sizes` to include the base `batch_size` "
                             f"({self.batch_size}), got {list(self.c4_batch_sizes)!r}")
        for name in ("c2_real_classes", "c2_synthetic_classes", "c3_taus", "c4_batch_sizes"):
            if len(getattr(self, name)) < 2:
                raise ValueError(f"Expected at least two values in `{name}` (a slope), got "
                                 f"{list(getattr(self, name))!r}")

    def to_file_dict(self) -> dict[str, Any]:
        """Every field, grids as numbers (what ``protocol.json`` records)."""
        out = self.to_dict()
        for name, kind in GRIDS.items():
            out[name] = [kind(v) for v in out[name]]
        return out


def read_protocol_file(path: str | os.PathLike) -> dict[str, Any]:
    """The keys of a protocol TOML file, tables flattened (``[c3] taus`` -> ``c3_taus``).

    Raises:
        FileNotFoundError: no such file. ValueError: not TOML, or a nested table.
    """
    data = load_toml(path, what="a protocol file")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    raise ValueError(f"Expected one level of tables in {str(path)!r}, got "
                                     f"[{key}.{sub}]")
                flat[f"{key}_{sub}"] = v
        else:
            flat[key] = value
    return flat


def protocol_path(size: str) -> Path:
    """The committed protocol file of ``size``.

    Raises:
        ValueError: an unknown size.
    """
    if size not in SIZES:
        raise ValueError(f"Expected `size` among {', '.join(SIZES)}, got {size!r}")
    return PROTOCOL_DIR / f"{size}.toml"


def load_protocol(size: str | None = "quick", *, file: str | os.PathLike | None = None,
                  **changes: Any) -> Protocol:
    """The protocol of a size (or of ``file``), with ``changes`` applied (validated).

    Raises:
        ValueError / TypeError: an unknown size, a bad file, an unknown key or a value the
            protocol rejects (one sentence naming it).
        FileNotFoundError: ``file`` does not exist.
    """
    path = Path(file) if file is not None else protocol_path(size or "quick")
    data = read_protocol_file(path)
    data.update({k: v for k, v in changes.items() if v is not None})
    return Protocol.from_dict(data)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a protocol file's bytes (recorded in claims.md)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
