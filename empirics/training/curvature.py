"""Curvature of a trained model: the similarity map, its Jacobian, the one-step remainder, the
loss Hessian ([P2] Appendix D and Theorem 2; THEORY.md s8, s13).

Theorem 1 is proved for the similarity-descent surrogate (THEORY.md s9); Appendix D of [P2]
links it to SGD on a network through the similarity map ``w -> Sigma(w)``: one step
changes the similarities by ``J_t (w_{t+1} - w_t)`` to first order, the kernel step of the
surrogate, plus a second-order remainder. These functions measure both sides on a real
model, and the two constants of Theorem 2:

- :func:`similarity_map` -- ``Sigma(w)``, the cosine-similarity matrix of the projection
  ``z`` on inputs ``x``, as a function of the parameters;
- :func:`jacobian_norm` -- ``L_Sigma = ||J(w)||_{2->2}``, by power iteration on ``J^T J``
  with Jacobian-vector and vector-Jacobian products (no explicit Jacobian);
- :func:`sgd_remainder` -- the relative second-order remainder of one step;
- :func:`hessian_top_eigenvalue` -- ``beta``, the dominant eigenvalue of the loss Hessian
  in the weights, by power iteration with Hessian-vector products;
- :func:`gradient_mismatch` -- ``||grad L_a(w) - grad L_b(w)||``, the drive of Theorem 2.

**Which matrix.** ``J`` is the Jacobian of the *full* ``N x N`` matrix ``Sigma(w)`` (both
triangles and the constant unit diagonal), so ``||J v||_2`` is the Frobenius norm of the
change ``dSigma``, the norm of THEORY.md s6 and s13. The diagonal does not move and each
off-diagonal entry appears twice: the norm of the strict upper triangle's Jacobian is
``L_Sigma / sqrt(2)``.

**Reading of G (Theorem 2, [open] in THEORY.md s8).** Theorem 2's drive compares the two
losses' weight gradients at the same weights: ``grad_w L = J^T grad_Sigma L``, so
``||grad_w L_CL - grad_w L_NSCL|| <= ||J||_{2->2} ||grad_Sigma L_CL - grad_Sigma L_NSCL||_F``
and the similarity-gradient mismatch is what ``Delta`` bounds (THEORY.md s5). With
``beta`` the smoothness of the loss in the weights this unrolls to
``(G / (beta tau)) Delta (exp(beta S) - 1)``: ``G`` is a bound on ``||J||_{2->2}`` of the
similarities a batch's loss sees. We therefore estimate ``G`` as :func:`jacobian_norm` on
a batch's ``K B`` views (largest over batches and steps), not as a gradient norm: a bound
on ``||grad_w L||`` would be a different constant that the theorem does not use.
:func:`gradient_mismatch` measures the left-hand side of that inequality directly.

Everything is computed in float64 by default (a copy of the parameters, buffers and
inputs; the model itself is not changed) and with the model in ``eval`` mode (the mode of
every evaluation of the trainer). Start vectors of the power iterations come from the seed
stream ``power`` (:mod:`empirics.seeds`), on the CPU, so a result does not depend on the
device.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn

from empirics.seeds import torch_generator

__all__ = [
    "PowerResult",
    "gradient_mismatch",
    "hessian_top_eigenvalue",
    "jacobian_norm",
    "jacobian_power",
    "parameters",
    "power_iteration",
    "sgd_remainder",
    "similarity_map",
]

Params = dict[str, torch.Tensor]


# ----------------------------------------------------------------------------- helpers
def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` to be an nn.Module, got {type(model).__name__}")


def _check_x(x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Expected `x` to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(f"Expected `x` of shape (N, ...) with N >= 2, got shape "
                         f"{tuple(x.shape)}")


def _check_iters(iters, tol) -> None:
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"Expected `iters` >= 1, got {iters!r}")
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
        raise ValueError(f"Expected `tol` >= 0, got {tol!r}")


def parameters(model: nn.Module, dtype: torch.dtype | None = torch.float64) -> Params:
    """Detached copies of ``model``'s trainable parameters, ``{name: tensor}``, in ``dtype``
    (``None`` keeps each parameter's own).

    >>> m = nn.utils.skip_init(nn.Linear, 2, 1)
    >>> sorted(parameters(m)), parameters(m)["weight"].dtype
    (['bias', 'weight'], torch.float64)
    """
    _check_model(model)
    return {k: p.detach().to(dtype=dtype or p.dtype).clone()
            for k, p in model.named_parameters() if p.requires_grad}


def _as_params(model: nn.Module, params: Mapping[str, torch.Tensor] | None, name: str,
               dtype: torch.dtype) -> Params:
    """``params`` checked against ``model``'s parameter names and shapes, cast to ``dtype``."""
    if params is None:
        return parameters(model, dtype)
    if not isinstance(params, Mapping):
        raise TypeError(f"Expected `{name}` to be a dict of tensors, got "
                        f"{type(params).__name__}")
    own = dict(model.named_parameters())
    unknown = sorted(set(params) - set(own))
    if unknown:
        raise ValueError(f"Expected `{name}` to hold parameters of `model`, got unknown "
                         f"name(s) {unknown[:5]!r}")
    out = {}
    for k, v in params.items():
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(own[k].shape):
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(f"Expected `{name}`[{k!r}] of shape {tuple(own[k].shape)}, got "
                             f"{shape}")
        out[k] = v.detach().to(device=own[k].device, dtype=dtype)
    if not out:
        raise ValueError(f"Expected at least one parameter in `{name}`, got none")
    return out


def _dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _norm(a: Params) -> float:
    return math.sqrt(float(_dot(a, a)))


def _random_like(params: Params, seed: int, key: str) -> Params:
    """A Gaussian direction from the seed stream ``power`` (drawn on the CPU)."""
    gen = torch_generator(seed, "power", key)
    return {k: torch.randn(v.shape, generator=gen, dtype=torch.float64).to(v.device, v.dtype)
            for k, v in params.items()}


@contextmanager
def _eval_mode(model: nn.Module):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


# ----------------------------------------------------------------------------- Sigma(w)
def similarity_map(model: nn.Module, x: torch.Tensor, *,
                   dtype: torch.dtype = torch.float64) -> Callable[[Params], torch.Tensor]:
    """``w -> Sigma(w)``: the cosine-similarity matrix of the projection ``z`` on ``x``.

    ``Sigma(w)_ij = <z_i, z_j> / (||z_i|| ||z_j||)`` with ``z = z(x; w)`` the model's last
    output (``ContrastiveModel``: ``(h, z)``, so ``z``). THEORY.md s1; [P2] Appendix D.
    The returned function evaluates ``model`` with the given parameters
    (``torch.func.functional_call``; parameters not given keep the values the model has
    when ``similarity_map`` is called), in ``eval`` mode, on ``dtype`` copies of ``x``, the
    parameters and the floating-point buffers, so it can be differentiated with
    ``torch.func`` and never changes the model.

    Args:
        model: an ``nn.Module``; ``model(x)`` returns ``z`` ``(N, d)`` or a tuple ending
            with it.
        x: inputs ``(N, ...)``, ``N >= 2``.
        dtype: the dtype of the computation (default float64).

    Returns:
        ``sigma(params) -> (N, N)`` tensor, ``params`` a dict ``{name: tensor}`` in
        ``dtype`` (see :func:`parameters`).

    Raises:
        TypeError: ``model`` not a module, ``x`` not a tensor.
        ValueError: ``x`` with fewer than 2 rows.

    >>> m = nn.utils.skip_init(nn.Linear, 2, 2, bias=False)
    >>> _ = m.weight.data.copy_(torch.eye(2))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> sigma = similarity_map(m, x)
    >>> sigma(parameters(m)).round(decimals=4)
    tensor([[1.0000, 0.0000, 0.7071],
            [0.0000, 1.0000, 0.7071],
            [0.7071, 0.7071, 1.0000]], dtype=torch.float64)
    """
    _check_model(model)
    _check_x(x)
    xd = x.detach().to(dtype)
    # buffers and the parameters not given: dtype copies of the model's values now
    fixed = {k: (b.detach().to(dtype) if b.is_floating_point() else b)
             for k, b in model.named_buffers()}
    fixed.update({k: p.detach().to(dtype) for k, p in model.named_parameters()})

    def sigma(params: Params) -> torch.Tensor:
        with _eval_mode(model):
            out = torch.func.functional_call(model, {**fixed, **params}, (xd,))
        z = out[-1] if isinstance(out, (tuple, list)) else out
        z = z.reshape(z.shape[0], -1)
        u = z / torch.linalg.vector_norm(z, dim=1, keepdim=True)
        return u @ u.T  # (N, N)

    return sigma


# ----------------------------------------------------------------------------- power iteration
class PowerResult(NamedTuple):
    """A power iteration's estimate and how far it converged."""

    value: float  # the Rayleigh quotient <v, A v> at the last unit vector v
    iterations: int  # products A v computed
    rel_change: float  # |value_i - value_{i-1}| / |value_i| at the last iteration (NaN: 1)


def power_iteration(apply: Callable[[Params], Params], start: Params, *, iters: int = 100,
                    tol: float = 1e-7) -> PowerResult:
    """The dominant eigenvalue of a symmetric operator by power iteration.

    ``v <- A v / ||A v||``, estimate ``<v, A v>`` (the Rayleigh quotient, signed), stopping
    after ``iters`` products or when the estimate changes by less than ``tol`` relative.
    Converges to the eigenvalue of largest magnitude at the rate ``|lambda_2/lambda_1|``
    per iteration; on a positive semi-definite ``A`` the estimate never exceeds it.

    Args:
        apply: ``A v`` for a dict of tensors ``v`` (the same keys and shapes).
        start: the start vector (need not be unit).
        iters: the largest number of products.
        tol: relative change that stops the iteration (0: always ``iters``).

    Returns:
        :class:`PowerResult`. An operator that maps the iterate to 0 gives ``value = 0``.

    Raises:
        ValueError: ``iters < 1``, ``tol < 0``, a zero start vector.

    >>> A = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> start = {"a": torch.tensor([1.0, 0.0], dtype=A.dtype)}
    >>> r = power_iteration(lambda v: {"a": A @ v["a"]}, start)
    >>> round(r.value, 6)
    3.0
    """
    _check_iters(iters, tol)
    n0 = _norm(start)
    if not n0 > 0:
        raise ValueError(f"Expected a nonzero `start` vector, got norm {n0!r}")
    v = {k: t / n0 for k, t in start.items()}
    value, prev, rel = float("nan"), None, float("nan")
    for i in range(1, iters + 1):
        Av = apply(v)
        value = float(_dot(v, Av))
        n = _norm(Av)
        if prev is not None:
            rel = abs(value - prev) / abs(value) if value != 0 else float("inf")
        if n == 0.0:
            return PowerResult(0.0, i, 0.0)
        if not math.isfinite(n):
            return PowerResult(float("nan"), i, float("nan"))
        v = {k: t / n for k, t in Av.items()}
        if prev is not None and rel < tol:
            return PowerResult(value, i, rel)
        prev = value
    return PowerResult(value, iters, rel)


def _nan(what: str, why: str) -> float:
    warnings.warn(f"{what}: {why}; returning NaN", RuntimeWarning, stacklevel=3)
    return float("nan")


@contextmanager
def _quiet_jvp():
    """torch's first forward-mode call loads its jvp decompositions with ``torch.jit.script``,
    which warns that it is deprecated: torch's own business, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                category=DeprecationWarning)
        yield


# ----------------------------------------------------------------------------- L_Sigma
def jacobian_power(model: nn.Module, x: torch.Tensor, *, iters: int = 100,
                   tol: float = 1e-7, seed: int = 0, params: Mapping | None = None,
                   dtype: torch.dtype = torch.float64) -> PowerResult:
    """:func:`jacobian_norm` with the power iteration's details (``value`` is ``L_Sigma``).

    ``rel_change`` is that of ``L_Sigma^2``, the eigenvalue of ``J^T J``.
    """
    sigma = similarity_map(model, x, dtype=dtype)
    w = _as_params(model, params, "params", dtype)
    _, vjp_fn = torch.func.vjp(sigma, w)

    def gram(v: Params) -> Params:  # J^T J v: one forward-mode and one reverse-mode pass
        with _quiet_jvp():
            _, Jv = torch.func.jvp(sigma, (w,), (v,))
        (JtJv,) = vjp_fn(Jv)
        return JtJv

    res = power_iteration(gram, _random_like(w, seed, "jacobian"), iters=iters, tol=tol)
    if not math.isfinite(res.value):
        return res._replace(value=_nan("jacobian_norm", "Sigma(w) is not finite (a zero "
                                                        "projection?)"))
    return res._replace(value=math.sqrt(max(res.value, 0.0)))


def jacobian_norm(model: nn.Module, x: torch.Tensor, *, iters: int = 100, tol: float = 1e-7,
                  seed: int = 0, params: Mapping | None = None,
                  dtype: torch.dtype = torch.float64) -> float:
    """``L_Sigma = ||J(w)||_{2->2}``, the Jacobian norm of the similarity map, by power
    iteration.

    ``J(w) = dSigma(w)/dw`` of the full ``N x N`` matrix (module docstring: the strict
    upper triangle's norm is ``L_Sigma / sqrt(2)``); ``L_Sigma^2`` is the largest
    eigenvalue of ``J^T J``, iterated as ``v <- J^T (J v)`` with one ``torch.func.jvp`` and
    one ``torch.func.vjp`` per step, never forming ``J``. [P2] Appendix D: the bounded
    Jacobian ``||J(w)||_{2->2} <= L_Sigma`` (THEORY.md s13 [stated]); on a batch's views it
    is also the estimate of Theorem 2's ``G`` (module docstring, THEORY.md s8 [open]).
    The estimate is a lower bound that increases to ``L_Sigma``.

    Args:
        model: an ``nn.Module`` whose ``model(x)`` is ``z`` or ends with it.
        x: inputs ``(N, ...)``, ``N >= 2``.
        iters: largest number of power iterations.
        tol: relative change of ``L_Sigma^2`` that stops early (0: run all ``iters``).
        seed: root seed of the start vector (stream ``power``, key ``"jacobian"``).
        params: the weights ``w`` (a dict of some or all parameters; default: the model's).
        dtype: computation dtype (default float64).

    Returns:
        ``L_Sigma`` as a float (NaN with a ``RuntimeWarning`` when ``Sigma(w)`` is not
        finite, e.g. a zero projection).

    Raises:
        TypeError / ValueError: a bad ``model``, ``x``, ``params``, ``iters`` or ``tol``.

    >>> m = nn.utils.skip_init(nn.Linear, 2, 2, bias=False)
    >>> _ = m.weight.data.copy_(torch.eye(2))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(jacobian_norm(m, x), 6)  # dSigma_01/dW has norm sqrt(2); Sigma_10 too
    2.0
    """
    return jacobian_power(model, x, iters=iters, tol=tol, seed=seed, params=params,
                          dtype=dtype).value


# ----------------------------------------------------------------------------- remainder
def sgd_remainder(model: nn.Module, params_before: Mapping, params_after: Mapping,
                  x: torch.Tensor, *, dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """The second-order remainder of one step of the similarity map.

    With ``d = w_{t+1} - w_t`` and ``J_t = J(w_t)`` (THEORY.md s13 [derived], [P2]
    Appendix D)::

        relative_remainder = ||Sigma(w_{t+1}) - Sigma(w_t) - J_t d||_F
                             / ||Sigma(w_{t+1}) - Sigma(w_t)||_F

    ``J_t d`` is one ``torch.func.jvp``: the first-order change, which for a gradient step
    is the surrogate's kernel step ``-eta P_t grad_Sigma L``. A relative remainder near 0
    means the step moved the similarities as the linearised (kernel) dynamics say.

    Args:
        model: the model (its architecture; the weights come from the two dicts).
        params_before, params_after: ``w_t`` and ``w_{t+1}``, dicts ``{name: tensor}`` of
            the same parameters of ``model`` (any not given keep the model's values).
        x: inputs ``(N, ...)`` on which ``Sigma`` is formed.
        dtype: computation dtype (default float64).

    Returns:
        dict: ``relative_remainder``, ``remainder`` (``||... - J_t d||_F``), ``sim_change``
        (``||Sigma(w_{t+1}) - Sigma(w_t)||_F``), ``linear_change`` (``||J_t d||_F``),
        ``step_norm`` (``||d||``) and ``remainder_over_step_sq`` (``remainder / ||d||^2``,
        an empirical second-order constant). A step that leaves ``Sigma`` unchanged gives a
        NaN ``relative_remainder`` (and ``d = 0`` a NaN ``remainder_over_step_sq``) with a
        ``RuntimeWarning``.

    Raises:
        TypeError / ValueError: a bad ``model`` or ``x``; the two dicts with different
            names, or names or shapes not of ``model``.

    >>> m = nn.utils.skip_init(nn.Linear, 2, 2, bias=False)
    >>> _ = m.weight.data.copy_(torch.eye(2))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> w1 = {"weight": torch.tensor([[1.0, 0.1], [0.0, 1.0]])}
    >>> r = sgd_remainder(m, parameters(m), w1, x)
    >>> round(r["sim_change"], 6), round(r["linear_change"], 6), round(r["remainder"], 6)
    (0.14072, 0.141421, 0.000702)
    """
    _check_model(model)
    if not isinstance(params_before, Mapping) or not isinstance(params_after, Mapping):
        bad = params_before if not isinstance(params_before, Mapping) else params_after
        raise TypeError(f"Expected `params_before` and `params_after` to be dicts of tensors, "
                        f"got {type(bad).__name__}")
    if set(params_before) != set(params_after):
        diff = sorted(set(params_before) ^ set(params_after))
        raise ValueError(f"Expected `params_before` and `params_after` with the same names, "
                         f"got {diff[:5]!r} in only one")
    sigma = similarity_map(model, x, dtype=dtype)
    w0 = _as_params(model, params_before, "params_before", dtype)
    w1 = _as_params(model, params_after, "params_after", dtype)
    d = {k: w1[k] - w0[k] for k in w0}
    with torch.no_grad():
        with _quiet_jvp():
            s0, jd = torch.func.jvp(sigma, (w0,), (d,))
        s1 = sigma(w1)
        change = float(torch.linalg.matrix_norm(s1 - s0))
        linear = float(torch.linalg.matrix_norm(jd))
        rem = float(torch.linalg.matrix_norm(s1 - s0 - jd))
    step = _norm(d)
    rel = rem / change if change > 0 else _nan(
        "sgd_remainder", "the step left Sigma unchanged, so the relative remainder is 0/0")
    per_sq = rem / step ** 2 if step > 0 else _nan(
        "sgd_remainder", "params_before equals params_after (no step)")
    return {"relative_remainder": rel, "remainder": rem, "sim_change": change,
            "linear_change": linear, "step_norm": step, "remainder_over_step_sq": per_sq}


# ----------------------------------------------------------------------------- beta and G
def _leaves(params: Mapping, name: str) -> Params:
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"Expected `{name}` to be a non-empty dict of tensors, got "
                        f"{type(params).__name__}")
    out = {}
    for k, v in params.items():
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise TypeError(f"Expected `{name}`[{k!r}] to be a floating-point tensor, got "
                            f"{type(v).__name__}")
        out[k] = v.detach().clone().requires_grad_(True)
    return out


def _scalar_loss(loss_fn, w: Params, name: str) -> torch.Tensor:
    loss = loss_fn(w)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError(f"Expected `{name}` to return a scalar tensor, got "
                         f"{type(loss).__name__}")
    return loss.reshape(())


def hessian_top_eigenvalue(loss_fn: Callable[[Params], torch.Tensor], params: Mapping, *,
                           iters: int = 100, tol: float = 1e-7, seed: int = 0) -> float:
    """``beta``: the dominant eigenvalue of the loss Hessian in the weights, by power
    iteration with Hessian-vector products.

    ``H = d^2 L / dw^2`` at ``w = params``; ``v <- H v / ||H v||`` with ``H v`` a
    double-backward product (the graph of ``grad L`` is built once), estimate
    ``v^T H v``. The result is the eigenvalue of largest magnitude, signed: ``|beta|`` is
    ``||H||_2``, the local smoothness of Theorem 2 (THEORY.md s8 [stated; constants open]).
    Average it over a few batches for the run's ``beta``.

    Args:
        loss_fn: ``loss_fn(params) -> scalar tensor``, differentiable twice (e.g. the CL
            loss of a batch through ``torch.func.functional_call``).
        params: ``{name: tensor}``, the weights (floating point; copied, never changed).
        iters: largest number of power iterations.
        tol: relative change that stops early (0: run all ``iters``).
        seed: root seed of the start vector (stream ``power``, key ``"hessian"``).

    Returns:
        ``beta`` as a float (NaN with a ``RuntimeWarning`` when ``H v`` is not finite).

    Raises:
        TypeError: ``params`` not a dict of floating-point tensors.
        ValueError: ``loss_fn`` not returning a scalar; bad ``iters`` or ``tol``.

    >>> A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> f = lambda p: 0.5 * p["w"] @ A @ p["w"]      # Hessian A, eigenvalues 3.618, 1.382
    >>> round(hessian_top_eigenvalue(f, {"w": torch.zeros(2, dtype=torch.float64)}), 6)
    3.618034
    """
    _check_iters(iters, tol)
    w = _leaves(params, "params")
    with torch.enable_grad():
        loss = _scalar_loss(loss_fn, w, "loss_fn")
        keys = list(w)
        grads = torch.autograd.grad(loss, [w[k] for k in keys], create_graph=True,
                                    allow_unused=True)

        def hvp(v: Params) -> Params:
            pairs = [(g, v[k]) for g, k in zip(grads, keys, strict=True)
                     if g is not None and g.requires_grad]
            out = dict.fromkeys(keys)
            if pairs:
                hv = torch.autograd.grad([g for g, _ in pairs], [w[k] for k in keys],
                                         grad_outputs=[u for _, u in pairs],
                                         retain_graph=True, allow_unused=True)
                out = dict(zip(keys, hv, strict=True))
            return {k: (torch.zeros_like(w[k]) if out[k] is None else out[k].detach())
                    for k in keys}

        res = power_iteration(hvp, _random_like({k: t.detach() for k, t in w.items()}, seed,
                                                "hessian"), iters=iters, tol=tol)
    if not math.isfinite(res.value):
        return _nan("hessian_top_eigenvalue", "a Hessian-vector product is not finite")
    return res.value


def gradient_mismatch(loss_a: Callable[[Params], torch.Tensor],
                      loss_b: Callable[[Params], torch.Tensor],
                      params: Mapping) -> dict[str, float]:
    """``||grad_w L_a(w) - grad_w L_b(w)||``: the two losses' weight gradients at one ``w``.

    The drive of Theorem 2 (module docstring, THEORY.md s8): with ``grad_w L = J^T
    grad_Sigma L``, ``mismatch <= ||J||_{2->2} ||grad_Sigma L_a - grad_Sigma L_b||_F``.

    Args:
        loss_a, loss_b: ``loss(params) -> scalar tensor`` (e.g. CL and NSCL on one batch).
        params: ``{name: tensor}``, the weights (copied, never changed).

    Returns:
        dict: ``mismatch``, ``grad_norm_a``, ``grad_norm_b`` (Euclidean norms over all
        tensors; a tensor a loss does not use has gradient 0).

    Raises:
        TypeError: ``params`` not a dict of floating-point tensors.
        ValueError: a loss not returning a scalar.

    >>> f = lambda p: (p["w"] ** 2).sum()
    >>> g = lambda p: 3 * p["w"].sum()
    >>> gradient_mismatch(f, g, {"w": torch.ones(4, dtype=torch.float64)})["mismatch"]
    2.0
    """
    w = _leaves(params, "params")
    keys = list(w)

    def grad(fn, name):
        with torch.enable_grad():
            gs = torch.autograd.grad(_scalar_loss(fn, w, name), [w[k] for k in keys],
                                     allow_unused=True)
        return {k: torch.zeros_like(w[k]) if g is None else g.detach()
                for k, g in zip(keys, gs, strict=True)}

    ga, gb = grad(loss_a, "loss_a"), grad(loss_b, "loss_b")
    return {"mismatch": _norm({k: ga[k] - gb[k] for k in keys}), "grad_norm_a": _norm(ga),
            "grad_norm_b": _norm(gb)}
