"""The similarity-descent surrogate that [P2] Theorem 1 is about (THEORY.md s9).

State: a ``2N x 2N`` similarity matrix over a reference set of ``N`` samples with 2 views.
Anchor ``a`` in ``[0, 2N)`` is view ``a // N`` of sample ``a % N``; row ``a`` holds anchor
``a``'s similarities; its positive is ``p(a) = (a + N) mod 2N`` (the other view).

One step draws a batch ``S`` of ``B`` distinct samples (the same for CL and NSCL), takes its
``2B`` anchors ``A``, and minimises the mean of the per-anchor losses [P2] (THEORY.md s2, s9):

    l_a(Sigma) = -Sigma_{a,p(a)}/tau + log sum_{b in D_a} exp(Sigma_{ab}/tau)
    CL   (decoupled): D_a = {views of samples j in S, j != i(a)}
    NSCL:             D_a = {views of samples j in S, j != i(a), y_j != y_i(a)}
    L_t(Sigma) = (1/(2B)) sum_{a in A} l_a(Sigma)

Closed-form gradient [derived] (row-wise; the state's entries are independent variables):

    G_t[a, b] = (w_ab - [b = p(a)]) / (2 B tau)   for a in A,
    w_a = softmax(Sigma_{a, D_a}/tau) on D_a, 0 elsewhere,   G_t = 0 outside rows A.

Update: ``Sigma <- clip(Sigma - eta_t G_t, -1, 1)``. The diagonal is never in a denominator
nor a positive, so it stays at its initial value 1. Every step records the measured gap
``||Sigma^CL - Sigma^NSCL||_F``, Theorem 1 ([P2], THEORY.md s6), the exact recurrence (s5),
the one-run certificate (s9, in THEORY's form and in the improved non-expansive form of
:mod:`empirics.certificate`), and the realised same-class fraction against ``pi_max + eps``.

Run ``python -m empirics.surrogate --help`` for the command line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from cl_nscl_align.cli import ArgumentParser
from empirics.certificate import (
    certificate_path,
    lipschitz_anchor,
    lipschitz_box,
    lipschitz_theory,
    rowwise_certificate_step,
    step_expansion,
)

__all__ = [
    "SurrogateConfig",
    "SurrogateResult",
    "batch_masks",
    "anchor_gradient",
    "batch_gradient",
    "batch_loss",
    "initial_state",
    "make_labels",
    "make_batches",
    "state_alignment",
    "simulate",
    "write_run",
    "main",
]

BACKENDS = ("numpy", "torch")
INITS = ("features", "identity")
OBJECTIVES = ("cl", "nscl")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurrogateConfig:
    """One surrogate run (both CL and NSCL, same batches). Every field is validated."""

    C: int = 10  # number of classes; labels are balanced, y_i = i mod C, then shuffled
    N: int = 256  # reference samples; the state is 2N x 2N
    B: int = 32  # batch size (samples); the batch has 2B anchors
    tau: float = 1.0  # temperature
    steps: int = 200  # T, total number of steps
    lr: float = 64.0  # base learning rate eta (state units; see docs/surrogate.md)
    schedule: str = "constant"  # "constant" | "cosine" (bounds.schedules.schedule)
    warmup_steps: int = 0  # linear warm-up steps of the schedule
    seed: int = 0  # root seed: labels, initial features, batch order
    init: str = "features"  # "features": cosines of random features; "identity": Sigma_0 = I
    init_dim: int = 32  # feature dimension for init="features"
    init_view_noise: float = 0.5  # augmentation noise between a sample's two views
    init_class_signal: float = 0.0  # class-mean strength in the initial features
    positive_in_denominator: bool = False  # NT-Xent-style variant for both objectives
    delta: float = 0.05  # failure probability of the theorem's event
    pi_max: float | None = None  # None: the realised largest class prior of the N labels
    backend: str = "numpy"  # "numpy" | "torch"
    device: str = "cpu"  # torch device (backend="torch" only)
    eval_every: int = 0  # CKA / rho on the states every this many steps (0: T // 10, >= 1)

    def __post_init__(self) -> None:
        ints = {"C": self.C, "N": self.N, "B": self.B, "steps": self.steps,
                "warmup_steps": self.warmup_steps, "seed": self.seed,
                "init_dim": self.init_dim, "eval_every": self.eval_every}
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Expected `{name}` to be an int, got {type(value).__name__}")
        reals = {"tau": self.tau, "lr": self.lr, "delta": self.delta,
                 "init_view_noise": self.init_view_noise,
                 "init_class_signal": self.init_class_signal}
        if self.pi_max is not None:
            reals["pi_max"] = self.pi_max
        for name, value in reals.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                 np.floating)):
                raise TypeError(f"Expected `{name}` to be a real number, got "
                                f"{type(value).__name__}")
            if not math.isfinite(value):
                raise ValueError(f"Expected `{name}` to be finite, got {value!r}")
        if self.C < 2:
            raise ValueError(f"Expected `C` >= 2, got {self.C!r}")
        if self.N < self.C:
            raise ValueError(f"Expected `N` >= `C` = {self.C}, got {self.N!r}")
        if not 2 <= self.B <= self.N:
            raise ValueError(f"Expected 2 <= `B` <= `N` = {self.N}, got {self.B!r}")
        if self.tau <= 0:
            raise ValueError(f"Expected `tau` > 0, got {self.tau!r}")
        if self.steps < 1:
            raise ValueError(f"Expected `steps` >= 1, got {self.steps!r}")
        if self.lr <= 0:
            raise ValueError(f"Expected `lr` > 0, got {self.lr!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"Expected `schedule` in ('constant', 'cosine'), got "
                             f"{self.schedule!r}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"Expected 0 <= `warmup_steps` < `steps` = {self.steps}, got "
                             f"{self.warmup_steps!r}")
        if self.seed < 0:
            raise ValueError(f"Expected `seed` >= 0, got {self.seed!r}")
        if self.init not in INITS:
            raise ValueError(f"Expected `init` in {INITS}, got {self.init!r}")
        if self.init_dim < 1:
            raise ValueError(f"Expected `init_dim` >= 1, got {self.init_dim!r}")
        if self.init_view_noise < 0:
            raise ValueError(f"Expected `init_view_noise` >= 0, got {self.init_view_noise!r}")
        if self.init_class_signal < 0:
            raise ValueError(f"Expected `init_class_signal` >= 0, got "
                             f"{self.init_class_signal!r}")
        if not 0 < self.delta < 1:
            raise ValueError(f"Expected 0 < `delta` < 1, got {self.delta!r}")
        if self.pi_max is not None and not 0 < self.pi_max <= 1:
            raise ValueError(f"Expected 0 < `pi_max` <= 1, got {self.pi_max!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"Expected `backend` in {BACKENDS}, got {self.backend!r}")
        if not isinstance(self.device, str):
            raise TypeError(f"Expected `device` to be a str, got {type(self.device).__name__}")
        if self.eval_every < 0:
            raise ValueError(f"Expected `eval_every` >= 0, got {self.eval_every!r}")

    @classmethod
    def from_dict(cls, d: dict) -> SurrogateConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"Expected keys of SurrogateConfig, got unknown {unknown!r}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def eval_interval(self) -> int:
        return self.eval_every if self.eval_every > 0 else max(1, self.steps // 10)


# --------------------------------------------------------------------------------------------
# Backend helpers (numpy or torch; the formulas are written once)
# --------------------------------------------------------------------------------------------


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _row_max(x):
    return x.amax(dim=1, keepdim=True) if _is_torch(x) else x.max(axis=1, keepdims=True)


def _row_sum(x):
    return x.sum(dim=1, keepdim=True) if _is_torch(x) else x.sum(axis=1, keepdims=True)


def _exp(x):
    if _is_torch(x):
        import torch

        return torch.exp(x)
    return np.exp(x)


def _where(c, a, b):
    if _is_torch(a):
        import torch

        return torch.where(c, a, b)
    return np.where(c, a, b)


def _clip(x):
    if _is_torch(x):
        import torch

        return torch.clamp(x, -1.0, 1.0)
    return np.clip(x, -1.0, 1.0)


def _sqnorm(x) -> float:
    return float((x * x).sum())


def _to_numpy(x) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _like(ref, x, dtype=None):
    """``x`` (numpy) as an array of ``ref``'s backend and device."""
    if _is_torch(ref):
        import torch

        return torch.as_tensor(np.asarray(x), device=ref.device,
                               dtype=dtype if dtype is not None else None)
    return np.asarray(x)


