"""Sympy symbols of THEORY.md section 1, with the assumptions sympy may use.

Imported only when a symbolic expression is needed (``bounds.registry`` entries build their
expressions lazily), so that the numeric path never pays sympy's import time.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "B", "C", "Delta", "G", "K_norm", "N", "N_ref", "S", "T", "beta", "delta", "eta",
    "n_max", "pi_max", "rho", "r", "s", "sigma_a", "sim_gap", "t", "tau", "f",
    "C_prime", "m", "V_f", "Vt_f", "Vs_f",
]

tau = sp.Symbol("tau", positive=True)
#: Batch size; integer >= 2 (kept real-positive so that derivatives are defined).
B = sp.Symbol("B", positive=True)
C = sp.Symbol("C", positive=True)
T = sp.Symbol("T", positive=True, integer=True)
N = sp.Symbol("N", positive=True)
N_ref = sp.Symbol("N_ref", positive=True)
n_max = sp.Symbol("n_max", positive=True)
delta = sp.Symbol("delta", positive=True)
pi_max = sp.Symbol("pi_max", positive=True)
#: ``S = sum_{t<T} eta_t``, the sum of learning rates.
S = sp.Symbol("S", positive=True)
Delta = sp.Symbol("Delta", positive=True)
sim_gap = sp.Symbol("s_T", positive=True)  # the Theorem 1 bound fed into the corollaries
K_norm = sp.Symbol("K_F", positive=True)   # ||K_CL||_F
sigma_a = sp.Symbol("sigma_a", positive=True)
rho = sp.Symbol("rho", nonnegative=True)
r = sp.Symbol("r", nonnegative=True)
G = sp.Symbol("G", positive=True)
beta = sp.Symbol("beta", positive=True)
f = sp.Symbol("f", positive=True)          # saturation tolerance of the class count
eta = sp.IndexedBase("eta", positive=True)
t = sp.Symbol("t", integer=True, nonnegative=True)
s = sp.Symbol("s", integer=True, nonnegative=True)
#: [P1] Proposition 1: classes of the few-shot task, shots per class, class variabilities.
C_prime = sp.Symbol("C_prime", positive=True)
m = sp.Symbol("m", positive=True)
V_f = sp.Symbol("V_f", nonnegative=True)
Vt_f = sp.Symbol("Vt_f", nonnegative=True)
Vs_f = sp.Symbol("Vs_f", nonnegative=True)
