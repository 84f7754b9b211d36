"""The run directory of a lockstep training run (DESIGN.md, "Public surface").

::

    <run>/config.json          the resolved TrainConfig (every field, after defaults)
    <run>/metrics.csv          one row per (step, pair, split, features): alignment
    <run>/losses.csv           one row per (step, model, split): loss_cl, loss_nscl, [P1] bound
    <run>/bounds.csv           one row per evaluation step > 0: the run's own bounds
    <run>/checkpoints/last.pt  models, heads, optimisers, step (atomic, every k steps)
    <run>/summary.json         final values, wall time, whether [P1] held everywhere

Every file is written atomically (:mod:`empirics.io`). On resume the CSV rows beyond the
checkpoint's step are dropped, so the finished files equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from empirics.io import (
    append_csv_rows,
    atomic_torch_save,
    atomic_write_json,
    read_csv_rows,
    truncate_csv_rows,
)

__all__ = ["LOSSES_COLUMNS", "METRICS_COLUMNS", "RunDir"]

#: metrics.csv columns (one row per evaluation step, model pair, split and feature kind).
METRICS_COLUMNS = [
    "step", "epoch", "pair", "split", "features", "n",
    "cka", "cka_linear", "rsa", "sim_gap", "rho", "r",
    "cka_lower_from_rho", "rsa_lower_from_r",
    "weight_gap", "weight_gap_sum", "weight_angle", "repr_angle",
]  # fmt: skip

#: losses.csv columns (one row per evaluation step, model and split).
LOSSES_COLUMNS = [
    "step", "epoch", "model", "split", "n_batches", "batch_size", "n_max",
    "loss_own", "loss_cl", "loss_nscl", "loss_gap", "loss_gap_min", "loss_gap_bound",
    "loss_gap_bound_form", "p1_holds", "accuracy", "accuracy_z", "head_accuracy",
]  # fmt: skip


class RunDir:
    """Paths and atomic I/O of one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.csv"
        self.losses = self.path / "losses.csv"
        self.bounds = self.path / "bounds.csv"
        self.checkpoints = self.path / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.summary = self.path / "summary.json"

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- lifecycle ------------------------------------------------------------------------
    def has_results(self) -> bool:
        """True when the directory already holds a run (a config or a checkpoint)."""
        return self.config.exists() or self.last.exists()

    def create(self, config_dict: dict[str, Any]) -> None:
        """Make the directory and write ``config.json`` (the resolved configuration)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config, config_dict)

    def read_config(self) -> dict[str, Any]:
        return json.loads(self.config.read_text(encoding="utf-8"))

    # -- tables ---------------------------------------------------------------------------
    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        append_csv_rows(self.metrics, rows, METRICS_COLUMNS)

    def append_losses(self, rows: list[dict[str, Any]]) -> None:
        append_csv_rows(self.losses, rows, LOSSES_COLUMNS)

    def append_bounds(self, rows: list[dict[str, Any]]) -> None:
        append_csv_rows(self.bounds, rows, list(rows[0]) if rows else None)

    def truncate_after(self, step: int) -> int:
        """Drop every CSV row with ``step`` > ``step`` (resume); returns rows dropped."""
        keep = lambda row: int(row["step"]) <= step  # noqa: E731
        return sum(truncate_csv_rows(p, keep) for p in (self.metrics, self.losses, self.bounds))

    def read_metrics(self) -> list[dict[str, str]]:
        return read_csv_rows(self.metrics)[1] if self.metrics.exists() else []

    def read_losses(self) -> list[dict[str, str]]:
        return read_csv_rows(self.losses)[1] if self.losses.exists() else []

    # -- checkpoints and summary ----------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(state, self.last)

    def load_checkpoint(self, map_location: Any = "cpu") -> dict[str, Any]:
        import torch

        return torch.load(self.last, map_location=map_location, weights_only=False)

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.summary, summary)
