"""Vectorised, log-space numpy twins of the bounds in :mod:`bounds.registry`.

Every function broadcasts over numpy arrays and raises no floating-point warning: each bound
is first computed as a natural logarithm (``log_*``), then exponentiated; a value beyond
float range becomes ``inf`` while its logarithm stays finite (reported as ``log10_*`` by
:func:`bounds.evaluate_bounds`), for ``tau`` over the whole positive normal range.

This module is where every formula is written, once. The registry holds the sympy
expression of each bound and names its numeric twin here (``entry.numeric``, the value
``exp`` of the ``log_*`` function); tests check the twins against the expressions at
random in-domain points (rtol 1e-10). :func:`bounds.evaluate_bounds` composes the ``log_*``
functions and writes no formula of its own; a test checks that its outputs equal the
registry's twins. This module never imports sympy (it is on the fast path of
``python -m bounds.evaluate``).
"""

from __future__ import annotations

import numpy as np

from . import growth as _growth
from .validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_class_count,
    check_integer,
    check_nonnegative,
    check_open_unit,
    check_positive,
    check_schedule,
    check_unit_interval,
    raise_first,
)

__all__ = [
    "LOSS_GAP_FORMS",
    "Delta",
    "L_const",
    "cka_lower",
    "class_saturation",
    "eps",
    "fewshot_bound",
    "log_Delta",
    "log_eps",
    "log_L_const",
    "log_expm1",
    "log_largest_sim_gap",
    "log_product_form",
    "log_product_from_growth",
    "log_r_bound",
    "log_recurrence_drive",
    "log_rho_bound",
    "log_theorem1",
    "log_theorem2",
    "loss_gap_bound",
    "lower_from_log_ratio",
    "product_form",
    "r_bound",
    "recurrence_drive",
    "recurrence_path",
    "rho_bound",
    "rsa_lower",
    "theorem1",
    "theorem1_exponent",
    "theorem2",
]

LOSS_GAP_FORMS = ("paper", "tight", "balanced", "balanced-linear")
_LOG2 = float(np.log(2.0))
_TINY = float(np.finfo(np.float64).tiny)


def _out(x):
    """Return a python float for 0-d results, the array otherwise."""
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _exp(log_x):
    """``exp`` that turns overflow into ``inf`` silently (the log twin keeps the magnitude)."""
    with np.errstate(over="ignore"):
        return np.exp(log_x)


