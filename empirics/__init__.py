"""Empirics: contrastive losses, alignment metrics, lockstep training and the surrogate.

One sub-package or module per concept; importing ``empirics`` itself loads nothing heavy,
so ``import empirics.metrics`` does not pay for the trainer, and the configuration, seed
and runs layers import no torch:

- :mod:`empirics.losses` -- CL (decoupled), NT-Xent, NSCL, SCL, CE ([P2], THEORY.md s2)
- :mod:`empirics.metrics` -- CKA, RSA, similarity gap, rho, r (THEORY.md s7), exact in O(N d^2)
- :mod:`empirics.data`, :mod:`empirics.augment`, :mod:`empirics.models`,
  :mod:`empirics.optim` -- inputs, views, encoders, optimisers
- :mod:`empirics.training` -- CL / NSCL / SCL / CE in lockstep under shared randomness
- :mod:`empirics.surrogate` -- the similarity-descent surrogate Theorem 1 is about (THEORY.md s9)
- :mod:`empirics.runs` -- one run-directory format, one run spec and cache key, one launcher
- :mod:`empirics.studies` -- sweeps, tightness and trend studies, golden runs, claims
- :mod:`cl_nscl_align.options`, :mod:`empirics.seeds` -- configurations declared once; the one
  seed splitter

Command lines: ``python -m empirics.train``, ``python -m empirics.surrogate``,
``python -m empirics.sweep``, ``python -m empirics.claims``, ``python -m empirics.studies``.
"""
