"""``evaluate``: every bound of [P1] and [P2] at once, for grids of settings.

This is the function behind ``python -m bounds.evaluate`` and the one the trainer calls
with its own ``T``, ``sum_eta`` (or its ``eta`` array), ``C``, ``tau`` and ``B``.
All inputs broadcast against each other (numpy rules); every output has the broadcast
shape. Everything is evaluated in log space (:mod:`bounds.numeric`): a value beyond float
range is ``inf`` and its ``log10_`` twin carries the magnitude.
"""

from __future__ import annotations

import os

import numpy as np

from . import normalisers as _norm
from . import numeric as _num
from . import schedules as _sch
from .validation import (
    check_choice,
    check_integer,
    check_nonnegative,
    check_open_unit,
    check_positive,
    check_unit_interval,
)

__all__ = ["LOSS_FORMS", "OUTPUT_KEYS", "evaluate"]

LOSS_FORMS = _num.LOSS_GAP_FORMS
_LN10 = float(np.log(10.0))

#: Keys of the dict :func:`evaluate` returns, in display order (``weight_gap`` and
#: ``log10_weight_gap`` only when ``G`` and ``beta`` are given).
OUTPUT_KEYS = (
    "C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "N_ref", "lr", "warmup_steps",
    "eps", "Delta", "log10_Delta", "loss_gap", "exponent",
    "sim_gap", "log10_sim_gap", "sim_gap_product", "log10_sim_gap_product",
    "K_norm", "sigma_a", "rho_bound", "log10_rho_bound", "r_bound", "log10_r_bound",
    "cka_lower", "rsa_lower", "vacuous_sim_gap", "vacuous_cka", "vacuous_rsa",
    "trivial_sim_gap", "trivial_sim_gap_product", "weight_gap", "log10_weight_gap",
)