# --------------------------------------------------------------------------------------------
# Masks, gradient, loss
# --------------------------------------------------------------------------------------------


def _check_batch(batch, N: int) -> np.ndarray:
    batch = np.asarray(batch)
    if batch.ndim != 1 or batch.size < 2 or not np.issubdtype(batch.dtype, np.integer):
        raise ValueError(f"Expected `batch` to be a 1-D integer array of >= 2 sample ids, got "
                         f"shape {batch.shape} dtype {batch.dtype}")
    if batch.min() < 0 or batch.max() >= N or np.unique(batch).size != batch.size:
        raise ValueError(f"Expected `batch` to hold distinct sample ids in [0, {N}), got "
                         f"{batch.tolist()!r}")
    return batch


def batch_masks(batch, labels, *, positive_in_denominator: bool = False) -> dict:
    """Masks over the batch's ``2B x 2B`` anchor block (THEORY.md s2, s9).

    Block rows/columns are the anchors ``A = [S, S + N]`` (view 0 of the batch, then view 1).

    Args:
        batch: ``(B,)`` distinct sample ids.
        labels: ``(N,)`` integer class labels.
        positive_in_denominator: NT-Xent-style variant (positive added to both denominators).

    Returns:
        dict of numpy bool arrays ``(2B, 2B)``: ``pos`` (the positive ``p(a)``), ``cl`` and
        ``nscl`` (the denominators ``D_a``), and ``same_class_negative`` (in CL's, not
        NSCL's); plus ``q`` ``(B,)``: each sample's same-class fraction among its ``B - 1``
        batch negatives.

    >>> m = batch_masks(np.array([0, 1, 2]), np.array([0, 0, 1]))
    >>> m["cl"].sum(1).tolist(), m["nscl"].sum(1).tolist()
    ([4, 4, 4, 4, 4, 4], [2, 2, 4, 2, 2, 4])
    """
    labels = np.asarray(labels)
    batch = _check_batch(batch, labels.shape[0])
    B = batch.size
    s = np.concatenate([batch, batch])  # sample id of each block anchor
    y = labels[s]
    same_sample = s[:, None] == s[None, :]
    pos = same_sample & ~np.eye(2 * B, dtype=bool)
    neg = ~same_sample  # CL: every view of every other batch sample
    diff_class = y[:, None] != y[None, :]
    cl = neg | pos if positive_in_denominator else neg
    # NSCL: drop same-class samples from the denominator.
    nscl = (neg & diff_class) | pos if positive_in_denominator else neg & diff_class
    yb = labels[batch]
    q = ((yb[:, None] == yb[None, :]).sum(1) - 1) / (B - 1)
    return {"pos": pos, "cl": cl, "nscl": nscl, "same_class_negative": neg & ~diff_class,
            "q": q}


