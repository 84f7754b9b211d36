"""Empirics: contrastive losses, alignment metrics, lockstep training and the surrogate.

Everything here uses torch. The subpackages are imported on demand, so that
``import empirics.metrics`` does not pay for the trainer or the data loaders:

- :mod:`empirics.losses` -- CL (decoupled), NT-Xent, NSCL, SCL, CE ([P2], THEORY.md s2)
- :mod:`empirics.metrics` -- CKA, RSA, similarity gap, rho, r (THEORY.md s7), exact in O(N d^2)
- :mod:`empirics.accumulator` -- streaming, mergeable alignment statistics
- :mod:`empirics.data`, :mod:`empirics.augment`, :mod:`empirics.models` -- inputs and encoders
- :mod:`empirics.trainer` -- CL / NSCL / SCL / CE in lockstep under shared randomness
- :mod:`empirics.surrogate` -- the similarity-descent surrogate Theorem 1 is about (THEORY.md s9)
- :mod:`empirics.sweep`, :mod:`empirics.distributed` -- Ray sweeps and torch DDP
"""
