"""The single registry of every bound: sympy expression, parameters, source, tag, caveats.

Each :class:`Bound` is defined once here. Its sympy expression is built lazily (sympy costs
about half a second to import, and the numeric path of ``python -m bounds.evaluate`` never
needs it). Everything else derives from the entry: the numeric twin (``entry.numeric``,
a vectorised log-space function of :mod:`bounds.numeric` checked against ``entry.expr`` at
random in-domain points by the tests), the LaTeX (``entry.latex()``), the ``--list`` and
``--format latex`` output of the CLI, ``docs/bounds.md`` (``python -m bounds.docs``), and
every value :func:`bounds.evaluate_bounds` reports (it composes the numeric twins).

Provenance tags (THEORY.md): ``stated`` -- the source states it in this form; ``derived`` --
derived here, matching the sources' constants; ``open`` -- the sources disagree or are
silent, so the choice is an option with a documented default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import normalisers as _norm
from . import numeric as _num

__all__ = ["REGISTRY", "TAGS", "Bound", "get"]

TAGS = ("stated", "derived", "open")


@dataclass(frozen=True)
class Bound:
    """One bound: ``lhs  relation  expr`` with provenance.

    Attributes:
        name: registry key (also the CLI/docs name).
        title: one line saying what it bounds.
        source: where it comes from, e.g. ``"[P2] Theorem 1"``.
        tag: ``"stated"``, ``"derived"`` or ``"open"`` (THEORY.md).
        params: the parameters of ``expr`` (symbol names of :mod:`bounds.symbols`), which
            are also the keyword arguments of ``numeric``.
        lhs: LaTeX of the bounded quantity.
        relation: ``"\\le"``, ``"\\ge"`` or ``"="``.
        caveat: what to keep in mind when reading it.
        build: zero-argument function returning the sympy expression (called lazily).
        numeric: the numpy twin, ``numeric(**params) -> float | ndarray``.
        sample: ``sample(rng) -> dict`` of a random in-domain point (for the tests).
    """

    name: str
    title: str
    source: str
    tag: str
    params: tuple[str, ...]
    lhs: str
    relation: str
    caveat: str
    build: Callable = field(repr=False)
    numeric: Callable = field(repr=False)
    sample: Callable = field(repr=False)

    @property
    def expr(self):
        """The sympy expression (built once, on first use)."""
        return _cached_expr(self.name)

    def latex(self) -> str:
        """``lhs relation expr`` in LaTeX."""
        import sympy as sp

        return f"{self.lhs} {self.relation} {sp.latex(self.expr)}"

    def symbolic_value(self, point: dict, digits: int = 30):
        """``expr`` at ``point`` evaluated with ``digits`` significant digits (mpmath)."""
        import sympy as sp

        from . import symbols as y

        expr = self.expr
        subs = {}
        for k, v in point.items():
            if k == "eta":
                vals = list(v)
                expr = expr.subs(y.T, len(vals)).doit()
                subs.update({y.eta[i]: sp.Float(float(x), digits) for i, x in enumerate(vals)})
            else:
                subs[getattr(y, k)] = sp.Float(float(v), digits)
        return expr.subs(subs).evalf(digits)


@functools.cache
def _cached_expr(name: str):
    return REGISTRY[name].build()


# ----------------------------------------------------------------------------- builders
# Each builder imports sympy lazily.


def _sp():
    import sympy as sp

    from . import symbols as y

    return sp, y


def _b_loss_paper():
    sp, y = _sp()
    return sp.log(1 + sp.exp(2 / y.tau) * y.n_max / (y.N - y.n_max))


def _b_loss_tight():
    sp, y = _sp()
    return sp.log(1 + sp.exp(2 / y.tau) * (y.n_max - 1) / (y.N - y.n_max))


def _b_loss_balanced():
    sp, y = _sp()
    return sp.log(1 + sp.exp(2 / y.tau) / (y.C - 1))


def _b_loss_balanced_linear():
    sp, y = _sp()
    return sp.exp(2 / y.tau) / (y.C - 1)


def _b_eps():
    sp, y = _sp()
    return sp.sqrt(sp.log(y.T * y.B / y.delta) / (2 * y.B))


def _b_Delta():
    sp, y = _sp()
    e = _b_eps()
    return 2 * sp.exp(2 / y.tau) * (y.pi_max + e) / (1 - y.pi_max - e)


def _b_theorem1():
    sp, y = _sp()
    return sp.exp(y.S / (2 * y.tau**2 * y.B)) * y.S / (y.tau * sp.sqrt(y.B)) * y.Delta


def _b_product():
    sp, y = _sp()
    L = 1 / (2 * y.tau**2 * y.B)
    inner = sp.Product(1 + y.eta[y.s] * L, (y.s, y.t + 1, y.T - 1))
    return y.Delta / (y.tau * sp.sqrt(y.B)) * sp.Sum(y.eta[y.t] * inner, (y.t, 0, y.T - 1))


def _b_rho():
    sp, y = _sp()
    return y.sim_gap / y.K_norm


def _b_cka():
    sp, y = _sp()
    return (1 - y.rho) / (1 + y.rho)


def _b_r_paper():
    sp, y = _sp()
    return y.sim_gap / (sp.sqrt(y.N_ref * (y.N_ref - 1) / 2) * y.sigma_a)


def _b_r_tight():
    sp, y = _sp()
    return y.sim_gap / (sp.sqrt(2) * sp.sqrt(y.N_ref * (y.N_ref - 1) / 2) * y.sigma_a)


def _b_rsa():
    sp, y = _sp()
    return (1 - y.r) / (1 + y.r)


def _b_K_etf():
    sp, y = _sp()
    return y.N_ref / sp.sqrt(y.C - 1)


def _b_sigma_etf():
    sp, y = _sp()
    p = (y.N_ref / y.C - 1) / (y.N_ref - 1)
    return y.C / (y.C - 1) * sp.sqrt(p * (1 - p))


def _b_theorem2():
    sp, y = _sp()
    return y.G / (y.beta * y.tau) * y.Delta * (sp.exp(y.beta * y.S) - 1)


def _b_fewshot():
    sp, y = _sp()
    return (y.C_prime - 1) * (8 * y.Vt_f + 8 / sp.sqrt(y.m) * y.Vs_f
                              + 8 / sp.sqrt(y.m) * y.V_f + 4 / y.m * y.V_f)


def _b_saturation():
    sp, y = _sp()
    e = _b_eps()
    return (1 + y.f * e) / (y.f * e * (1 - e))


# ----------------------------------------------------------------------------- samplers


def _logu(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _int(rng, lo, hi):
    return float(rng.integers(lo, hi + 1))


def _s_loss_nmax(rng):
    N = _int(rng, 3, 100_000)
    return {"tau": _logu(rng, 0.05, 10.0), "N": N, "n_max": _int(rng, 2, int(N) - 1)}


def _s_loss_C(rng):
    return {"tau": _logu(rng, 0.05, 10.0), "C": _int(rng, 2, 100_000)}


def _s_eps(rng):
    return {"B": _int(rng, 2, 65_536), "delta": rng.uniform(1e-4, 0.999),
            "T": _int(rng, 1, 10**6)}


def _s_Delta(rng):
    while True:
        d = _s_eps(rng)
        d.update(tau=_logu(rng, 0.05, 10.0), pi_max=rng.uniform(1e-5, 1.0))
        if d["pi_max"] + _num.eps(d["B"], d["delta"], d["T"]) < 1:
            return d


def _s_theorem1(rng):
    return {"S": _logu(rng, 1e-3, 1e3), "tau": _logu(rng, 0.1, 10.0),
            "B": _int(rng, 2, 4096), "Delta": _logu(rng, 1e-2, 1e6)}


def _s_product(rng):
    T = int(rng.integers(1, 7))
    return {"eta": rng.uniform(0.0, 2.0, size=T).tolist(), "tau": _logu(rng, 0.1, 10.0),
            "B": _int(rng, 2, 64), "Delta": _logu(rng, 1e-2, 1e3)}


def _s_rho(rng):
    return {"sim_gap": _logu(rng, 1e-3, 1e6), "K_norm": _logu(rng, 1.0, 1e5)}


def _s_ratio(rng):
    return rng.uniform(0.0, 0.999)


def _s_r(rng):
    return {"sim_gap": _logu(rng, 1e-3, 1e6), "N_ref": _int(rng, 2, 100_000),
            "sigma_a": _logu(rng, 1e-3, 2.0)}


def _s_etf(rng):
    C = _int(rng, 2, 1000)
    return {"C": C, "N_ref": _int(rng, int(C), 100_000)}


def _s_theorem2(rng):
    return {"G": _logu(rng, 1e-2, 1e2), "beta": _logu(rng, 1e-3, 10.0),
            "tau": _logu(rng, 0.05, 10.0), "Delta": _logu(rng, 1e-2, 1e6),
            "S": _logu(rng, 1e-3, 50.0)}


def _s_fewshot(rng):
    V = _logu(rng, 1e-4, 10.0)
    return {"C_prime": _int(rng, 2, 1000), "m": _int(rng, 1, 1000), "V_f": V,
            "Vt_f": V * rng.uniform(0.0, 1.0), "Vs_f": _logu(rng, 1e-5, 10.0)}


def _s_saturation(rng):
    while True:
        d = _s_eps(rng)
        d["f"] = _logu(rng, 1e-4, 1.0)
        if _num.eps(d["B"], d["delta"], d["T"]) < 1:
            return d


# ----------------------------------------------------------------------------- entries

_CAVEAT_T1 = (
    "Proved for the similarity-descent surrogate (THEORY.md section 9); [P2] Appendix D links "
    "it to SGD under a bounded-Jacobian condition. Numerically vacuous at the paper's own "
    "settings: at tau = 0.5, B = 1024, lr 0.3*B/256 with 10 warm-up epochs and cosine over "
    "300 epochs of N = 50000 (T = 14700, S = 8821.2) the exponent S/(2 tau^2 B) is 17.2 "
    "and the bound is about 1e11 (C = 100); at tau = 0.1 Delta alone is about 1e8."
)

_ENTRIES = [
    Bound("loss_gap_paper", "[P1] loss gap, any encoder, largest class n_max",
          "[P1] Theorem (loss gap)", "derived", ("tau", "n_max", "N"),
          r"L_{CL}(f) - L_{NSCL}(f)", r"\le",
          "Stated for tau = 1 (e^2); the exponent 2/tau with temperature is derived. Holds "
          "per anchor and per batch, with or without the positive in the denominator.",
          _b_loss_paper,
          lambda tau, n_max, N: _num.loss_gap_bound(tau, n_max=n_max, N=N, form="paper"),
          _s_loss_nmax),
    Bound("loss_gap_tight", "[P1] loss gap, n_max - 1 (own sample is never a negative)",
          "[P1] Theorem (loss gap), tightened", "derived", ("tau", "n_max", "N"),
          r"L_{CL}(f) - L_{NSCL}(f)", r"\le",
          "Tighter than the paper form and also valid: an anchor's own sample is never one "
          "of its negatives.",
          _b_loss_tight,
          lambda tau, n_max, N: _num.loss_gap_bound(tau, n_max=n_max, N=N, form="tight"),
          _s_loss_nmax),
    Bound("loss_gap_balanced", "[P1] loss gap, C balanced classes",
          "[P1] Theorem (loss gap), balanced classes", "derived", ("tau", "C"),
          r"L_{CL}(f) - L_{NSCL}(f)", r"\le",
          "The paper form with n_max = N/C. This is the `loss_gap` of `bounds.evaluate_bounds` "
          "and `python -m bounds.evaluate`.",
          _b_loss_balanced,
          lambda tau, C: _num.loss_gap_bound(tau, C=C, form="balanced"), _s_loss_C),
    Bound("loss_gap_balanced_linear", "[P1] loss gap, balanced, linearised",
          "[P1] Theorem (loss gap), balanced classes", "derived", ("tau", "C"),
          r"L_{CL}(f) - L_{NSCL}(f)", r"\le",
          "log(1+x) <= x: weaker than the balanced form; beyond float range for small tau.",
          _b_loss_balanced_linear,
          lambda tau, C: _num.loss_gap_bound(tau, C=C, form="balanced-linear"), _s_loss_C),
    Bound("eps", "deviation of the per-batch same-class fraction",
          "[P2] Theorem 1 (high-probability factor)", "stated", ("B", "delta", "T"),
          r"\epsilon(B, \delta)", "=",
          "The log(T B / delta) (Hoeffding plus a union bound over the T*B anchors) is "
          "derived; it decays like sqrt(log B / B).",
          _b_eps, lambda B, delta, T: _num.eps(B, delta, T), _s_eps),
    Bound("Delta", "per-anchor gradient mismatch factor",
          "[P2] Theorem 1 (Delta(B; tau))", "stated", ("B", "tau", "delta", "T", "pi_max"),
          r"\Delta(B; \tau)", "=",
          "Defined only when pi_max + eps < 1; otherwise every [P2] bound is vacuous and is "
          "reported so. pi_max vs 1/C is open: pi_max is used, default 1/C.",
          _b_Delta,
          lambda B, tau, delta, T, pi_max: _num.Delta(B, tau, delta, T, pi_max), _s_Delta),
    Bound("theorem1", "similarity matrices of CL and NSCL stay close (w.p. >= 1 - delta)",
          "[P2] Theorem 1", "stated", ("S", "tau", "B", "Delta"),
          r"\|\Sigma_T^{CL} - \Sigma_T^{NSCL}\|_F", r"\le", _CAVEAT_T1,
          _b_theorem1, lambda S, tau, B, Delta: _num.theorem1(S, tau, B, Delta),
          _s_theorem1),
    Bound("recurrence_product", "exact unrolled recurrence, arbitrary schedule eta_t",
          "[P2] Lemma (per-step mismatch), unrolled", "derived", ("eta", "tau", "B", "Delta"),
          r"\|\Sigma_T^{CL} - \Sigma_T^{NSCL}\|_F", r"\le",
          "Equals (Delta/(tau sqrt B)) (prod_t(1 + eta_t L) - 1)/L with L = 1/(2 tau^2 B); "
          "never above Theorem 1 (1 + x <= e^x and (e^x - 1)/x <= e^x). For a fixed sum S and "
          "T steps it is largest for the constant schedule (AM-GM).",
          _b_product, lambda eta, tau, B, Delta: _num.product_form(eta, tau, B, Delta),
          _s_product),
    Bound("rho_bound", "relative centred-Gram gap rho_T (Corollary 1)",
          "[P2] Corollary 1", "stated", ("sim_gap", "K_norm"),
          r"\rho_T = \frac{\|K_{CL} - K_{NSCL}\|_F}{\|K_{CL}\|_F}", r"\le",
          "Centring does not increase the Frobenius norm. s_T is the Theorem 1 bound; "
          "K_F = ||K_CL||_F is taken from the NSCL optimum, the user, or features.",
          _b_rho, lambda sim_gap, K_norm: _num.rho_bound(sim_gap, K_norm), _s_rho),
    Bound("cka_lower", "CKA lower bound from rho (Corollary 1)", "[P2] Corollary 1",
          "stated", ("rho",), r"\mathrm{CKA}_T", r"\ge",
          "Only when rho < 1; otherwise vacuous and the trivial bound 0 is reported. Holds "
          "for any two feature sets (linear CKA of row-normalised features).",
          _b_cka, lambda rho: _num.cka_lower(rho), lambda rng: {"rho": _s_ratio(rng)}),
    Bound("r_bound", "relative dissimilarity gap r_T, paper form (Corollary 2)",
          "[P2] Corollary 2", "stated", ("sim_gap", "N_ref", "sigma_a"),
          r"r_T = \frac{\|b - a\|_2}{\sqrt{M}\,\sigma_a}", r"\le",
          "M = N(N-1)/2 strictly upper-triangular entries of 1 - Sigma; sigma_a is their "
          "standard deviation. Default form of the CLI.",
          _b_r_paper,
          lambda sim_gap, N_ref, sigma_a: _num.r_bound(sim_gap, sigma_a, N_ref), _s_r),
    Bound("r_bound_tight", "relative dissimilarity gap r_T, sqrt(2)-tight form",
          "[P2] Corollary 2, tightened", "open", ("sim_gap", "N_ref", "sigma_a"),
          r"r_T = \frac{\|b - a\|_2}{\sqrt{M}\,\sigma_a}", r"\le",
          "One triangle holds half of the off-diagonal mass, so ||b - a|| <= s_T/sqrt(2); "
          "the paper's display omits the sqrt(2). Option --tight.",
          _b_r_tight,
          lambda sim_gap, N_ref, sigma_a: _num.r_bound(sim_gap, sigma_a, N_ref, tight=True),
          _s_r),
    Bound("rsa_lower", "RSA (Pearson) lower bound from r (Corollary 2)", "[P2] Corollary 2",
          "stated", ("r",), r"\mathrm{RSA}_T", r"\ge",
          "Only when r < 1; otherwise vacuous and the trivial bound -1 is reported. RSA is "
          "Pearson on the upper triangle of 1 - Sigma (not Spearman).",
          _b_rsa, lambda r: _num.rsa_lower(r), lambda rng: {"r": _s_ratio(rng)}),
    Bound("K_norm_etf", "||K||_F at the NSCL optimum (simplex ETF)",
          "THEORY.md section 10", "derived", ("N_ref", "C"), r"\|K\|_F", "=",
          "C balanced classes of N/C samples; same-class cosine 1, otherwise -1/(C-1), so "
          "Sigma is already centred.",
          _b_K_etf, lambda N_ref, C: _norm.etf_K_norm(N_ref, C), _s_etf),
    Bound("sigma_a_etf", "sigma_a at the NSCL optimum (simplex ETF)",
          "THEORY.md section 10", "derived", ("N_ref", "C"), r"\sigma_a", "=",
          "p = (n-1)/(N-1) is the fraction of same-class pairs (n = N/C); population "
          "standard deviation.",
          _b_sigma_etf, lambda N_ref, C: _norm.etf_sigma_a(N_ref, C), _s_etf),
    Bound("theorem2", "weights of CL and NSCL may drift apart", "[P2] Theorem 2", "stated",
          ("G", "beta", "tau", "Delta", "S"), r"\|w_T^{CL} - w_T^{NSCL}\|", r"\lesssim",
          "Constants open: G (a Jacobian bound of the similarities in the weights) is not "
          "defined in the sources; G and beta (smoothness) are user inputs. The growth rate "
          "beta has no 1/B factor, unlike Theorem 1.",
          _b_theorem2,
          lambda G, beta, tau, Delta, S: _num.theorem2(G, beta, tau, Delta, S), _s_theorem2),
    Bound("class_saturation", "class count C* beyond which more classes stop helping",
          "this toolkit (from [P2] Delta)", "derived", ("B", "delta", "T", "f"),
          r"C^\ast", "=",
          "The C at which Delta(C) = (1 + f) Delta(C -> oo) with pi_max = 1/C; Theorem 1 "
          "and 2 depend on C only through Delta, so beyond C* they are within a factor 1 + f "
          "of their eps floor. Independent of tau. Default f = 0.01 (--saturation).",
          _b_saturation, lambda B, delta, T, f: _num.class_saturation(B, delta, T, f),
          _s_saturation),
    Bound("fewshot_p1", "m-shot nearest-class-mean error over C' classes (Proposition 1)",
          "[P1] Proposition 1", "open", ("C_prime", "m", "V_f", "Vt_f", "Vs_f"),
          r"\mathrm{err}_{LP} \le \mathrm{err}_{NCC}^{(m)}", r"\le",
          "V_f (total) and Vt_f (directional) class variabilities averaged over ordered class "
          "pairs; the constants are from published notes. Vs_f is not defined in the "
          "sources [open]: the toolkit's default is the directional quantity estimated on "
          "the support set (option: Vt_f or V_f). An error rate is at most 1, so a value "
          "above 1 is vacuous and is reported so.",
          _b_fewshot,
          lambda C_prime, m, V_f, Vt_f, Vs_f: _num.fewshot_bound(C_prime, m, V_f, Vt_f, Vs_f),
          _s_fewshot),
]

#: name -> :class:`Bound`, in documentation order.
REGISTRY: dict[str, Bound] = {e.name: e for e in _ENTRIES}
assert all(e.tag in TAGS for e in _ENTRIES)


def get(name: str) -> Bound:
    """The registry entry ``name``; ``ValueError`` naming it if unknown."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"Expected `name` in {{{', '.join(REGISTRY)}}}, got {name!r}") from None
