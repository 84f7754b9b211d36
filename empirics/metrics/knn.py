"""Mutual k-nearest-neighbour overlap of two representations (rows on a bounded set).

Huh, Cheung, Wang and Isola, "The Platonic Representation Hypothesis" (ICML 2024), s3
(their ``m_NN``): with ``N_k^X(i)`` the ``k`` nearest neighbours of sample ``i`` among the
other ``N - 1`` samples in the representation ``X``,

    mutual_knn(X, Y) = (1/N) sum_i |N_k^X(i) ∩ N_k^Y(i)| / k                     (1)

in ``[0, 1]``: 1 when both representations give every sample the same neighbours (e.g. a
rotated, scaled copy), and ``k / (N - 1)`` in expectation for independent representations
(given ``X``, ``Y``'s neighbours of ``i`` are exchangeable over the other ``N - 1`` samples).

Choices (options with documented defaults):

- **neighbours** -- ``metric="cosine"`` (the default, as the paper's code: neighbours by
  cosine similarity of the rows) or ``"euclidean"`` (by Euclidean distance);
- **self** -- a sample is never its own neighbour (``j != i``), so ``k <= N - 2``:
  ``k >= N - 1`` would make every neighbourhood the whole set and the overlap trivially 1,
  and is refused;
- **ties** -- equal scores are broken by the smaller sample index, so the result is
  deterministic: among the samples tied with the ``k``-th score, the lowest indices enter
  the neighbourhood. Scores come from one float64 matrix product per block of rows.

Precision: cosine scores are ``s_ij = u_i . (u_j - c)`` for the unit rows ``u`` and their
mean ``c``, Euclidean ones ``2 w_i . w_j - |w_j|^2`` for the centred rows ``w``; both order
``j`` exactly as the cosine and the distance do (the dropped terms do not depend on ``j``),
and neither cancels against a large common part when the rows nearly collapse.

Memory: rows are processed in blocks of ``block`` anchors, so at most ``block x N`` scores
exist at once (never ``N x N``); time ``O(N^2 (d + e))``. The set is bounded by the caller
(``python -m empirics.compare`` uses a seeded subset of ``--knn-rows``).

Its entry in the registry of similarity measures is ``mutual_knn``
(:data:`empirics.measures.MEASURES`: label, range, direction, basis, source).

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> X = g.normal(size=(60, 5))
    >>> Q = np.linalg.qr(g.normal(size=(5, 5)))[0]
    >>> mutual_knn(X, 2.0 * X @ Q, k=5)
    1.0
"""

from __future__ import annotations

import math
import warnings

import torch

from empirics.metrics._array import as_features, check_pair

__all__ = ["DEFAULT_K", "METRICS", "knn_overlaps", "mutual_knn", "neighbour_sets",
           "overlap_fractions"]

METRICS = ("cosine", "euclidean")
DEFAULT_K = 10
_BLOCK = 1024  # anchors per block: 1024 x N float64 scores (80 MiB at N = 10^4)


def _check_k(k: object, N: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"Expected `k` to be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"Expected `k` >= 1, got {k}")
    if k >= N - 1:
        raise ValueError(f"Expected `k` < N - 1 = {N - 1} (a sample is not its own "
                         f"neighbour; k = N - 1 makes every overlap 1), got {k}")
    return k


def _pow2_scaled(x: torch.Tensor) -> torch.Tensor:
    """``x 2^-e`` with its largest entry in [0.5, 1) (exact; 0 stays 0)."""
    top = float(torch.linalg.vector_norm(x, ord=float("inf")))
    if top == 0.0:
        return x
    return torch.ldexp(x, torch.tensor(-math.frexp(top)[1], dtype=torch.int32))


def _scored_rows(x: torch.Tensor, metric: str, name: str) -> tuple[torch.Tensor, torch.Tensor,
                                                                      torch.Tensor | None]:
    """``(anchors, others, extra)``: ``score_ij = anchors_i . others_j (- extra_j)``."""
    x = x.to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"Expected finite values in `{name}`, got NaN or inf")
    if metric == "cosine":
        # per-row power-of-two scaling first, so norms neither over- nor underflow
        amax = torch.linalg.vector_norm(x, ord=float("inf"), dim=1)
        x = torch.ldexp(x, -torch.frexp(amax).exponent[:, None])
        norm = torch.linalg.vector_norm(x, dim=1)
        if bool((norm == 0).any()):
            return None, None, None  # zero rows: the caller returns NaN
        u = x / norm[:, None]
        return u, u - u.mean(dim=0), None
    w = _pow2_scaled(x - x.mean(dim=0))
    return 2.0 * w, w, (w * w).sum(dim=1)


