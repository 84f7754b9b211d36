"""[P2] Appendix D on a real run: does one optimiser step move the similarities as the
surrogate says? (``linearization.csv``; THEORY.md s13.)

With ``linearization_every = k > 0``, at every step ``t`` that is a multiple of ``k`` (and
so an evaluation step; ``t < T``) the CL and NSCL models' weights ``w_t`` are copied, the
run takes its step ``t -> t + 1`` as usual, and on the first ``linearization_size`` samples
of the train reference set (unaugmented, the same every time) we measure
(:mod:`empirics.training.curvature`, float64):

- ``jacobian_norm`` -- ``L_Sigma = ||J(w_t)||_{2->2}`` of the full ``n x n`` similarity
  matrix (power iteration, at most :data:`POWER_ITERS` products, tolerance
  :data:`POWER_TOL`; ``power_iterations`` and ``power_rel_change`` say how far it got);
- ``relative_remainder`` -- ``||Sigma(w_{t+1}) - Sigma(w_t) - J_t d||_F /
  ||Sigma(w_{t+1}) - Sigma(w_t)||_F`` with ``d = w_{t+1} - w_t``, and its parts
  ``sim_change``, ``linear_change``, ``remainder``, ``step_norm``,
  ``remainder_over_step_sq``.

**Which step.** ``d`` is the realised optimiser step (``update = "optimizer"``: momentum,
weight decay and LARS's trust ratios included), not a plain gradient step. Appendix D asks
whether the surrogate describes the network *as trained*; the first-order term ``J_t d``
is exact for any ``d``, and the remainder measures how far the actual displacement leaves
the linear regime. A plain step ``-eta grad`` would describe a run that did not happen (and
would cost a second backward pass per model). ``eta`` is the step's learning rate.

The measurement only reads the models (copies of the weights; the model modules in
``eval`` mode inside :mod:`~empirics.training.curvature`), so the run's other tables are
byte-identical with the option on or off. Rows are appended before the checkpoint of step
``t + 1``, so a resumed run writes them again, identically.
"""

from __future__ import annotations

from typing import Any

import torch

from empirics.objectives import THEOREM_PAIR
from empirics.training.curvature import jacobian_power, parameters, sgd_remainder

__all__ = ["LINEARIZATION_COLUMNS", "MODELS", "POWER_ITERS", "POWER_TOL", "Linearization"]

#: The objectives measured (Appendix D compares CL's and NSCL's networks to the surrogate).
MODELS = THEOREM_PAIR
POWER_ITERS = 100
POWER_TOL = 1e-7

#: linearization.csv columns (one row per measured step and model).
LINEARIZATION_COLUMNS = [
    "step", "epoch", "model", "n", "update", "eta",
    "jacobian_norm", "power_iterations", "power_rel_change",
    "step_norm", "sim_change", "linear_change", "remainder", "relative_remainder",
    "remainder_over_step_sq",
]  # fmt: skip


class Linearization:
    """The Appendix D measurement of a run (see the module docstring).

    Args:
        trainer: the run's :class:`~empirics.training.lockstep.LockstepTrainer`.
    """

    def __init__(self, trainer) -> None:
        cfg = trainer.config
        self.trainer = trainer
        self.every = int(cfg.linearization_every)
        ref = trainer.references["train"].x
        self.x = ref[: min(cfg.linearization_size, int(ref.shape[0]))]
        self.members = [m for m in trainer.members if m.objective in MODELS]
        self.seed = cfg.seed

    def due(self, t: int) -> bool:
        """Whether step ``t -> t + 1`` is measured."""
        return self.every > 0 and t % self.every == 0 and t < self.trainer.T

    def before(self) -> dict[str, dict[str, torch.Tensor]]:
        """Copies of ``w_t`` of the measured models (call before the step)."""
        if self.trainer.batched is not None:
            self.trainer.batched.unstack()  # the member modules hold the stacked weights
        return {m.name: parameters(m.module) for m in self.members}

    def rows(self, t: int, before: dict[str, dict[str, torch.Tensor]]) -> list[dict[str, Any]]:
        """The rows of step ``t`` (call after the step, with :meth:`before`'s copies)."""
        tr = self.trainer
        if tr.batched is not None:
            tr.batched.unstack()
        out = []
        for m in self.members:
            w0 = before[m.name]
            power = jacobian_power(m.module, self.x, iters=POWER_ITERS, tol=POWER_TOL,
                                   seed=self.seed, params=w0)
            rem = sgd_remainder(m.module, w0, parameters(m.module), self.x)
            out.append({
                "step": t,
                "epoch": tr.epoch_of(t),
                "model": m.name,
                "n": int(self.x.shape[0]),
                "update": "optimizer",
                "eta": float(tr.eta[t]),
                "jacobian_norm": power.value,
                "power_iterations": power.iterations,
                "power_rel_change": power.rel_change,
                **{k: rem[k] for k in ("step_norm", "sim_change", "linear_change",
                                       "remainder", "relative_remainder",
                                       "remainder_over_step_sq")},
            })
        return out