def _log_growth(eta: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``Lambda(L) = sum_t log1p(eta_t L)`` for every entry of ``L`` (unique values once)."""
    u, inv = np.unique(L.reshape(-1), return_inverse=True)
    lam = np.empty_like(u)
    chunk = max(1, 2_000_000 // max(eta.size, 1))
    for i in range(0, u.size, chunk):  # chunks of distinct L values, vectorised over steps
        lam[i : i + chunk] = np.log1p(np.multiply.outer(u[i : i + chunk], eta)).sum(axis=1)
    return lam[inv].reshape(L.shape)


def evaluate(
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

    Steps and learning rates: ``T = epochs * ceil(N/B)`` unless ``T`` is given; the base
    rate is ``lr_from_rule(lr_rule, lr, B)``; the schedule is ``schedule`` with
    ``warmup_steps = warmup_epochs * ceil(N/B)`` (or ``floor(T * warmup_epochs / epochs)``
    when ``T`` is given); ``sum_eta`` is its exact sum. A caller with its own run passes
    ``eta`` (shape ``(T,)``, then ``T = len(eta)`` and ``sum_eta = eta.sum()``), or ``T``
    and ``sum_eta``; with ``sum_eta`` alone the product form uses the constant schedule
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
            or non-integer, ``B < 2``, ``delta`` not in (0, 1), negative ``lr``,
            ``n_max >= N``, unknown rule/schedule/form, ...).

    >>> out = evaluate(100, 0.5)
    >>> int(out["T"]), round(float(out["sum_eta"]), 1), round(float(out["exponent"]), 2)
    (14700, 8821.2, 17.23)
    >>> bool(out["vacuous_cka"]), float(out["cka_lower"])
    (True, 0.0)
    """
    # ---- inputs
    check_choice("lr_rule", lr_rule, _sch.LR_RULES)
    check_choice("schedule", schedule, _sch.SCHEDULES)
    if loss_form is not None:
        check_choice("loss_form", loss_form, LOSS_FORMS)
    C_a = check_integer("C", C, 2)
    tau_a = check_positive("tau", tau)
    B_a = check_integer("B", B, 2)
    delta_a = check_open_unit("delta", delta)
    lr_a = check_nonnegative("lr", lr)
    N_a = check_integer("N", N, 1)
    epochs_a = check_integer("epochs", epochs, 1)
    we_a = check_integer("warmup_epochs", warmup_epochs, 0)
    if (G is None) != (beta is None):
        missing = "beta" if beta is None else "G"
        raise ValueError(f"Expected both `G` and `beta` for Theorem 2, got `{missing}`=None")

    # ---- steps, schedule, sum of learning rates
    base_lr = _sch.lr_from_rule(lr_rule, lr_a, B_a)
    eta_arr = None
    if eta is not None:
        if T is not None or sum_eta is not None:
            raise ValueError("Expected `eta` alone, got `eta` together with `T` or `sum_eta`")
        eta_arr = check_nonnegative("eta", eta)
        if eta_arr.ndim != 1 or eta_arr.size == 0:
            raise ValueError(f"Expected `eta` of shape (T,) with T >= 1, got shape "
                             f"{eta_arr.shape}")
        T_a = np.asarray(float(eta_arr.size))
        S_a = np.asarray(float(eta_arr.sum()))
        W_a = np.asarray(np.nan)
    else:
        if T is None:
            T_a = np.asarray(_sch.steps_from_epochs(epochs_a, N_a, B_a), dtype=np.float64)
            W_default = np.asarray(_sch.warmup_steps_from_epochs(we_a, N_a, B_a), np.float64)
        else:
            T_a = check_integer("T", T, 1)
            W_default = np.floor(T_a * we_a / epochs_a)
        W_a = W_default if warmup_steps is None else check_integer(
            "warmup_steps", warmup_steps, 0)
        if schedule == "constant":
            W_a = np.zeros_like(W_a)
        elif np.any(W_a >= T_a):
            Wb, Tb = np.broadcast_arrays(W_a, T_a)
            bad = Wb >= Tb
            raise ValueError(f"Expected warm-up steps < `T`, got warmup_steps="
                             f"{int(Wb[bad].flat[0])}, T={int(Tb[bad].flat[0])}")
        if sum_eta is None:
            S_a = np.asarray(_sch.sum_eta(schedule, base_lr, T_a, W_a), dtype=np.float64)
        else:
            S_a = check_nonnegative("sum_eta", sum_eta)

    # ---- eps, Delta
    if n_max is not None:
        nm = check_positive("n_max", n_max)
        bad = np.broadcast_to(nm >= N_a, np.broadcast_shapes(nm.shape, N_a.shape))
        if bad.any():
            nb, Nb = np.broadcast_arrays(nm, N_a)
            raise ValueError(f"Expected `n_max` < `N`, got n_max={nb[bad].flat[0]:g}, "
                             f"N={Nb[bad].flat[0]:g}")
    pm = (1.0 / C_a if n_max is None else nm / N_a) if pi_max is None else pi_max
    pm_a = check_unit_interval("pi_max", pm)
    log_eps = _num.log_eps(B_a, delta_a, T_a)
    log_D = _num.log_Delta(B_a, tau_a, delta_a, T_a, pm_a)
    vac_sim = np.isposinf(log_D)  # pi_max + eps >= 1 (log_Delta itself never overflows)

    # ---- [P1] loss gap
    form = loss_form or ("balanced" if n_max is None else "paper")
    if form in ("paper", "tight"):
        loss_gap = _num.loss_gap_bound(tau_a, C=C_a, n_max=n_max, N=N_a, form=form)
    else:
        loss_gap = _num.loss_gap_bound(tau_a, C=C_a, form=form)

    # ---- Theorem 1 and the exact unrolled recurrence
    L = 1.0 / (2.0 * tau_a * tau_a * B_a)
    log_sim = _num.log_theorem1(S_a, tau_a, B_a, log_D)
    shape = np.broadcast_shapes(C_a.shape, tau_a.shape, B_a.shape, delta_a.shape, lr_a.shape,
                                N_a.shape, epochs_a.shape, T_a.shape, S_a.shape, pm_a.shape,
                                np.shape(W_a))
    if eta_arr is not None:
        Lam = _log_growth(eta_arr, np.broadcast_to(L, shape))
    elif sum_eta is not None:
        Lb, Tb, Sb = np.broadcast_arrays(L, T_a, S_a)
        Lam = Tb * np.log1p(Sb * Lb / Tb)          # constant schedule S/T (AM-GM maximiser)
    else:
        Lam = np.empty(shape)
        Lb, Tb, Wb, bb = (np.broadcast_to(x, shape) for x in (L, T_a, W_a, base_lr))
        keys = np.stack([Tb.reshape(-1), Wb.reshape(-1), bb.reshape(-1)], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        Lf, Lamf = Lb.reshape(-1), Lam.reshape(-1)
        for g, (Tg, Wg, bg) in enumerate(uniq):  # one schedule per distinct (T, W, base_lr)
            idx = np.flatnonzero(inv == g)
            eta_g = _sch.schedule(schedule, bg, int(Tg), int(Wg))
            Lamf[idx] = _log_growth(eta_g, Lf[idx])
        Lam = Lamf.reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_prod = log_D - np.log(tau_a) - 0.5 * np.log(B_a) + _num.log_expm1(Lam) - np.log(L)
    # Vacuous Delta: both bounds say nothing (also when S = 0, where inf + -inf is NaN).
    log_sim = np.where(vac_sim, np.inf, log_sim)
    log_prod = np.where(vac_sim, np.inf, log_prod)

    # ---- Corollaries: normalisers
    if features is not None:
        is_path = isinstance(features, (str, bytes, os.PathLike))
        X = _norm.load_features(features) if is_path else features
        fn = _norm.features_normalisers(X)
        N_ref_a = np.asarray(float(fn["N_ref"]))
        K_a = check_positive("K_norm", K_norm) if K_norm is not None else np.asarray(
            fn["K_norm"])
        sig_a = check_positive("sigma_a", sigma_a) if sigma_a is not None else np.asarray(
            fn["sigma_a"])
    else:
        N_ref_a = check_integer("N_ref", N_ref, 2)
        K_a = (check_positive("K_norm", K_norm) if K_norm is not None
               else np.asarray(_norm.etf_K_norm(N_ref_a, C_a)))
        sig_a = (check_positive("sigma_a", sigma_a) if sigma_a is not None
                 else np.asarray(_norm.etf_sigma_a(N_ref_a, C_a)))
    M = N_ref_a * (N_ref_a - 1.0) / 2.0
    # the largest possible ||Sigma - Sigma'||_F on N_ref samples: 2 sqrt(2M)
    log_trivial = np.log(2.0) + 0.5 * np.log(2.0 * M)
    log_rho = log_sim - np.log(K_a)
    # sigma_a = 0 (e.g. N_ref = C at the ETF: every pair is a different-class pair) makes
    # r infinite: the RSA bound is vacuous, not an error.
    with np.errstate(invalid="ignore", divide="ignore"):
        log_r = log_sim - 0.5 * np.log(M * (2.0 if tight else 1.0)) - np.log(sig_a)
        cka = np.asarray(_num.lower_from_log_ratio(log_rho, 0.0))
        rsa = np.asarray(_num.lower_from_log_ratio(log_r, -1.0))
        vac_cka = vac_sim | (log_rho >= 0.0)
        vac_rsa = vac_sim | (log_r >= 0.0)

    out = {
        "C": C_a, "tau": tau_a, "B": B_a, "T": T_a, "sum_eta": S_a, "delta": delta_a,
        "pi_max": pm_a, "N_ref": N_ref_a, "lr": np.asarray(base_lr), "warmup_steps": W_a,
        "eps": np.exp(log_eps), "Delta": _num._exp(log_D), "log10_Delta": log_D / _LN10,
        "loss_gap": np.asarray(loss_gap), "exponent": S_a * L,
        "sim_gap": _num._exp(log_sim), "log10_sim_gap": log_sim / _LN10,
        "sim_gap_product": _num._exp(log_prod), "log10_sim_gap_product": log_prod / _LN10,
        "K_norm": K_a, "sigma_a": sig_a,
        "rho_bound": _num._exp(log_rho), "log10_rho_bound": log_rho / _LN10,
        "r_bound": _num._exp(log_r), "log10_r_bound": log_r / _LN10,
        "cka_lower": cka, "rsa_lower": rsa,
        "vacuous_sim_gap": vac_sim, "vacuous_cka": vac_cka, "vacuous_rsa": vac_rsa,
        "trivial_sim_gap": vac_sim | (log_sim >= log_trivial),
        "trivial_sim_gap_product": vac_sim | (log_prod >= log_trivial),
    }
    if G is not None:
        log_w = _num.log_theorem2(G, beta, tau_a, log_D, S_a)
        out["weight_gap"] = _num._exp(log_w)
        out["log10_weight_gap"] = log_w / _LN10
    full = np.broadcast_shapes(shape, *(np.shape(v) for v in out.values()))
    return {k: np.broadcast_to(np.asarray(v), full).copy() for k, v in out.items()}
