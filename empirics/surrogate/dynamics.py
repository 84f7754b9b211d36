"""The surrogate's state and one step of it: labels, ``Sigma_0``, batches, the batch's masks,
the closed-form gradient, the batch loss and its Hessian (THEORY.md s2, s9).

Anchor ``a`` in ``[0, 2N)`` is view ``a // N`` of sample ``a % N``; its positive is
``p(a) = (a + N) mod 2N``. A batch ``S`` of ``B`` distinct samples gives the ``2B`` anchors
``A = [S, S + N]``, and the mean of their per-anchor losses ([P2], THEORY.md s2, s9):

    l_a(Sigma) = -Sigma_{a,p(a)}/tau + log sum_{b in D_a} exp(Sigma_{ab}/tau)
    CL   (decoupled): D_a = {views of samples j in S, j != i(a)}
    NSCL:             D_a = the same, restricted to y_j != y_i(a)
    L_t(Sigma) = (1/(2B)) sum_{a in A} l_a(Sigma)

Closed-form gradient [derived] (row-wise; the state's entries are independent variables):

    G_t[a, b] = (w_ab - [b = p(a)]) / (2 B tau)   for a in A,   G_t = 0 outside rows A,

with ``w_a = softmax(Sigma_{a, D_a}/tau)`` on ``D_a`` and 0 elsewhere.

**The array library.** The state lives in numpy (the default) or in torch
(``backend="torch"``, which also runs on a GPU). The formulas are written once: numpy and
torch share the names they use (``exp``, ``log``, ``where``, ``clip``, ``amax`` and ``sum``
with ``axis=``/``keepdims=``), so :func:`xp` (the module of an array) and :func:`like` (an
index or mask on the state's device) are the whole switch. It stays because torch float64
on the CPU is not bitwise numpy: the golden surrogate's summary moves by one ulp in 6 of its
numbers under ``backend="torch"`` (docs/surrogate.md; a test records it). torch is imported
only when a torch array is met, so the numpy path never pays for it.

Everything random draws from a generator it is given; :class:`~empirics.surrogate.
simulation.Simulation` derives them from the root seed with :func:`empirics.seeds.rng`
(purposes ``labels``, ``init`` and ``batch``), so a run is a pure function of its
configuration.

>>> labels = make_labels(6, 3, np.random.default_rng(0))
>>> sorted(np.bincount(labels).tolist())
[2, 2, 2]
>>> make_batches(6, 2, 4, np.random.default_rng(0)).shape
(4, 2)
>>> xp(np.eye(2)).__name__
'numpy'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from empirics.surrogate.config import DEVICE_PATTERN, OBJECTIVES

__all__ = ["anchor_gradient", "array_masks", "batch_gradient", "batch_loss", "batch_masks",
           "hessian_top_eigenvalue", "initial_state", "is_torch", "like", "make_batches",
           "make_labels", "sqnorm", "state_alignment", "to_numpy", "torch_device", "xp"]


# ----------------------------------------------------------------------------- arrays
def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch")


def xp(x: Any):
    """The array module of ``x``: ``torch`` for a tensor, else ``numpy``."""
    if is_torch(x):
        import torch

        return torch
    return np


def like(ref: Any, x: Any):
    """``x`` (numpy: indices, masks) in ``ref``'s library, on ``ref``'s device."""
    if is_torch(ref):
        import torch

        return torch.as_tensor(np.asarray(x), device=ref.device)
    return np.asarray(x)


def sqnorm(x: Any) -> float:
    """``sum(x * x)`` as a Python float (plain reductions, no BLAS start-up cost)."""
    return float((x * x).sum())


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a numpy array (a torch tensor is detached and copied to the CPU)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def torch_device(name: str):
    """The torch device ``name`` (``cpu``, ``cuda``, ``cuda:<index>``), checked to exist here.

    The config checks the spelling (:data:`~empirics.surrogate.config.DEVICE_PATTERN`);
    this checks the machine, once, before a run allocates anything, so that a bad device
    is one sentence naming ``device`` rather than torch's error from deep in a step.

    Raises:
        ValueError: not one of those spellings; ``cuda`` without a CUDA device, or an
            index at or beyond the number of CUDA devices.

    >>> torch_device("cpu")
    device(type='cpu')
    >>> torch_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: Expected `device` to be cpu, cuda or cuda:<index>, got 'tpu'
    """
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"Expected `device` to be cpu, cuda or cuda:<index>, got {name!r}")
    import torch

    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"Expected a CUDA device for `device` = {name!r}, got none "
                             "(torch.cuda.is_available() is False; use --device cpu)")
        if device.index is not None and device.index >= count:
            raise ValueError(f"Expected `device` = 'cuda:<index>' with index < {count} (the "
                             f"CUDA devices here), got {name!r}")
    return device


# ----------------------------------------------------------------------------- state
def make_labels(N: int, C: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced labels ``y_i = i mod C``, shuffled by ``rng``: class sizes differ by <= 1."""
    return rng.permutation(np.arange(N) % C)


