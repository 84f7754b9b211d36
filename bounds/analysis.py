"""Symbolic analysis of the bounds: LaTeX, derivative signs, limits, batch-size readings.

- :func:`latex_statements`: every registry entry as a LaTeX display (``--format latex``).
- :func:`derivative_signs`: the sign of the partial derivative of each bound in ``C``,
  ``tau`` and ``B`` (with ``pi_max = 1/C`` and ``S``, ``T``, ``delta``, ``N_ref`` held
  fixed). Decided on ``log(bound)`` (same sign, no overflow). Symbolic where sympy decides
  it: the bound depends on ``C`` and ``B`` through the odds ``R = p/(1-p)``,
  ``p = 1/C + eps``, so ``d log f / dx = (d log f / dx)|_R + (d log f / dR)(dR/dx)``; each
  factor's sign is asked of sympy on the domain (``R > 0``, ``0 < p < 1``, ``C > 1``,
  ``log(T B / delta) > 1``) and the two terms combined when they agree. Otherwise the
  sign is checked on a dense grid of in-domain points, and the result says so.
- :func:`limits`: ``C -> oo`` (the ``eps`` floor), ``tau -> oo``, ``B -> oo``, ...
- :func:`class_saturation` re-exported: the class count ``C*`` beyond which more classes
  stop helping, defined as the smallest ``C`` with ``Delta(C) <= (1 + f) Delta(oo)``.
- :func:`batch_size_readings`: Theorem 1 against ``B`` under each learning-rate rule, at a
  fixed number of steps and at a fixed number of epochs (THEORY.md section 11).

sympy is imported inside the functions, never at module import.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .numeric import class_saturation, eps
from .schedules import LR_RULES, RULE_EXPONENT

__all__ = [
    "PAPER",
    "analysis_report",
    "batch_size_readings",
    "class_saturation",
    "derivative_signs",
    "latex_statements",
    "limits",
]

#: The paper's setting (THEORY.md sections 11-12), used where a parameter is held fixed.
PAPER = {"T": 14700, "delta": 0.05, "S": 8821.2, "N_ref": 10000, "G": 1.0, "beta": 1e-3,
         "epochs": 300, "N": 50000, "lr": 0.3, "warmup_epochs": 10}

_SIGN_WORD = {1: "positive (increasing)", -1: "negative (decreasing)", 0: "zero"}


def latex_statements() -> str:
    """Every registry entry as a LaTeX display with its source and tag, one per block."""
    from .registry import REGISTRY

    blocks = []
    for e in REGISTRY.values():
        blocks.append(f"% {e.name}: {e.title} -- {e.source} [{e.tag}]\n"
                      f"\\begin{{equation}}\n  {e.latex()}\n\\end{{equation}}")
    return "\n".join(blocks)


# --------------------------------------------------------------------------- derivatives


def _symbolic_sign(expr):
    """+1, -1, 0 when sympy decides the sign of ``expr`` (positive symbols), else None.

    ``log(T B / delta)`` is replaced by ``1 + k`` with ``k > 0`` (the domain condition
    ``T B / delta > e``, true whenever ``T B >= 3``); deciding the sign for every positive
    ``B`` and ``k`` decides it on the constrained domain.
    """
    import sympy as sp

    from . import symbols as y

    if expr == 0:
        return 0
    k = sp.Symbol("k", positive=True)
    ell = sp.expand_log(sp.log(y.B * y.T / y.delta), force=True)
    e2 = sp.expand_log(expr, force=True).subs(ell, 1 + k)
    e2 = e2.subs(sp.log(y.B), 1 + k - sp.log(y.T) + sp.log(y.delta))
    for e in (expr, e2, sp.factor(sp.simplify(e2))):
        if e.is_positive:
            return 1
        if e.is_negative:
            return -1
    return None


def _delta_of_odds(R):
    """The registry's ``Delta`` with ``p = pi_max + eps`` written through its odds
    ``R = p/(1-p)``: ``2 e^{2/tau} R``."""
    import sympy as sp

    from . import symbols as y
    from .registry import REGISTRY

    return sp.factor(sp.simplify(REGISTRY["Delta"].expr.subs(
        y.pi_max, R / (1 + R) - REGISTRY["eps"].expr)))


def _expanded_log(expr):
    import sympy as sp

    return sp.expand_log(sp.log(expr), force=True)


@functools.cache
def _structured():
    """``log f`` of each bound written with the odds ``R`` (positive symbol) and its full
    form (``R`` expanded, ``pi_max = 1/C``); plus the signs of ``dR/dC`` and ``dR/dB``.

    Every ``log f`` is the expanded log of the registry's expression (Delta through
    :func:`_delta_of_odds`; the rho bound with the NSCL-optimum ``||K||_F``)."""
    import sympy as sp

    from . import symbols as y
    from .registry import REGISTRY

    R = sp.Symbol("R", positive=True)            # odds p/(1-p) of Delta
    q = sp.Symbol("q", positive=True)            # 1 - p > 0 on the domain
    c = sp.Symbol("c", positive=True)            # C - 1 > 0
    eps_e = REGISTRY["eps"].expr
    p_full = 1 / y.C + eps_e
    R_full = p_full / (1 - p_full)
    Delta_R = _delta_of_odds(R)
    th1_R = REGISTRY["theorem1"].expr.subs(y.Delta, Delta_R)
    logs = {
        "eps": (sp.log(eps_e), False),
        "Delta": (_expanded_log(Delta_R), True),
        "loss_gap_balanced": (sp.log(REGISTRY["loss_gap_balanced"].expr), False),
        "theorem1": (_expanded_log(th1_R), True),
        "theorem2": (_expanded_log(REGISTRY["theorem2"].expr.subs(y.Delta, Delta_R)), True),
        "rho_bound": (_expanded_log(REGISTRY["rho_bound"].expr.subs(
            {y.sim_gap: th1_R, y.K_norm: REGISTRY["K_norm_etf"].expr})), True),
    }
    # dR/dx = (dR/dp)(dp/dx); dR/dp = 1/(1-p)^2 with 1 - p = q > 0.
    p = sp.Symbol("p", positive=True)
    dR_dp = sp.diff(p / (1 - p), p).subs(p, 1 - q)
    s_dR_dp = _symbolic_sign(sp.simplify(dR_dp))
    s_dp_dC = _symbolic_sign(sp.diff(p_full, y.C))
    s_dp_dB = _symbolic_sign(sp.diff(eps_e, y.B))
    chain = {
        "C": None if None in (s_dR_dp, s_dp_dC) else s_dR_dp * s_dp_dC,
        "B": None if None in (s_dR_dp, s_dp_dB) else s_dR_dp * s_dp_dB,
        "tau": 0,
    }
    return logs, R, R_full, c, chain


def _grid_sign(full_log, var, n: int = 40):
    """Sign of ``d full_log / d var`` on a dense in-domain grid (others at :data:`PAPER`)."""
    import sympy as sp

    from . import symbols as y

    d = sp.diff(full_log, var)
    args = (y.C, y.tau, y.B, y.T, y.delta, y.S, y.N_ref, y.G, y.beta)
    fn = sp.lambdify(args, d, modules="numpy")
    Cg = np.unique(np.round(np.geomspace(2, 1e5, n)))
    tg = np.geomspace(0.05, 10.0, n)
    Bg = np.unique(np.round(np.geomspace(2, 65536, n)))
    C_, t_, B_ = np.meshgrid(Cg, tg, Bg, indexing="ij")
    P = PAPER
    inside = (1 / C_ + eps(B_, P["delta"], P["T"]) < 1) & (C_ <= P["N_ref"])
    with np.errstate(all="ignore"):
        val = np.broadcast_to(fn(C_, t_, B_, P["T"], P["delta"], P["S"], P["N_ref"], P["G"],
                                 P["beta"]), C_.shape)[inside]
    val = val[np.isfinite(val)]
    npos, nneg = int((val > 0).sum()), int((val < 0).sum())
    sign = 1 if nneg == 0 and npos else (-1 if npos == 0 and nneg else None)
    return sign, npos, nneg, int(val.size)


@functools.cache
def derivative_signs() -> list[dict]:
    """Sign of ``d bound / d x`` for ``x`` in ``C``, ``tau``, ``B`` (``S``, ``T`` fixed).

    Returns:
        list of dicts ``{bound, var, sign (+1/-1/0/None), method, detail}``; ``method`` is
        ``"symbolic"`` when sympy decided it, ``"grid"`` otherwise (``detail`` then gives
        the point counts; ``sign`` None means it changes sign on the grid).
    """
    import sympy as sp

    from . import symbols as y

    logs, R, R_full, c, chain = _structured()
    out = []
    for name, (lf, uses_R) in logs.items():
        full = lf.subs(R, R_full).subs(y.pi_max, 1 / y.C) if uses_R else lf
        for var in (y.C, y.tau, y.B):
            if var not in full.free_symbols:
                continue
            direct = sp.diff(lf, var).subs(y.C, 1 + c)
            s_direct = _symbolic_sign(direct)
            if uses_R and chain[str(var)] != 0:
                s_R = _symbolic_sign(sp.diff(lf, R).subs(y.C, 1 + c))
                s_chain = None if None in (s_R, chain[str(var)]) else s_R * chain[str(var)]
            else:
                s_chain = 0
            sign = None
            if s_direct is not None and s_chain is not None:
                if s_direct == 0 or s_chain == 0 or s_direct == s_chain:
                    sign = s_direct or s_chain
            if sign is not None:
                detail = ("sympy, on the domain C > 1, pi_max + eps < 1"
                          + (", log(T B/delta) > 1" if str(var) == "B" and uses_R
                             or name == "eps" else ""))
                out.append({"bound": name, "var": str(var), "sign": sign,
                            "method": "symbolic", "detail": detail})
                continue
            g, npos, nneg, n = _grid_sign(full, var)
            out.append({"bound": name, "var": str(var), "sign": g, "method": "grid",
                        "detail": f"{n} in-domain grid points (C 2..1e5, tau 0.05..10, B 2.."
                                  f"65536; T, delta, S, N_ref at the paper's values): "
                                  f"{npos} positive, {nneg} negative"})
    return out


# --------------------------------------------------------------------------- limits


@functools.cache
def limits() -> list[dict]:
    """Limits of the bounds (sympy), as ``{bound, limit, value}`` with LaTeX values."""
    import sympy as sp

    from . import symbols as y
    from .registry import REGISTRY

    D = REGISTRY["Delta"].expr.subs(y.pi_max, 1 / y.C)
    th1 = REGISTRY["theorem1"].expr.subs(y.Delta, D)
    lg = REGISTRY["loss_gap_balanced"].expr
    R = sp.Symbol("R", positive=True)  # odds p/(1-p) > 0 on the domain, finite limits
    th1_R = REGISTRY["theorem1"].expr.subs(y.Delta, _delta_of_odds(R))
    rho_R = REGISTRY["rho_bound"].expr.subs({y.sim_gap: th1_R,
                                             y.K_norm: REGISTRY["K_norm_etf"].expr})
    items = [
        ("Delta", "C -> oo (the eps floor)", sp.limit(D, y.C, sp.oo)),
        ("Delta", "tau -> oo", sp.limit(REGISTRY["Delta"].expr, y.tau, sp.oo)),
        ("eps", "B -> oo (T fixed)", sp.limit(REGISTRY["eps"].expr, y.B, sp.oo)),
        ("theorem1", "C -> oo", sp.limit(th1, y.C, sp.oo)),
        ("theorem1", "tau -> 0+", sp.limit(th1_R, y.tau, 0, "+")),
        ("theorem1", "S -> 0+", sp.limit(REGISTRY["theorem1"].expr, y.S, 0, "+")),
        ("loss_gap_balanced", "C -> oo", sp.limit(lg, y.C, sp.oo)),
        ("loss_gap_balanced", "tau -> oo", sp.limit(lg, y.tau, sp.oo)),
        ("rho_bound (ETF normaliser; Delta tends to its floor)", "C -> oo",
         sp.limit(rho_R, y.C, sp.oo)),
    ]
    return [{"bound": b, "limit": lim, "value": sp.sstr(v), "latex": sp.latex(v)}
            for b, lim, v in items]


# --------------------------------------------------------------------------- batch size


def batch_size_readings(tau=0.5, C=10, Bs=(256, 512, 1024, 2048, 4096), *, B_ref=1024,
                        epochs=300, N=50000, lr=0.3, warmup_epochs=10, delta=0.05,
                        schedule="cosine", N_ref=10000) -> list[dict]:
    """Theorem 1 against ``B`` under each learning-rate rule, read two ways.

    Fixed steps: ``T = T(B_ref)`` for every ``B`` (warm-up the same fraction of ``T``);
    fixed epochs: ``T = epochs * ceil(N/B)``. With ``eta ~ B^alpha`` and ``T`` fixed,
    ``S ~ B^alpha``, the exponent ``S/(2 tau^2 B) ~ B^(alpha-1)`` and the prefactor
    ``S/(tau sqrt B) ~ B^(alpha-1/2)``; at fixed epochs ``T ~ 1/B`` lowers both powers by
    one (THEORY.md section 11 [derived]).

    Only the batch sizes of ``Bs`` that fit the setting are read (``B <= N``, at most
    ``2**53`` steps); ``N_ref`` is passed on (the corollaries need ``N_ref >= C``).

    Returns:
        one dict per (rule, reading): ``rule``, ``alpha``, ``reading``, ``B`` (list),
        ``log10_sim_gap`` (list), ``exponent`` (list), ``trend`` (increasing / decreasing /
        non-monotone in B, or why none); an empty list when no batch size fits.
    """
    from .grid import evaluate_bounds
    from .schedules import steps_from_epochs
    from .validation import MAX_INTEGER

    Bs_a = np.asarray(Bs, dtype=np.float64)
    Bs_a = Bs_a[(Bs_a <= N) & (np.asarray(steps_from_epochs(epochs, N, Bs_a)) <= MAX_INTEGER)]
    T_ref = steps_from_epochs(epochs, N, B_ref)
    if Bs_a.size == 0 or T_ref > MAX_INTEGER:
        return []
    rows = []
    for rule in LR_RULES:
        for reading in ("fixed steps", "fixed epochs"):
            kw = dict(C=C, tau=tau, B=Bs_a, epochs=epochs, N=N, lr=lr, lr_rule=rule,
                      schedule=schedule, warmup_epochs=warmup_epochs, delta=delta,
                      N_ref=N_ref)
            if reading == "fixed steps":
                kw["T"] = T_ref
            out = evaluate_bounds(**kw)
            y = out["log10_sim_gap"]
            if np.isneginf(y).all():
                trend = "bound 0 (S = 0)"
            elif not np.isfinite(y).all():  # even the logarithm beyond float range
                trend = "not defined (beyond float range)"
            else:
                dy = np.diff(y)
                trend = ("increasing" if (dy > 0).all() else "decreasing" if (dy < 0).all()
                         else "non-monotone")
            rows.append({"rule": rule, "alpha": RULE_EXPONENT[rule], "reading": reading,
                         "B": Bs_a.astype(int).tolist(), "T": out["T"].astype(int).tolist(),
                         "log10_sim_gap": y.tolist(), "exponent": out["exponent"].tolist(),
                         "trend": trend})
    return rows


# --------------------------------------------------------------------------- report


def analysis_report(C=10, tau=0.5, B=1024, *, epochs=300, N=50000, lr=0.3, T=None,
                    warmup_epochs=10, delta=0.05, schedule="cosine",
                    saturation=0.01, N_ref=10000) -> str:
    """The ``--format analysis`` text (markdown) for one setting."""
    from .schedules import steps_from_epochs

    T_eff = steps_from_epochs(epochs, N, B) if T is None else int(T)
    lines = [f"# Analysis at C={C:g}, tau={tau:g}, B={B:g}, T={T_eff}, delta={delta:g}", ""]
    lines += ["## Signs of the partial derivatives (pi_max = 1/C; S, T, delta, N_ref fixed)",
              "", "| bound | d/d | sign | method | detail |", "|---|---|---|---|---|"]
    for d in derivative_signs():
        word = _SIGN_WORD.get(d["sign"], "changes sign")
        lines.append(f"| {d['bound']} | {d['var']} | {word} | {d['method']} | {d['detail']} |")
    lines += ["", "cka_lower = (1-rho)/(1+rho) is decreasing in rho, so its signs are the "
              "opposite of rho_bound's where rho < 1 (elsewhere it is the constant 0).", ""]
    lines += ["## Limits", "", "| bound | limit | value |", "|---|---|---|"]
    for lm in limits():
        lines.append(f"| {lm['bound']} | {lm['limit']} | `{lm['value']}` |")
    with warnings.catch_warnings():  # eps >= 1 (NaN) is said in words below
        warnings.simplefilter("ignore", RuntimeWarning)
        cs = class_saturation(B, delta, T_eff, saturation)
    lines += ["", "## Class count beyond which more classes stop helping", ""]
    if math.isnan(cs):
        lines.append("eps >= 1: Delta is undefined for every C (vacuous).")
    elif math.isinf(cs):
        lines.append(f"C* = (1 + f eps)/(f eps (1 - eps)) is beyond float range for "
                     f"f = {saturation:g}: no class count of float range reaches the floor.")
    else:
        from .numeric import log_Delta

        # the ratio does not depend on tau (e^(2/tau) cancels): at tau = 1, no cancellation
        ratio = math.exp(float(log_Delta(B, 1.0, delta, T_eff, 1 / C))
                         - float(log_Delta(B, 1.0, delta, T_eff, 1e-300)))
        c_txt, c_min = (f"{cs:.1f}", str(math.ceil(cs))) if cs < 1e15 else (f"{cs:.4g}",) * 2
        within = f"{saturation:.0%}" if saturation >= 0.01 else f"a factor 1 + {saturation:.2g}"
        lines.append(
            f"C* = (1 + f eps)/(f eps (1 - eps)) = {c_txt}: for C >= {c_min} "
            f"Delta (hence Theorems 1 and 2) is within {within} of its C -> oo "
            f"floor 2 e^(2/tau) eps/(1 - eps) (f = {saturation:g}; independent of tau). "
            f"At C = {C:g}: Delta(C)/Delta(oo) = {ratio:.4f}.")
    readings = batch_size_readings(tau, C, epochs=epochs, N=N, lr=lr,
                                   warmup_epochs=warmup_epochs, delta=delta,
                                   schedule=schedule, N_ref=N_ref)
    Bs = readings[0]["B"] if readings else []
    lines += ["", "## Batch-size rules: fixed steps vs fixed epochs (Theorem 1, log10)", "",
              f"tau={tau:g}, C={C:g}, lr={lr:g}, {schedule}; fixed steps uses T(B=1024).", ""]
    if not readings:
        lines.append(f"No batch size of 256, 512, 1024, 2048, 4096 fits N={N:g} (B <= N, at "
                     f"most 2**53 steps): no readings.")
    else:
        lines += ["| rule | alpha | reading | " + " | ".join(f"B={b}" for b in Bs)
                  + " | trend in B |", "|---|---|---|" + "---|" * (len(Bs) + 1)]
    for r in readings:
        cells = " | ".join(f"{v:.2f}" for v in r["log10_sim_gap"])
        lines.append(f"| {r['rule']} | {r['alpha']:g} | {r['reading']} | {cells} | "
                     f"{r['trend']} |")
    lines += ["", "With eta ~ B^alpha at fixed T: exponent S/(2 tau^2 B) ~ B^(alpha-1), "
              "prefactor S/(tau sqrt B) ~ B^(alpha-1/2); at fixed epochs (T ~ 1/B) both "
              "powers drop by one. eps and Delta decrease slowly with B in both readings."]
    return "\n".join(lines)
