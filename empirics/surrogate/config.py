"""The configuration of a surrogate run, declared once (:mod:`cl_nscl_align.options`).

One :class:`SurrogateConfig` describes both runs of the similarity-descent surrogate (CL
and NSCL in lockstep on the same batches, THEORY.md s9). Each field is declared once,
with its type, default, help and checks; the flags of ``python -m empirics.surrogate``,
TOML loading, ``--help`` and validation follow from it. The field names and flags are
those of every earlier version, so an old ``config.json`` still loads.

>>> cfg = SurrogateConfig(C=4, N=32, B=8, steps=5)
>>> cfg.eval_interval, cfg.tau
(1, 1.0)
>>> SurrogateConfig.from_dict(cfg.to_dict()) == cfg
True
>>> SurrogateConfig(B=300)
Traceback (most recent call last):
...
ValueError: Expected 2 <= `B` <= `N` = 256, got 300
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bounds.schedules import SCHEDULES
from bounds.validation import check_prior
from cl_nscl_align.options import Options, at_least, in_open_unit, nonnegative, option, positive
from empirics.objectives import THEOREM_PAIR

__all__ = ["ARRAY_LIBRARIES", "DEVICE_PATTERN", "INITS", "MAX_SCALE", "MAX_SUM_ETA", "OBJECTIVES",
           "RESUMABLE_CHANGES", "SurrogateConfig"]

#: Array libraries the state can live in (not the trainer's loop | vmap EXECUTIONS).
ARRAY_LIBRARIES = ("numpy", "torch")
#: Initial states: cosines of random features, or the identity.
INITS = ("features", "identity")
#: The two objectives run in lockstep (THEORY.md s2): the registry's theorem pair.
OBJECTIVES = THEOREM_PAIR
#: Fields a resumed run may change: where and how often it writes, not what it computes.
RESUMABLE_CHANGES = ("device", "checkpoint_every", "max_memory_gib")
#: The torch devices a float64 state can live on: ``cpu``, ``cuda`` or ``cuda:<index>``
#: (MPS has no float64). Whether the device exists is checked when a run starts
#: (:func:`empirics.surrogate.dynamics.torch_device`), not here, so that a saved
#: ``config.json`` of a GPU run still loads on a machine without one.
DEVICE_PATTERN = re.compile(r"cpu|cuda(:[0-9]+)?")
#: Largest ``tau`` and initial-feature scale: squares and ``1/tau^2`` stay float64 numbers.
MAX_SCALE = 1e150
#: Largest ``lr * steps``: the schedule's running sum ``sum_eta`` stays a float64 number.
MAX_SUM_ETA = 1e300


def _temperature(name: str, value: Any) -> None:
    """``1e-150 <= value <= 1e150``: the step constants ``1/(tau^2 B)`` stay float64 numbers."""
    positive(name, value)
    if not 1e-150 <= value <= MAX_SCALE:
        raise ValueError(f"Expected `{name}` in [1e-150, 1e150] (1/tau^2 must be a float64 "
                         f"number), got {value!r}")


def _scale(name: str, value: Any) -> None:
    """``0 <= value <= 1e150``: the initial features' squared norms stay float64 numbers
    (beyond, they overflow and every cosine would silently become 0)."""
    nonnegative(name, value)
    if not value <= MAX_SCALE:
        raise ValueError(f"Expected `{name}` <= {MAX_SCALE:g} (squared feature norms must be "
                         f"float64 numbers), got {value!r}")


def _device(name: str, value: Any) -> None:
    """``cpu``, ``cuda`` or ``cuda:<index>`` (:data:`DEVICE_PATTERN`)."""
    if not DEVICE_PATTERN.fullmatch(value):
        raise ValueError(f"Expected `{name}` to be cpu, cuda or cuda:<index>, got {value!r}")


def _probability(name: str, value: Any) -> None:
    """``0 < value <= 1`` (a class prior)."""
    if not 0 < value <= 1:
        raise ValueError(f"Expected 0 < `{name}` <= 1, got {value!r}")


@dataclass(frozen=True)
class SurrogateConfig(Options):
    """One surrogate run: CL and NSCL from the same ``Sigma_0``, on the same batches."""

    toml_tables = ("surrogate",)
    cli_title = "The run: CL and NSCL from the same Sigma_0, on the same batches"

    # --- the problem ----------------------------------------------------------------------
    C: int = option(10, "number of classes; labels are balanced (y_i = i mod C), then "
                    "shuffled", check=at_least(2))
    N: int = option(256, "reference samples; the state is 2N x 2N (two views)",
                    check=at_least(2))
    B: int = option(32, "batch size in samples; a batch has 2B anchors", check=at_least(2))
    tau: float = option(1.0, "temperature", check=_temperature)

    # --- the steps ------------------------------------------------------------------------
    steps: int = option(200, "T, the number of steps", check=at_least(1))
    lr: float = option(64.0, "base learning rate eta, in state units (one visit moves a "
                       "positive by eta/(2 B tau))", check=positive)
    schedule: str = option("constant", "learning-rate schedule (bounds.schedules)",
                           choices=SCHEDULES)
    warmup_steps: int = option(0, "linear warm-up steps of the cosine schedule",
                               check=at_least(0))
    seed: int = option(0, "root seed of the labels, the initial state and the batch order "
                       "(empirics.seeds)", check=at_least(0))

    # --- the initial state ------------------------------------------------------------------
    init: str = option("features", "Sigma_0: cosines of random features, or the identity",
                       choices=INITS)
    init_dim: int = option(32, "feature dimension d of init=features", check=at_least(1))
    init_view_noise: float = option(0.5, "augmentation noise between a sample's two views "
                                    "(init=features; at most 1e150)", check=_scale)
    init_class_signal: float = option(0.0, "class-mean strength in the initial features "
                                      "(init=features; at most 1e150)", check=_scale)

    # --- the losses and the bounds ----------------------------------------------------------
    positive_in_denominator: bool = option(False, "NT-Xent-style variant: the positive in "
                                           "both denominators")
    delta: float = option(0.05, "failure probability of the theorem's event (in eps)",
                          check=in_open_unit)
    pi_max: float | None = option(None, "largest class prior in Delta, in [1/C, 1] (none = "
                                  "the realised largest class share of the N labels)",
                                  check=_probability)

    # --- execution and output -----------------------------------------------------------------
    backend: str = option("numpy", "array library of the state (torch also runs on a GPU)",
                          choices=ARRAY_LIBRARIES)
    device: str = option("cpu", "torch device of the state: cpu, cuda or cuda:<index> "
                         "(anything but cpu needs backend=torch)", check=_device, result=False)
    eval_every: int = option(0, "CKA, rho and an exact gap every k steps (0 = T // 10, at "
                             "least 1), and at the last step", check=at_least(0))
    checkpoint_every: int = option(100, "write checkpoints/last.pt every k steps (and at "
                                   "step 0 and the end) when writing a run directory",
                                   check=at_least(1), result=False)
    max_memory_gib: float | None = option(None, "refuse a run whose arrays would need more "
                                          "GiB than this (none = 80% of the memory available "
                                          "at the start)", check=positive, result=False)

    def check(self) -> None:
        """Rules between fields (each raises one sentence naming them).

        Besides the sizes: ``pi_max >= 1/C`` (the largest of ``C`` priors summing to 1;
        a smaller one would give a smaller, invalid ``Delta``; the rule of the bounds,
        :func:`bounds.validation.check_prior`), ``lr * steps <= 1e300``
        (:data:`MAX_SUM_ETA`), and no flag that the run would silently ignore: a warm-up
        needs the cosine schedule, a device other than ``cpu`` needs ``backend=torch``.
        """
        if self.N < self.C:
            raise ValueError(f"Expected `N` >= `C` = {self.C}, got {self.N!r}")
        if self.B > self.N:
            raise ValueError(f"Expected 2 <= `B` <= `N` = {self.N}, got {self.B!r}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"Expected 0 <= `warmup_steps` < `steps` = {self.steps}, got "
                             f"{self.warmup_steps!r}")
        if self.warmup_steps and self.schedule != "cosine":
            raise ValueError(f"Expected `warmup_steps` = 0 for `schedule` = "
                             f"{self.schedule!r} (only cosine warms up), got "
                             f"{self.warmup_steps!r}")
        if self.pi_max is not None:
            check_prior(self.pi_max, self.C)  # the bounds' own rule ([P2] Delta)
        if not self.lr * self.steps <= MAX_SUM_ETA:
            raise ValueError(f"Expected `lr` * `steps` <= {MAX_SUM_ETA:g} (the schedule's sum "
                             f"must be a float64 number), got `lr` = {self.lr!r} with "
                             f"`steps` = {self.steps}")
        if self.backend == "numpy" and self.device != "cpu":
            raise ValueError(f"Expected `device` = 'cpu' for `backend` = 'numpy' (use "
                             f"--backend torch for another device), got {self.device!r}")

    @property
    def eval_interval(self) -> int:
        """Steps between evaluations: ``eval_every``, or ``T // 10`` (at least 1) for 0."""
        return self.eval_every if self.eval_every > 0 else max(1, self.steps // 10)
