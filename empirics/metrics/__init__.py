"""Alignment metrics between two representations (THEORY.md s7): exact, streaming, O(N d^2).

The core is pure functions on moments, the accumulator a thin stateful shell over them:

- :mod:`~empirics.metrics.moments` -- the mergeable shifted moments of paired rows (and of
  their differences when both have the same width): the float64 rows of a chunk, unit or
  scaled, centred on a pilot; one chunk, a shift, Chan's merge;
- :mod:`~empirics.metrics.quantities` -- CKA, RSA, similarity gap, rho, r, Procrustes, ...
  from moments, each with its formula, source and the reason of any NaN;
- :mod:`~empirics.metrics.functional` -- :func:`cka`, :func:`rsa`, :func:`similarity_gap`,
  :func:`rho`, :func:`r`, :func:`representation_angle`, :func:`alignment` on feature arrays,
  with the exact factor fallback for gaps between nearly identical representations;
- :mod:`~empirics.metrics.accumulator` -- :class:`AlignmentAccumulator` (update / merge /
  reset / compute, flat state for checkpoints and distributed reduction);
- :mod:`~empirics.metrics.spearman` -- RSA with Spearman ranks (needs all pairs);
- :mod:`~empirics.metrics.kernels` -- :func:`kernel_alignment` of two given similarity
  matrices (the surrogate's states);
- :mod:`~empirics.metrics.procrustes` -- :func:`procrustes_distance`, the orthogonal
  Procrustes shape distance (Williams et al. 2021), exact from the d x e moments;
- :mod:`~empirics.metrics.knn` -- :func:`mutual_knn`, the mutual k-nearest-neighbour overlap
  (Huh et al. 2024), on the rows of a bounded set.

Which measure is which (label, range, direction, basis, source) is the registry's:
:data:`empirics.measures.MEASURES`.

The accuracy guarantee and how it is met: docs/metrics.md.
"""

from __future__ import annotations

import importlib

# Names resolve on first use (PEP 562): ``import empirics.metrics.kernels`` (the surrogate's
# numpy backend) must not pay for the torch import the other modules need.
_EXPORTS = {
    "AlignmentAccumulator": "accumulator",
    "alignment": "functional",
    "cka": "functional",
    "rsa": "functional",
    "similarity_gap": "functional",
    "rho": "functional",
    "r": "functional",
    "representation_angle": "functional",
    "kernel_alignment": "kernels",
    "procrustes_distance": "procrustes",
    "mutual_knn": "knn",
    "SPEARMAN_MAX_MEMORY": "spearman",
    "SPEARMAN_BYTES_PER_PAIR": "spearman",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # later look-ups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
