"""The growth of the unrolled recurrence, ``Lambda = sum_{t<T} log(1 + eta_t L)``, per schedule.

THEORY.md s5: the exact unrolled recurrence bound is ``(Delta/(tau sqrt B)) (e^Lambda - 1)/L``
(:func:`bounds.numeric.log_product_from_growth`). ``Lambda`` is a sum over the ``T`` steps;
this module evaluates it in O(1) time and memory for every schedule of
:mod:`bounds.schedules`, so ``T = 10^12`` costs what ``T = 10`` costs. ``L`` enters as
``log L``, so nothing overflows for ``tau`` anywhere in the normal float range; where ``L``
is so small that ``Lambda`` underflows, the product form uses ``Lambda/L = S`` instead
(exact there). Closed forms [derived]:

- **constant** rate ``eta``: ``Lambda = T log(1 + eta L)``.
- **cosine** phase of ``n`` steps, ``eta_k = base (1 + cos(pi k/n))/2 = base cos^2(pi k/(2n))``:
  with ``a = base L``, ``s = sqrt(1 + a)`` and ``x = (s - 1)/(s + 1)``,

      sum_{k<n} log(1 + a cos^2(pi k/(2n))) = 2n log((1 + s)/2) + log(1 - x^{2n}) + log(1 + a)/2,

  because ``1 + a cos^2(theta/2) = ((1 + s)/2)^2 (1 + 2x cos theta + x^2)`` and, over the
  ``2n`` angles ``pi k/n``, ``prod_k (1 + 2x cos(pi k/n) + x^2) = (1 - x^{2n})^2``; the half
  circle ``k < n`` is half the full one plus the ``k = 0`` term (the ``k = n`` term is 1).
- **linear warm-up** of ``W`` steps, ``eta_j = base j/W`` for ``j = 1..W``: with ``c = a/W``,
  ``sum_j log(1 + c j)`` has no closed form of its own (a ratio of Gamma functions, which
  cancels catastrophically); the first 15 terms are summed and the rest by Euler-Maclaurin
  with the exact odd derivatives ``g^(2k-1)(x) = (2k-2)!/(x + 1/c)^(2k-1)`` of
  ``g(x) = log(1 + c x)``, seven Bernoulli terms. Every odd derivative is positive, so the
  remainder is at most the first omitted term, ``|B_16|/(16*15) g'(16)^15``, below
  ``|B_16|/(16*15) * 16^-15 < 3e-20`` (and far below it, relative to the sum, for small
  ``c``).
- **per-epoch stepping** (``P`` steps per rate, THEORY.md s13): ``P`` times the per-epoch sum
  over ``E = ceil(T/P)`` epochs, the last epoch counted for its ``T - (E - 1) P`` steps only;
  its rate is ``base sin^2(pi/(2 n_E))`` with ``n_E`` cosine epochs.

Tests check every closed form against ``math.fsum`` of the per-step sum (rtol 1e-12).
"""

from __future__ import annotations

import numpy as np

from .validation import check_integer, check_nonnegative, check_schedule

__all__ = ["EM_REMAINDER", "growth_constant", "growth_explicit", "growth_schedule"]

_LOG2 = float(np.log(2.0))
_TINY = float(np.finfo(np.float64).tiny)
#: Warm-up terms summed one by one before the Euler-Maclaurin tail starts (at ``j = 16``).
_HEAD = 16
#: ``B_{2k} / ((2k)(2k - 1))`` for ``k = 1..7``: the Euler-Maclaurin coefficients.
_EM = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
#: A bound on the Euler-Maclaurin remainder of the warm-up sum: the first omitted term,
#: ``|B_16| / (16 * 15) g'(16)^15 <= |B_16| / (16 * 15) * 16^-15`` (``B_16 = -3617/510``).
EM_REMAINDER = 3617 / 510 / (16 * 15) * 16.0**-15
#: ``(-1)^k / (k (k - 1))`` for ``k = 2..19``: ``h(u) = u * sum_i _PHI[i] u^i`` for small u.
_PHI = np.array([(-1.0) ** k / (k * (k - 1.0)) for k in range(2, 20)])


def _softplus(lx):
    """``log(1 + e^lx)``, exact for any ``lx`` (numpy's logaddexp keeps the log1p)."""
    return np.logaddexp(0.0, lx)


