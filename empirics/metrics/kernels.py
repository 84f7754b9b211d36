"""Alignment of two given N x N similarity matrices (THEORY.md s7 applied to states).

The surrogate of THEORY.md s9 evolves similarity matrices directly, so its CKA, ``rho``
and gap are taken on the matrices, not on features. Everything is ``O(N^2)``:

- ``K = H S H`` (no row normalisation: ``S`` is already the similarity matrix);
- ``cka = <K1, K2>_F / (||K1||_F ||K2||_F)``, in [-1, 1] for any ``S`` (Cauchy-Schwarz;
  in [0, 1] when both ``S`` are positive semi-definite);
- ``rho = ||K1 - K2||_F / ||K1||_F`` (normalised by the first, the CL state);
- ``sim_gap = ||S1 - S2||_F``.

Exact: the differences are formed entry by entry *before* any norm (``K1 - K2 = H (S1 - S2)
H``), so a small gap is not the difference of two large squares. Range-safe: when the
largest entry lies outside ``[2^-400, 2^400]`` both matrices are scaled by one power of two
(exact) so that norms neither overflow nor underflow; inside it no copy is made (scaling
would change no bit of the result). Cost: about a dozen passes over ``N x N`` arrays and
four temporaries (the difference, two centred matrices, one scratch buffer), plus the two
scaled copies when rescaling. numpy only: torch is used only to read a tensor argument.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

__all__ = ["kernel_alignment"]


def _square(S: object, name: str) -> tuple[np.ndarray, float]:
    """``S`` as a float64 array and its largest ``|entry|`` (checked: square, finite)."""
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(S, torch.Tensor):
        if S.is_complex() or S.dtype == torch.bool:
            raise TypeError(f"Expected a real-valued `{name}`, got dtype {S.dtype}")
        S = S.detach().to("cpu", torch.float64).numpy()
    elif isinstance(S, np.ndarray):
        if S.dtype.kind not in "fiu":
            raise TypeError(f"Expected a real-valued `{name}`, got dtype {S.dtype}")
        S = S.astype(np.float64, copy=False)
    else:
        raise TypeError(
            f"Expected `{name}` to be a numpy array or torch tensor, got {type(S).__name__}"
        )
    if S.ndim != 2 or S.shape[0] != S.shape[1] or S.shape[0] < 2:
        raise ValueError(f"Expected `{name}` of shape (N, N) with N >= 2, got shape {S.shape}")
    hi, lo = float(S.max()), float(S.min())  # NaN and inf show here: no extra pass
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise ValueError(f"Expected finite values in `{name}`, got NaN or inf")
    return S, max(hi, -lo)


_SAFE = (2.0**-400, 2.0**400)  # largest |entry| here: sums of N^2 squares neither over- nor
# underflow, so no rescaling is needed (and rescaling by a power of two would change no bit)


def _centre_(K: np.ndarray) -> np.ndarray:
    """``H K H`` in place: subtract the column means, then the row means."""
    K -= K.mean(axis=0, keepdims=True)
    K -= K.mean(axis=1, keepdims=True)
    return K


def _centred(S: np.ndarray) -> np.ndarray:
    """``H S H`` as a new array (the operations of :func:`_centre_`, one copy)."""
    K = S - S.mean(axis=0, keepdims=True)
    K -= K.mean(axis=1, keepdims=True)
    return K


def _norm(a: np.ndarray, scratch: np.ndarray) -> float:
    """``||a||_F``: squares into ``scratch``, numpy's pairwise sum (no BLAS start-up cost)."""
    return math.sqrt(float(np.multiply(a, a, out=scratch).sum()))


def kernel_alignment(S1, S2) -> dict:
    """CKA, ``rho`` and the gap of two ``N x N`` similarity matrices (module docstring).

    Args:
        S1: ``(N, N)`` similarity matrix of the first model (CL; it normalises ``rho``).
        S2: ``(N, N)`` of the second (NSCL). numpy arrays or torch tensors, real, finite.

    Returns:
        ``{"cka", "rho", "sim_gap"}``; ``cka`` is NaN when a centred matrix is zero,
        ``rho`` when ``H S1 H`` is zero, each with a ``RuntimeWarning``.

    Raises:
        ValueError: shapes not ``(N, N)`` alike or ``N < 2``; NaN or inf.
        TypeError: not a real array or tensor.

    Example:
        >>> g = np.random.default_rng(0)
        >>> Z = g.normal(size=(6, 3)); S = Z @ Z.T
        >>> out = kernel_alignment(S, 2.0 * S)
        >>> round(out["cka"], 12), out["rho"], round(float(out["sim_gap"] / np.linalg.norm(S)), 12)
        (1.0, 1.0, 1.0)
    """
    (S1, top1), (S2, top2) = _square(S1, "S1"), _square(S2, "S2")
    if S1.shape != S2.shape:
        raise ValueError(
            f"Expected `S1` and `S2` of the same shape, got {S1.shape} and {S2.shape}"
        )
    top = max(top1, top2)
    k = 0 if top == 0.0 or _SAFE[0] < top < _SAFE[1] else math.frexp(top)[1]
    A, B = (S1, S2) if k == 0 else (np.ldexp(S1, -k), np.ldexp(S2, -k))  # exact: entries < 1
    scratch = np.empty_like(A)  # one buffer for every elementwise product
    D = A - B
    gap = math.ldexp(_norm(D, scratch), k)
    K1, K2 = _centred(A), _centred(B)
    del A, B  # the scaled copies, if any
    n1, n2 = _norm(K1, scratch), _norm(K2, scratch)
    out = {"cka": float("nan"), "rho": float("nan"), "sim_gap": gap}
    if n1 == 0.0 or n2 == 0.0:
        which = "S1" if n1 == 0.0 else "S2"
        warnings.warn(
            f"kernel_alignment: H {which} H is zero (constant rows and columns), so CKA "
            f"is undefined{' and rho has no normaliser' if n1 == 0.0 else ''}; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    else:
        dot = float(np.multiply(K1, K2, out=scratch).sum())
        out["cka"] = min(1.0, max(-1.0, dot / n1 / n2))
    del K1, K2
    if n1 > 0.0:
        out["rho"] = _norm(_centre_(D), scratch) / n1  # H (S1 - S2) H, formed in place
    return out
