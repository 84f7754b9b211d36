"""Streaming, mergeable alignment statistics: CKA, RSA, similarity gap, rho, r (THEORY.md s7).

Everything the alignment metrics need is a sum over samples, accumulated in float64, so
streaming equals one-shot, merging two accumulators is addition, and a distributed
reduction is ``all_reduce(SUM)`` of :meth:`AlignmentAccumulator.stats_tensor`.

For features ``X (N, d)`` and ``Y (N, e)`` (rows = samples; ``X`` is the CL model, ``Y``
the NSCL model) one *moment set* holds, for the rows ``x_i``, ``y_i`` with squared norms
``q_i = |x_i|^2``, ``p_i = |y_i|^2``::

    n, sx = sum x_i, sy = sum y_i, Gxx = X^T X, Gyy = Y^T Y, Gxy = X^T Y,
    sum q, sum p, sum q^2, sum p^2, sum q p, X^T q, X^T p, Y^T q, Y^T p

The *cosine* set uses the row-L2-normalised features (the theory's ``Sigma``); the *raw*
set uses the features as they are (the paper code's linear CKA). Every N x N quantity
follows from d x d identities, never forming an N x N matrix (``s_ij = cos(x_i, x_j)``,
``t_ij = cos(y_i, y_j)``):

- ``<K_X, K_Y>_F = ||Xc^T Yc||_F^2`` with ``Xc^T Yc = Gxy - sx sy^T / n`` (``K = H Sigma H``);
- ``sum_{i,j} s_ij t_ij = ||Gxy||_F^2``, ``sum_{i<j} s_ij = (|sx|^2 - sum q)/2``,
  ``sum_{i<j} s_ij^2 = (||Gxx||_F^2 - sum q^2)/2``,
  ``sum_{i<j} s_ij t_ij = (||Gxy||_F^2 - sum qp)/2``;
- ``||Sigma(X) - Sigma(Y)||_F^2 = ||Gxx||_F^2 + ||Gyy||_F^2 - 2 ||Gxy||_F^2``;
- the unbiased HSIC of Song et al. (2012), as used by torch-cka (Nguyen et al. 2021, Eq. 3),
  from ``tr(K~L~) = ||Gxy||^2 - sum qp``, ``1^T K~ 1 = |sx|^2 - sum q`` and
  ``1^T K~ L~ 1 = sx^T Gxy sy - sy.(Y^T q) - sx.(X^T p) + sum qp`` (``K~`` = ``XX^T`` with a
  zero diagonal).

Cost: ``O(N d^2)`` time, ``O(d^2)`` memory (rows are processed in chunks).
Accuracy: raw moments in float64; quantities that are differences of large sums (the gaps)
carry an absolute error of about ``1e-15 ||Sigma||_F^2`` in their squares.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import torch

from empirics._array import as_features, check_pair

__all__ = ["AlignmentAccumulator"]

_KINDS = ("cosine", "linear")
_CHUNK_ROWS = 8192  # rows per float64 chunk: 8192 x 128 x 8 B = 8 MiB per copy
_DEGENERATE_RTOL = 1e-13  # a "variance" below this fraction of its raw scale is zero


def _field_shapes(d: int, e: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        ("n", ()), ("sx", (d,)), ("sy", (e,)), ("Gxx", (d, d)), ("Gyy", (e, e)), ("Gxy", (d, e)),
        ("q", ()), ("p", ()), ("qq", ()), ("pp", ()), ("qp", ()),
        ("Xq", (d,)), ("Xp", (d,)), ("Yq", (e,)), ("Yp", (e,)),
        ("zero_x", ()), ("zero_y", ()),
    ]  # fmt: skip


def _empty_moments(d: int, e: int, device) -> dict[str, torch.Tensor]:
    return {k: torch.zeros(s, dtype=torch.float64, device=device) for k, s in _field_shapes(d, e)}


def _add_chunk(
    m: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    qx: torch.Tensor | None,
    qy: torch.Tensor | None,
) -> None:
    """Add the moments of one float64 chunk ``x (c, d)``, ``y (c, e)`` into ``m`` in place.

    ``qx``, ``qy`` are the rows' squared norms ``(c,)``; ``None`` means every row has norm 1
    (a cosine chunk without zero rows), where ``X^T q = sum x_i`` and the ``q`` sums are ``c``.
    """
    c = x.shape[0]
    ones = x.new_ones(c)
    sx, sy = x.T @ ones, y.T @ ones  # column sums as a gemv: several times faster than sum(0)
    m["n"] += c
    m["sx"] += sx
    m["sy"] += sy
    m["Gxx"].addmm_(x.T, x)
    m["Gyy"].addmm_(y.T, y)
    m["Gxy"].addmm_(x.T, y)
    if qx is None or qy is None:
        for k in ("q", "p", "qq", "pp", "qp"):
            m[k] += c
        m["Xq"] += sx
        m["Xp"] += sx
        m["Yq"] += sy
        m["Yp"] += sy
        return
    m["q"] += qx.sum()
    m["p"] += qy.sum()
    m["qq"] += (qx * qx).sum()  # not `@`: a BLAS dot call costs milliseconds here
    m["pp"] += (qy * qy).sum()
    m["qp"] += (qx * qy).sum()
    m["Xq"].addmv_(x.T, qx)
    m["Xp"].addmv_(x.T, qy)
    m["Yq"].addmv_(y.T, qx)
    m["Yp"].addmv_(y.T, qy)


def _normalise(
    z: torch.Tensor, norm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows scaled to unit norm (zero rows stay zero), their squared norms, the zero mask."""
    zero = norm == 0
    inv = torch.where(zero, 0.0, 1.0 / norm)
    return z * inv[:, None], (~zero).to(z.dtype), zero