def anchor_gradient(block, den, pos, tau: float):
    """Closed-form gradient of the mean per-anchor loss w.r.t. the anchor block [derived].

    ``G[a, b] = (w_ab - [b = p(a)]) / (R tau)`` with ``R`` the number of rows (``2B``) and
    ``w_a = softmax(block[a, den_a]/tau)`` (0 outside ``den_a``; a row with an empty
    denominator gets ``w_a = 0``, i.e. only its positive term, see docs/surrogate.md).

    Args:
        block: ``(R, R)`` similarities (numpy or torch), rows = anchors.
        den: ``(R, R)`` bool denominator mask (same backend as ``block``).
        pos: ``(R, R)`` bool positive mask.
        tau: temperature.

    Returns:
        ``(R, R)`` gradient, same backend and dtype as ``block``.
    """
    R = block.shape[0]
    x = block / tau
    neg_inf = _like(x, np.array(-np.inf), dtype=x.dtype)
    xm = _where(den, x, neg_inf)
    m = _row_max(xm)
    m = _where(m == neg_inf, x[:, :1] * 0, m)  # empty rows: any finite shift
    e = _where(den, _exp(xm - m), x * 0)
    Z = _row_sum(e)
    w = e / _where(Z > 0, Z, Z * 0 + 1)
    return (w - pos.to(x.dtype) if _is_torch(x) else w - pos) / (R * tau)


