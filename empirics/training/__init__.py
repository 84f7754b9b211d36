"""Lockstep training of the registered objectives (:mod:`empirics.objectives`) under shared
randomness.

- :mod:`empirics.training.config` -- :class:`TrainConfig`, declared once
- :mod:`empirics.training.lockstep` -- the models, batches, views and one step of all of them
- :mod:`empirics.training.trainer` -- the loop into a run directory: resume, checkpoints
- :mod:`empirics.training.evaluator` -- what is measured at an evaluation step
- :mod:`empirics.training.run_bounds` -- the run's own [P2] bounds and the batch event
  they hold on (``bounds.csv``)
- :mod:`empirics.training.errors` -- how a run ends early (stopped, diverged)
- :mod:`~empirics.training.probe`, :mod:`~empirics.training.weights` -- accuracy probes,
  weight gaps
- :mod:`empirics.training.curvature`, :mod:`~empirics.training.linearization` -- [P2]
  Appendix D and Theorem 2's constants on a real model (``linearization.csv``)
- :mod:`empirics.training.batched` -- the ``vmap`` execution of all models at once
- :mod:`empirics.training.distributed` -- one run over several processes (DDP)
- :mod:`empirics.training.cli` -- ``python -m empirics.train``

Only :mod:`~empirics.training.config` is imported here (torch-free), so a run spec can be
resolved without loading torch; import the rest from their modules.
"""

from empirics.training.config import TrainConfig

__all__ = ["TrainConfig"]
