"""The surrogate's state: its labels, where it starts, the batches it sees, how two compare.

Everything random here draws from a generator it is given; :mod:`empirics.surrogate.simulation`
derives those from the root seed with :func:`empirics.seeds.rng` (purposes ``labels``,
``init`` and ``batch``), so a run is a pure function of its configuration.

>>> labels = make_labels(6, 3, np.random.default_rng(0))
>>> sorted(np.bincount(labels).tolist())
[2, 2, 2]
>>> make_batches(6, 2, 4, np.random.default_rng(0)).shape
(4, 2)
"""

from __future__ import annotations

import math

import numpy as np

from empirics.surrogate.arrays import to_numpy

__all__ = ["initial_state", "make_batches", "make_labels", "state_alignment"]


def make_labels(N: int, C: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced labels ``y_i = i mod C``, shuffled by ``rng``: class sizes differ by <= 1."""
    return rng.permutation(np.arange(N) % C)


def initial_state(config, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``Sigma_0`` (float64, ``2N x 2N``, diagonal 1), identical for the CL and NSCL runs.

    - ``init="features"``: cosines of ``z_i^l = c_{y_i} * s + u_i + n * xi_i^l`` with
      ``u, xi, c ~ N(0, I_d / d)``, ``s = init_class_signal``, ``n = init_view_noise``
      (a random encoder at initialisation: positives correlate, classes optionally cluster).
    - ``init="identity"``: ``Sigma_0 = I`` (all off-diagonal similarities 0).

    Args:
        config: a :class:`~empirics.surrogate.config.SurrogateConfig`.
        labels: ``(N,)`` class labels.
        rng: the ``init`` stream.

    Returns:
        ``(2N, 2N)`` float64; anchor ``a`` is view ``a // N`` of sample ``a % N``.
    """
    N, d = labels.shape[0], config.init_dim
    if config.init == "identity":
        return np.eye(2 * N)
    centres = rng.standard_normal((config.C, d)) / math.sqrt(d)
    u = rng.standard_normal((N, d)) / math.sqrt(d)
    xi = rng.standard_normal((2, N, d)) / math.sqrt(d)
    z = config.init_class_signal * centres[labels][None] + u[None] + config.init_view_noise * xi
    z = z.reshape(2 * N, d)  # anchor a = view a // N of sample a % N
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    S = np.clip(z @ z.T, -1.0, 1.0)
    np.fill_diagonal(S, 1.0)
    return S


def make_batches(N: int, B: int, T: int, rng: np.random.Generator) -> np.ndarray:
    """``(T, B)`` sample ids: epochs of random permutations, last partial batch dropped."""
    per_epoch = N // B
    epochs = -(-T // per_epoch)
    perms = np.stack([rng.permutation(N)[: per_epoch * B] for _ in range(epochs)])
    return perms.reshape(epochs * per_epoch, B)[:T]


def state_alignment(S1, S2) -> dict:
    """CKA and rho of two similarity states (THEORY.md s7, applied to the states themselves).

    :func:`empirics.metrics.kernels.kernel_alignment`: ``K = H S H``;
    ``cka = <K1, K2>_F / (||K1||_F ||K2||_F)``; ``rho = ||K1 - K2||_F / ||K1||_F``
    (normalised by the first argument, the CL state); ``sim_gap = ||S1 - S2||_F``.

    Args:
        S1, S2: ``(2N, 2N)`` states, numpy or torch (CL first).

    Returns:
        ``{"cka", "rho", "sim_gap"}``; NaN with a ``RuntimeWarning`` where a centred state
        is zero.

    >>> S = np.eye(4)
    >>> state_alignment(S, S)["cka"], state_alignment(S, S)["sim_gap"]
    (1.0, 0.0)
    """
    from empirics.metrics.kernels import kernel_alignment  # torch: only when evaluating

    return kernel_alignment(to_numpy(S1), to_numpy(S2))
