"""Alignment metrics between two representations (THEORY.md s7): exact, streaming, O(N d^2).

The core is pure functions on moments, the accumulator a thin stateful shell over them:

- :mod:`~empirics.metrics.rows` -- float64 rows of a chunk, unit or scaled, centred on a pilot;
- :mod:`~empirics.metrics.moments` -- the mergeable shifted moments of paired rows: one
  chunk, a shift, Chan's merge;
- :mod:`~empirics.metrics.quantities` -- CKA, RSA, similarity gap, rho, r, ... from moments,
  each with its formula, source and the reason of any NaN;
- :mod:`~empirics.metrics.functional` -- :func:`cka`, :func:`rsa`, :func:`similarity_gap`,
  :func:`rho`, :func:`r`, :func:`representation_angle`, :func:`alignment` on feature arrays;
- :mod:`~empirics.metrics.accumulator` -- :class:`AlignmentAccumulator` (update / merge /
  reset / compute, flat state for checkpoints and distributed reduction);
- :mod:`~empirics.metrics.spearman` -- RSA with Spearman ranks (needs all pairs);
- :mod:`~empirics.metrics.kernels` -- :func:`kernel_alignment` of two given similarity
  matrices (the surrogate's states).

The accuracy guarantee and how it is met: docs/metrics.md.
"""

from empirics.metrics.accumulator import AlignmentAccumulator
from empirics.metrics.functional import (
    alignment,
    cka,
    r,
    representation_angle,
    rho,
    rsa,
    similarity_gap,
)
from empirics.metrics.kernels import kernel_alignment
from empirics.metrics.spearman import SPEARMAN_BYTES_PER_PAIR, SPEARMAN_MAX_MEMORY

__all__ = [
    "AlignmentAccumulator",
    "alignment",
    "cka",
    "rsa",
    "similarity_gap",
    "rho",
    "r",
    "representation_angle",
    "kernel_alignment",
    "SPEARMAN_MAX_MEMORY",
    "SPEARMAN_BYTES_PER_PAIR",
]