def log_expm1(x):
    """``log(exp(x) - 1)`` for ``x >= 0``, stable for tiny and huge ``x`` (``-inf`` at 0)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        small = np.log(np.expm1(np.minimum(x, 30.0)))
        large = x + np.log1p(-np.exp(-np.maximum(x, 30.0)))
    return np.where(x < 30.0, small, large)


# --------------------------------------------------------------------------- [P1]


def loss_gap_bound(tau, *, C=None, n_max=None, N=None, form: str = "paper"):
    """[P1] bound on ``L_CL(f) - L_NSCL(f)`` for any encoder (THEORY.md section 3).

    - ``paper``: ``log(1 + e^{2/tau} n_max / (N - n_max))`` ([P1] [stated] at tau = 1,
      [derived] with temperature);
    - ``tight``: ``log(1 + e^{2/tau} (n_max - 1) / (N - n_max))`` [derived];
    - ``balanced``: ``log(1 + e^{2/tau} / (C - 1))`` [derived];
    - ``balanced-linear``: ``e^{2/tau} / (C - 1)`` [derived] (may be ``inf`` beyond float
      range for small ``tau``).

    ``paper``/``tight`` need ``n_max`` and ``N``; if ``n_max`` is omitted, balanced classes
    ``n_max = N / C`` are used (``paper`` with ``C`` alone equals ``balanced``). With ``C``
    given too, ``n_max >= ceil(N/C)``: the largest of ``C`` classes holds at least that many.
    Evaluated as ``logaddexp(0, 2/tau + log(ratio))``: no overflow.

    Raises:
        ValueError: ``tau <= 0``, ``C < 2`` or non-integer, ``n_max`` not an integer in
            ``[ceil(N/C), N)``, ``N < C`` for balanced classes, unknown ``form`` or missing
            arguments.

    >>> round(loss_gap_bound(1.0, C=10, form="balanced"), 6)
    0.599389
    >>> loss_gap_bound(1.0, n_max=5, N=10) == loss_gap_bound(1.0, C=2, form="balanced")
    True
    """
    check_choice("form", form, LOSS_GAP_FORMS)
    t = check_positive("tau", tau)
    with np.errstate(over="ignore"):  # 2/tau beyond float range (subnormal tau): inf
        return _loss_gap(t, C, n_max, N, form)


def _loss_gap(t, C, n_max, N, form):
    if form in ("balanced", "balanced-linear"):
        if C is None:
            raise ValueError(f"Expected `C` for form={form!r}, got None")
        c = check_integer("C", C, 2)
        log_ratio = -np.log(c - 1.0)
        if form == "balanced-linear":
            return _out(_exp(2.0 / t + log_ratio))
        return _out(np.logaddexp(0.0, 2.0 / t + log_ratio))
    if n_max is None:
        if C is None:
            raise ValueError(f"Expected `n_max` and `N` (or `C`) for form={form!r}, got None")
        c = check_integer("C", C, 2)
        if N is None:
            if form == "tight":
                raise ValueError("Expected `N` for form='tight' with balanced classes, got None")
            return _out(np.logaddexp(0.0, 2.0 / t - np.log(c - 1.0)))
        n = check_integer("N", N, 1)
        raise_first(n < c, "Expected `N` >= `C` (balanced classes of N/C >= 1 samples)",
                    N=n, C=c)
        nm = n / c
    else:
        if N is None:
            raise ValueError(f"Expected `N` together with `n_max`, got n_max={n_max!r}, N=None")
        nm = check_integer("n_max", n_max, 1)
        n = check_integer("N", N, 1)
        check_class_count(nm, n, None if C is None else check_integer("C", C, 2))
    raise_first(nm >= n, "Expected `n_max` < `N`", n_max=nm, N=n)
    numer = nm - 1.0 if form == "tight" else nm
    with np.errstate(divide="ignore"):
        log_ratio = np.log(numer) - np.log(n - nm)
    return _out(np.logaddexp(0.0, 2.0 / t + log_ratio))


# --------------------------------------------------------------------------- [P2] eps, Delta


def log_eps(B, delta, T):
    """``log eps`` with ``eps = sqrt(log(T B / delta) / (2B))`` ([P2], THEORY.md section 4)."""
    b = check_integer("B", B, 2)
    d = check_open_unit("delta", delta)
    t = check_integer("T", T, 1)
    return 0.5 * (np.log(np.log(t) + np.log(b) - np.log(d)) - np.log(2.0 * b))


def eps(B, delta, T):
    """``eps(B, delta) = sqrt(log(T*B/delta) / (2B))`` ([P2] [stated]; Hoeffding + union
    bound over the ``T*B`` anchors [derived]).

    >>> round(eps(1024, 0.05, 14700), 6)
    0.097635
    """
    return _out(np.exp(log_eps(B, delta, T)))


def log_Delta(B, tau, delta, T, pi_max):
    """``log Delta``; ``+inf`` where ``pi_max + eps >= 1`` (vacuous; see :func:`Delta`)."""
    t = check_positive("tau", tau)
    pm = check_unit_interval("pi_max", pi_max)
    p = pm + np.exp(log_eps(B, delta, T))
    ok = p < 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over: subnormal tau
        val = _LOG2 + 2.0 / t + np.log(p) - np.log1p(-np.where(ok, p, 0.0))
    return np.where(ok, val, np.inf)


def Delta(B, tau, delta, T, pi_max):
    """``Delta(B; tau) = 2 e^{2/tau} (pi_max + eps) / (1 - pi_max - eps)`` ([P2] [stated];
    ``pi_max`` vs ``1/C`` is [open], default ``1/C``).

    Defined only when ``pi_max + eps < 1``; elsewhere it returns ``+inf`` (vacuous; callers
    flag it, :func:`bounds.evaluate_bounds` reports ``vacuous_sim_gap``). Also ``inf`` when
    beyond float range (e.g. ``tau = 1e-3``); use :func:`log_Delta` for the magnitude. It
    takes no ``C``: :func:`bounds.evaluate_bounds` checks ``pi_max >= 1/C``.

    >>> round(Delta(1024, 0.5, 0.05, 14700, 0.01), 4)
    13.171
    """
    return _out(_exp(log_Delta(B, tau, delta, T, pi_max)))


def _scaled_L(x, t, b):
    """``x L = x / (2 tau^2 B)`` on checked arrays, with one division: the lemma's constant
    (``x = 1``) and Theorem 1's exponent (``x = S``) share this one formula. Where
    ``2 tau^2 B`` leaves the normal float range (``tau`` below ``1e-154`` or above ``1e153``)
    it is ``exp(log x + log L)`` (:func:`_log_L`): ``inf`` or ``0`` only beyond float range."""
    with np.errstate(all="ignore"):
        den = 2.0 * t * t * b
        out = x / den
        far = ~((den >= _TINY) & (den < np.inf))
        if np.any(far):
            log_L = -(_LOG2 + 2.0 * np.log(t) + np.log(b))
            out = np.where(far, np.where(x == 0, 0.0, np.exp(np.log(x) + log_L)), out)
    return out


def _log_L(t, b):
    """``log L``: ``log`` of :func:`_scaled_L` where ``L`` is a normal float, else
    ``-(log 2 + 2 log tau + log B)``; finite for every positive ``tau`` and ``B``."""
    L = _scaled_L(1.0, t, b)
    normal = (L >= _TINY) & (L < np.inf)
    return np.where(normal, np.log(np.where(normal, L, 1.0)),
                    -(_LOG2 + 2.0 * np.log(t) + np.log(b)))


def L_const(tau, B):
    """Lipschitz constant of the lemma: ``L = 1 / (2 tau^2 B)`` (THEORY.md section 5 [stated]).

    Args:
        tau: temperature ``> 0``.
        B: batch size, integer ``>= 2``; broadcasts with ``tau``.

    Returns:
        float or ndarray of the broadcast shape.

    >>> L_const(0.5, 2)
    1.0
    """
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    return _out(_scaled_L(1.0, t, b))


def log_L_const(tau, B):
    """``log L`` (see :func:`L_const`), finite where ``L`` itself under- or overflows."""
    return _out(_log_L(check_positive("tau", tau), check_integer("B", B, 2)))


# --------------------------------------------------------------------------- Theorem 1


def theorem1_exponent(sum_eta, tau, B):
    """The exponent of Theorem 1, ``S / (2 tau^2 B) = S L`` ([P2] Theorem 1 [stated]).

    Evaluated as ``S`` times :func:`L_const` (as :func:`bounds.evaluate_bounds` reports it);
    :func:`log_theorem1` divides ``S`` by ``2 tau^2 B`` directly, so the two may differ in
    the last bit.

    The similarity gap may grow like ``exp(S L)``; the theorem says something only while
    this stays small (about 17 at the paper's setting, THEORY.md section 12).

    >>> theorem1_exponent(8.0, 0.5, 2)
    8.0
    """
    s = check_nonnegative("sum_eta", sum_eta)
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float range: inf
        return _out(np.where(s == 0, 0.0, s * _scaled_L(1.0, t, b)))


def _log_theorem1(s, t, b, ld):
    """``S L + log S - log tau - log(B)/2 + log Delta`` on checked arrays (NaN where vacuous
    at ``S = 0``; callers map a vacuous ``log Delta = +inf`` to ``+inf``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scaled_L(s, t, b) + np.log(s) - np.log(t) - 0.5 * np.log(b) + ld


def log_theorem1(sum_eta, tau, B, log_Delta):
    """``log`` of :func:`theorem1`, with ``log_Delta`` (natural log) given; broadcasts."""
    s = check_nonnegative("sum_eta", sum_eta)
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    ld = as_float_array("log_Delta", log_Delta)
    out = _log_theorem1(s, t, b, ld)
    return np.where(np.isposinf(ld), np.inf, out)  # vacuous Delta stays vacuous, even at S = 0


def theorem1(sum_eta, tau, B, Delta):
    """[P2] Theorem 1 [stated]: ``||Sigma_T^CL - Sigma_T^NSCL||_F <=
    exp(S / (2 tau^2 B)) * S / (tau sqrt(B)) * Delta`` with ``S = sum_eta``.

    Computed in log space; ``inf`` beyond float range (see :func:`log_theorem1`).

    >>> round(theorem1(1.0, 1.0, 2, 1.0), 6)
    0.907943
    """
    d = check_positive("Delta", Delta, allow_inf=True)
    with np.errstate(divide="ignore"):
        return _out(_exp(log_theorem1(sum_eta, tau, B, np.log(d))))


# --------------------------------------------------------------------------- recurrence


def recurrence_path(eta, tau, B, drive) -> np.ndarray:
    """The recurrence of THEORY.md section 5, unrolled exactly, for an arbitrary schedule.

    ``d_0 = 0``, ``d_{t+1} = (1 + eta_t L) d_t + eta_t drive_t``, ``L = 1/(2 tau^2 B)``, i.e.
    ``d_t = sum_{u<t} eta_u drive_u prod_{u<s<t} (1 + eta_s L)`` ([P2] lemma [stated],
    unrolled [derived]). With ``drive = Delta / (tau sqrt(B))`` the last entry is the exact
    unrolled recurrence bound, at most Theorem 1.

    Computed stably with log-space cumulative products:
    ``log d_t = G_t + logcumsumexp_{u<t}(log(eta_u drive_u) - G_{u+1})``,
    ``G_t = sum_{s<t} log1p(eta_s L)``. Entries beyond float range are ``inf``.

    Args:
        eta: learning rates, shape ``(T,)``, ``>= 0``.
        tau: temperature ``> 0`` (scalar).
        B: batch size, integer ``>= 2`` (scalar).
        drive: scalar or shape ``(T,)``, ``>= 0``.

    Returns:
        ndarray of shape ``(T + 1,)``.

    >>> recurrence_path([1.0, 1.0], 0.5, 2, 1.0).round(12).tolist()
    [0.0, 1.0, 3.0]
    """
    e = check_schedule("eta", eta)
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    if t.ndim or b.ndim:
        raise ValueError("Expected scalar `tau` and `B` for `recurrence_path`, got arrays")
    dr = check_nonnegative("drive", drive)
    if dr.ndim and dr.shape != e.shape:
        raise ValueError(f"Expected `drive` scalar or of shape {e.shape}, got shape {dr.shape}")
    L = float(_scaled_L(1.0, t, b))  # numpy scalars: 0 or inf beyond float range
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if _TINY <= L and np.isfinite(float(e.max()) * L):
            step = np.log1p(e * L)
        else:  # L or eta L beyond the normal range: log(1 + eta L) from log L
            step = np.logaddexp(0.0, np.log(e) + float(_log_L(t, b)))
        G = np.concatenate(([0.0], np.cumsum(step)))  # G_t, t = 0..T
        terms = np.log(e) + np.log(np.broadcast_to(dr, e.shape)) - G[1:]
        log_d = G[1:] + np.logaddexp.accumulate(terms)
    return np.concatenate(([0.0], _exp(log_d)))


def log_recurrence_drive(tau, B, log_Delta):
    """``log`` of the lemma's drive ``Delta / (tau sqrt(B))`` (THEORY.md section 5 [stated]).

    The per-step mismatch of the two gradients at equal similarities; every step adds
    ``eta_t`` times it to the recurrence. Broadcasts; ``log_Delta = +inf`` (vacuous) stays
    ``+inf``.
    """
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    ld = as_float_array("log_Delta", log_Delta)
    return _log_drive(t, b, ld)


def _log_drive(t, b, ld):
    return ld - np.log(t) - 0.5 * np.log(b)


def recurrence_drive(tau, B, Delta):
    """The lemma's drive ``Delta / (tau sqrt(B))`` (see :func:`log_recurrence_drive`).

    >>> round(recurrence_drive(0.5, 4, 1.0), 12)
    1.0
    """
    d = check_positive("Delta", Delta, allow_inf=True)
    return _out(_exp(log_recurrence_drive(tau, B, np.log(d))))


def log_product_from_growth(growth, sum_eta, tau, B, log_Delta):
    """``log`` of the product form from its growth ``Lambda`` (:mod:`bounds.growth`).

    ``(Delta/(tau sqrt B)) (e^Lambda - 1)/L``, ``L = 1/(2 tau^2 B)``,
    ``Lambda = sum_t log1p(eta_t L)`` (see :func:`log_product_form`), with ``log L`` rather
    than ``L`` (finite for every ``tau``). Below ``Lambda = 2^-62`` every ``eta_t L`` is below
    ``2^-61``, so ``Lambda/L = S`` (``sum_eta``) to ``2^-62``: that value is used there, even
    where ``L`` and ``Lambda`` underflow. The exact value is at most Theorem 1
    (``Lambda <= S L``); where rounding in the last bit would put it above, Theorem 1's value
    is returned. Broadcasts; a vacuous ``log_Delta = +inf`` stays ``+inf``, even at
    ``Lambda = 0``.
    """
    lam = check_nonnegative("growth", growth)
    s = check_nonnegative("sum_eta", sum_eta, allow_inf=True)
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    ld = as_float_array("log_Delta", log_Delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (e^Lambda - 1)/L; where Lambda < 2^-62, S (Lambda and L may have underflowed)
        growth_over_L = np.where(lam < 2.0**-62, np.log(s), log_expm1(lam) - _log_L(t, b))
        out = np.fmin(_log_drive(t, b, ld) + growth_over_L, _log_theorem1(s, t, b, ld))
    return np.where(np.isposinf(ld), np.inf, out)


def log_product_form(eta, tau, B, log_Delta):
    """``log`` of the exact unrolled recurrence bound with constant drive (THEORY.md s5).

    ``(Delta/(tau sqrt B)) sum_t eta_t prod_{s>t}(1 + eta_s L)
    = (Delta/(tau sqrt B)) (prod_t (1 + eta_t L) - 1) / L`` (telescoping:
    ``d_t + drive/L`` grows by ``1 + eta_t L`` per step). Vectorised over ``tau``, ``B`` and
    ``log_Delta`` (broadcast together) for one schedule ``eta`` of shape ``(T,)``; its growth
    is :func:`bounds.growth.growth_explicit`.
    """
    e = check_schedule("eta", eta)
    t = check_positive("tau", tau)
    b = check_integer("B", B, 2)
    ld = as_float_array("log_Delta", log_Delta)
    t, b, ld = np.broadcast_arrays(t, b, ld)
    lam = _growth.growth_explicit(e, _scaled_L(1.0, t, b), _log_L(t, b))
    with np.errstate(over="ignore"):  # S beyond float range: Theorem 1 is inf, no clamp
        S = float(e.sum())
    return log_product_from_growth(lam, S, t, b, ld)


def product_form(eta, tau, B, Delta):
    """Exact unrolled recurrence bound (see :func:`log_product_form`); ``<=`` Theorem 1.

    >>> round(product_form([1.0, 1.0], 0.5, 2, 1.0), 6)
    4.242641
    """
    d = check_positive("Delta", Delta, allow_inf=True)
    with np.errstate(divide="ignore"):
        return _out(_exp(log_product_form(eta, tau, B, np.log(d))))


# --------------------------------------------------------------------------- Corollaries


def lower_from_log_ratio(log_x, trivial: float):
    """``(1 - x)/(1 + x) = -tanh(log(x)/2)`` for ``x < 1``, else ``trivial`` (vacuous)."""
    lx = np.asarray(log_x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return _out(np.where(lx < 0.0, -np.tanh(lx / 2.0), trivial))


def _pairs(n):
    """``M = N (N - 1) / 2``, the number of strictly upper-triangular entries."""
    return n * (n - 1.0) / 2.0


def log_largest_sim_gap(N_ref):
    """``log`` of ``2 sqrt(N (N - 1))``, the largest ``||Sigma - Sigma'||_F`` of two cosine
    matrices of ``N`` samples (unit diagonals, off-diagonal entries in ``[-1, 1]``).

    A similarity-gap bound at or above it is true but trivial for that reference set
    ([derived]; ``trivial_sim_gap`` of :func:`bounds.evaluate_bounds`).

    >>> round(float(np.exp(log_largest_sim_gap(2))), 12)
    2.828427124746
    """
    n = check_integer("N_ref", N_ref, 2)
    return np.log(2.0) + 0.5 * np.log(2.0 * _pairs(n))


def log_rho_bound(log_sim_gap, K_norm):
    """``log`` of :func:`rho_bound` from the log of the similarity-gap bound; broadcasts.

    ``K_norm = 0`` (all features equal) gives ``+inf``: the CKA bound is vacuous.
    """
    ls = as_float_array("log_sim_gap", log_sim_gap)
    k = check_nonnegative("K_norm", K_norm)
    with np.errstate(divide="ignore"):
        return ls - np.log(k)


def rho_bound(sim_gap, K_norm):
    """[P2] Corollary 1 [stated]: ``rho_T <= sim_gap / ||K_CL||_F`` (centring does not
    increase the Frobenius norm).

    >>> round(rho_bound(2.0, 8.0), 12)
    0.25
    """
    s = check_nonnegative("sim_gap", sim_gap, allow_inf=True)
    k = check_positive("K_norm", K_norm)
    with np.errstate(divide="ignore"):
        return _out(_exp(log_rho_bound(np.log(s), k)))


def log_r_bound(log_sim_gap, sigma_a, N_ref, *, tight: bool = False):
    """``log`` of :func:`r_bound` from the log of the similarity-gap bound; broadcasts.

    ``sigma_a = 0`` (e.g. ``N_ref = C`` at the ETF: every pair is a different-class pair)
    gives ``+inf``, a vacuous RSA bound; a NaN ``sigma_a`` (degenerate features) gives NaN.
    """
    tight = check_bool("tight", tight)
    ls = as_float_array("log_sim_gap", log_sim_gap)
    sg = check_nonnegative("sigma_a", sigma_a, allow_nan=True)
    n = check_integer("N_ref", N_ref, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ls - 0.5 * np.log(_pairs(n) * (2.0 if tight else 1.0)) - np.log(sg)


def r_bound(sim_gap, sigma_a, N_ref, *, tight: bool = False):
    """[P2] Corollary 2: ``r_T <= sim_gap / (sqrt(M) sigma_a)``, ``M = N(N-1)/2`` [stated];
    ``tight=True`` divides by a further ``sqrt(2)`` (one triangle holds half of the
    off-diagonal mass) [open].

    >>> round(r_bound(3.0, 0.5, 4), 12) == round(3.0 / (6 ** 0.5 * 0.5), 12)
    True
    """
    tight = check_bool("tight", tight)
    s = check_nonnegative("sim_gap", sim_gap, allow_inf=True)
    sg = check_positive("sigma_a", sigma_a)
    n = check_integer("N_ref", N_ref, 2)
    with np.errstate(divide="ignore"):
        return _out(_exp(log_r_bound(np.log(s), sg, n, tight=tight)))


def cka_lower(rho):
    """``CKA_T >= (1 - rho)/(1 + rho)`` if ``rho < 1``, else the trivial 0 ([P2] Cor. 1).

    A NaN ``rho`` (undefined, e.g. measured on degenerate features) gives the trivial 0,
    which holds for any two feature sets.

    >>> cka_lower(1 / 3), cka_lower(2.0), cka_lower(float("nan"))
    (0.5, 0.0, 0.0)
    """
    x = check_nonnegative("rho", rho, allow_inf=True, allow_nan=True)
    with np.errstate(divide="ignore"):
        return lower_from_log_ratio(np.log(x), 0.0)


def rsa_lower(r):
    """``RSA_T >= (1 - r)/(1 + r)`` if ``r < 1``, else the trivial -1 ([P2] Cor. 2).

    A NaN ``r`` gives the trivial -1 (see :func:`cka_lower`).

    >>> round(rsa_lower(0.5), 12), rsa_lower(1.0)
    (0.333333333333, -1.0)
    """
    x = check_nonnegative("r", r, allow_inf=True, allow_nan=True)
    with np.errstate(divide="ignore"):
        return lower_from_log_ratio(np.log(x), -1.0)


# --------------------------------------------------------------------------- Theorem 2


def log_theorem2(G, beta, tau, log_Delta, sum_eta):
    """``log`` of :func:`theorem2`; broadcasts."""
    g = check_positive("G", G)
    bt = check_positive("beta", beta)
    t = check_positive("tau", tau)
    s = check_nonnegative("sum_eta", sum_eta)
    ld = as_float_array("log_Delta", log_Delta)
    with np.errstate(over="ignore"):  # beta S beyond float range: inf, as the bound's log
        return np.log(g) - np.log(bt) - np.log(t) + ld + log_expm1(bt * s)


def theorem2(G, beta, tau, Delta, sum_eta):
    """[P2] Theorem 2 [stated; constants open]:
    ``||w_T^CL - w_T^NSCL|| <~ (G / (beta tau)) Delta (exp(beta S) - 1)``.

    ``G`` (Jacobian bound, not defined in the sources) and ``beta`` (smoothness) are user
    inputs. The growth rate ``beta`` carries no ``1/B``, unlike Theorem 1.

    >>> round(theorem2(1.0, 1.0, 1.0, 1.0, 1.0), 6)
    1.718282
    """
    d = check_positive("Delta", Delta, allow_inf=True)
    with np.errstate(divide="ignore"):
        return _out(_exp(log_theorem2(G, beta, tau, np.log(d), sum_eta)))


# --------------------------------------------------------------------------- class saturation


def class_saturation(B, delta, T, f=0.01):
    """The class count ``C*`` beyond which more classes stop helping (real-valued).

    ``Delta`` (hence Theorem 1 and Theorem 2, which depend on ``C`` only through ``Delta``
    with ``pi_max = 1/C``) decreases in ``C`` to its ``C -> oo`` limit
    ``2 e^{2/tau} eps/(1 - eps)`` (the ``eps`` floor). ``C*`` is the ``C`` at which
    ``Delta(C) = (1 + f) Delta(oo)``; for every ``C >= C*`` the bound is within a factor
    ``1 + f`` of the floor. Solving ``p/(1-p) = (1+f) eps/(1-eps)`` for ``p = 1/C + eps``:

        C* = (1 + f eps) / (f eps (1 - eps))                                 [derived]

    It does not depend on ``tau``. NaN (with a ``RuntimeWarning``) where ``eps >= 1``: then
    ``Delta`` is undefined for every ``C``.

    >>> round(class_saturation(1024, 0.05, 14700, 0.01), 1)
    1136.1
    """
    ff = check_positive("f", f)
    e = np.exp(log_eps(B, delta, T))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny f: inf
        out = (1.0 + ff * e) / (ff * e * (1.0 - e))
    bad = e >= 1.0
    if np.any(bad):
        import warnings

        warnings.warn("eps >= 1: Delta is undefined for every C, so no class count helps "
                      "(NaN)", RuntimeWarning, stacklevel=2)
        out = np.where(bad, np.nan, out)
    return _out(out)


# --------------------------------------------------------------------------- [P1] few-shot


def fewshot_bound(C_prime, m, V_f, Vt_f, Vs_f):
    """[P1] Proposition 1: the error of the ``m``-shot nearest-class-mean classifier over
    ``C'`` classes (THEORY.md s13 [stated; constants from notes]; ``Vs_f`` [open]):

        err_LP <= err_NCC <= (C' - 1) [8 Vt_f + (8/sqrt(m)) Vs_f + (8/sqrt(m)) V_f + (4/m) V_f]

    with ``V_f``, ``Vt_f``, ``Vs_f`` the class variabilities averaged over the ordered class
    pairs (:mod:`empirics.metrics.fewshot`). An error rate is at most 1, so a value above 1
    says nothing (vacuous); it is returned as computed, never clipped. NaN inputs (an
    undefined measured variability) give NaN; broadcasts.

    Raises:
        ValueError: ``C_prime`` not an integer >= 2, ``m`` not an integer >= 1, or a
            variability < 0.

    >>> round(fewshot_bound(2, 4, 0.01, 0.001, 0.002), 12)  # 0.008 + 0.008 + 0.04 + 0.01
    0.066
    """
    c = check_integer("C_prime", C_prime, 2)
    mm = check_integer("m", m, 1)
    v = check_nonnegative("V_f", V_f, allow_inf=True, allow_nan=True)
    vt = check_nonnegative("Vt_f", Vt_f, allow_inf=True, allow_nan=True)
    vs = check_nonnegative("Vs_f", Vs_f, allow_inf=True, allow_nan=True)
    root = np.sqrt(mm)
    with np.errstate(over="ignore"):  # beyond float range: inf (vacuous)
        return _out((c - 1.0) * (8.0 * vt + 8.0 / root * vs + 8.0 / root * v + 4.0 / mm * v))
