"""The surrogate's loop: CL and NSCL in lockstep, every bound recorded at every step.

:class:`Simulation` holds one run: its inputs (labels, batches, schedule), its two states,
and its records. It reads top to bottom:

    Simulation(config)      memory check; labels, batches, schedule; the bounds that are
                            functions of the schedule (Theorem 1, the recurrence)
    start()                 Sigma_0 for both runs; evaluate step 0
    advance()               one update of both runs on the same batch, and its records:
                            the realised drive and one-step mismatch along the NSCL run
                            (the one-run certificates), kappa, q_max, the measured gap
    result()                the records so far as a :class:`SurrogateResult`

Its :meth:`~Simulation.state_dict` (tensors and plain data) resumes it exactly:
:mod:`empirics.surrogate.run` checkpoints it so that a killed run resumes to the same bytes.
:func:`simulate` is the whole run in memory.

**What a run records.** :class:`SurrogateResult` holds the per-step arrays of a run (or of
its first ``t`` steps, while it runs): the measured gap beside every bound that claims to
cover it (THEORY.md s5, s6, s9). :meth:`SurrogateResult.final` is the record ``--format
json`` prints and ``summary.json`` holds (DESIGN.md: ``measured``, ``certificate``,
``recurrence``, ``theorem1``, ``event_held``, plus ratios, constants and diagnostics).

**Memory.** A run whose arrays would not fit is refused before they are allocated
(:func:`check_memory`). The state is two ``2N x 2N`` float64 matrices (CL and NSCL),
``32 N^2`` bytes each, and an evaluation (:func:`~empirics.metrics.kernels.kernel_alignment`:
the difference and the centred matrices) briefly holds about four more; the batch order and
the per-step records add ``O(T B)``. Before the states exist, ``init="features"`` draws
``2N x d`` features (``d = init_dim``): about :data:`FEATURE_ARRAYS` ``N x d`` float64
arrays and two ``2N x 2N`` matrices at that peak. :func:`estimate_bytes` takes the larger
peak plus the rest (checked against the measured peaks in the tests); :func:`check_memory`
compares the sum with a limit: ``max_memory_gib`` when given, else 80% of the memory
available when the run starts (``MemAvailable`` of ``/proc/meminfo``; elsewhere the
physical memory).

>>> round(estimate_bytes(SurrogateConfig(N=1_000_000)) / 2**40)  # TiB
204
>>> check_memory(SurrogateConfig(N=1_000_000, max_memory_gib=64.0))
Traceback (most recent call last):
...
ValueError: Expected a state that fits in memory, got `N` = 1000000, which needs about
2.09e+05 GiB (limit 64 GiB, `max_memory_gib`)
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

import bounds
from empirics import seeds
from empirics.surrogate.certificate import (
    lipschitz_anchor,
    lipschitz_box,
    lipschitz_theory,
    rowwise_certificate_step,
    step_expansion,
)
from empirics.surrogate.config import SurrogateConfig
from empirics.surrogate.dynamics import (
    anchor_gradient,
    array_masks,
    batch_masks,
    hessian_top_eigenvalue,
    initial_state,
    like,
    make_batches,
    make_labels,
    sqnorm,
    state_alignment,
    to_numpy,
    torch_device,
    xp,
)

__all__ = ["DEFAULT_FRACTION", "FEATURE_ARRAYS", "PEAK_MATRICES", "Simulation",
           "SurrogateResult", "available_bytes", "box_constant", "check_memory", "estimate_bytes",
           "progress_bar", "simulate"]


# ----------------------------------------------------------------------------- memory
GIB = 2**30
#: ``2N x 2N`` float64 matrices alive at the peak: the two states and an evaluation's
#: temporaries (measured with tracemalloc: 6.05 at N = 512, 6.01 at N = 1024), plus one
#: matrix of margin so that the estimate stays an upper bound.
PEAK_MATRICES = 7
#: ``N x d`` float64 arrays alive at the peak of ``init="features"`` (measured with
#: tracemalloc: 8.08 at N = 128, d = 8192; 8.16 at N = 64, d = 20000), plus one of margin.
FEATURE_ARRAYS = 9
#: Share of the available memory a run may take when ``max_memory_gib`` is not given.
DEFAULT_FRACTION = 0.8


def _state_bytes(config) -> int:
    """The run's peak: the two states and an evaluation's temporaries."""
    return PEAK_MATRICES * (2 * config.N) ** 2 * 8


def _feature_bytes(config) -> int:
    """The peak of ``init="features"``: the features, then ``z z^T`` and its clip (0 for
    ``init="identity"``)."""
    if config.init != "features":
        return 0
    return FEATURE_ARRAYS * config.N * config.init_dim * 8 + 2 * (2 * config.N) ** 2 * 8


def estimate_bytes(config) -> int:
    """Peak bytes of a run of ``config``: the larger of the run's peak (states, evaluation)
    and the initial features' peak, plus the batches and the per-step records."""
    return max(_state_bytes(config), _feature_bytes(config)) + _step_bytes(config)


