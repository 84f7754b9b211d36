"""Normalisers of the corollaries: ``||K||_F`` (CKA) and ``sigma_a`` (RSA).

Three sources (THEORY.md sections 7 and 10):

- the NSCL-optimum geometry [derived]: ``C`` balanced classes of ``n = N/C`` samples on a
  simplex ETF (same-class cosine 1, different-class ``-1/(C-1)``), where ``Sigma`` is
  already centred and ``||K||_F = N / sqrt(C-1)``,
  ``sigma_a = (C/(C-1)) sqrt(p (1-p))`` with ``p = (n-1)/(N-1)``;
- user-given values (passed straight to :func:`bounds.evaluate_bounds`);
- a feature matrix ``X`` of shape ``(N, d)`` (e.g. a saved ``.npy``), in ``O(N d^2)``:
  with ``U`` the row-normalised features, ``Sigma = U U^T`` and
  ``||H Sigma H||_F = ||U_c^T U_c||_F`` (``U_c`` column-centred); the off-diagonal cosines
  have sum ``||1^T U||^2 - N`` and sum of squares ``||U^T U||_F^2 - N``, which give the
  mean and standard deviation of the strict upper triangle of ``1 - Sigma`` without the
  ``N x N`` matrix.
"""

from __future__ import annotations

import warnings

import numpy as np

from .validation import check_integer

__all__ = ["etf_K_norm", "etf_sigma_a", "features_normalisers", "load_features"]


def _check_N_C(N, C):
    n = check_integer("N_ref", N, 2)
    c = check_integer("C", C, 2)
    bad = np.broadcast_to(n < c, np.broadcast_shapes(n.shape, c.shape))
    if bad.any():
        nb, cb = np.broadcast_arrays(n, c)
        raise ValueError(
            f"Expected `N_ref` >= `C`, got N_ref={int(nb[bad].flat[0])}, C={int(cb[bad].flat[0])}"
        )
    return n, c


def etf_K_norm(N, C):
    """``||K||_F = N / sqrt(C - 1)`` at the NSCL optimum (THEORY.md section 10 [derived]).

    >>> etf_K_norm(100, 5)
    50.0
    """
    n, c = _check_N_C(N, C)
    out = n / np.sqrt(c - 1.0)
    return float(out) if out.ndim == 0 else out


def etf_sigma_a(N, C):
    """``sigma_a = (C/(C-1)) sqrt(p(1-p))``, ``p = (N/C - 1)/(N - 1)`` (section 10 [derived]).

    ``p`` is the fraction of same-class pairs among the ``N(N-1)/2`` pairs; ``a = 1 - cos``
    is 0 on them and ``C/(C-1)`` elsewhere; ``sigma_a`` is the population standard deviation.

    >>> round(etf_sigma_a(4, 2), 6)
    0.942809
    """
    n, c = _check_N_C(N, C)
    p = (n / c - 1.0) / (n - 1.0)
    out = c / (c - 1.0) * np.sqrt(p * (1.0 - p))
    return float(out) if out.ndim == 0 else out


def features_normalisers(X) -> dict:
    """``||K||_F`` and ``sigma_a`` of the cosine similarity matrix of features ``X``.

    Exact, in ``O(N d^2)`` time and ``O(d^2)`` extra memory (see the module docstring). Each
    row is first scaled by a power of two to entries in ``[-1, 1]``, so rows of any finite
    scale (``1e-300`` to ``1e300``) normalise without under- or overflow.

    Args:
        X: real array (integer or float) of shape ``(N, d)``, rows are samples, ``N >= 2``,
            no zero rows.

    Returns:
        ``{"K_norm": float, "sigma_a": float, "N_ref": int}``. A zero ``sigma_a``
        (all pairwise cosines equal) gives NaN and a ``RuntimeWarning``.

    Raises:
        ValueError: wrong shape or dtype (booleans, strings, complex numbers), non-finite
            entries, or a zero row.

    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> {k: round(v, 6) for k, v in features_normalisers(X).items()}
    {'K_norm': 2.108185, 'sigma_a': 0.471405, 'N_ref': 3}
    """
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise ValueError(f"Expected `features` of real numbers (integers or floats), got dtype "
                         f"{X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"Expected features of shape (N, d) with N >= 2, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("Expected finite features, got non-finite entries")
    scale = np.abs(X).max(axis=1)
    if (scale == 0).any():
        raise ValueError(f"Expected features without zero rows, got a zero row at index "
                         f"{int(np.flatnonzero(scale == 0)[0])}")
    # by a power of two (exact: the normalised rows are bitwise unchanged) to entries in
    # [-1, 1]: the norm cannot over- or underflow
    X = np.ldexp(X, -np.frexp(scale)[1][:, None])
    U = X / np.linalg.norm(X, axis=1)[:, None]
    N = U.shape[0]
    Uc = U - U.mean(axis=0)
    K_norm = float(np.linalg.norm(Uc.T @ Uc))
    s1 = float(np.sum(U.sum(axis=0) ** 2)) - N        # sum over i != j of cos_ij
    s2 = float(np.sum((U.T @ U) ** 2)) - N            # sum over i != j of cos_ij^2
    M = N * (N - 1) / 2.0
    mean = s1 / 2.0 / M
    var = s2 / 2.0 / M - mean * mean
    scale = max(1.0, s2 / 2.0 / M)
    if var <= 1e-13 * scale:
        warnings.warn("All pairwise cosines are equal: sigma_a is 0, the RSA normaliser is "
                      "undefined (NaN)", RuntimeWarning, stacklevel=2)
        sigma_a = float("nan")
    else:
        sigma_a = float(np.sqrt(var))
    return {"K_norm": K_norm, "sigma_a": sigma_a, "N_ref": int(N)}


def load_features(path) -> np.ndarray:
    """Load a saved feature matrix (``.npy``, shape ``(N, d)``) without pickles."""
    try:
        X = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty or cut file
        raise ValueError(f"Expected a readable .npy feature file for `features`, got "
                         f"{str(path)!r} ({type(exc).__name__})") from None
    if not isinstance(X, np.ndarray):  # an .npz archive
        X.close()
        raise ValueError(f"Expected a .npy feature file holding one array for `features`, "
                         f"got {str(path)!r} (an .npz archive)")
    return X
