"""``evaluate_bounds``: every bound of [P1] and [P2] at once, for grids of settings.

The function behind ``python -m bounds.evaluate`` and the one the trainer calls with its
own ``T``, ``sum_eta`` (or its ``eta`` array), ``C``, ``tau`` and ``B``. All inputs
broadcast against each other (numpy rules); every output has the broadcast shape.
Everything is evaluated in log space: a value beyond float range is ``inf`` and its
``log10_`` twin carries the magnitude.

:func:`evaluate_bounds` is six named steps, each a small function of this module:

1. :func:`schedule_step` -- ``T``, warm-up, base rate and ``S = sum_eta`` (THEORY.md s11);
2. :func:`high_probability_step` -- ``pi_max``, ``eps``, ``Delta`` and vacuity (s4);
3. :func:`loss_gap_step` -- the [P1] loss gap (s3);
4. :func:`theorem1_step` -- Theorem 1 and the exact unrolled recurrence (s5, s6);
5. :func:`corollaries_step` -- normalisers, ``rho``, ``r`` and the CKA / RSA bounds (s7, s10);
6. :func:`theorem2_step` -- Theorem 2 (s8).

No step writes a formula. Every value comes from a function of :mod:`bounds.numeric` (the
log-space numeric twins of the :mod:`bounds.registry` entries), :mod:`bounds.schedules` or
:mod:`bounds.normalisers`; the steps validate, broadcast, group equal schedules and flag
vacuity. ``tests/bounds/test_grid.py`` checks every reported value against the registry's
numeric twins on random grids, vacuous and overflowing points included.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from . import growth as _growth
from . import normalisers as _norm
from . import numeric as _num
from . import schedules as _sch
from .validation import (
    MAX_INTEGER,
    check_bool,
    check_choice,
    check_class_count,
    check_integer,
    check_nonnegative,
    check_normal,
    check_open_unit,
    check_positive,
    check_prior,
    check_schedule,
    check_unit_interval,
    raise_first,
)

__all__ = [
    "LOSS_FORMS",
    "OUTPUT_KEYS",
    "corollaries_step",
    "evaluate_bounds",
    "high_probability_step",
    "loss_gap_step",
    "schedule_step",
    "theorem1_step",
    "theorem2_step",
]

LOSS_FORMS = _num.LOSS_GAP_FORMS
_LN10 = float(np.log(10.0))

#: Keys of the dict :func:`evaluate_bounds` returns, in display order (``weight_gap`` and
#: ``log10_weight_gap`` only when ``G`` and ``beta`` are given).
OUTPUT_KEYS = (
    "C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "lr", "warmup_steps",
    "eps", "Delta", "log10_Delta", "loss_gap", "exponent",
    "sim_gap", "log10_sim_gap", "sim_gap_product", "log10_sim_gap_product",
    "K_norm", "sigma_a", "rho_bound", "log10_rho_bound", "r_bound", "log10_r_bound",
    "cka_lower", "rsa_lower", "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa",
    "trivial_sim_gap", "trivial_sim_gap_product", "weight_gap", "log10_weight_gap",
)


# ----------------------------------------------------------------------------- 1. steps


class Steps(NamedTuple):
    """What :func:`schedule_step` resolves: the steps and learning rates of the run.

    Attributes:
        T: number of steps (float array).
        warmup: warm-up steps ``W`` (NaN when an explicit ``eta`` is given).
        base_lr: the base rate after the batch-size rule.
        sum_eta: ``S = sum_{t<T} eta_t``.
        eta: the explicit schedule, shape ``(T,)``, or ``None``.
        sum_given: ``S`` was given without a schedule (the product form then uses the
            constant schedule ``S/T``).
        per_epoch: the steps ``P`` over which one rate is held: ``ceil(N/B)`` for the
            epoch unit, 1 for the step unit.
    """

    T: np.ndarray
    warmup: np.ndarray
    base_lr: np.ndarray | float
    sum_eta: np.ndarray
    eta: np.ndarray | None
    sum_given: bool
    per_epoch: np.ndarray | float = 1.0


def schedule_step(*, lr_rule, schedule, lr, B, N, epochs, warmup_epochs, T, sum_eta, eta,
                  warmup_steps, schedule_unit: str = "step") -> Steps:
    """Steps, warm-up, base rate and the exact sum of learning rates (THEORY.md s11 [stated]).

    ``T = epochs * ceil(N/B)`` (:func:`bounds.steps_from_epochs`) unless ``T`` is given;
    then the warm-up is the same fraction of ``T``, ``floor(T * warmup_epochs / epochs)``.
    The base rate is :func:`bounds.lr_from_rule`; ``sum_eta`` is the schedule's exact sum
    (:func:`bounds.sum_eta`) unless given. An explicit ``eta`` gives ``T = len(eta)`` and
    ``S = eta.sum()``. ``lr``, ``B``, ``N``, ``epochs``, ``warmup_epochs`` are checked arrays.

    ``schedule_unit="epoch"`` holds each rate for an epoch of ``P = ceil(N/B)`` steps
    (THEORY.md s13 [stated], the official code's convention; :func:`bounds.schedule`): the
    warm-up is then a whole number of epochs, ``warmup_epochs`` (or, when ``T`` is given,
    ``floor(E * warmup_epochs / epochs)`` of the ``E = ceil(T/P)`` epochs), and ``S`` is
    the exact sum of that schedule.

    Raises:
        ValueError: ``eta`` with ``T`` or ``sum_eta``, or not of shape ``(T,)``;
            ``B > N`` where ``N`` sets the number of steps (no ``T`` and no ``eta``);
            warm-up steps ``>= T``, or (epoch unit) not a whole number of epochs; a bad
            ``T``, ``warmup_steps``, ``sum_eta`` or ``schedule_unit``.

    >>> s = schedule_step(lr_rule="linear", schedule="cosine", lr=0.3, B=1024.0, N=50000.0,
    ...                   epochs=300.0, warmup_epochs=10.0, T=None, sum_eta=None, eta=None,
    ...                   warmup_steps=None)
    >>> int(s.T), int(s.warmup), s.base_lr, round(float(s.sum_eta), 1)
    (14700, 490, 1.2, 8821.2)
    >>> e = schedule_step(lr_rule="linear", schedule="cosine", lr=0.3, B=1024.0, N=50000.0,
    ...                   epochs=300.0, warmup_epochs=10.0, T=None, sum_eta=None, eta=None,
    ...                   warmup_steps=None, schedule_unit="epoch")
    >>> int(e.T), int(e.warmup), int(e.per_epoch), round(float(e.sum_eta), 1)
    (14700, 490, 49, 8878.8)
    """
    check_choice("schedule_unit", schedule_unit, _sch.SCHEDULE_UNITS)
    base_lr = _sch.lr_from_rule(lr_rule, lr, B)
    if eta is not None:
        if T is not None or sum_eta is not None:
            raise ValueError("Expected `eta` alone, got `eta` together with `T` or `sum_eta`")
        eta_arr = check_schedule("eta", eta)
        with np.errstate(over="ignore"):
            finite = np.isfinite(eta_arr.sum())
        if not finite:
            raise ValueError("Expected `eta` with a finite sum, got a sum beyond float range")
        return Steps(T=np.asarray(float(eta_arr.size)), warmup=np.asarray(np.nan),
                     base_lr=base_lr, sum_eta=np.asarray(float(eta_arr.sum())), eta=eta_arr,
                     sum_given=False)
    by_epoch = schedule_unit == "epoch"
    P_a = np.asarray(_sch.epoch_steps(N, B), np.float64) if by_epoch else np.asarray(1.0)
    if T is None:
        _check_batch_fits(B, N)
        T_a = np.asarray(_sch.steps_from_epochs(epochs, N, B), dtype=np.float64)
        raise_first(T_a > MAX_INTEGER, "Expected at most 2**53 steps, epochs * ceil(N/B)",
                    epochs=epochs, N=N, B=B)
        W_default = np.asarray(_sch.warmup_steps_from_epochs(warmup_epochs, N, B), np.float64)
    else:
        T_a = check_integer("T", T, 1)
        if by_epoch:  # the same fraction of the run, in whole epochs
            W_default = P_a * np.floor(np.ceil(T_a / P_a) * warmup_epochs / epochs)
        else:
            W_default = np.floor(T_a * warmup_epochs / epochs)
    W_a = W_default if warmup_steps is None else check_integer("warmup_steps", warmup_steps, 0)
    if schedule == "constant":
        W_a = np.zeros_like(W_a)
    elif warmup_steps is None:  # the warm-up comes from warmup_epochs: name it
        raise_first(W_a >= T_a, "Expected warm-up steps < `T`", warmup_steps=W_a, T=T_a,
                    warmup_epochs=warmup_epochs, epochs=epochs)
    else:
        raise_first(W_a >= T_a, "Expected warm-up steps < `T`", warmup_steps=W_a, T=T_a)
    if sum_eta is None:
        S_a = np.asarray(_sch.sum_eta(schedule, base_lr, T_a, W_a, unit=schedule_unit,
                                      steps_per_epoch=P_a), dtype=np.float64)
        raise_first(np.isinf(S_a), "Expected `lr` small enough that the sum of rates S is "
                    "finite", lr=lr, B=B, T=T_a)
    else:
        S_a = check_nonnegative("sum_eta", sum_eta)
    return Steps(T=T_a, warmup=W_a, base_lr=base_lr, sum_eta=S_a, eta=None,
                 sum_given=sum_eta is not None, per_epoch=P_a)


def _check_batch_fits(B, N) -> None:
    """``B <= N``: a batch cannot hold more samples than the training set."""
    bad = np.broadcast_to(B > N, np.broadcast_shapes(np.shape(B), np.shape(N)))
    if bad.any():
        Bb, Nb = np.broadcast_arrays(B, N)
        raise ValueError(f"Expected `B` <= `N`, got B={int(Bb[bad].flat[0])}, "
                         f"N={int(Nb[bad].flat[0])}")


# ----------------------------------------------------------------------------- 2. eps, Delta


class HighProbability(NamedTuple):
    """What :func:`high_probability_step` returns (natural logs; ``log_Delta = +inf`` and
    ``vacuous`` where ``pi_max + eps >= 1``)."""

    pi_max: np.ndarray
    log_eps: np.ndarray
    log_Delta: np.ndarray
    vacuous: np.ndarray


def high_probability_step(*, C, tau, B, delta, T, N, pi_max, n_max) -> HighProbability:
    """``pi_max``, ``eps(B, delta)`` and ``Delta(B; tau)`` ([P2], THEORY.md s4 [stated]).

    ``pi_max`` defaults to ``n_max/N`` if ``n_max`` is given, else ``1/C`` (balanced
    classes; ``pi_max`` vs ``1/C`` is [open]). ``eps`` and ``Delta`` come from
    :func:`bounds.numeric.log_eps` and :func:`bounds.numeric.log_Delta` (registry entries
    ``eps`` and ``Delta``); where ``pi_max + eps >= 1`` ``Delta`` is undefined and every
    [P2] bound is vacuous.

    A prior below ``1/C`` is impossible (the largest of ``C`` class priors is at least
    ``1/C``), and so is a largest class below ``ceil(N/C)`` of ``N`` samples; either would
    give a smaller, invalid ``Delta``, so both are refused.

    Raises:
        ValueError: ``n_max`` not an integer in ``[ceil(N/C), N)``, ``pi_max`` not in
            ``[1/C, 1]``.

    >>> h = high_probability_step(C=100.0, tau=0.5, B=1024.0, delta=0.05, T=14700.0,
    ...                           N=50000.0, pi_max=None, n_max=None)
    >>> float(h.pi_max), round(float(np.exp(h.log_eps)), 6), bool(h.vacuous)
    (0.01, 0.097635, False)
    """
    if n_max is not None:
        nm = check_integer("n_max", n_max, 1)
        raise_first(nm >= N, "Expected `n_max` < `N`", n_max=nm, N=N)
        check_class_count(nm, N, C)
    pm = (1.0 / C if n_max is None else nm / N) if pi_max is None else pi_max
    pm_a = check_unit_interval("pi_max", pm)
    check_prior(pm_a, C)
    log_D = _num.log_Delta(B, tau, delta, T, pm_a)
    # tau is a normal float (evaluate_bounds refuses subnormals): 2/tau, hence log_Delta,
    # never overflows, so +inf means pi_max + eps >= 1
    return HighProbability(pi_max=pm_a, log_eps=_num.log_eps(B, delta, T), log_Delta=log_D,
                           vacuous=np.isposinf(log_D))


# ----------------------------------------------------------------------------- 3. [P1]


def loss_gap_step(*, tau, C, N, n_max, loss_form) -> np.ndarray:
    """The [P1] loss-gap bound (THEORY.md s3; registry ``loss_gap_*``).

    ``balanced`` ``log(1 + e^{2/tau}/(C-1))`` by default, the ``paper`` form with ``n_max``
    and ``N`` when ``n_max`` is given, or the form ``loss_form`` names
    (:func:`bounds.numeric.loss_gap_bound`).

    >>> round(float(loss_gap_step(tau=1.0, C=10.0, N=50000.0, n_max=None, loss_form=None)), 6)
    0.599389
    """
    form = loss_form or ("balanced" if n_max is None else "paper")
    if form in ("paper", "tight"):
        return np.asarray(_num.loss_gap_bound(tau, C=C, n_max=n_max, N=N, form=form))
    return np.asarray(_num.loss_gap_bound(tau, C=C, form=form))


# ----------------------------------------------------------------------------- 4. Theorem 1


class Theorem1(NamedTuple):
    """What :func:`theorem1_step` returns (natural logs; ``+inf`` where vacuous)."""

    exponent: np.ndarray | float
    log_sim_gap: np.ndarray
    log_sim_gap_product: np.ndarray


def theorem1_step(steps: Steps, *, tau, B, log_Delta, vacuous, schedule: str,
                  shape: tuple[int, ...]) -> Theorem1:
    """Theorem 1 and the exact unrolled recurrence ([P2] Theorem 1 and Lemma, THEORY.md s5-6).

    Theorem 1 is :func:`bounds.numeric.log_theorem1` (registry ``theorem1``), its exponent
    ``S L`` :func:`bounds.numeric.theorem1_exponent`. The product form
    (registry ``recurrence_product``) is :func:`bounds.numeric.log_product_from_growth` of
    the growth ``Lambda = sum_t log1p(eta_t L)`` of the run's schedule (:mod:`bounds.growth`,
    ``L`` with its logarithm): of ``eta`` when given; of the constant schedule ``S/T`` when
    only ``S`` is given (by AM-GM the largest product form of every schedule with that ``T``
    and ``S``); else of :func:`bounds.schedule` in closed form, per step or per epoch
    (O(1) time and memory per grid point, whatever ``T``). Where ``Delta`` is vacuous both
    bounds are ``+inf`` (also at ``S = 0``).

    >>> s = schedule_step(lr_rule="constant", schedule="constant", lr=1.0, B=2.0, N=2.0,
    ...                   epochs=1.0, warmup_epochs=0.0, T=2.0, sum_eta=None, eta=None,
    ...                   warmup_steps=None)
    >>> r = theorem1_step(s, tau=0.5, B=2.0, log_Delta=np.asarray(0.0), vacuous=False,
    ...                   schedule="constant", shape=())
    >>> round(float(np.exp(r.log_sim_gap_product)), 6)   # (3/L) / (tau sqrt B), L = 1
    4.242641
    """
    L = np.broadcast_to(_num.L_const(tau, B), shape)          # 0 or inf beyond float range
    log_L = np.broadcast_to(_num.log_L_const(tau, B), shape)  # always finite
    if steps.eta is not None:
        growth = _growth.growth_explicit(steps.eta, L, log_L)
    elif steps.sum_given:
        growth = _growth.growth_constant(steps.sum_eta, steps.T, L, log_L)
    else:
        growth = _growth.growth_schedule(schedule, steps.base_lr, steps.T, steps.warmup,
                                         steps.per_epoch, L, log_L)
    log_sim = _num.log_theorem1(steps.sum_eta, tau, B, log_Delta)
    log_prod = _num.log_product_from_growth(growth, steps.sum_eta, tau, B, log_Delta)
    return Theorem1(exponent=_num.theorem1_exponent(steps.sum_eta, tau, B),
                    log_sim_gap=np.where(vacuous, np.inf, log_sim),
                    log_sim_gap_product=np.where(vacuous, np.inf, log_prod))


# ----------------------------------------------------------------------------- 5. corollaries


class Corollaries(NamedTuple):
    """What :func:`corollaries_step` returns (natural logs for ``rho`` and ``r``)."""

    N_ref: np.ndarray
    K_norm: np.ndarray
    sigma_a: np.ndarray
    log_rho: np.ndarray
    log_r: np.ndarray
    cka_lower: np.ndarray
    rsa_lower: np.ndarray
    vacuous_cka: np.ndarray
    vacuous_rsa: np.ndarray
    log_largest: np.ndarray


def corollaries_step(*, log_sim_gap, vacuous, C, N_ref, K_norm, sigma_a, features,
                     tight: bool) -> Corollaries:
    """Corollaries 1 (CKA) and 2 (RSA) of [P2] (THEORY.md s7 [stated]; s10 [derived]).

    Normalisers ``||K_CL||_F`` and ``sigma_a``: given by the user, computed from
    ``features`` (array ``(N, d)`` or ``.npy`` path; sets ``N_ref``;
    :func:`bounds.features_normalisers`), or at the NSCL optimum on ``N_ref`` samples
    (:func:`bounds.etf_K_norm`, :func:`bounds.etf_sigma_a`; registry ``K_norm_etf``,
    ``sigma_a_etf``). ``rho`` and ``r`` are :func:`bounds.numeric.log_rho_bound` and
    :func:`bounds.numeric.log_r_bound` (registry ``rho_bound``, ``r_bound`` or, with
    ``tight``, ``r_bound_tight``); the lower bounds are
    :func:`bounds.numeric.lower_from_log_ratio` (registry ``cka_lower``, ``rsa_lower``),
    the trivial 0 and -1 where ``rho >= 1`` or ``r >= 1``. ``sigma_a = 0`` (e.g.
    ``N_ref = C`` at the ETF) makes ``r`` infinite: a vacuous RSA bound, not an error.

    Raises:
        ValueError: ``N_ref < 2`` or ``< C``, ``K_norm`` or ``sigma_a`` not ``> 0``, an
            unreadable feature file or bad features.
        TypeError: ``tight`` not a bool.

    >>> c = corollaries_step(log_sim_gap=np.log(1.0), vacuous=False, C=10.0, N_ref=10000.0,
    ...                      K_norm=None, sigma_a=None, features=None, tight=False)
    >>> round(float(np.exp(c.log_rho)), 6), round(float(c.cka_lower), 6)
    (0.0003, 0.9994)
    """
    tight = check_bool("tight", tight)
    if features is not None:
        is_path = isinstance(features, (str, bytes, os.PathLike))
        fn = _norm.features_normalisers(_norm.load_features(features) if is_path else features)
        N_ref_a = np.asarray(float(fn["N_ref"]))
        K_a = check_positive("K_norm", K_norm) if K_norm is not None else np.asarray(
            fn["K_norm"])
        sig_a = check_positive("sigma_a", sigma_a) if sigma_a is not None else np.asarray(
            fn["sigma_a"])
    else:
        N_ref_a = check_integer("N_ref", N_ref, 2)
        K_a = (check_positive("K_norm", K_norm) if K_norm is not None
               else np.asarray(_norm.etf_K_norm(N_ref_a, C)))
        sig_a = (check_positive("sigma_a", sigma_a) if sigma_a is not None
                 else np.asarray(_norm.etf_sigma_a(N_ref_a, C)))
    log_rho = _num.log_rho_bound(log_sim_gap, K_a)
    log_r = _num.log_r_bound(log_sim_gap, sig_a, N_ref_a, tight=tight)
    with np.errstate(invalid="ignore"):
        return Corollaries(
            N_ref=N_ref_a, K_norm=K_a, sigma_a=sig_a, log_rho=log_rho, log_r=log_r,
            cka_lower=np.asarray(_num.lower_from_log_ratio(log_rho, 0.0)),
            rsa_lower=np.asarray(_num.lower_from_log_ratio(log_r, -1.0)),
            vacuous_cka=vacuous | (log_rho >= 0.0), vacuous_rsa=vacuous | (log_r >= 0.0),
            log_largest=_num.log_largest_sim_gap(N_ref_a))


# ----------------------------------------------------------------------------- 6. Theorem 2


def theorem2_step(*, G, beta, tau, log_Delta, sum_eta) -> np.ndarray | None:
    """``log`` of [P2] Theorem 2 (THEORY.md s8 [stated; constants open]), or ``None``.

    :func:`bounds.numeric.log_theorem2` (registry ``theorem2``) when both ``G`` and
    ``beta`` are given.

    Raises:
        ValueError: only one of ``G`` and ``beta`` given, or either not ``> 0``.

    >>> theorem2_step(G=None, beta=None, tau=0.5, log_Delta=0.0, sum_eta=1.0) is None
    True
    """
    _check_theorem2_pair(G, beta)
    if G is None:
        return None
    return _num.log_theorem2(G, beta, tau, log_Delta, sum_eta)


def _check_theorem2_pair(G, beta) -> None:
    if (G is None) != (beta is None):
        missing = "beta" if beta is None else "G"
        raise ValueError(f"Expected both `G` and `beta` for Theorem 2, got `{missing}`=None")


# ----------------------------------------------------------------------------- all at once


def evaluate_bounds(
    C,
    tau,
    B=1024,
    *,
    T=None,
    sum_eta=None,
    eta=None,
    epochs=300,
    N=50000,
    lr=0.3,
    lr_rule: str = "linear",
    schedule: str = "cosine",
    warmup_epochs=10,
    warmup_steps=None,
    schedule_unit: str = "step",
    delta=0.05,
    pi_max=None,
    n_max=None,
    N_ref=10000,
    K_norm=None,
    sigma_a=None,
    features=None,
    tight: bool = False,
    G=None,
    beta=None,
    loss_form: str | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate every bound for a grid of settings (THEORY.md sections 3-11).

    Steps and learning rates (:func:`schedule_step`): ``T = epochs * ceil(N/B)`` unless
    ``T`` is given; the base rate is ``lr_from_rule(lr_rule, lr, B)``; the schedule is
    ``schedule`` with ``warmup_steps = warmup_epochs * ceil(N/B)`` (or
    ``floor(T * warmup_epochs / epochs)`` when ``T`` is given); ``sum_eta`` is its exact
    sum. ``schedule_unit="epoch"`` steps the schedule once per epoch of ``ceil(N/B)`` steps,
    as the official code of [P2] does (THEORY.md s13; :func:`schedule_step`), and ``S``
    and the product form follow it exactly. A caller with its own run passes ``eta``
    (shape ``(T,)``, then ``T = len(eta)`` and ``sum_eta = eta.sum()``), or ``T`` and
    ``sum_eta``; with ``sum_eta`` alone the product form uses the constant schedule
    ``S/T``, which by AM-GM bounds the product form of every schedule with that ``T`` and
    ``S``.

    Outputs (arrays of the broadcast shape; see :data:`OUTPUT_KEYS`):

    - ``eps``, ``Delta`` ([P2] section 4; ``pi_max`` defaults to ``n_max/N`` if ``n_max``
      is given, else ``1/C``);
    - ``loss_gap``: [P1] bound, balanced form ``log(1 + e^{2/tau}/(C-1))`` unless
      ``n_max`` (paper form with ``N``) or ``loss_form`` is given;
    - ``sim_gap`` (Theorem 1), ``exponent = S/(2 tau^2 B)``, ``sim_gap_product`` (exact
      unrolled recurrence, section 5);
    - ``rho_bound``, ``cka_lower`` (Corollary 1) and ``r_bound``, ``rsa_lower``
      (Corollary 2, paper form; ``tight=True`` divides ``r`` by ``sqrt(2)``), with
      normalisers ``K_norm``/``sigma_a`` from the user, from ``features`` (array ``(N, d)``
      or ``.npy`` path; sets ``N_ref``) or the NSCL-optimum geometry on ``N_ref`` samples;
    - ``weight_gap`` (Theorem 2) when ``G`` and ``beta`` are given;
    - ``vacuous_sim_gap`` (``pi_max + eps >= 1``), ``vacuous_cka`` (``rho >= 1``),
      ``vacuous_rsa`` (``r >= 1``); vacuous ``cka_lower`` is 0 and ``rsa_lower`` is -1;
    - ``trivial_sim_gap`` / ``trivial_sim_gap_product``: the bound is at least
      ``2 sqrt(N_ref (N_ref - 1))``, the largest Frobenius distance two cosine-similarity
      matrices of ``N_ref`` samples can have (unit diagonals, entries in ``[-1, 1]``), so it
      is true but says nothing about a reference set of ``N_ref`` samples;
    - ``log10_*`` twins, finite where the value is beyond float range.

    Raises:
        ValueError: one sentence naming the argument and the value (``tau <= 0``, ``C < 2``
            or non-integer, ``B < 2``, ``B > N`` where ``N`` sets the number of steps (no
            ``T`` and no ``eta`` given), ``delta`` not in (0, 1), negative ``lr``,
            ``n_max`` not an integer in ``[ceil(N/C), N)``, ``pi_max < 1/C`` (impossible:
            the largest of ``C`` priors is at least ``1/C``), a count above ``2**53``, a
            subnormal float (below ``2.2e-308``), a sum of rates beyond float range, unknown
            rule/schedule/form, ...).
        TypeError: a non-number, or ``tight`` not a bool (``numpy.bool_`` is fine).

    >>> out = evaluate_bounds(100, 0.5)
    >>> int(out["T"]), round(float(out["sum_eta"]), 1), round(float(out["exponent"]), 2)
    (14700, 8821.2, 17.23)
    >>> bool(out["vacuous_cka"]), float(out["cka_lower"])
    (True, 0.0)
    """
    check_choice("lr_rule", lr_rule, _sch.LR_RULES)
    check_choice("schedule", schedule, _sch.SCHEDULES)
    check_choice("schedule_unit", schedule_unit, _sch.SCHEDULE_UNITS)
    if loss_form is not None:
        check_choice("loss_form", loss_form, LOSS_FORMS)
    check_bool("tight", tight)
    for name, value in (("tau", tau), ("lr", lr), ("delta", delta), ("sum_eta", sum_eta),
                        ("pi_max", pi_max), ("K_norm", K_norm), ("sigma_a", sigma_a),
                        ("G", G), ("beta", beta)):
        if value is not None:
            check_normal(name, value)
    C_a = check_integer("C", C, 2)
    tau_a = check_positive("tau", tau)
    B_a = check_integer("B", B, 2)
    delta_a = check_open_unit("delta", delta)
    lr_a = check_nonnegative("lr", lr)
    N_a = check_integer("N", N, 1)
    epochs_a = check_integer("epochs", epochs, 1)
    we_a = check_integer("warmup_epochs", warmup_epochs, 0)
    _check_theorem2_pair(G, beta)

    steps = schedule_step(lr_rule=lr_rule, schedule=schedule, lr=lr_a, B=B_a, N=N_a,
                          epochs=epochs_a, warmup_epochs=we_a, T=T, sum_eta=sum_eta, eta=eta,
                          warmup_steps=warmup_steps, schedule_unit=schedule_unit)
    hp = high_probability_step(C=C_a, tau=tau_a, B=B_a, delta=delta_a, T=steps.T, N=N_a,
                               pi_max=pi_max, n_max=n_max)
    loss_gap = loss_gap_step(tau=tau_a, C=C_a, N=N_a, n_max=n_max, loss_form=loss_form)
    shape = np.broadcast_shapes(C_a.shape, tau_a.shape, B_a.shape, delta_a.shape, lr_a.shape,
                                N_a.shape, epochs_a.shape, steps.T.shape, steps.sum_eta.shape,
                                hp.pi_max.shape, np.shape(steps.warmup))
    th1 = theorem1_step(steps, tau=tau_a, B=B_a, log_Delta=hp.log_Delta, vacuous=hp.vacuous,
                        schedule=schedule, shape=shape)
    cor = corollaries_step(log_sim_gap=th1.log_sim_gap, vacuous=hp.vacuous, C=C_a,
                           N_ref=N_ref, K_norm=K_norm, sigma_a=sigma_a, features=features,
                           tight=tight)
    log_w = theorem2_step(G=G, beta=beta, tau=tau_a, log_Delta=hp.log_Delta,
                          sum_eta=steps.sum_eta)

    exp = _num._exp
    out = {
        "C": C_a, "tau": tau_a, "B": B_a, "T": steps.T, "sum_eta": steps.sum_eta,
        "delta": delta_a, "pi_max": hp.pi_max, "N_ref": cor.N_ref,
        "lr": np.asarray(steps.base_lr), "warmup_steps": steps.warmup,
        "eps": np.exp(hp.log_eps), "Delta": exp(hp.log_Delta),
        "log10_Delta": hp.log_Delta / _LN10, "loss_gap": loss_gap, "exponent": th1.exponent,
        "sim_gap": exp(th1.log_sim_gap), "log10_sim_gap": th1.log_sim_gap / _LN10,
        "sim_gap_product": exp(th1.log_sim_gap_product),
        "log10_sim_gap_product": th1.log_sim_gap_product / _LN10,
        "K_norm": cor.K_norm, "sigma_a": cor.sigma_a,
        "rho_bound": exp(cor.log_rho), "log10_rho_bound": cor.log_rho / _LN10,
        "r_bound": exp(cor.log_r), "log10_r_bound": cor.log_r / _LN10,
        "cka_lower": cor.cka_lower, "rsa_lower": cor.rsa_lower,
        "vacuous_sim_gap": hp.vacuous, "vacuous_cka": cor.vacuous_cka,
        "vacuous_rsa": cor.vacuous_rsa,
        "trivial_sim_gap": hp.vacuous | (th1.log_sim_gap >= cor.log_largest),
        "trivial_sim_gap_product": hp.vacuous | (th1.log_sim_gap_product >= cor.log_largest),
    }
    if log_w is not None:
        out["weight_gap"] = exp(log_w)
        out["log10_weight_gap"] = log_w / _LN10
    full = np.broadcast_shapes(shape, *(np.shape(v) for v in out.values()))
    return {k: np.broadcast_to(np.asarray(v), full).copy() for k, v in out.items()}