def _step_bytes(config) -> int:
    """The batch order and the per-step records."""
    N, B, T = config.N, config.B, config.steps
    batches = 3 * (T + N) * B * 8  # the permutations, stacked, and the batch array
    records = 16 * (T + 1) * 8 + 8 * (2 * N) * 8  # per-step arrays, per-row certificate
    return batches + records


def _largest_part(config) -> str:
    """The fields that decide the estimate, as the message names them."""
    parts = {f"`N` = {config.N}": _state_bytes(config),
             f"`N` = {config.N} and `init_dim` = {config.init_dim}": _feature_bytes(config),
             f"`steps` = {config.steps} (with `B` = {config.B})": _step_bytes(config)}
    return max(parts, key=parts.__getitem__)


def available_bytes() -> int | None:
    """Memory available now (``MemAvailable``), else the physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _gib(n: float) -> str:
    return f"{n / GIB:.3g}"


def check_memory(config) -> int:
    """Raise before allocating when a run of ``config`` would not fit; return its estimate.

    Raises:
        ValueError: the estimate exceeds the limit (the message names the fields that
            decide it: ``N``, ``init_dim`` or ``steps``; the GiB it needs and the limit).
    """
    need = estimate_bytes(config)
    if config.max_memory_gib is not None:
        limit, source = config.max_memory_gib * GIB, "`max_memory_gib`"
    else:
        avail = available_bytes()
        if avail is None:
            return need
        limit, source = DEFAULT_FRACTION * avail, "80% of the memory available"
    if need > limit:
        raise ValueError(f"Expected a state that fits in memory, got {_largest_part(config)}, "
                         f"which needs about {_gib(need)} GiB (limit {_gib(limit)} GiB, "
                         f"{source})")
    return need


# ----------------------------------------------------------------------------- records
def box_constant(config: SurrogateConfig) -> float:
    """``L_box`` of the run (:func:`~empirics.surrogate.certificate.lipschitz_box`) at CL's
    denominator size ``2(B - 1)`` (one more with the positive in the denominator), the
    smallest of a row: the constant of the step expansion ``kappa``."""
    n_den = 2 * (config.B - 1) + (1 if config.positive_in_denominator else 0)
    return lipschitz_box(config.tau, config.B, n_den)


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
            "lipschitz_box": box_constant(c),
            "lipschitz_measured": self.lipschitz_measured,
            "contraction_mean": _json_float(float(np.nanmean(self.contraction)))
            if finite_contraction else None,
            "contraction_max": _json_float(float(np.nanmax(self.contraction)))
            if finite_contraction else None,
        }


# ----------------------------------------------------------------------------- the loop
#: Per-step records (length T) and per-state records (length T + 1) a checkpoint carries.
_STEP_RECORDS = ("drive", "mismatch", "contraction", "q_max")
_STATE_RECORDS = ("measured", "cert", "cert_global")


class Simulation:
    """One surrogate run (both objectives), advanced one step at a time.

    Args:
        config: the run.
        eta: optional explicit ``(T,)`` learning rates overriding ``config.schedule``.

    Raises:
        TypeError: ``config`` is not a :class:`SurrogateConfig`.
        ValueError: a torch ``device`` this machine does not have
            (:func:`~empirics.surrogate.dynamics.torch_device`); a bad ``eta``; arrays that
            would not fit in memory (:func:`check_memory`);
            each checked before allocating.
    """

    def __init__(self, config: SurrogateConfig, *, eta=None) -> None:
        if not isinstance(config, SurrogateConfig):
            raise TypeError(f"Expected `config` to be a SurrogateConfig, got "
                            f"{type(config).__name__}")
        c = self.config = config
        T, N, B, tau = c.steps, c.N, c.B, c.tau
        #: Where the torch state lives (None: numpy); checked once, before anything runs.
        self.device = torch_device(c.device) if c.backend == "torch" else None
        check_memory(c)
        # Purposes labels / init / batch are the streams of SeedSequence(seed).spawn(3).
        self.labels = make_labels(N, c.C, seeds.rng(c.seed, "labels"))
        self.batches = make_batches(N, B, T, seeds.rng(c.seed, "batch"))
        if eta is None:
            eta = np.asarray(bounds.schedules.schedule(c.schedule, c.lr, T, c.warmup_steps),
                             dtype=np.float64)
        else:
            eta = np.asarray(eta, dtype=np.float64)
            if eta.shape != (T,) or not np.all(np.isfinite(eta)) or np.any(eta < 0):
                raise ValueError(f"Expected `eta` of shape ({T},), finite and >= 0, got shape "
                                 f"{eta.shape}")
        self.eta = eta
        self.sum_eta = np.concatenate([[0.0], np.cumsum(eta)])
        self.pi_max = float(c.pi_max) if c.pi_max is not None else float(
            np.bincount(self.labels, minlength=c.C).max() / N)
        self.eps = float(bounds.eps(B, c.delta, T))
        self.Delta = float(bounds.Delta(B, tau, c.delta, T, self.pi_max))
        self.q_bound = self.pi_max + self.eps
        self.kappa = step_expansion(eta, tau, B, box_constant(c))
        # Functions of the schedule alone, known before the first step.
        drive_bound = float(bounds.recurrence_drive(tau, B, self.Delta))  # Delta/(tau sqrt B)
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(drive_bound):
                self.recurrence = np.asarray(bounds.recurrence_path(eta, tau, B, drive_bound),
                                             dtype=float)
            else:  # vacuous Delta (pi_max + eps >= 1): nothing is bounded after step 0
                self.recurrence = np.where(self.sum_eta == 0, 0.0, np.inf)
            theorem1 = np.asarray(bounds.theorem1(self.sum_eta, tau, B, self.Delta), dtype=float)
        self.theorem1 = np.where(self.sum_eta == 0, 0.0, theorem1)  # S = 0: the gap is 0
        # Records, filled as the run advances (a checkpoint carries them: _STEP_RECORDS,
        # _STATE_RECORDS).
        self.drive = np.empty(T)  # ||G_CL(S^NSCL_t) - G_NSCL(S^NSCL_t)||_F
        self.mismatch = np.empty(T)  # ||Phi^CL(S^NSCL_t) - Phi^NSCL(S^NSCL_t)||_F
        self.contraction = np.empty(T)  # diagnostic, see advance()
        self.q_max = np.empty(T)  # largest realised same-class fraction of batch t
        self.measured = np.zeros(T + 1)  # ||S^CL_t - S^NSCL_t||_F
        self.cert = np.zeros(T + 1)  # row-wise certificate
        self.cert_global = np.zeros(T + 1)  # one-norm certificate (certificate_path)
        self.rows = np.zeros(2 * N)  # the row-wise certificate's per-row bounds
        self.eval_steps: list[int] = []
        self.cka: list[float] = []
        self.rho: list[float] = []
        self.lip = 0.0  # largest Hessian eigenvalue found
        self.d2 = 0.0  # squared measured gap, updated on the block between evaluations
        self.t = 0  # updates done
        self.S_cl = self.S_ns = None
        self.hessian_steps = {1, max(1, T // 2), T}

    @property
    def T(self) -> int:
        return self.config.steps

    def is_eval_step(self, t: int) -> bool:
        """Step ``t`` evaluates CKA and rho (and recomputes the gap exactly)."""
        return t % self.config.eval_interval == 0 or t == self.T

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """``Sigma_0`` for both runs, and the evaluation of step 0."""
        c = self.config
        S0 = initial_state(c, self.labels, seeds.rng(c.seed, "init"))
        if c.backend == "torch":
            import torch

            S0 = torch.as_tensor(S0, dtype=torch.float64, device=self.device)
        self.S_cl = S0
        self.S_ns = S0.clone() if c.backend == "torch" else S0.copy()
        self._evaluate(0)

    def _evaluate(self, t: int) -> None:
        a = state_alignment(self.S_cl, self.S_ns)
        self.eval_steps.append(t)
        self.cka.append(a["cka"])
        self.rho.append(a["rho"])
        self.d2 = a["sim_gap"] ** 2  # exact recomputation removes accumulated round-off

    def advance(self) -> None:
        """Update both runs on batch ``t`` and record step ``t + 1`` (THEORY.md s5, s9)."""
        if self.S_cl is None:
            raise RuntimeError("Expected start() or load_state_dict() before advance()")
        if self.t >= self.T:
            raise RuntimeError(f"Expected a step < T = {self.T}, got the run done")
        t, c, N, tau, eta = self.t, self.config, self.config.N, self.config.tau, self.eta
        batch = self.batches[t]
        masks = batch_masks(batch, self.labels, positive_in_denominator=c.positive_in_denominator)
        bm = array_masks(self.S_cl, masks)
        lib = xp(self.S_cl)
        A = np.concatenate([batch, batch + N])
        Ab = like(self.S_cl, A)
        idx = (Ab[:, None], Ab[None, :])
        b_cl, b_ns = self.S_cl[idx], self.S_ns[idx]
        g_cl = anchor_gradient(b_cl, bm["cl"], bm["pos"], tau)  # G_CL(S^CL)
        g_ns = anchor_gradient(b_ns, bm["nscl"], bm["pos"], tau)  # G_NSCL(S^NSCL)
        g_x = anchor_gradient(b_ns, bm["cl"], bm["pos"], tau)  # G_CL(S^NSCL): the one-run probe
        new_cl = lib.clip(b_cl - eta[t] * g_cl, -1.0, 1.0)
        new_ns = lib.clip(b_ns - eta[t] * g_ns, -1.0, 1.0)
        self.drive[t] = math.sqrt(sqnorm(g_x - g_ns))
        phi_x = lib.clip(b_ns - eta[t] * g_x, -1.0, 1.0)  # Phi^CL(S^NSCL)
        mis = phi_x - new_ns  # Phi^CL(S^NSCL) - Phi^NSCL(S^NSCL)
        before = sqnorm(b_cl - b_ns)
        # diagnostic (needs both runs): realised Lipschitz ratio of Phi^CL on this step
        self.contraction[t] = (math.sqrt(sqnorm(new_cl - phi_x) / before) if before > 0
                               else float("nan"))
        row_m = np.sqrt(to_numpy((mis * mis).sum(1)))
        self.mismatch[t] = float(np.sqrt((row_m * row_m).sum()))
        kappa = float(self.kappa[t])
        self.cert[t + 1] = rowwise_certificate_step(self.rows, A, kappa, row_m)
        # certificate_path one step at a time: c_{t+1} = kappa_t c_t + m_t
        self.cert_global[t + 1] = kappa * self.cert_global[t] + self.mismatch[t]
        self.q_max[t] = float(masks["q"].max())
        self.d2 += sqnorm(new_cl - new_ns) - before
        self.S_cl[idx] = new_cl
        self.S_ns[idx] = new_ns
        self.t = t + 1
        if self.is_eval_step(self.t):
            self._evaluate(self.t)
        if self.t in self.hessian_steps:  # diagnostic: largest Hessian eigenvalue, CL state
            self.lip = max(self.lip, hessian_top_eigenvalue(to_numpy(new_cl), masks["cl"], tau))
        self.measured[self.t] = math.sqrt(max(self.d2, 0.0))

    def result(self, *, states: bool = True) -> SurrogateResult:
        """The records of steps ``0..t`` (``states``: with copies of the two states)."""
        t, c = self.t, self.config
        if t:  # THEORY.md s9's certificate: the recurrence with the realised drive
            with np.errstate(over="ignore", invalid="ignore"):
                cert_lip = np.asarray(bounds.recurrence_path(self.eta[:t], c.tau, c.B,
                                                             self.drive[:t]), dtype=float)
        else:
            cert_lip = np.zeros(1)
        keep = states and self.S_cl is not None
        return SurrogateResult(
            config=c, eta=self.eta[:t], sum_eta=self.sum_eta[:t + 1],
            measured=self.measured[:t + 1], certificate=self.cert[:t + 1],
            certificate_global=self.cert_global[:t + 1], certificate_lipschitz=cert_lip,
            recurrence=self.recurrence[:t + 1], theorem1=self.theorem1[:t + 1],
            drive=self.drive[:t], step_mismatch=self.mismatch[:t], kappa=self.kappa[:t],
            contraction=self.contraction[:t], q_max=self.q_max[:t], q_bound=self.q_bound,
            eps=self.eps, Delta=self.Delta, pi_max=self.pi_max,
            eval_steps=np.asarray(self.eval_steps), cka=np.asarray(self.cka),
            rho=np.asarray(self.rho), lipschitz_measured=self.lip,
            sigma_cl=to_numpy(self.S_cl).copy() if keep else None,
            sigma_nscl=to_numpy(self.S_ns).copy() if keep else None,
        )

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs, as tensors and plain data only (so a
        checkpoint loads with ``weights_only=True``)."""
        import torch

        t = self.t

        def tensor(a) -> torch.Tensor:
            if isinstance(a, torch.Tensor):
                return a.detach().to("cpu")
            return torch.from_numpy(np.ascontiguousarray(a))

        state: dict[str, Any] = {
            "kind": "surrogate", "step": t, "sigma_cl": tensor(self.S_cl),
            "sigma_nscl": tensor(self.S_ns), "rows": tensor(self.rows),
            "eval_steps": list(self.eval_steps), "cka": list(self.cka),
            "rho": list(self.rho), "lip": self.lip, "d2": self.d2,
        }
        for name in _STEP_RECORDS:
            state[name] = tensor(getattr(self, name)[:t])
        for name in _STATE_RECORDS:
            state[name] = tensor(getattr(self, name)[:t + 1])
        return state

    def _shapes(self, t: int) -> dict[str, tuple[int, ...]]:
        """The arrays of a checkpoint at step ``t`` and their shapes."""
        N = self.config.N
        return {"sigma_cl": (2 * N, 2 * N), "sigma_nscl": (2 * N, 2 * N), "rows": (2 * N,),
                **{k: (t,) for k in _STEP_RECORDS}, **{k: (t + 1,) for k in _STATE_RECORDS}}

    def check_state(self, state: dict[str, Any]) -> int:
        """The step of ``state`` after checking that it is a checkpoint of a run like this
        one at a step in ``[0, T]``, with every record of that step's length.

        Raises:
            ValueError: any of these does not hold (one sentence naming the step or array).
        """
        T, t = self.T, state.get("step")
        if state.get("kind") != "surrogate" or isinstance(t, bool) or not isinstance(t, int) \
                or not 0 <= t <= T:
            raise ValueError(f"Expected a surrogate checkpoint at a step in [0, {T}], got "
                             f"kind {state.get('kind')!r} at step {t!r}")
        for key, shape in self._shapes(t).items():
            got = tuple(getattr(state.get(key), "shape", ()))
            if got != shape:
                raise ValueError(f"Expected `{key}` of shape {shape} in the checkpoint of "
                                 f"step {t}, got {got}")
        return t

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """Continue from :meth:`state_dict`'s ``state``; returns its step.

        Raises:
            ValueError: ``state`` is not a checkpoint of a run with this configuration
                (:meth:`check_state`).
        """
        t = self.check_state(state)
        arrays = {k: np.asarray(state[k].numpy(), dtype=np.float64) for k in self._shapes(t)}
        if self.config.backend == "torch":
            import torch

            self.S_cl, self.S_ns = (torch.as_tensor(arrays[k], dtype=torch.float64,
                                                    device=self.device)
                                    for k in ("sigma_cl", "sigma_nscl"))
        else:
            self.S_cl, self.S_ns = arrays["sigma_cl"], arrays["sigma_nscl"]
        self.rows = arrays["rows"]
        for name in _STEP_RECORDS + _STATE_RECORDS:
            getattr(self, name)[: arrays[name].size] = arrays[name]
        self.eval_steps = [int(s) for s in state["eval_steps"]]
        self.cka = [float(v) for v in state["cka"]]
        self.rho = [float(v) for v in state["rho"]]
        self.lip, self.d2, self.t = float(state["lip"]), float(state["d2"]), t
        return t


def progress_bar(total: int, initial: int, enabled: bool):
    """A tqdm bar on stderr (only on a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="surrogate", file=sys.stderr,
                disable=not enabled or not sys.stderr.isatty())


def simulate(config: SurrogateConfig, *, progress: bool = False, eta=None) -> SurrogateResult:
    """Run CL and NSCL surrogates in lockstep and record every bound (THEORY.md s5, s6, s9).

    Args:
        config: the run.
        progress: tqdm bar on stderr.
        eta: optional explicit ``(T,)`` learning-rate array overriding ``config.schedule``.

    Returns:
        :class:`SurrogateResult` of the whole run.

    Raises:
        ValueError: a bad ``eta``, or arrays that would not fit in memory.

    >>> r = simulate(SurrogateConfig(C=3, N=12, B=4, steps=5, lr=4.0))
    >>> bool(r.measured[-1] <= r.certificate[-1]), r.T
    (True, 5)
    """
    sim = Simulation(config, eta=eta)
    sim.start()
    bar = progress_bar(sim.T, 0, progress)
    try:
        while sim.t < sim.T:
            sim.advance()
            bar.update(1)
    finally:
        bar.close()
    return sim.result()
