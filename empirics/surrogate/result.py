"""What one surrogate run records, step by step, and its final values.

:class:`SurrogateResult` holds the per-step arrays of a run (or of its first ``t`` steps,
while it runs): the measured gap beside every bound that claims to cover it (THEORY.md
s5, s6, s9). :meth:`SurrogateResult.final` is the record ``--format json`` prints and
``summary.json`` holds (DESIGN.md: ``measured``, ``certificate``, ``recurrence``,
``theorem1``, ``event_held``, plus ratios, constants and diagnostics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from empirics.surrogate.certificate import lipschitz_anchor, lipschitz_box, lipschitz_theory

__all__ = ["SurrogateResult"]


def _json_float(x: float):
    return float(x) if math.isfinite(x) else None


@dataclass
class SurrogateResult:
    """Per-step records of one surrogate run. Arrays indexed by step ``t = 0..T`` (after ``t``
    updates) unless noted; per-update arrays have length ``T``."""

    config: object  # the SurrogateConfig of the run
    eta: np.ndarray  # (T,)
    sum_eta: np.ndarray  # (T+1,)
    measured: np.ndarray  # (T+1,) ||Sigma^CL_t - Sigma^NSCL_t||_F
    certificate: np.ndarray  # (T+1,) row-wise non-expansive one-run certificate (the best)
    certificate_global: np.ndarray  # (T+1,) non-expansive one-run certificate, one norm
    certificate_lipschitz: np.ndarray  # (T+1,) THEORY s9's certificate (L = 1/(2 tau^2 B))
    recurrence: np.ndarray  # (T+1,) exact unrolled recurrence with Delta/(tau sqrt B)
    theorem1: np.ndarray  # (T+1,) Theorem 1 with S_t = sum_{s<t} eta_s, T = total steps
    drive: np.ndarray  # (T,) ||G_CL(S^NSCL_t) - G_NSCL(S^NSCL_t)||_F
    step_mismatch: np.ndarray  # (T,) ||Phi^CL(S^NSCL_t) - Phi^NSCL(S^NSCL_t)||_F
    kappa: np.ndarray  # (T,) step expansion factors
    contraction: np.ndarray  # (T,) realised ||Phi^CL(S^CL) - Phi^CL(S^NSCL)|| / ||D_t|| (block)
    q_max: np.ndarray  # (T,) largest realised same-class fraction in the batch
    q_bound: float  # pi_max + eps
    eps: float
    Delta: float
    pi_max: float
    eval_steps: np.ndarray  # steps where CKA/rho were computed
    cka: np.ndarray
    rho: np.ndarray
    lipschitz_measured: float  # largest Hessian eigenvalue found (CL state, steps 1, T/2, T)
    sigma_cl: np.ndarray | None  # final states (None in the records of a run still going)
    sigma_nscl: np.ndarray | None

    @property
    def T(self) -> int:
        """Updates recorded (the run's ``steps`` once it is done)."""
        return int(self.eta.size)

    @property
    def event_held_step(self) -> np.ndarray:
        """``(T,)``: the batch of each update met the event ``q_max <= pi_max + eps``."""
        return self.q_max <= self.q_bound

    @property
    def event_held(self) -> bool:
        return bool(np.all(self.event_held_step))

    @property
    def drive_bound(self) -> float:
        """``Delta/(tau sqrt B)``: the lemma's bound on ``drive`` (THEORY.md s5)."""
        return self.Delta / (self.config.tau * math.sqrt(self.config.B))

    def final(self) -> dict:
        """Final-step values (the ``--format json`` record, DESIGN.md)."""
        c = self.config
        m, cert = float(self.measured[-1]), float(self.certificate[-1])
        rec, th = float(self.recurrence[-1]), float(self.theorem1[-1])

        def ratio(a, b):
            return a / b if b > 0 and math.isfinite(b) else 0.0 if math.isinf(b) else None

        finite_contraction = np.any(np.isfinite(self.contraction))
        return {
            "C": c.C, "N": c.N, "B": c.B, "tau": c.tau, "T": self.T, "lr": c.lr,
            "schedule": c.schedule, "seed": c.seed, "sum_eta": float(self.sum_eta[-1]),
            "delta": c.delta, "pi_max": self.pi_max, "eps": self.eps,
            "Delta": _json_float(self.Delta),
            "measured": m, "certificate": _json_float(cert),
            "certificate_global": _json_float(float(self.certificate_global[-1])),
            "certificate_lipschitz": _json_float(float(self.certificate_lipschitz[-1])),
            "recurrence": _json_float(rec), "theorem1": _json_float(th),
            "log10_theorem1": _json_float(math.log10(th)) if th > 0 else None,
            "event_held": self.event_held, "q_max": float(self.q_max.max()),
            "q_bound": self.q_bound,
            "ratio_certificate": ratio(m, cert),
            "ratio_certificate_global": ratio(m, float(self.certificate_global[-1])),
            "ratio_certificate_lipschitz": ratio(m, float(self.certificate_lipschitz[-1])),
            "ratio_recurrence": ratio(m, rec),
            "ratio_theorem1": ratio(m, th),
            "cka": float(self.cka[-1]), "rho": float(self.rho[-1]),
            "lipschitz_anchor": lipschitz_anchor(c.tau, c.B),
            "lipschitz_theory": lipschitz_theory(c.tau, c.B),
            "lipschitz_box": lipschitz_box(c.tau, c.B, 2 * (c.B - 1)
                                           + (1 if c.positive_in_denominator else 0)),
            "lipschitz_measured": self.lipschitz_measured,
            "contraction_mean": _json_float(float(np.nanmean(self.contraction)))
            if finite_contraction else None,
            "contraction_max": _json_float(float(np.nanmax(self.contraction)))
            if finite_contraction else None,
        }