def _backend_masks(ref, masks: dict) -> dict:
    return {k: _like(ref, v) for k, v in masks.items() if k != "q"}


def batch_gradient(Sigma, batch, labels, tau: float, *, objective: str = "cl",
                   positive_in_denominator: bool = False):
    """``G_t``: gradient of the batch loss w.r.t. the full ``2N x 2N`` state (THEORY.md s9).

    Zero outside the batch rows (and outside the batch anchors' columns). See
    :func:`anchor_gradient` for the closed form.

    Args:
        Sigma: ``(2N, 2N)`` state (numpy or torch).
        batch: ``(B,)`` distinct sample ids.
        labels: ``(N,)`` integer labels.
        tau: temperature > 0.
        objective: ``"cl"`` or ``"nscl"``.

    Raises:
        ValueError: wrong shapes, objective or ``tau``.
    """
    A, masks = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    Ab = _like(Sigma, A)
    idx = (Ab[:, None], Ab[None, :])
    bm = _backend_masks(Sigma, masks)
    g = anchor_gradient(Sigma[idx], bm[objective], bm["pos"], tau)
    G = Sigma * 0
    G[idx] = g
    return G


def batch_loss(Sigma, batch, labels, tau: float, *, objective: str = "cl",
               positive_in_denominator: bool = False):
    """Mean per-anchor loss of the batch's ``2B`` anchors on the state (THEORY.md s2, s9).

    ``(1/(2B)) sum_a [-Sigma_{a,p(a)}/tau + logsumexp_{b in D_a} Sigma_ab/tau]``; a row with
    an empty denominator contributes only its positive term. Works with torch autograd.
    """
    A, masks = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    Ab = _like(Sigma, A)
    block = Sigma[(Ab[:, None], Ab[None, :])]
    bm = _backend_masks(Sigma, masks)
    x = block / tau
    den = bm[objective]
    neg_inf = _like(x, np.array(-np.inf), dtype=x.dtype)
    xm = _where(den, x, neg_inf)
    m = _row_max(xm)
    m = _where(m == neg_inf, x[:, :1] * 0, m)
    Z = _row_sum(_where(den, _exp(xm - m), x * 0))
    has = Z > 0
    lse = _where(has, m + _log(_where(has, Z, Z * 0 + 1)), Z * 0)
    pos_term = _row_sum(_where(bm["pos"], x, x * 0))
    return (lse - pos_term).mean()


def _log(x):
    if _is_torch(x):
        import torch

        return torch.log(x)
    return np.log(x)


