"""Lockstep training of CL / NT-Xent / NSCL / SCL / CE under shared randomness.

- :mod:`empirics.training.config` -- :class:`TrainConfig`, declared once
- :mod:`empirics.training.lockstep` -- the models, batches, views and one step of all of them
- :mod:`empirics.training.trainer` -- the loop into a run directory: resume, checkpoints
- :mod:`empirics.training.evaluator` -- what is measured at an evaluation step
- :mod:`empirics.training.run_bounds` -- the run's own [P2] bounds (``bounds.csv``)
- :mod:`empirics.training.objectives`, :mod:`~empirics.training.probe`,
  :mod:`~empirics.training.weights` -- losses per objective, accuracy probes, weight gaps
- :mod:`empirics.training.batched` -- the ``vmap`` execution of all models at once
- :mod:`empirics.training.distributed` -- one run over several processes (DDP)
- :mod:`empirics.training.cli` -- ``python -m empirics.train``

Only :mod:`~empirics.training.config` is imported here (torch-free), so a run spec can be
resolved without loading torch; import the rest from their modules.
"""

from empirics.training.config import TrainConfig

__all__ = ["TrainConfig"]