def initial_state(config, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``Sigma_0`` (float64, ``2N x 2N``, diagonal 1), identical for the CL and NSCL runs.

    - ``init="features"``: cosines of ``z_i^l = c_{y_i} * s + u_i + n * xi_i^l`` with
      ``u, xi, c ~ N(0, I_d / d)``, ``s = init_class_signal``, ``n = init_view_noise``
      (a random encoder at initialisation: positives correlate, classes optionally cluster).
    - ``init="identity"``: ``Sigma_0 = I`` (all off-diagonal similarities 0).

    Args:
        config: a :class:`~empirics.surrogate.config.SurrogateConfig`.
        labels: ``(N,)`` class labels.
        rng: the ``init`` stream.

    Returns:
        ``(2N, 2N)`` float64; anchor ``a`` is view ``a // N`` of sample ``a % N``.
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

    :func:`empirics.metrics.kernels.kernel_alignment`: ``K = H S H``;
    ``cka = <K1, K2>_F / (||K1||_F ||K2||_F)``; ``rho = ||K1 - K2||_F / ||K1||_F``
    (normalised by the first argument, the CL state); ``sim_gap = ||S1 - S2||_F``.

    Args:
        S1, S2: ``(2N, 2N)`` states, numpy or torch (CL first).

    Returns:
        ``{"cka", "rho", "sim_gap"}``; NaN with a ``RuntimeWarning`` where a centred state
        is zero.

    >>> S = np.eye(4)
    >>> state_alignment(S, S)["cka"], state_alignment(S, S)["sim_gap"]
    (1.0, 0.0)
    """
    from empirics.metrics.kernels import kernel_alignment  # torch: only when evaluating

    return kernel_alignment(to_numpy(S1), to_numpy(S2))


# ----------------------------------------------------------------------------- one step
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

    Raises:
        ValueError: ``batch`` is not distinct sample ids of ``labels``.

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


def array_masks(ref, masks: dict) -> dict:
    """The boolean masks of :func:`batch_masks` in ``ref``'s array library (``q`` left out)."""
    return {k: like(ref, v) for k, v in masks.items() if k != "q"}


def _shifted_exp(x, den):
    """``(m, e)``: the row maxima of ``x`` over ``den`` (0 for an empty row: any finite
    shift) and ``exp(x - m)`` on ``den``, 0 elsewhere."""
    lib = xp(x)
    xm = lib.where(den, x, -np.inf)
    m = lib.amax(xm, axis=1, keepdims=True)
    m = lib.where(m == -np.inf, x[:, :1] * 0, m)
    return m, lib.where(den, lib.exp(xm - m), x * 0)


def anchor_gradient(block, den, pos, tau: float):
    """Closed-form gradient of the mean per-anchor loss w.r.t. the anchor block [derived].

    ``G[a, b] = (w_ab - [b = p(a)]) / (R tau)`` with ``R`` the number of rows (``2B``) and
    ``w_a = softmax(block[a, den_a]/tau)`` (0 outside ``den_a``; a row with an empty
    denominator gets ``w_a = 0``, i.e. only its positive term, see docs/surrogate.md).

    Args:
        block: ``(R, R)`` similarities (numpy or torch), rows = anchors.
        den: ``(R, R)`` bool denominator mask (same library as ``block``).
        pos: ``(R, R)`` bool positive mask.
        tau: temperature.

    Returns:
        ``(R, R)`` gradient, same library and dtype as ``block``.

    >>> g = anchor_gradient(np.zeros((2, 2)), np.eye(2, dtype=bool), ~np.eye(2, dtype=bool), 1.0)
    >>> g.tolist()
    [[0.5, -0.5], [-0.5, 0.5]]
    """
    lib = xp(block)
    R = block.shape[0]
    _, e = _shifted_exp(block / tau, den)
    Z = lib.sum(e, axis=1, keepdims=True)
    w = e / lib.where(Z > 0, Z, 1.0)
    return lib.where(pos, w - 1.0, w) / (R * tau)


def _prepare(Sigma, batch, labels, tau, objective, pid):
    """The batch's anchors ``A = [S, S + N]`` and its masks, in ``Sigma``'s library."""
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
    A = like(Sigma, np.concatenate([batch, batch + N]))
    return (A[:, None], A[None, :]), array_masks(Sigma, masks)


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
        positive_in_denominator: NT-Xent-style variant.

    Returns:
        ``(2N, 2N)`` gradient, same library as ``Sigma``.

    Raises:
        ValueError: wrong shapes, objective, batch or ``tau``.

    >>> G = batch_gradient(np.eye(4), [0, 1], np.array([0, 1]), 1.0)
    >>> float(G.sum()), float(G[0, 2])
    (0.0, -0.25)
    """
    idx, bm = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    G = Sigma * 0
    G[idx] = anchor_gradient(Sigma[idx], bm[objective], bm["pos"], tau)
    return G


def batch_loss(Sigma, batch, labels, tau: float, *, objective: str = "cl",
               positive_in_denominator: bool = False):
    """Mean per-anchor loss of the batch's ``2B`` anchors on the state (THEORY.md s2, s9).

    ``(1/(2B)) sum_a [-Sigma_{a,p(a)}/tau + logsumexp_{b in D_a} Sigma_ab/tau]``; a row with
    an empty denominator contributes only its positive term. Works with torch autograd.

    Args and raises: as :func:`batch_gradient`.

    Returns:
        A 0-d array (numpy) or tensor (torch).

    >>> bool(batch_loss(np.eye(4), [0, 1], np.array([0, 1]), 1.0) == np.log(2))  # 2 negatives at 0
    True
    """
    idx, bm = _prepare(Sigma, batch, labels, tau, objective, positive_in_denominator)
    lib = xp(Sigma)
    x = Sigma[idx] / tau
    m, e = _shifted_exp(x, bm[objective])
    Z = lib.sum(e, axis=1, keepdims=True)
    has = Z > 0
    lse = lib.where(has, m + lib.log(lib.where(has, Z, 1.0)), Z * 0)
    pos_term = lib.sum(lib.where(bm["pos"], x, x * 0), axis=1, keepdims=True)
    return (lse - pos_term).mean()


def hessian_top_eigenvalue(block, den, tau: float, iters: int = 30,
                           rng: np.random.Generator | None = None) -> float:
    """Largest eigenvalue of the batch loss's Hessian at ``block`` (power iteration, numpy).

    A diagnostic beside the certificate's constants (docs/surrogate.md s2): the certificate
    uses the valid upper bound ``L_box`` of :func:`~empirics.surrogate.certificate.
    lipschitz_box`; this measures how far below it the realised curvature stays. The
    Hessian is block diagonal over rows, row ``a``'s block ``(diag(w_a) - w_a w_a^T) /
    (R tau^2)`` [derived], so one Hessian-vector product costs ``O(R^2)``:

        (H v)_a = (w_a * v_a - w_a (w_a . v_a)) / (R tau^2)

    The start vector is the fixed stream ``np.random.default_rng(0)``: 30 iterations do not
    converge to the golden tolerance, so the pinned golden value (``lipschitz_measured``)
    depends on that start (a stream of :mod:`empirics.seeds` moves it by about 2e-3).

    Args:
        block: ``(R, R)`` similarities of the batch's anchors.
        den: ``(R, R)`` bool denominator mask of the objective.
        tau: temperature > 0.
        iters: power iterations.
        rng: source of the start vector (default ``np.random.default_rng(0)``).

    Returns:
        The Rayleigh quotient after ``iters`` steps (0.0 when the Hessian vanishes).

    >>> den = np.ones((4, 4), dtype=bool)
    >>> block = np.where(np.arange(4) < 2, 1.0, -1.0) * np.ones((4, 1))
    >>> round(hessian_top_eigenvalue(block, den, 0.01, iters=200), 6)  # 1/(4 tau^2 (R/2))
    1250.0
    """
    block = np.asarray(block, dtype=np.float64)
    R = block.shape[0]
    x = np.where(den, block / tau, -np.inf)
    m = x.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(den, np.exp(x - m), 0.0)
    Z = e.sum(1, keepdims=True)
    w = e / np.where(Z > 0, Z, 1.0)
    rng = np.random.default_rng(0) if rng is None else rng
    v = np.where(den, rng.standard_normal(block.shape), 0.0)
    lam = 0.0
    for _ in range(iters):
        nv = math.sqrt(sqnorm(v))
        if nv == 0:
            return 0.0
        v = v / nv
        hv = (w * v - w * (w * v).sum(1, keepdims=True)) / (R * tau * tau)
        lam = float((v * hv).sum())
        v = hv
    return lam