def _prepare(Sigma, batch, labels, tau, objective, pid):
    if objective not in OBJECTIVES:
        raise ValueError(f"Expected `objective` in {OBJECTIVES}, got {objective!r}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
        raise ValueError(f"Expected `tau` > 0, got {tau!r}")
    labels = np.asarray(labels)
    N = labels.shape[0]
    if tuple(Sigma.shape) != (2 * N, 2 * N):
        raise ValueError(f"Expected `Sigma` of shape ({2 * N}, {2 * N}) for {N} labels, got "
                         f"{tuple(Sigma.shape)}")
    batch = _check_batch(batch, N)
    masks = batch_masks(batch, labels, positive_in_denominator=pid)
    return np.concatenate([batch, batch + N]), masks


# --------------------------------------------------------------------------------------------
# Labels, initial state, batches
# --------------------------------------------------------------------------------------------


def make_labels(N: int, C: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced labels ``y_i = i mod C``, shuffled by ``rng``: class sizes differ by <= 1."""
    return rng.permutation(np.arange(N) % C)


def initial_state(config: SurrogateConfig, labels: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """``Sigma_0`` (float64, ``2N x 2N``, diagonal 1), identical for the CL and NSCL runs.

    - ``init="features"``: cosines of ``z_i^l = c_{y_i} * s + u_i + n * xi_i^l`` with
      ``u, xi, c ~ N(0, I_d / d)``, ``s = init_class_signal``, ``n = init_view_noise``
      (a random encoder at initialisation: positives correlate, classes optionally cluster).
    - ``init="identity"``: ``Sigma_0 = I`` (all off-diagonal similarities 0).
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

    ``K = H S H``; ``cka = <K1, K2>_F / (||K1||_F ||K2||_F)``; ``rho = ||K1 - K2||_F / ||K1||_F``
    (normalised by the first argument, the CL state); ``sim_gap = ||S1 - S2||_F``.
    """
    S1 = np.asarray(_to_numpy(S1), dtype=np.float64)
    S2 = np.asarray(_to_numpy(S2), dtype=np.float64)

    def centre(S):
        S = S - S.mean(axis=0, keepdims=True)
        return S - S.mean(axis=1, keepdims=True)

    K1, K2 = centre(S1), centre(S2)
    # plain reductions, not BLAS: no thread start-up cost on small matrices
    n1, n2 = math.sqrt(_sqnorm(K1)), math.sqrt(_sqnorm(K2))
    if n1 == 0 or n2 == 0:
        warnings.warn("state_alignment: a centred state is zero; CKA and rho are NaN",
                      RuntimeWarning, stacklevel=2)
        cka = rho = float("nan")
    else:
        cka = float((K1 * K2).sum() / (n1 * n2))
        rho = math.sqrt(_sqnorm(K1 - K2)) / n1
    return {"cka": cka, "rho": rho, "sim_gap": math.sqrt(_sqnorm(S1 - S2))}


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass
class SurrogateResult:
    """Per-step records of one surrogate run. Arrays indexed by step ``t = 0..T`` (after ``t``
    updates) unless noted; per-update arrays have length ``T``."""

    config: SurrogateConfig
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
    sigma_cl: np.ndarray  # final states
    sigma_nscl: np.ndarray

    @property
    def T(self) -> int:
        return int(self.eta.size)

    @property
    def event_held_step(self) -> np.ndarray:
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
            if np.any(np.isfinite(self.contraction)) else None,
            "contraction_max": _json_float(float(np.nanmax(self.contraction)))
            if np.any(np.isfinite(self.contraction)) else None,
        }


def _json_float(x: float):
    return float(x) if math.isfinite(x) else None


def _hessian_top_eigenvalue(block, den, tau: float, iters: int = 30) -> float:
    """Largest eigenvalue of the batch loss's Hessian at ``block`` (power iteration, numpy).

    Hessian-vector product per row: ``(w * v - w (w . v)) / (R tau^2)`` [derived].
    """
    block = np.asarray(block, dtype=np.float64)
    R = block.shape[0]
    x = np.where(den, block / tau, -np.inf)
    m = x.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(den, np.exp(x - m), 0.0)
    Z = e.sum(1, keepdims=True)
    w = e / np.where(Z > 0, Z, 1.0)
    v = np.where(den, np.random.default_rng(0).standard_normal(block.shape), 0.0)
    lam = 0.0
    for _ in range(iters):
        nv = math.sqrt(_sqnorm(v))
        if nv == 0:
            return 0.0
        v = v / nv
        hv = (w * v - w * (w * v).sum(1, keepdims=True)) / (R * tau * tau)
        lam = float((v * hv).sum())
        v = hv
    return lam


def simulate(config: SurrogateConfig, *, progress: bool = False, eta=None) -> SurrogateResult:
    """Run CL and NSCL surrogates in lockstep and record every bound (THEORY.md s5, s6, s9).

    Args:
        config: the run.
        progress: tqdm bar on stderr.
        eta: optional explicit ``(T,)`` learning-rate array overriding ``config.schedule``.

    Returns:
        :class:`SurrogateResult`.
    """
    import bounds  # pure numpy; imported lazily so `empirics.surrogate --help` stays fast

    c = config
    T, N, B, tau = c.steps, c.N, c.B, c.tau
    root = np.random.SeedSequence(c.seed)
    rng_labels, rng_init, rng_batch = (np.random.default_rng(s) for s in root.spawn(3))
    labels = make_labels(N, c.C, rng_labels)
    S0 = initial_state(c, labels, rng_init)
    batches = make_batches(N, B, T, rng_batch)

    if eta is None:
        eta = np.asarray(bounds.schedules.schedule(c.schedule, c.lr, T, c.warmup_steps),
                         dtype=np.float64)
    else:
        eta = np.asarray(eta, dtype=np.float64)
        if eta.shape != (T,) or not np.all(np.isfinite(eta)) or np.any(eta < 0):
            raise ValueError(f"Expected `eta` of shape ({T},), finite and >= 0, got shape "
                             f"{eta.shape}")
    sum_eta = np.concatenate([[0.0], np.cumsum(eta)])

    pi_max = float(c.pi_max) if c.pi_max is not None else float(
        np.bincount(labels, minlength=c.C).max() / N)
    eps = float(bounds.eps(B, c.delta, T))
    Delta = float(bounds.Delta(B, tau, c.delta, T, pi_max))
    q_bound = pi_max + eps

    if c.backend == "torch":
        import torch

        S_cl = torch.as_tensor(S0, dtype=torch.float64, device=c.device)
    else:
        S_cl = S0.copy()
    S_ns = S_cl.clone() if c.backend == "torch" else S_cl.copy()

    drive = np.empty(T)
    mismatch = np.empty(T)
    contraction = np.empty(T)
    n_den = 2 * (B - 1) + (1 if c.positive_in_denominator else 0)  # CL's denominator size
    kappa = step_expansion(eta, tau, B, lipschitz_box(tau, B, n_den))
    r_rows = np.zeros(2 * N)  # row-wise certificate state
    cert = np.zeros(T + 1)
    q_max = np.empty(T)
    measured = np.zeros(T + 1)
    eval_steps, ckas, rhos = [], [], []
    lip = 0.0
    every = c.eval_interval
    d2 = 0.0

    def record_eval(t):
        a = state_alignment(S_cl, S_ns)
        eval_steps.append(t)
        ckas.append(a["cka"])
        rhos.append(a["rho"])
        return a["sim_gap"] ** 2

    record_eval(0)
    hessian_steps = {1, max(1, T // 2), T}
    it = range(T)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="surrogate", file=sys.stderr, disable=not sys.stderr.isatty())
    for t in it:
        batch = batches[t]
        masks = batch_masks(batch, labels, positive_in_denominator=c.positive_in_denominator)
        bm = _backend_masks(S_cl, masks)
        A = np.concatenate([batch, batch + N])
        Ab = _like(S_cl, A)
        idx = (Ab[:, None], Ab[None, :])
        b_cl, b_ns = S_cl[idx], S_ns[idx]
        g_cl = anchor_gradient(b_cl, bm["cl"], bm["pos"], tau)  # G_CL(S^CL)
        g_ns = anchor_gradient(b_ns, bm["nscl"], bm["pos"], tau)  # G_NSCL(S^NSCL)
        g_x = anchor_gradient(b_ns, bm["cl"], bm["pos"], tau)  # G_CL(S^NSCL): the one-run probe
        new_cl = _clip(b_cl - eta[t] * g_cl)
        new_ns = _clip(b_ns - eta[t] * g_ns)
        drive[t] = math.sqrt(_sqnorm(g_x - g_ns))
        phi_x = _clip(b_ns - eta[t] * g_x)  # Phi^CL(S^NSCL)
        mis = phi_x - new_ns  # Phi^CL(S^NSCL) - Phi^NSCL(S^NSCL)
        before = _sqnorm(b_cl - b_ns)
        # diagnostic (needs both runs): realised Lipschitz ratio of Phi^CL on this step
        contraction[t] = (math.sqrt(_sqnorm(new_cl - phi_x) / before) if before > 0
                          else float("nan"))
        row_m = np.sqrt(_to_numpy((mis * mis).sum(1)))
        mismatch[t] = float(np.sqrt((row_m * row_m).sum()))
        cert[t + 1] = rowwise_certificate_step(r_rows, A, float(kappa[t]), row_m)
        q_max[t] = float(masks["q"].max())
        d2 += _sqnorm(new_cl - new_ns) - before
        S_cl[idx] = new_cl
        S_ns[idx] = new_ns
        if (t + 1) % every == 0 or t + 1 == T:
            d2 = record_eval(t + 1)  # exact recomputation removes accumulated round-off
        if t + 1 in hessian_steps:  # diagnostic: largest Hessian eigenvalue at the CL state
            lip = max(lip, _hessian_top_eigenvalue(_to_numpy(new_cl), masks["cl"], tau))
        measured[t + 1] = math.sqrt(max(d2, 0.0))

    drive_bound = Delta / (tau * math.sqrt(B))
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(drive_bound):
            recurrence = np.asarray(bounds.recurrence_path(eta, tau, B, drive_bound), dtype=float)
        else:  # vacuous Delta (pi_max + eps >= 1): the recurrence bounds nothing after step 0
            recurrence = np.where(sum_eta == 0, 0.0, np.inf)
        cert_lip = np.asarray(bounds.recurrence_path(eta, tau, B, drive), dtype=float)
        theorem1 = np.asarray(bounds.theorem1(sum_eta, tau, B, Delta), dtype=float)
    theorem1 = np.where(sum_eta == 0, 0.0, theorem1)  # S = 0: no step taken, the gap is 0
    cert_global = certificate_path(mismatch, kappa)
    return SurrogateResult(
        config=c, eta=eta, sum_eta=sum_eta, measured=measured, certificate=cert,
        certificate_global=cert_global,
        certificate_lipschitz=cert_lip, recurrence=recurrence, theorem1=theorem1,
        drive=drive, step_mismatch=mismatch, kappa=kappa, contraction=contraction,
        q_max=q_max, q_bound=q_bound,
        eps=eps, Delta=Delta, pi_max=pi_max, eval_steps=np.asarray(eval_steps),
        cka=np.asarray(ckas), rho=np.asarray(rhos), lipschitz_measured=lip,
        sigma_cl=_to_numpy(S_cl).copy(), sigma_nscl=_to_numpy(S_ns).copy(),
    )


# --------------------------------------------------------------------------------------------
# Run directory and command line
# --------------------------------------------------------------------------------------------

METRIC_COLUMNS = (
    "step", "epoch", "pair", "split", "features", "eta", "sum_eta", "sim_gap", "cka", "rho",
    "certificate",
    "certificate_global", "certificate_lipschitz", "recurrence", "theorem1", "drive", "drive_bound",
    "step_mismatch", "kappa", "contraction", "q_max", "q_bound", "event_held", "eps", "Delta",
)


def metrics_rows(res: SurrogateResult) -> list[dict]:
    """One row per step ``t = 0..T`` for ``metrics.csv`` (pair ``cl-nscl``, split ``surrogate``,
    features ``state``; the trainer's leading columns, then the surrogate's bounds).

    Per-update quantities (``eta``, ``drive``, ...) of row ``t >= 1`` describe update ``t - 1``
    (the one that produced the state at step ``t``); row 0 leaves them empty.
    """
    cka = dict(zip(res.eval_steps.tolist(), res.cka.tolist(), strict=True))
    rho = dict(zip(res.eval_steps.tolist(), res.rho.tolist(), strict=True))
    held = np.concatenate([[True], np.cumprod(res.event_held_step).astype(bool)])
    rows = []
    for t in range(res.T + 1):
        u = t - 1
        rows.append({
            "step": t, "epoch": t * res.config.B / res.config.N, "pair": "cl-nscl",
            "split": "surrogate", "features": "state",
            "eta": res.eta[u] if t else None, "sum_eta": res.sum_eta[t],
            "sim_gap": res.measured[t], "cka": cka.get(t), "rho": rho.get(t),
            "certificate": res.certificate[t],
            "certificate_global": res.certificate_global[t],
            "certificate_lipschitz": res.certificate_lipschitz[t],
            "recurrence": res.recurrence[t], "theorem1": res.theorem1[t],
            "drive": res.drive[u] if t else None, "drive_bound": res.drive_bound,
            "step_mismatch": res.step_mismatch[u] if t else None,
            "kappa": res.kappa[u] if t else None,
            "contraction": res.contraction[u] if t else None, "q_max": res.q_max[u] if t else None,
            "q_bound": res.q_bound, "event_held": bool(held[t]), "eps": res.eps,
            "Delta": res.Delta,
        })
    return rows


def write_run(res: SurrogateResult, out) -> Path:
    """Write ``config.json``, ``metrics.csv``, ``bounds.json``, ``summary.json`` atomically."""
    from empirics.io import append_csv_rows, atomic_write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "config.json", {"kind": "surrogate", **res.config.to_dict()})
    metrics = out / "metrics.csv"
    if metrics.exists():  # a rerun into the same directory replaces, never appends
        metrics.unlink()
    append_csv_rows(metrics, metrics_rows(res), fieldnames=list(METRIC_COLUMNS))
    fin = res.final()
    atomic_write_json(out / "bounds.json", {
        k: fin[k] for k in ("C", "tau", "B", "T", "sum_eta", "delta", "pi_max", "eps",
                            "Delta", "theorem1", "recurrence", "log10_theorem1")})
    atomic_write_json(out / "summary.json", fin)
    return out


def _parser() -> argparse.ArgumentParser:
    d = SurrogateConfig()
    p = ArgumentParser(
        prog="python -m empirics.surrogate",
        description="Similarity-descent surrogate of [P2] Theorem 1 (THEORY.md s9): CL and "
                    "NSCL in lockstep, with the measured gap and every bound per step.")
    p.add_argument("--C", type=int, default=d.C, help="number of classes")
    p.add_argument("--N", type=int, default=d.N, help="reference samples (state 2N x 2N)")
    p.add_argument("--B", type=int, default=d.B, help="batch size (samples)")
    p.add_argument("--tau", type=float, default=d.tau, help="temperature")
    p.add_argument("--steps", type=int, default=d.steps, help="number of steps T")
    p.add_argument("--lr", type=float, default=d.lr, help="base learning rate eta")
    p.add_argument("--schedule", default=d.schedule, help="constant | cosine")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--init", default=d.init, help="features | identity")
    p.add_argument("--init-dim", type=int, default=d.init_dim)
    p.add_argument("--init-view-noise", type=float, default=d.init_view_noise)
    p.add_argument("--init-class-signal", type=float, default=d.init_class_signal)
    p.add_argument("--positive-in-denominator", action="store_true")
    p.add_argument("--delta", type=float, default=d.delta)
    p.add_argument("--pi-max", type=float, default=None)
    p.add_argument("--backend", default=d.backend, help="numpy | torch")
    p.add_argument("--device", default=d.device)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--out", default=None, help="write a run directory here")
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    kw = {k: v for k, v in vars(a).items() if k not in ("out", "format", "no_progress")}
    try:
        config = SurrogateConfig(**kw)
    except (ValueError, TypeError) as e:
        p.error(str(e))
    res = simulate(config, progress=not a.no_progress)
    if a.out is not None:
        write_run(res, a.out)
    fin = res.final()
    if a.format == "json":
        print(json.dumps(fin, indent=2))
    else:
        for k in ("C", "N", "B", "tau", "T", "sum_eta", "eps", "Delta", "event_held", "q_max",
                  "q_bound", "measured", "certificate", "certificate_global",
                  "certificate_lipschitz", "recurrence", "theorem1", "ratio_certificate",
                  "ratio_theorem1", "cka"):
            print(f"{k:>22}  {fin[k]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
