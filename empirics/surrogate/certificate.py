"""Constants and the one-run certificate for the similarity-descent surrogate (THEORY.md s5, s9).

The surrogate's batch loss (:mod:`empirics.surrogate.dynamics`) is the mean over the batch's
``2B`` anchors of

    l_a(Sigma) = -Sigma_{a,p(a)}/tau + log sum_{b in D_a} exp(Sigma_{ab}/tau),

a convex function of the state (linear plus log-sum-exp of linear). Its gradient ``G`` is
row-wise ``(w_a - e_{p(a)})/(2 B tau)`` with ``w_a`` the softmax of row ``a`` over its
denominator ``D_a``. Its Hessian is block diagonal over rows, with blocks
``(diag(w_a) - w_a w_a^T)/(2 B tau^2)``; by Gershgorin every eigenvalue of
``diag(w) - w w^T`` is at most ``max_i 2 w_i (1 - w_i) <= 1/2``. Hence [derived]:

    ||G(Sigma) - G(Sigma')||_F <= L_anchor ||Sigma - Sigma'||_F,   L_anchor = 1/(4 tau^2 B),

half of THEORY.md's ``L = 1/(2 tau^2 B)``, which corresponds to the cruder
``lambda_max(diag(w) - w w^T) <= 1`` (the papers' ``K^2`` form gives every anchor's
log-sum-exp the same ``1/(2B)`` weight, so it has the same Hessian). THEORY's constant stays
valid (it is larger), and the constant ``1/4`` is sharp: two equal dominant logits in one row
give eigenvalue ``1/2``. On the box ``[-1, 1]`` a softmax weight is at most
``wbar = e^{2/tau}/(e^{2/tau} + n - 1)`` (``n`` denominator terms), so ``L_box =
2 wbar (1 - wbar)/(2 B tau^2) <= L_anchor`` also holds (:func:`lipschitz_box`); the
certificate uses ``L_box``.

Non-expansive step [derived]: by the mean-value theorem ``G(x) - G(y) = Hbar (x - y)`` with
``Hbar`` symmetric, ``0 <= Hbar <= L_anchor``; so ``x - eta G(x)`` is Lipschitz with constant
``kappa(eta) = max(1, eta L_anchor - 1)`` (equal to 1 whenever ``eta <= 2/L_anchor =
8 tau^2 B``; the same holds with ``L_box``, since both states and the segment between them
lie in the box), and clipping to ``[-1, 1]`` is a projection, hence non-expansive. With
``Phi_t^X(Sigma) = clip(Sigma - eta_t G_X(Sigma), -1, 1)``:

    d_{t+1} = ||Phi^CL(S^CL) - Phi^NSCL(S^NSCL)||
           <= ||Phi^CL(S^CL) - Phi^CL(S^NSCL)|| + ||Phi^CL(S^NSCL) - Phi^NSCL(S^NSCL)||
           <= kappa_t d_t + m_t,

where ``m_t`` is the realised one-step mismatch along the NSCL run alone. This is the
one-run certificate of THEORY.md s9 with THEORY's ``(1 + eta L) d_t`` replaced by the valid
``kappa_t d_t`` and the drive measured after clipping (:func:`certificate_path`).

Row-wise certificate [derived]: the batch loss is a sum of per-row terms (row ``a``'s loss
reads only row ``a``), so the Hessian is block diagonal over rows and ``Phi`` acts on each
row separately, each row map being ``kappa_t``-Lipschitz (the same ``L_box`` per row block)
and the identity on rows outside the batch. Hence, per row ``a``,

    r_a(t+1) = kappa_t r_a(t) + m_{a,t}   (a in the batch),   r_a(t+1) = r_a(t)   (otherwise),

with ``m_{a,t}`` row ``a`` of the realised one-step mismatch, bounds ``||D_t[a]||_2``; so
``d_t <= ||r(t)||_2``. Mismatches of different batches land on different rows and add in
quadrature instead of linearly; by Minkowski ``||r(t)||_2 <= c_t`` of :func:`certificate_path`
(:func:`rowwise_certificate_step`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "lipschitz_anchor",
    "lipschitz_theory",
    "lipschitz_box",
    "step_expansion",
    "certificate_path",
    "rowwise_certificate_step",
]


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Expected `{name}` to be a real number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"Expected `{name}` > 0, got {value!r}")
    return float(value)


def lipschitz_anchor(tau: float, B: int) -> float:
    """Lipschitz constant of the per-anchor-averaged surrogate gradient [derived].

    ``L_anchor = 1/(4 tau^2 B)``: Hessian blocks ``(diag(w) - w w^T)/(2 B tau^2)`` have
    eigenvalues at most ``1/(4 B tau^2)`` (Gershgorin: ``2 w_i (1 - w_i) <= 1/2``).

    Args:
        tau: temperature, > 0.
        B: batch size (samples), > 0; the loss averages over ``2B`` anchors.

    Raises:
        ValueError: ``tau <= 0`` or ``B <= 0``.

    >>> lipschitz_anchor(1.0, 32)
    0.0078125
    """
    tau = _check_positive("tau", tau)
    B = _check_positive("B", B)
    return 1.0 / (4.0 * tau * tau * B)


def lipschitz_theory(tau: float, B: int) -> float:
    """THEORY.md s5's constant ``L = 1/(2 tau^2 B)`` [stated]; twice :func:`lipschitz_anchor`.

    The bounds' own constant, :func:`bounds.L_const` (``B`` an integer >= 2).

    >>> lipschitz_theory(1.0, 32)
    0.015625
    """
    from bounds import L_const

    return float(L_const(tau, B))


def lipschitz_box(tau: float, B: int, n_den: int) -> float:
    """Lipschitz constant of the batch gradient on the box ``[-1, 1]`` [derived].

    On the box every softmax weight of a row with ``n_den`` denominator entries satisfies
    ``w_i <= wbar = e^{2/tau} / (e^{2/tau} + n_den - 1)``, and ``2 w (1 - w)`` increases on
    ``[0, 1/2]``; Gershgorin then gives ``L_box = 2 min(wbar, 1/2)(1 - min(wbar, 1/2)) /
    (2 B tau^2) <= L_anchor``. The segment between two states of the box stays in the box,
    so ``L_box`` bounds the averaged Hessian used in :func:`step_expansion`.

    Args:
        tau, B: as in :func:`lipschitz_anchor`.
        n_den: the smallest denominator size of a row (CL: ``2(B - 1)``), >= 1.

    >>> round(lipschitz_box(1.0, 32, 62) / lipschitz_anchor(1.0, 32), 4)
    0.3855
    """
    tau = _check_positive("tau", tau)
    B = _check_positive("B", B)
    n_den = _check_positive("n_den", n_den)
    with np.errstate(over="ignore"):
        e = np.exp(2.0 / tau)
    wbar = 0.5 if not np.isfinite(e) else min(0.5, float(e / (e + n_den - 1.0)))
    return 2.0 * wbar * (1.0 - wbar) / (2.0 * B * tau * tau)


def step_expansion(eta, tau: float, B: int, L: float | None = None) -> np.ndarray:
    """Lipschitz constant of one gradient step ``x -> x - eta G(x)`` on the convex batch loss.

    ``kappa(eta) = max(1, eta L_anchor - 1)`` [derived]: the averaged Hessian along the segment
    is symmetric with spectrum in ``[0, L_anchor]``, so ``I - eta Hbar`` has spectral norm
    ``max(|1 - eta L_anchor|, 1) = max(1, eta L_anchor - 1)``.

    Args:
        eta: learning rates, scalar or array, >= 0.
        tau, B: as in :func:`lipschitz_anchor`.
        L: the smoothness constant to use (default :func:`lipschitz_anchor`; any valid upper
            bound on the Hessian, e.g. :func:`lipschitz_box`).

    Returns:
        ``np.ndarray`` of the same shape as ``eta``.

    Raises:
        ValueError: a negative or non-finite ``eta``.

    >>> step_expansion([1.0, 512.0], 1.0, 32).tolist()
    [1.0, 3.0]
    """
    eta = np.asarray(eta, dtype=np.float64)
    if not np.all(np.isfinite(eta)) or np.any(eta < 0):
        raise ValueError(f"Expected `eta` >= 0 and finite, got {eta!r}")
    L = lipschitz_anchor(tau, B) if L is None else _check_positive("L", L)
    return np.maximum(1.0, eta * L - 1.0)


def certificate_path(step_mismatch, kappa) -> np.ndarray:
    """One-run certificate ``c_0 = 0``, ``c_{t+1} = kappa_t c_t + m_t`` (THEORY.md s9, improved).

    Args:
        step_mismatch: shape ``(T,)``, ``m_t = ||Phi^CL_t(S^NSCL_t) - Phi^NSCL_t(S^NSCL_t)||_F``
            (already multiplied by ``eta_t``; measured after clipping), >= 0.
        kappa: shape ``(T,)`` or scalar, the step expansion factors (>= 1).

    Returns:
        ``np.ndarray`` shape ``(T+1,)``; entry ``t`` bounds ``||S^CL_t - S^NSCL_t||_F``.

    Raises:
        ValueError: negative mismatch or ``kappa < 1``.

    >>> certificate_path([0.5, 0.25], 1.0).tolist()
    [0.0, 0.5, 0.75]
    """
    m = np.asarray(step_mismatch, dtype=np.float64).reshape(-1)
    k = np.broadcast_to(np.asarray(kappa, dtype=np.float64), m.shape)
    if np.any(m < 0) or not np.all(np.isfinite(m)):
        raise ValueError(f"Expected `step_mismatch` >= 0 and finite, got {m!r}")
    if np.any(k < 1):
        raise ValueError(f"Expected `kappa` >= 1, got {k!r}")
    if np.all(k == 1.0):
        return np.concatenate([[0.0], np.cumsum(m)])
    # c_T = sum_t m_t prod_{s>t} kappa_s, evaluated in order (T is small; values stay finite).
    out = np.empty(m.size + 1)
    out[0] = 0.0
    c = 0.0
    for t in range(m.size):  # sequential in time by nature (a scalar recurrence), not over anchors
        c = k[t] * c + m[t]
        out[t + 1] = c
    return out


def rowwise_certificate_step(r: np.ndarray, rows: np.ndarray, kappa: float,
                             row_mismatch: np.ndarray) -> float:
    """One step of the row-wise certificate, in place: ``r[rows] = kappa r[rows] + m``.

    Args:
        r: ``(2N,)`` float64 per-row bounds (modified in place).
        rows: ``(R,)`` distinct row indices of the batch anchors.
        kappa: step expansion factor (>= 1), see :func:`step_expansion`.
        row_mismatch: ``(R,)`` row norms of ``Phi^CL(S^NSCL) - Phi^NSCL(S^NSCL)`` (>= 0).

    Returns:
        The certificate ``||r||_2`` after the step.

    >>> r = np.zeros(4)
    >>> rowwise_certificate_step(r, np.array([0, 1]), 1.0, np.array([3.0, 4.0]))
    5.0
    """
    r[rows] = kappa * r[rows] + row_mismatch
    return float(np.linalg.norm(r))  # scaled internally: no spurious overflow
