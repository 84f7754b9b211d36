"""The similarity-descent surrogate that [P2] Theorem 1 is about (THEORY.md s9).

State: a ``2N x 2N`` similarity matrix over a reference set of ``N`` samples with 2 views.
One step draws a batch of ``B`` samples (the same for CL and NSCL), forms the mean of its
``2B`` anchors' losses and updates ``Sigma <- clip(Sigma - eta_t G_t, -1, 1)``. Every step
records the measured gap ``||Sigma^CL - Sigma^NSCL||_F`` beside Theorem 1 ([P2], THEORY.md
s6), the exact recurrence (s5), the one-run certificates (s9 and their non-expansive,
row-wise forms) and the realised same-class fraction against ``pi_max + eps``.

Its concepts, one module each:

- :mod:`~empirics.surrogate.config` -- :class:`SurrogateConfig`, declared once
- :mod:`~empirics.surrogate.dynamics` -- the state (labels, ``Sigma_0``, batches, state
  alignment) and one step of it (masks, closed-form gradient, batch loss, its Hessian),
  written once for numpy and torch arrays
- :mod:`~empirics.surrogate.certificate` -- constants and certificate recursions
- :mod:`~empirics.surrogate.simulation` -- the loop (:class:`Simulation`), resumable step by
  step; what it records (:class:`SurrogateResult`); the memory check before it allocates
- :mod:`~empirics.surrogate.run` -- the run directory (``run_into``, its rows, the resume
  checks) and ``python -m empirics.surrogate``, generated from the declarations

Run ``python -m empirics.surrogate --help`` for the command line.
"""

from empirics.surrogate.config import SurrogateConfig
from empirics.surrogate.dynamics import (
    anchor_gradient,
    batch_gradient,
    batch_loss,
    batch_masks,
    initial_state,
    make_batches,
    make_labels,
    state_alignment,
)
from empirics.surrogate.run import main, run_into, write_run
from empirics.surrogate.simulation import Simulation, SurrogateResult, simulate

__all__ = [
    "SurrogateConfig",
    "SurrogateResult",
    "Simulation",
    "batch_masks",
    "anchor_gradient",
    "batch_gradient",
    "batch_loss",
    "initial_state",
    "make_labels",
    "make_batches",
    "state_alignment",
    "simulate",
    "run_into",
    "write_run",
    "main",
]
