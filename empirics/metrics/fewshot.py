"""[P1] Proposition 1's class variabilities, exact and streaming: ``V_f`` and ``Vt_f``.

For features ``f(x)`` of ``C`` classes with class means ``mu_i`` and (population, ``1/n``)
class covariances ``Sigma_i``, and for an ordered pair of classes ``i != j``
(THEORY.md s13, [P1] Proposition 1 [stated; constants from notes])::

    d_ij      = mu_j - mu_i,          u_ij = d_ij / ||d_ij||
    V_f(i,j)  = tr(Sigma_i) / ||d_ij||^2                       (total within-class variance)
    Vt_f(i,j) = Var_{x~D_i} <f(x) - mu_i, u_ij> / ||d_ij||^2
              = d_ij^T Sigma_i d_ij / ||d_ij||^4                (along the line to mu_j)

and ``V_f``, ``Vt_f`` are their means over the ``C (C - 1)`` ordered pairs. ``Vt_f <= V_f``
pair by pair (a variance along one unit direction is at most the trace).

The sufficient statistics are, per class, the count ``n_c``, the mean ``mu_c`` and the
scatter ``M_c = sum (x - mu_c)(x - mu_c)^T`` (float64): :class:`ClassMoments`. A chunk
of rows gives them exactly about its own class means (two passes, with one refinement of
the mean); chunks merge by Chan et al.'s parallel update ("Updating formulae and a
pairwise algorithm for computing sample variances", 1979), the rule
:func:`empirics.metrics.moments.merge` applies to the alignment moments::

    n = na + nb,  delta = mu_b - mu_a,  mu = mu_a + delta nb / n,
    M = M_a + M_b + (na nb / n) delta delta^T

so streaming equals one-shot up to rounding, merging is associative and commutative up to
rounding, and a distributed reduction gathers the flat vectors (:meth:`ClassMoments.flat`)
and merges them.

Also here, because Proposition 1 is about it: the ``m``-shot nearest-class-mean
classifier (:func:`nearest_mean_accuracy`, Euclidean distance to the mean of each class's
``m`` support points) and the support-set estimate of the directional variability
(:func:`support_variability`), one candidate for the open ``Vs_f``.

NaN rules (each with a ``RuntimeWarning`` saying why, never a plausible number): a class
without samples; two classes with equal means (``||d_ij|| = 0``).

Example:
    >>> import numpy as np
    >>> x = np.array([[-1.0, 1.0], [1.0, 1.0], [-1.0, 5.0], [1.0, 5.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> out = class_variability(x, y)
    >>> out["V_f"], out["Vt_f"]  # spread 1 across, 0 along the line between the means
    (0.0625, 0.0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from empirics.metrics._array import as_features

__all__ = [
    "ClassMoments",
    "ClassVariabilityAccumulator",
    "class_moments",
    "class_variability",
    "empty_class_moments",
    "merge_class_moments",
    "nearest_mean_accuracy",
    "pair_mean",
    "support_variability",
    "variabilities",
]

_CHUNK_ROWS = 8192


@dataclass(frozen=True, eq=False)
class ClassMoments:
    """Per-class count ``n (C,)``, mean ``mean (C, d)`` and scatter ``scatter (C, d, d)``,
    float64 (see the module docstring). Treat as immutable."""

    n: torch.Tensor
    mean: torch.Tensor
    scatter: torch.Tensor

    @property
    def num_classes(self) -> int:
        return int(self.n.shape[0])

    @property
    def dim(self) -> int:
        return int(self.mean.shape[1])

    def covariance(self) -> torch.Tensor:
        """``Sigma_c = M_c / n_c`` (population); NaN for a class without samples."""
        n = self.n[:, None, None]
        return torch.where(n > 0, self.scatter / n.clamp_min(1), torch.nan)

    def flat(self) -> torch.Tensor:
        """One float64 vector ``[n, mean, scatter]`` (for checkpoints and reductions)."""
        return torch.cat([self.n, self.mean.reshape(-1), self.scatter.reshape(-1)])

    @staticmethod
    def from_flat(t: torch.Tensor, num_classes: int, dim: int) -> ClassMoments:
        """The inverse of :meth:`flat`, checked: its length, finite values, whole counts
        ``0 <= n_c <= 2^53``, zero mean and scatter for a class without rows.

        Raises:
            TypeError: ``t`` is not a real tensor or array.
            ValueError: any check above fails (the message names the first offender).
        """
        C, d = int(num_classes), int(dim)
        if isinstance(t, torch.Tensor) and (t.is_complex() or t.dtype == torch.bool):
            raise TypeError(f"Expected a real float64 class-moments vector, got dtype {t.dtype}")
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        want = C + C * d + C * d * d
        if t.numel() != want:
            raise ValueError(f"Expected a class-moments vector of length {want} for C={C}, "
                             f"d={d}, got length {t.numel()}")
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"Expected finite class moments, got {int(bad.sum())} NaN or inf "
                             f"(the first at index {i})")
        n = t[:C]
        odd = (n < 0) | (n != torch.round(n)) | (n > 2.0**53)
        if bool(odd.any()):
            c = int(odd.nonzero()[0, 0])
            raise ValueError(f"Expected whole class counts n_c >= 0, got n_{c} = "
                             f"{float(n[c])!r}")
        stats = torch.cat([t[C:C + C * d].reshape(C, d), t[C + C * d:].reshape(C, d * d)], 1)
        empty_but_set = (n == 0) & stats.ne(0).any(1)
        if bool(empty_but_set.any()):
            c = int(empty_but_set.nonzero()[0, 0])
            raise ValueError(f"Expected zero mean and scatter for class {c} without rows "
                             "(n_c = 0), got non-zero values")
        return ClassMoments(t[:C].clone(), t[C:C + C * d].reshape(C, d).clone(),
                            t[C + C * d:].reshape(C, d, d).clone())


def empty_class_moments(num_classes: int, dim: int, *, device=None) -> ClassMoments:
    """The moments of no rows (the identity of :func:`merge_class_moments`)."""
    z = dict(dtype=torch.float64, device=device)
    return ClassMoments(torch.zeros(num_classes, **z), torch.zeros(num_classes, dim, **z),
                        torch.zeros(num_classes, dim, dim, **z))


def _labels(y, n: int, num_classes: int | None) -> tuple[torch.Tensor, int]:
    if isinstance(y, np.ndarray):
        if y.dtype.kind not in "iu":
            raise TypeError(f"Expected integer labels `y`, got dtype {y.dtype}")
        y = torch.from_numpy(np.ascontiguousarray(y))
    elif isinstance(y, torch.Tensor):
        if y.dtype.is_floating_point or y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"Expected integer labels `y`, got dtype {y.dtype}")
    else:
        raise TypeError(f"Expected `y` to be a numpy array or torch tensor, got "
                        f"{type(y).__name__}")
    if y.shape != (n,):
        raise ValueError(f"Expected `y` of shape ({n},), got {tuple(y.shape)}")
    y = y.long()
    if n and int(y.min()) < 0:
        raise ValueError(f"Expected labels `y` >= 0, got {int(y.min())}")
    top = int(y.max()) + 1 if n else 0
    if num_classes is None:
        num_classes = top
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"Expected `num_classes` >= 1, got {num_classes!r}")
    elif top > num_classes:
        raise ValueError(f"Expected labels `y` < `num_classes` = {num_classes}, got {top - 1}")
    return y, int(num_classes)


def _chunk_moments(x: torch.Tensor, y: torch.Tensor, C: int) -> ClassMoments:
    """Exact moments of one float64 chunk: per class, the mean (refined once) and the
    scatter of the rows about it."""
    d = x.shape[1]
    out = empty_class_moments(C, d, device=x.device)
    for c in torch.unique(y).tolist():
        xc = x[y == c]
        mu = xc.mean(0)
        r = xc - mu
        mu = mu + r.mean(0)  # one refinement: the mean of the residuals is the rounding
        r = xc - mu
        out.n[c] = xc.shape[0]
        out.mean[c] = mu
        out.scatter[c] = r.T @ r
    return out


def merge_class_moments(a: ClassMoments, b: ClassMoments) -> ClassMoments:
    """The moments of the rows of ``a`` and ``b`` together (Chan's update, class by class).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(40, 3, generator=g, dtype=torch.float64)
        >>> y = torch.arange(40) % 4
        >>> both = merge_class_moments(class_moments(x[:15], y[:15], 4),
        ...                            class_moments(x[15:], y[15:], 4))
        >>> one = class_moments(x, y, 4)
        >>> bool(torch.allclose(both.scatter, one.scatter, rtol=1e-13, atol=1e-13))
        True
    """
    if (a.num_classes, a.dim) != (b.num_classes, b.dim):
        raise ValueError(f"Expected class moments of the same (C, d), got "
                         f"{(a.num_classes, a.dim)} and {(b.num_classes, b.dim)}")
    na, nb = a.n, b.n
    n = na + nb
    safe = n.clamp_min(1)
    delta = b.mean - a.mean
    mean = torch.where((nb > 0)[:, None], a.mean + delta * (nb / safe)[:, None], a.mean)
    mean = torch.where((na > 0)[:, None], mean, b.mean)  # exact for a class new in b
    w = (na * nb / safe)[:, None, None]
    scatter = a.scatter + b.scatter + w * delta[:, :, None] * delta[:, None, :]
    return ClassMoments(n, mean, scatter)


def class_moments(x, y, num_classes: int | None = None,
                  start: ClassMoments | None = None) -> ClassMoments:
    """Per-class moments of ``start``'s rows plus ``x (N, d)`` with labels ``y (N,)``.

    Rows go through in float64 chunks; each chunk is exact about its own class means and
    is merged in by :func:`merge_class_moments`. ``start`` is not modified.

    Raises:
        TypeError: ``x`` is not a real array or tensor; ``y`` is not integer.
        ValueError: shapes disagree, a label is outside ``[0, num_classes)``, ``x`` holds
            NaN or inf, or ``start`` has other ``(C, d)``.

    Example:
        >>> m = class_moments(np.array([[0.0], [2.0], [5.0]]), np.array([0, 0, 1]))
        >>> m.n.tolist(), m.mean.flatten().tolist(), m.scatter.flatten().tolist()
        ([2.0, 1.0], [1.0, 5.0], [2.0, 0.0])
    """
    x = as_features(x, "x")
    y, C = _labels(y, x.shape[0], num_classes if start is None else
                   (num_classes or start.num_classes))
    if start is not None and (start.num_classes, start.dim) != (C, x.shape[1]):
        raise ValueError(f"Expected `start` with (C, d) = {(C, x.shape[1])}, got "
                         f"{(start.num_classes, start.dim)}")
    out = start if start is not None else empty_class_moments(C, x.shape[1], device=x.device)
    y = y.to(x.device)
    for i in range(0, x.shape[0], _CHUNK_ROWS):
        xc = x[i:i + _CHUNK_ROWS].to(out.mean.device, torch.float64)
        if not bool(torch.isfinite(xc).all()):
            raise ValueError("Expected finite features `x`, got NaN or inf")
        out = merge_class_moments(out, _chunk_moments(xc, y[i:i + _CHUNK_ROWS].to(
            out.mean.device), C))
    return out


def _warn(reasons: list[str], stacklevel: int = 3) -> None:
    for why in dict.fromkeys(reasons):
        warnings.warn(f"few-shot variability: {why}; returning NaN", RuntimeWarning,
                      stacklevel=stacklevel)


def variabilities(m: ClassMoments) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``V_f(i, j)`` and ``Vt_f(i, j)`` for every ordered pair, as ``(C, C)`` matrices.

    The diagonal is NaN (no pair); an entry is NaN where class ``i`` or ``j`` has no
    samples or their means coincide, and the reasons are returned (not warned).

    Returns:
        ``(V, Vt, reasons)``.
    """
    C = m.num_classes
    cov = m.covariance()  # (C, d, d)
    V = torch.full((C, C), torch.nan, dtype=torch.float64, device=m.mean.device)
    Vt = V.clone()
    reasons = []
    present = m.n > 0
    if not bool(present.all()):
        missing = [int(c) for c in torch.nonzero(~present).flatten()]
        reasons.append(f"classes {missing} have no samples")
    for i in range(C):
        if not bool(present[i]):
            continue
        D = m.mean - m.mean[i]  # (C, d): row j is d_ij
        dist2 = (D * D).sum(1)  # (C,)
        tr = torch.diagonal(cov[i]).sum()
        quad = ((D @ cov[i]) * D).sum(1)  # d_ij^T Sigma_i d_ij
        ok = present & (dist2 > 0)
        ok[i] = False
        if bool(((dist2 == 0) & present).sum() > 1):
            reasons.append("two classes have equal means")
        V[i] = torch.where(ok, tr / dist2.where(ok, 1.0), torch.nan)
        Vt[i] = torch.where(ok, quad / dist2.where(ok, 1.0) ** 2, torch.nan)
    return V, Vt, reasons


def pair_mean(matrix: torch.Tensor) -> float:
    """The mean of the off-diagonal entries of a ``(C, C)`` matrix (NaN if any is NaN)."""
    C = matrix.shape[0]
    if C < 2:
        return float("nan")
    off = matrix[~torch.eye(C, dtype=torch.bool, device=matrix.device)]
    return float(off.mean())


def class_variability(x, y, num_classes: int | None = None) -> dict:
    """``V_f`` and ``Vt_f`` of features ``x (N, d)`` with labels ``y (N,)``, averaged over
    the ordered class pairs ([P1] Proposition 1, THEORY.md s13).

    Returns:
        ``{"V_f", "Vt_f"}`` (floats), ``{"V_pairs", "Vt_pairs"}`` (``(C, C)`` numpy, NaN
        diagonal), ``"n"`` (rows) and ``"C"``. NaN plus a ``RuntimeWarning`` for an absent
        class or equal class means.

    Raises:
        ValueError / TypeError: as :func:`class_moments`; fewer than 2 classes.

    Example:
        >>> x = np.array([[0.0, 0.0], [0.0, 2.0], [4.0, 0.0], [4.0, 2.0]])
        >>> out = class_variability(x, np.array([0, 0, 1, 1]))
        >>> float(out["V_f"]), float(out["Vt_f"])  # variance 1 across, d = 4
        (0.0625, 0.0)
    """
    m = class_moments(x, y, num_classes)
    return _result(m, stacklevel=4)


def _result(m: ClassMoments, stacklevel: int) -> dict:
    if m.num_classes < 2:
        raise ValueError(f"Expected at least 2 classes, got {m.num_classes}")
    V, Vt, reasons = variabilities(m)
    _warn(reasons, stacklevel)
    return {"V_f": pair_mean(V), "Vt_f": pair_mean(Vt), "V_pairs": V.cpu().numpy(),
            "Vt_pairs": Vt.cpu().numpy(), "n": int(m.n.sum()), "C": m.num_classes}


def support_variability(m: ClassMoments, xs, ys) -> torch.Tensor:
    """Directional variability of a support set about the population means, ``(C, C)``.

    ``Vs(i, j) = mean_{s in S_i} <f(x_s) - mu_i, d_ij>^2 / ||d_ij||^4``: the directional
    quantity of ``Vt_f`` estimated on the support points of class ``i`` (an unbiased
    estimate of ``Vt_f(i, j)`` when the support is drawn from ``D_i``). One candidate for
    the open ``Vs_f`` of Proposition 1 (THEORY.md s13 [open]). NaN where class ``i`` has no
    support point, no population samples, or equal means.

    Example:
        >>> pop = class_moments(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 1]))
        >>> vs = support_variability(pop, np.array([[1.0, 5.0], [2.0, 0.0]]), np.array([0, 1]))
        >>> vs[0, 1].item(), vs[1, 0].item()   # <(1, 5), (2, 0)>^2 / 2^4 = 4/16
        (0.25, 0.0)
    """
    xs = as_features(xs, "xs").to(m.mean.device, torch.float64)
    ys, _ = _labels(ys, xs.shape[0], m.num_classes)
    ys = ys.to(m.mean.device)
    if xs.shape[1] != m.dim:
        raise ValueError(f"Expected `xs` with {m.dim} columns, got {xs.shape[1]}")
    C = m.num_classes
    mu = m.mean
    dist2 = _pair_dist2(mu)  # (C, C)
    R = xs - mu[ys]  # (S, d): each support point about its class mean
    # <x_s - mu_i, mu_j - mu_i> = R mu_j - R mu_i, for every j at once
    P = R @ mu.T - (R * mu[ys]).sum(1, keepdim=True)  # (S, C)
    sums = torch.zeros(C, C, dtype=torch.float64, device=mu.device).index_add_(0, ys, P * P)
    counts = torch.bincount(ys, minlength=C).to(torch.float64)
    ok = (counts[:, None] > 0) & (m.n > 0)[:, None] & (m.n > 0)[None, :] & (dist2 > 0)
    ok &= ~torch.eye(C, dtype=torch.bool, device=mu.device)
    mean_sq = sums / counts.clamp_min(1)[:, None]
    return torch.where(ok, mean_sq / dist2.where(ok, 1.0) ** 2, torch.nan)


def _pair_dist2(mu: torch.Tensor) -> torch.Tensor:
    """``||mu_i - mu_j||^2`` for every pair, from differences (no cancellation)."""
    return torch.stack([((mu - mu[i]) ** 2).sum(1) for i in range(mu.shape[0])])


def nearest_mean_accuracy(support_x, support_y, query_x, query_y,
                          num_classes: int | None = None) -> float:
    """Accuracy of the nearest-class-mean classifier fitted on a support set.

    ``h(x) = argmin_c ||f(x) - mean_{s in S_c} f(x_s)||`` (Euclidean, the classifier of
    [P1] Proposition 1; with ``m`` support points per class it is the ``m``-shot NCC).
    A class without support points is never predicted.

    Raises:
        ValueError: shapes disagree, or no class has a support point.

    Example:
        >>> s = np.array([[0.0], [10.0]]); q = np.array([[1.0], [6.0], [4.0]])
        >>> nearest_mean_accuracy(s, np.array([0, 1]), q, np.array([0, 1, 1]))
        0.6666666666666666
    """
    xs = as_features(support_x, "support_x").to(torch.float64)
    xq = as_features(query_x, "query_x").to(xs.device, torch.float64)
    if xs.shape[1] != xq.shape[1]:
        raise ValueError(f"Expected `query_x` with {xs.shape[1]} columns, got {xq.shape[1]}")
    if xs.shape[0] == 0:
        raise ValueError("Expected at least one support point, got none")
    ys, C = _labels(support_y, xs.shape[0], num_classes)
    yq, _ = _labels(query_y, xq.shape[0], None)
    ys = ys.to(xs.device)
    onehot = torch.nn.functional.one_hot(ys, C).to(torch.float64)  # (S, C)
    counts = onehot.sum(0)
    centres = (onehot.T @ xs) / counts.clamp_min(1)[:, None]  # (C, d)
    if xq.shape[0] == 0:
        return float("nan")
    # argmin_c ||x - c||^2 = argmin_c (||c||^2 - 2 x.c): ||x||^2 is the same for every c
    score = (centres * centres).sum(1)[None, :] - 2.0 * (xq @ centres.T)  # (Q, C)
    score[:, counts == 0] = torch.inf
    pred = score.argmin(1)
    return float((pred.cpu() == yq.cpu()).double().mean())


class ClassVariabilityAccumulator:
    """Streaming ``V_f`` / ``Vt_f``: a thin stateful shell over :class:`ClassMoments`.

    ``update(x, y)`` adds rows; ``merge(other)`` adds another accumulator's rows;
    ``compute()`` returns the dict of :func:`class_variability`; ``reset()`` forgets every
    row; ``stats_tensor()`` / ``merge_stats_(t)`` give and merge the state as one flat
    float64 vector (a distributed reduction gathers every rank's vector and merges them).

    Args:
        num_classes: ``C`` (labels in ``[0, C)``).
        dim: the feature width ``d``, to allocate before the first update (optional).

    Example:
        >>> g = np.random.default_rng(0)
        >>> x, y = g.normal(size=(90, 3)), np.arange(90) % 3
        >>> acc = ClassVariabilityAccumulator(3)
        >>> for i in range(0, 90, 25):
        ...     _ = acc.update(x[i:i + 25], y[i:i + 25])
        >>> abs(acc.compute()["Vt_f"] - class_variability(x, y)["Vt_f"]) < 1e-12
        True
    """

    def __init__(self, num_classes: int, *, dim: int | None = None, device=None) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 2:
            raise ValueError(f"Expected `num_classes` >= 2, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.device = None if device is None else torch.device(device)
        self._m: ClassMoments | None = None
        if dim is not None:
            if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
                raise ValueError(f"Expected `dim` >= 1, got {dim!r}")
            self._m = empty_class_moments(self.num_classes, int(dim), device=self.device)

    @property
    def n(self) -> int:
        return 0 if self._m is None else int(self._m.n.sum())

    @property
    def moments(self) -> ClassMoments | None:
        return self._m

    def update(self, x, y) -> ClassVariabilityAccumulator:
        """Add rows ``x (b, d)`` with labels ``y (b,)``."""
        x = as_features(x, "x")
        if self._m is not None and x.shape[1] != self._m.dim:
            raise ValueError(f"Expected features of width {self._m.dim} as before, got "
                             f"shape {tuple(x.shape)}")
        if self._m is None and self.device is not None:
            self._m = empty_class_moments(self.num_classes, x.shape[1], device=self.device)
        self._m = class_moments(x, y, self.num_classes, self._m)
        return self

    def merge(self, other: ClassVariabilityAccumulator) -> ClassVariabilityAccumulator:
        """Merge ``other``'s rows in (in place); returns ``self``."""
        if not isinstance(other, ClassVariabilityAccumulator):
            raise TypeError(f"Expected a ClassVariabilityAccumulator, got "
                            f"{type(other).__name__}")
        if other._m is None:
            return self
        if self._m is None:
            self._m = empty_class_moments(other.num_classes, other._m.dim,
                                          device=other._m.mean.device)
        return self.merge_stats_(other.stats_tensor())

    def stats_tensor(self) -> torch.Tensor:
        """The state as one flat float64 vector (a copy)."""
        if self._m is None:
            raise ValueError("Expected `dim` to be known (an update or dim=d), got None")
        return self._m.flat()

    def merge_stats_(self, t: torch.Tensor) -> ClassVariabilityAccumulator:
        """Merge a vector made by :meth:`stats_tensor` (same ``C`` and ``d``)."""
        if self._m is None:
            raise ValueError("Expected `dim` to be known (an update or dim=d), got None")
        other = ClassMoments.from_flat(torch.as_tensor(t).to(self._m.mean.device),
                                       self.num_classes, self._m.dim)
        self._m = merge_class_moments(self._m, other)
        return self

    def reset(self) -> ClassVariabilityAccumulator:
        """Forget every row (keeps the width)."""
        if self._m is not None:
            self._m = empty_class_moments(self.num_classes, self._m.dim,
                                          device=self._m.mean.device)
        return self

    def compute(self) -> dict:
        """The dict of :func:`class_variability` (NaN plus a warning where undefined)."""
        if self.n == 0:
            raise ValueError("Expected at least one row before compute(), got n=0")
        return _result(self._m, stacklevel=3)