def neighbour_sets(x, k: int, *, metric: str = "cosine", rows: slice | None = None
                   ) -> torch.Tensor:
    """Boolean ``(b, N)`` membership of the ``k`` nearest neighbours of the anchors ``rows``.

    Row ``a`` of the result marks ``N_k(rows.start + a)``: the ``k`` samples ``j != i`` with
    the largest scores (module docstring), ties broken by the smaller index. For a zero row
    under ``cosine`` every row is ``False`` (undefined neighbours).

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
        >>> neighbour_sets(x, 2, metric="euclidean").int().tolist()
        [[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0]]
    """
    if metric not in METRICS:
        raise ValueError(f"Expected `metric` in {METRICS}, got {metric!r}")
    x = as_features(x, "x")
    k = _check_k(k, int(x.shape[0]))
    scorer = _scored_rows(x.cpu(), metric, "x")
    rows = rows or slice(0, int(x.shape[0]))
    if scorer[0] is None:
        return torch.zeros(len(range(*rows.indices(x.shape[0]))), x.shape[0], dtype=torch.bool)
    return _sets(scorer, k, rows)


def _sets(scorer, k: int, rows: slice) -> torch.Tensor:
    anchors, others, extra = scorer
    N = others.shape[0]
    idx = torch.arange(rows.start, min(rows.stop, N))
    s = anchors[idx] @ others.T  # (b, N)
    if extra is not None:
        s -= extra
    s[torch.arange(idx.numel()), idx] = -math.inf  # never its own neighbour
    kth = torch.topk(s, k, dim=1).values[:, -1:]  # the k-th largest score of each anchor
    above = s > kth
    tied = s == kth
    room = k - above.sum(dim=1, keepdim=True)  # places left for tied samples, >= 1
    return above | (tied & (torch.cumsum(tied, dim=1) <= room))  # lowest indices first


def mutual_knn(X, Y, k: int = DEFAULT_K, *, metric: str = "cosine",
               block: int = _BLOCK) -> float:
    """Mutual k-NN overlap ``(1/N) sum_i |N_k^X(i) ∩ N_k^Y(i)| / k`` (module docstring, (1)).

    Huh, Cheung, Wang, Isola (ICML 2024), s3. Self excluded, cosine neighbours by default,
    ties broken by the smaller index; ``block x N`` scores at a time.

    Args:
        X: ``(N, d)``; Y: ``(N, e)``: numpy arrays or torch tensors, any real dtype.
        k: neighbours per sample, ``1 <= k <= N - 2``.
        metric: ``"cosine"`` or ``"euclidean"``.
        block: anchors per block (memory ``O(block N)``).

    Returns:
        float in ``[0, 1]``; NaN plus a ``RuntimeWarning`` for a zero row under ``cosine``.

    Raises:
        ValueError: different row counts, ``k`` out of range (naming ``k``), NaN or inf,
            unknown ``metric``, ``block < 1``.
        TypeError: not an array or tensor; a non-integer ``k``.

    Example:
        >>> import numpy as np
        >>> g = np.random.default_rng(3)
        >>> X, Y = g.normal(size=(200, 8)), g.normal(size=(200, 8))
        >>> bool(abs(mutual_knn(X, Y, k=10) - 10 / 199) < 0.03)   # independent: ~ k/(N-1)
        True
    """
    overlaps = knn_overlaps(X, Y, k, metric=metric, block=block)
    if overlaps is None:
        warnings.warn("mutual_knn: cosine neighbours are undefined for zero rows; returning "
                      "NaN", RuntimeWarning, stacklevel=2)
        return float("nan")
    return float(overlaps.sum()) / (overlaps.numel() * k)


def knn_overlaps(X, Y, k: int = DEFAULT_K, *, metric: str = "cosine",
                 block: int = _BLOCK) -> torch.Tensor | None:
    """Per-sample overlaps ``|N_k^X(i) ∩ N_k^Y(i)|`` (int64 ``(N,)``; ``None`` for a zero row
    under ``cosine``): :func:`mutual_knn` is their mean over ``k``. Same arguments and
    errors as :func:`mutual_knn`.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
        >>> knn_overlaps(x, x ** 3, 1, metric="euclidean").tolist()
        [1, 1, 1, 1]
    """
    if metric not in METRICS:
        raise ValueError(f"Expected `metric` in {METRICS}, got {metric!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"Expected `block` >= 1, got {block!r}")
    X, Y = as_features(X, "X"), as_features(Y, "Y")
    check_pair(X, Y)
    N = int(X.shape[0])
    k = _check_k(k, N)
    px, py = _scored_rows(X.cpu(), metric, "X"), _scored_rows(Y.cpu(), metric, "Y")
    if px[0] is None or py[0] is None:
        return None
    out = torch.empty(N, dtype=torch.int64)
    for start in range(0, N, block):
        rows = slice(start, min(start + block, N))
        out[rows] = (_sets(px, k, rows) & _sets(py, k, rows)).sum(dim=1)
    return out


def overlap_fractions(X, Y, k: int = DEFAULT_K, *, metric: str = "cosine",
                      block: int = _BLOCK) -> torch.Tensor | None:
    """Per-sample overlaps as fractions, ``|N_k^X(i) ∩ N_k^Y(i)| / k`` (float64 ``(N,)``;
    ``None`` for a zero row under ``cosine``): :func:`mutual_knn` is their mean (the values a
    bootstrap resamples). Same arguments and errors as :func:`mutual_knn`.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
        >>> overlap_fractions(x, x ** 3, 1, metric="euclidean").tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    overlaps = knn_overlaps(X, Y, k, metric=metric, block=block)
    return None if overlaps is None else overlaps.double() / k