def _log1p_times(x, L, log_L):
    """``(log(1 + x L), log(x L), x L)``: from the product ``x L`` itself (one rounding) where
    it is a normal float, else from ``log x + log L`` (``L`` or ``x L`` beyond the normal
    range; the product itself is then ``0`` or ``inf``)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        xl = x * L
        normal = (xl >= _TINY) & (xl < np.inf)
        if normal.all():  # the common case, without the logarithmic detour
            return np.log1p(xl), np.log(xl), xl
        log_xl = np.where(normal, np.log(np.where(normal, xl, 1.0)), np.log(x) + log_L)
        g = np.where(normal, np.log1p(np.where(normal, xl, 0.0)), _softplus(log_xl))
        return g, log_xl, xl


def _cosine(n, l1a):
    """``sum_{k<n} log(1 + a cos^2(pi k/(2n)))`` for ``n >= 1``, from ``l1a = log(1 + a)``
    (module docstring). ``x^{2n}`` is handled through ``log(-log x)``, which stays finite
    where ``x = (s - 1)/(s + 1)`` rounds to 0 (tiny ``a``) or to 1 (huge ``a``)."""
    log_s = 0.5 * l1a                        # log s
    l1s = _softplus(log_s)                   # log(1 + s)
    small = l1a < _LOG2                      # a < 1
    sm1 = np.expm1(np.where(small, log_s, 0.0))  # s - 1, exact for small a
    half = np.where(small, np.log1p(0.5 * sm1), l1s - _LOG2)  # log((1 + s)/2)
    # log(-log x): small a, x = (s - 1)/(s + 1); large a, -log x = -log1p(-2/(1 + s)),
    # which is 2/(1 + s) to 2^-53 once 2/(1 + s) < 2^-53 (and underflows beyond)
    r = 2.0 * np.exp(-l1s)                   # 2/(1 + s)
    lnl = np.where(small, np.log(-(np.log(np.where(small, sm1, 1.0)) - l1s)),
                   np.where(l1s > 40.0, _LOG2 - l1s,
                            np.log(-np.log1p(-np.where(small | (l1s > 40.0), 0.5, r)))))
    lz = np.log(2.0 * n) + lnl               # log(-z), z = 2n log x = log(x^{2n})
    z = -np.exp(lz)
    log_1mx = np.where(lz < -40.0, lz, _log1mexp(z))  # log(1 - x^{2n}); log(-z) for tiny z
    return 2.0 * n * half + log_1mx + 0.5 * l1a


def _log1mexp(z):
    """``log(1 - e^z)`` for ``z <= 0``, exact on both sides of ``z = -log 2``."""
    near = z > -_LOG2
    return np.where(near, np.log(-np.expm1(np.where(near, z, -1.0))),
                    np.log1p(-np.exp(np.where(near, -1.0, z))))


def _terms(x, W, a, log_a):
    """At ``x``, with ``c = a/W``: ``g = log(1 + c x)``, ``g' = c/(1 + c x)`` and
    ``int_0^x g = x h(c x)``, ``h(u) = ((1 + u) log(1 + u) - u)/u`` (a series below
    ``u = 0.1``, where the closed form cancels)."""
    g, lu, u = _log1p_times(x / W, a, log_a)
    normal = (u >= _TINY) & (u < np.inf)
    inv_u = np.where(normal, 1.0 / np.where(normal, u, 1.0), np.exp(-lu))  # never overflows
    uu = np.exp(np.minimum(lu, 0.0))
    h = np.where(lu < np.log(0.1), uu * np.polyval(_PHI[::-1], uu), (1.0 + inv_u) * g - 1.0)
    return g, np.exp(lu - g) / x, x * h


def _warmup(W, a, log_a):
    """``sum_{j=1}^{W} log(1 + a j/W)`` (0 for ``W = 0``; module docstring)."""
    W = np.asarray(W, dtype=np.float64)
    Wd, a, log_a = np.broadcast_arrays(np.maximum(W, 1.0), a, log_a)  # W = 0: masked below
    j = np.arange(1.0, _HEAD + 1.0)
    last = np.where(W > _HEAD, _HEAD - 1.0, W)[..., None]     # head: j = 1..last
    g_j = _log1p_times(j / Wd[..., None], a[..., None], log_a[..., None])[0]
    head = np.where(j <= last, g_j, 0.0).sum(axis=-1)
    g_m, q_m, i_m = _terms(float(_HEAD), Wd, a, log_a)        # tail: j = 16..W
    g_b, q_b, i_b = _terms(np.maximum(Wd, _HEAD + 1.0), Wd, a, log_a)
    tail = i_b - i_m + 0.5 * (g_m + g_b)
    for k, coef in enumerate(_EM, start=1):
        tail = tail + coef * (q_b ** (2 * k - 1) - q_m ** (2 * k - 1))
    return head + np.where(W > _HEAD, tail, 0.0)


def growth_constant(sum_eta, T, L, log_L):
    """``Lambda`` of the constant schedule ``eta_t = S/T``: ``T log(1 + S L/T)``.

    For ``T`` steps with sum ``S`` this is the largest growth of any schedule (AM-GM), so the
    product form with it bounds every schedule's ([derived]). Broadcasts.

    >>> round(float(growth_constant(2.0, 2, 1.0, 0.0)), 12)  # 2 log(1 + 1)
    1.38629436112
    """
    S = check_nonnegative("sum_eta", sum_eta)
    T_a = check_integer("T", T, 1)
    return T_a * _log1p_times(S / T_a, L, log_L)[0]


def growth_explicit(eta, L, log_L):
    """``Lambda`` of an explicit schedule ``eta`` (shape ``(T,)``) for every entry of ``L``
    (given with its logarithm ``log_L``, same shape); each distinct ``L`` once, in chunks
    vectorised over the steps (memory O(chunk), the schedule itself being given).

    >>> round(float(growth_explicit([1.0, 1.0], 1.0, 0.0)), 12)  # log((1 + 1)(1 + 1))
    1.38629436112
    """
    e = check_schedule("eta", eta)
    Lb, lL = np.broadcast_arrays(np.asarray(L, np.float64), np.asarray(log_L, np.float64))
    u, idx, inv = np.unique(lL.reshape(-1), return_index=True, return_inverse=True)
    uL = Lb.reshape(-1)[idx]
    lam = np.empty_like(u)
    chunk = max(1, 2_000_000 // e.size)
    for i in range(0, u.size, chunk):
        step = _log1p_times(e, uL[i : i + chunk, None], u[i : i + chunk, None])[0]
        lam[i : i + chunk] = step.sum(axis=1)
    return lam[inv.reshape(-1)].reshape(lL.shape)


def growth_schedule(kind: str, base, T, warmup, per_epoch, L, log_L):
    """``Lambda`` of :func:`bounds.schedule` in closed form, broadcasting.

    Args:
        kind: ``"constant"`` or ``"cosine"`` (linear warm-up of ``warmup`` steps, then cosine).
        base: the peak rate (after the batch-size rule), ``>= 0``.
        T: steps; ``warmup``: warm-up steps ``W < T`` (a multiple of ``per_epoch``).
        per_epoch: ``P``, the steps each rate is held (1: the step unit).
        L, log_L: ``L = 1/(2 tau^2 B)`` (``0`` or ``inf`` where beyond float range) and its
            logarithm (finite).

    Arguments are checked by the caller (:func:`bounds.evaluate_bounds`).

    >>> from bounds.schedules import schedule
    >>> eta = schedule("cosine", 1.0, 5, 2)
    >>> bool(np.isclose(growth_schedule("cosine", 1.0, 5, 2, 1, 1.0, 0.0),
    ...                 np.log1p(eta).sum(), rtol=1e-14))
    True
    """
    base, T, W, P, L, lL = (np.asarray(x, dtype=np.float64)
                            for x in (base, T, warmup, per_epoch, L, log_L))
    g_a, log_a, a = _log1p_times(base, L, lL)                     # a = base L, the peak
    if kind == "constant":
        return T * g_a
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        E = np.ceil(T / P)
        We = W / P
        n = E - We                                                # cosine epochs, >= 1
        g_last = _log1p_times(np.sin(np.pi / (2.0 * n)) ** 2, a, log_a)[0]  # last epoch
        full = _warmup(We, a, log_a) + np.where(n == 1.0, 0.0, _cosine(n, g_a) - g_last)
        return np.where(P == 1.0, full + g_last, P * full + (T - (E - 1.0) * P) * g_last)