def _warn(msg: str) -> float:
    warnings.warn(msg, RuntimeWarning, stacklevel=4)
    return float("nan")


def _fro2(a: torch.Tensor) -> float:
    return float((a * a).sum())


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


# ----------------------------------------------------------------------------- formulas
def _cosine_ok(m: Mapping[str, torch.Tensor], what: str) -> bool:
    zx, zy = int(m["zero_x"]), int(m["zero_y"])
    if zx or zy:
        warnings.warn(
            f"{what}: cosine similarity is undefined for zero rows "
            f"({zx} in X, {zy} in Y); returning NaN",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    return True


def _centred_fro2(m: Mapping[str, torch.Tensor]) -> tuple[float, float, float, float, float]:
    """``||Cxx||^2, ||Cyy||^2, ||Cxy||^2`` (C = centred cross-products) and raw scales."""
    n = float(m["n"])
    cxx = m["Gxx"] - torch.outer(m["sx"], m["sx"]) / n
    cyy = m["Gyy"] - torch.outer(m["sy"], m["sy"]) / n
    cxy = m["Gxy"] - torch.outer(m["sx"], m["sy"]) / n
    return _fro2(cxx), _fro2(cyy), _fro2(cxy), _fro2(m["Gxx"]), _fro2(m["Gyy"])


def _unbiased_hsic(m: Mapping[str, torch.Tensor]) -> tuple[float, float, float]:
    """Unbiased HSIC_1 (Song et al. 2012; Nguyen et al. 2021 Eq. 3) of (X,X), (Y,Y), (X,Y).

    ``HSIC = [tr(K~L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3))``.
    """
    n = float(m["n"])
    sx, sy, Gxx, Gyy, Gxy = m["sx"], m["sy"], m["Gxx"], m["Gyy"], m["Gxy"]
    q, p, qq, pp, qp = (float(m[k]) for k in ("q", "p", "qq", "pp", "qp"))
    kx = _dot(sx, sx) - q  # 1^T K~ 1
    ky = _dot(sy, sy) - p

    def hsic(tr, k1, k2, k1l1):
        return (tr + k1 * k2 / ((n - 1) * (n - 2)) - 2.0 * k1l1 / (n - 2)) / (n * (n - 3))

    xx = hsic(_fro2(Gxx) - qq, kx, kx, _dot(sx, Gxx @ sx) - 2.0 * _dot(sx, m["Xq"]) + qq)
    yy = hsic(_fro2(Gyy) - pp, ky, ky, _dot(sy, Gyy @ sy) - 2.0 * _dot(sy, m["Yp"]) + pp)
    xy = hsic(
        _fro2(Gxy) - qp,
        kx,
        ky,
        _dot(sx, Gxy @ sy) - _dot(sy, m["Yq"]) - _dot(sx, m["Xp"]) + qp,
    )
    return xx, yy, xy


def cka_from_moments(m: Mapping[str, torch.Tensor], *, unbiased: bool = False) -> float:
    """Linear CKA ``<K_X, K_Y>_F / (||K_X||_F ||K_Y||_F)`` of the features the moments hold.

    [P2] Corollary (THEORY.md s7) [stated] when the moments are of the cosine set.
    ``unbiased=True`` replaces each HSIC by its unbiased estimator (needs n >= 4).
    """
    n = float(m["n"])
    if unbiased:
        if n < 4:
            return _warn(f"unbiased CKA needs at least 4 rows, got n={int(n)}; returning NaN")
        xx, yy, xy = _unbiased_hsic(m)  # squared scale: compare with ||Gxx||^2 / n^2
        scale_x, scale_y = _fro2(m["Gxx"]) / n**2, _fro2(m["Gyy"]) / n**2
    else:
        xx, yy, xy, scale_x, scale_y = _centred_fro2(m)
        xx, yy = math.sqrt(xx), math.sqrt(yy)
        scale_x, scale_y = math.sqrt(scale_x), math.sqrt(scale_y)
    if not (xx > _DEGENERATE_RTOL * scale_x and yy > _DEGENERATE_RTOL * scale_y):
        return _warn("CKA: a feature set has zero variance (constant rows); returning NaN")
    if unbiased:
        return xy / math.sqrt(xx * yy)
    return xy / (xx * yy)


def _pair_sums(m: Mapping[str, torch.Tensor]) -> tuple[float, float, float, float, float, float]:
    """``M`` and ``sum_{i<j}`` of ``s, t, s^2, t^2, s t`` (cosines), from Gram moments."""
    n = float(m["n"])
    M = n * (n - 1) / 2.0
    Ss = (_dot(m["sx"], m["sx"]) - float(m["q"])) / 2.0
    St = (_dot(m["sy"], m["sy"]) - float(m["p"])) / 2.0
    Sss = (_fro2(m["Gxx"]) - float(m["qq"])) / 2.0
    Stt = (_fro2(m["Gyy"]) - float(m["pp"])) / 2.0
    Sst = (_fro2(m["Gxy"]) - float(m["qp"])) / 2.0
    return M, Ss, St, Sss, Stt, Sst


def compute_from_moments(m: Mapping[str, torch.Tensor], *, unbiased: bool = False) -> dict:
    """Every cosine-based alignment quantity of THEORY.md s7 from one cosine moment set.

    Returns a dict with ``cka`` (cosine), ``rsa`` (Pearson), ``sim_gap``, ``rho``, ``r``,
    ``cka_lower_from_rho``, ``rsa_lower_from_r``, ``repr_angle`` (degrees),
    ``k_norm`` (``||K_CL||_F``), ``sigma_a`` and ``M``.
    """
    n = int(m["n"])
    out = dict.fromkeys(
        ("cka", "rsa", "sim_gap", "rho", "r", "cka_lower_from_rho", "rsa_lower_from_r",
         "repr_angle", "k_norm", "sigma_a"),
        float("nan"),
    )  # fmt: skip
    out["n"], out["M"] = n, n * (n - 1) // 2
    if not _cosine_ok(m, "alignment metrics"):
        return out
    xx, yy, xy, _, _ = _centred_fro2(m)
    gap2 = _fro2(m["Gxx"]) + _fro2(m["Gyy"]) - 2.0 * _fro2(m["Gxy"])
    out["sim_gap"] = math.sqrt(max(gap2, 0.0))
    out["cka"] = cka = cka_from_moments(m, unbiased=unbiased)
    if not unbiased and math.isfinite(cka):
        out["repr_angle"] = math.degrees(math.acos(min(1.0, max(-1.0, cka))))
    elif unbiased:
        biased = cka_from_moments(m, unbiased=False)
        if math.isfinite(biased):
            out["repr_angle"] = math.degrees(math.acos(min(1.0, max(-1.0, biased))))
    out["k_norm"] = math.sqrt(xx)
    if math.sqrt(xx) > _DEGENERATE_RTOL * math.sqrt(_fro2(m["Gxx"])):
        rho = math.sqrt(max(xx + yy - 2.0 * xy, 0.0)) / math.sqrt(xx)
        out["rho"] = rho
        out["cka_lower_from_rho"] = (1.0 - rho) / (1.0 + rho) if rho < 1.0 else 0.0
    else:
        out["rho"] = _warn("rho: K_CL = 0 (constant rows in X); returning NaN")
    M, Ss, St, Sss, Stt, Sst = _pair_sums(m)
    var_a, var_b = Sss - Ss * Ss / M if M else 0.0, Stt - St * St / M if M else 0.0  # M * var
    if M and var_a > _DEGENERATE_RTOL * Sss and var_b > _DEGENERATE_RTOL * Stt:
        out["rsa"] = (Sst - Ss * St / M) / math.sqrt(var_a * var_b)
    else:
        out["rsa"] = _warn("RSA: the dissimilarities of X or Y have zero variance; returning NaN")
    if M and var_a > _DEGENERATE_RTOL * Sss:
        out["sigma_a"] = math.sqrt(var_a / M)
        r = math.sqrt(max(Sss + Stt - 2.0 * Sst, 0.0)) / math.sqrt(var_a)
        out["r"] = r
        out["rsa_lower_from_r"] = (1.0 - r) / (1.0 + r) if r < 1.0 else -1.0
    else:
        out["r"] = _warn("r: the dissimilarities of X have zero variance; returning NaN")
    return out


# ----------------------------------------------------------------------------- the class
class AlignmentAccumulator:
    """Streaming CKA / RSA / similarity gap / rho / r between two models' features.

    ``update(x, y)`` adds a batch of paired rows (``x`` from the CL model, ``y`` from the
    NSCL model: ``rho`` and ``r`` are normalised by ``x``, THEORY.md s7); ``compute()``
    returns the dict below; ``merge(other)`` adds another accumulator's statistics;
    ``stats_tensor()`` / ``from_stats_tensor(t)`` give and load the flat float64 vector of
    additive statistics, so ``torch.distributed.all_reduce(t, SUM)`` merges ranks.

    Args:
        kind: which CKA ``compute()["cka"]`` reports: ``"cosine"`` (the theory's: linear CKA of
            row-L2-normalised features, i.e. of ``H Sigma H``) or ``"linear"`` (raw features,
            as the paper's code). Both are always in ``cka_cosine`` / ``cka_linear`` when
            ``linear`` is on.
        linear: also keep the raw-feature moments (for ``cka_linear``); ``False`` halves the
            cost.
        unbiased: use the unbiased HSIC estimator (as torch-cka) in every CKA.
        dims: ``(d, e)`` feature widths, to allocate before the first update (needed on a
            rank that may receive no rows before a distributed reduction).
        device: where the float64 statistics live (default: the first batch's device).

    ``compute()`` keys: ``n``, ``M``, ``cka``, ``cka_kind``, ``cka_cosine``, ``cka_linear``
    (NaN if ``linear=False``), ``rsa`` (Pearson), ``sim_gap``, ``rho``, ``r``,
    ``cka_lower_from_rho``, ``rsa_lower_from_r`` (the corollaries' lower bounds, 0 and -1 when
    vacuous), ``repr_angle`` (degrees, ``arccos`` of the biased cosine CKA), ``k_norm``
    (``||K_CL||_F``) and ``sigma_a`` (population std of CL's dissimilarities).

    Example:
        >>> import numpy as np
        >>> g = np.random.default_rng(0)
        >>> X, Y = g.normal(size=(100, 5)), g.normal(size=(100, 3))
        >>> acc = AlignmentAccumulator()
        >>> for i in range(0, 100, 30):
        ...     _ = acc.update(X[i:i + 30], Y[i:i + 30])
        >>> from empirics.metrics import cka
        >>> abs(acc.compute()["cka"] - cka(X, Y)) < 1e-12
        True
    """

    def __init__(
        self,
        kind: str = "cosine",
        *,
        linear: bool = True,
        unbiased: bool = False,
        dims: tuple[int, int] | None = None,
        device: str | torch.device | None = None,
    ):
        if kind not in _KINDS:
            raise ValueError(f"Expected `kind` in {_KINDS}, got {kind!r}")
        if kind == "linear" and not linear:
            raise ValueError(f"Expected `linear`=True when `kind`='linear', got linear={linear!r}")
        self.kind, self.linear, self.unbiased = kind, bool(linear), bool(unbiased)
        self.device = None if device is None else torch.device(device)
        self._cos: dict[str, torch.Tensor] | None = None
        self._raw: dict[str, torch.Tensor] | None = None
        self.dims: tuple[int, int] | None = None
        if dims is not None:
            d, e = dims
            if not (isinstance(d, int) and isinstance(e, int) and d >= 1 and e >= 1):
                raise ValueError(f"Expected `dims` = (d, e) with positive ints, got {dims!r}")
            self._allocate(d, e, self.device or torch.device("cpu"))

    # -- state ---------------------------------------------------------------------------
    def _allocate(self, d: int, e: int, device) -> None:
        self.dims, self.device = (d, e), torch.device(device)
        self._cos = _empty_moments(d, e, self.device)
        self._raw = _empty_moments(d, e, self.device) if self.linear else None

    def _sets(self) -> list[dict[str, torch.Tensor]]:
        return [s for s in (self._cos, self._raw) if s is not None]

    def reset(self) -> AlignmentAccumulator:
        """Zero the statistics (keeps the feature widths)."""
        for s in self._sets():
            for v in s.values():
                v.zero_()
        return self

    @property
    def n(self) -> int:
        return 0 if self._cos is None else int(self._cos["n"])

    # -- streaming -----------------------------------------------------------------------
    def update(self, x, y) -> AlignmentAccumulator:
        """Add paired rows ``x (b, d)``, ``y (b, e)`` (numpy or torch; any float dtype)."""
        x, y = as_features(x, "x"), as_features(y, "y")
        check_pair(x, y, "x", "y")
        if self.dims is None:
            self._allocate(x.shape[1], y.shape[1], self.device or x.device)
        if (x.shape[1], y.shape[1]) != self.dims:
            raise ValueError(
                f"Expected feature widths (d, e) = {self.dims} as in earlier updates, "
                f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
            )
        for i in range(0, x.shape[0], _CHUNK_ROWS):
            xc = x[i : i + _CHUNK_ROWS].to(self.device, torch.float64)
            yc = y[i : i + _CHUNK_ROWS].to(self.device, torch.float64)
            # row norms in one fused pass (no (c, d) temporary); q = |row|^2
            nx, ny = torch.linalg.vector_norm(xc, dim=1), torch.linalg.vector_norm(yc, dim=1)
            if not bool(torch.isfinite(nx.sum() + ny.sum())):  # NaN/inf anywhere shows here
                raise ValueError("Expected finite values in `x` and `y`, got NaN or inf")
            qx, qy = nx * nx, ny * ny
            xn, ux, zx = _normalise(xc, nx)
            yn, uy, zy = _normalise(yc, ny)
            n_zero_x, n_zero_y = int(zx.sum()), int(zy.sum())
            self._cos["zero_x"] += n_zero_x
            self._cos["zero_y"] += n_zero_y
            if n_zero_x or n_zero_y:
                _add_chunk(self._cos, xn, yn, ux, uy)
            else:  # every normalised row has |x_i|^2 = 1 exactly: the q-moments are counts
                _add_chunk(self._cos, xn, yn, None, None)
            if self._raw is not None:
                _add_chunk(self._raw, xc, yc, qx, qy)
        return self

    def merge(self, other: AlignmentAccumulator) -> AlignmentAccumulator:
        """Add ``other``'s statistics into this accumulator (in place); returns ``self``."""
        if not isinstance(other, AlignmentAccumulator):
            raise TypeError(f"Expected an AlignmentAccumulator, got {type(other).__name__}")
        if other.dims is None:
            return self
        if self.dims is None:
            self._allocate(*other.dims, self.device or other.device)
        if other.dims != self.dims or other.linear != self.linear:
            raise ValueError(
                f"Expected an accumulator with dims {self.dims} and linear={self.linear}, "
                f"got dims {other.dims} and linear={other.linear}"
            )
        for mine, theirs in zip(self._sets(), other._sets(), strict=True):
            for k in mine:
                mine[k] += theirs[k].to(self.device)
        return self

    # -- flat vector for all_reduce(SUM) -------------------------------------------------
    def stats_tensor(self, device: str | torch.device | None = None) -> torch.Tensor:
        """All additive statistics as one flat float64 vector (a copy)."""
        if self.dims is None:
            raise ValueError("Expected `dims` to be known (an update or dims=(d, e)), got None")
        flat = torch.cat([v.reshape(-1) for s in self._sets() for v in s.values()])
        return flat if device is None else flat.to(device)

    def from_stats_tensor(self, t: torch.Tensor) -> AlignmentAccumulator:
        """Load the statistics from a flat vector made by :meth:`stats_tensor`; returns self."""
        if self.dims is None:
            raise ValueError("Expected `dims` to be known (an update or dims=(d, e)), got None")
        t = torch.as_tensor(t).reshape(-1)
        size = sum(v.numel() for s in self._sets() for v in s.values())
        if t.numel() != size:
            raise ValueError(
                f"Expected a stats vector of length {size} for dims {self.dims} and "
                f"linear={self.linear}, got length {t.numel()}"
            )
        t = t.to(self.device, torch.float64)
        i = 0
        for s in self._sets():
            for k, v in s.items():
                s[k] = t[i : i + v.numel()].reshape(v.shape).clone()
                i += v.numel()
        return self

    def state_dict(self) -> dict:
        """A plain dict (kind, flags, dims, flat stats on CPU) for ``torch.save``."""
        stats = None if self.dims is None else self.stats_tensor("cpu")
        return {"version": 1, "kind": self.kind, "linear": self.linear,
                "unbiased": self.unbiased, "dims": self.dims, "stats": stats}  # fmt: skip

    def load_state_dict(self, state: Mapping) -> AlignmentAccumulator:
        """Restore from :meth:`state_dict`; returns ``self``."""
        if state.get("version") != 1:
            raise ValueError(f"Expected accumulator state version 1, got {state.get('version')!r}")
        self.kind, self.linear, self.unbiased = state["kind"], state["linear"], state["unbiased"]
        self._cos = self._raw = self.dims = None
        if state["dims"] is not None:
            self._allocate(*state["dims"], self.device or torch.device("cpu"))
            self.from_stats_tensor(state["stats"])
        return self

    # -- results -------------------------------------------------------------------------
    def compute(self) -> dict:
        """All alignment quantities (class docstring); NaN + RuntimeWarning if degenerate."""
        if self.n == 0:
            raise ValueError("Expected at least one row before compute(), got n=0")
        out = compute_from_moments(self._cos, unbiased=self.unbiased)
        out["cka_cosine"] = out["cka"]
        out["cka_linear"] = (
            cka_from_moments(self._raw, unbiased=self.unbiased)
            if self._raw is not None
            else float("nan")
        )
        out["cka"] = out["cka_linear"] if self.kind == "linear" else out["cka_cosine"]
        out["cka_kind"] = self.kind + ("-unbiased" if self.unbiased else "")
        return out
