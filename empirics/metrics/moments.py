"""The mergeable statistics behind every alignment metric: shifted moments (pure functions).

For paired rows ``x_i`` (``d`` wide) and ``y_i`` (``e`` wide) -- unit rows for the cosine
statistics, raw rows for linear CKA -- one :class:`Moments` holds, about a *shift*
``(cx, cy)``, with ``w_i = (x_i - cx) 2^-ex``, ``z_i = (y_i - cy) 2^-ey``, ``g_i = |w_i|^2``,
``h_i = |z_i|^2``::

    n, Sw = sum w, Sz = sum z, Gww = W^T W, Gzz = Z^T Z, Gwz = W^T Z,
    Sg = sum g, Sh = sum h, Sgg = sum g^2, Shh = sum h^2, Sgh = sum g h,
    Wg = W^T g, Wh = W^T h, Zg = Z^T g, Zh = Z^T h

plus ``cx, cy`` (in units of ``2^ex``, ``2^ey``), the exponents ``ex, ey`` and the zero-row
counts. These are the moments the d x d identities of THEORY.md s7 need (see
:mod:`empirics.metrics.quantities`); every quantity built from them is invariant under the
shift, which is what makes the choice of shift free.

*Difference moments* (cosine sets with ``d == e``, :func:`has_differences`): with the
unit-row differences ``D_i = x_i - y_i`` taken about a third shift ``cd``,
``delta_i = D_i - cd`` (a chunk takes ``delta = w - z``, exact by Sterbenz's lemma where
``x_i`` and ``y_i`` are close, about ``cd = cx - cy``) and
``s_i = delta_i . z_i + |delta_i|^2 / 2`` (``= (g_i - h_i) / 2`` without its cancellation),
the set also holds::

    cd, Sd = sum delta, Gdd = Delta^T Delta, Gzd = Z^T Delta,
    Ss = sum s, Sss = sum s^2, Zs = Z^T s, Ds = Delta^T s

From them the gaps between nearly identical representations are sums of small terms
(``Sigma(X) - Sigma(Y) = Y D^T + D Y^T + D D^T``), see :mod:`empirics.metrics.quantities`.
They cost no extra ``d x d`` product: of ``Gww, Gzz, Gwz, Gdd, Gzd`` a chunk computes three,
on the side with the smaller rows, and derives the other two exactly (``W = Z + Delta``);
``delta`` and ``Delta^T [g, h, 1, s]`` add two passes over the rows, ``s`` two more where
the rows are close.

**Why a shift.** About zero, rows that nearly collapse onto one direction make ``W^T W``
the huge ``n v v^T`` plus the tiny covariance, and the centred moments cancel (relative
error ``1e-16 / spread^2``). So a chunk's rows are taken about a *pilot*, its first row
(:func:`centred_unit_rows`, :func:`centred_scaled_rows`): rows equal to it give exact zeros
(constant features are recognised exactly). Unit rows ``x_i / |x_i| - x_0 / |x_0|``
(cosine) round each entry once (``2^-53``, a direction's float64 resolution); raw rows
``(x_i - x_0) 2^-k`` (linear CKA) round once relative to the difference, at any collapse,
and ``2^-k`` keeps the largest row norm near 1 outside ``[2^-100, 2^100]`` (no fourth
moment over- or underflows). Any finite input (``1e-300`` to ``1e300``) is accepted.

- :func:`of_chunk` -- the moments of one chunk about its first row (its pilot), in a few
  passes: three ``(c, d) x (c, d)`` products, three skinny ones, two row-norm passes (and
  two to four more passes over the rows for the difference moments).
- :func:`shift` -- the same moments about another shift, in closed form (``O(d^2)``).
- :func:`merge` -- Chan et al.'s parallel update ("Updating formulae and a pairwise
  algorithm for computing sample variances", 1979) generalised to these moments: both
  sets move to the combined mean and are added, so no merge loses precision; exact,
  associative and commutative up to rounding; streaming equals one-shot.
- :func:`rescale` -- the same moments in units of another power of two (exact).
- :func:`accumulate` -- the moments of whole inputs ``(N, d)``, ``(N, e)``, in row chunks.
- :func:`upgrade` -- a vector of the former layout (no difference moments) in this one.

Merging is not addition (the shifts differ): a distributed reduction gathers every rank's
:func:`to_flat` vector and merges them in rank order (``DistContext.reduce_accumulator_``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import torch

__all__ = [
    "DIFF_FIELDS",
    "FIELDS",
    "Moments",
    "accumulate",
    "centred_scaled_rows",
    "centred_unit_rows",
    "checked_norms",
    "empty",
    "from_flat",
    "has_differences",
    "merge",
    "of_chunk",
    "rescale",
    "s_moments",
    "scale_exponent",
    "shift",
    "size",
    "to_flat",
    "upgrade",
]

_CHUNK_ROWS = 8192  # rows per float64 chunk: 8192 x 128 x 8 B = 8 MiB per copy

# name, shape as a function of (d, e), degree in the x scale, degree in the y scale
FIELDS: tuple[tuple[str, str, int, int], ...] = (
    ("n", "", 0, 0), ("ex", "", 0, 0), ("ey", "", 0, 0),
    ("zero_x", "", 0, 0), ("zero_y", "", 0, 0),
    ("cx", "d", 1, 0), ("cy", "e", 0, 1),
    ("Sw", "d", 1, 0), ("Sz", "e", 0, 1),
    ("Gww", "dd", 2, 0), ("Gzz", "ee", 0, 2), ("Gwz", "de", 1, 1),
    ("Sg", "", 2, 0), ("Sh", "", 0, 2), ("Sgg", "", 4, 0), ("Shh", "", 0, 4), ("Sgh", "", 2, 2),
    ("Wg", "d", 3, 0), ("Wh", "d", 1, 2), ("Zg", "e", 2, 1), ("Zh", "e", 0, 3),
)  # fmt: skip
# appended when has_differences(d, e, cosine): unit rows only, which are never rescaled
DIFF_FIELDS: tuple[tuple[str, str], ...] = (
    ("cd", "d"), ("Sd", "d"), ("Gdd", "dd"), ("Gzd", "ed"),
    ("Ss", ""), ("Sss", ""), ("Zs", "e"), ("Ds", "d"),
)  # fmt: skip


def has_differences(d: int, e: int, cosine: bool) -> bool:
    """Whether moments of widths ``(d, e)`` and this kind keep the difference moments."""
    return bool(cosine) and d == e


@lru_cache(maxsize=64)
def _layout(d: int, e: int, diff: bool = False) -> tuple[dict[str, tuple[int, ...]], int]:
    sizes = {"d": d, "e": e}
    out, pos = {}, 0
    for name, shape in [f[:2] for f in FIELDS] + (list(DIFF_FIELDS) if diff else []):
        dims = tuple(sizes[s] for s in shape)
        out[name] = (pos, dims)
        pos += math.prod(dims)
    return out, pos


@lru_cache(maxsize=32)
def _degrees(d: int, e: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-entry degrees of the flat vector in the x and y scales (for :func:`rescale`)."""
    layout, size = _layout(d, e)
    dx, dy = torch.zeros(size, dtype=torch.int32), torch.zeros(size, dtype=torch.int32)
    for name, _, kx, ky in FIELDS:
        pos, dims = layout[name]
        dx[pos : pos + math.prod(dims)] = kx
        dy[pos : pos + math.prod(dims)] = ky
    return dx, dy


@dataclass(frozen=True, eq=False)
class Moments:
    """One set of shifted moments as a flat float64 vector (see the module docstring).

    ``m["Gww"]`` is a view of the field. ``cosine`` says the rows were unit vectors (their
    centred coordinates are then exact to about ``1e-16`` absolute, see
    :func:`centred_unit_rows`); ``diff`` that the set holds the difference moments
    (cosine and ``d == e``). Treat as immutable: the functions here return new ones.
    """

    flat: torch.Tensor
    d: int
    e: int
    cosine: bool
    _views: dict = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def diff(self) -> bool:
        return has_differences(self.d, self.e, self.cosine)

    def __getitem__(self, name: str) -> torch.Tensor:
        view = self._views.get(name)  # views of flat stay valid: flat is never replaced
        if view is None:
            pos, dims = _layout(self.d, self.e, self.diff)[0][name]
            view = self._views[name] = self.flat[pos : pos + math.prod(dims)].view(dims)
        return view

    @property
    def n(self) -> int:
        return int(self.flat[0])

    def exponents(self) -> tuple[int, int]:
        return int(self.flat[1]), int(self.flat[2])


def size(d: int, e: int, *, cosine: bool = True) -> int:
    """Length of the flat vector of moments for widths ``(d, e)`` and this kind."""
    return _layout(d, e, has_differences(d, e, cosine))[1]


def empty(d: int, e: int, *, cosine: bool, device=None) -> Moments:
    """Moments of no rows (the identity of :func:`merge`)."""
    n = size(d, e, cosine=cosine)
    return Moments(torch.zeros(n, dtype=torch.float64, device=device), d, e, cosine)


def to_flat(m: Moments) -> torch.Tensor:
    """The flat float64 vector of ``m`` (a copy)."""
    return m.flat.clone()


def from_flat(t: torch.Tensor, d: int, e: int, *, cosine: bool) -> Moments:
    """Moments from a vector made by :func:`to_flat` (copied, float64, on ``t``'s device)."""
    t = torch.as_tensor(t).reshape(-1)
    want = size(d, e, cosine=cosine)
    if t.numel() != want:
        raise ValueError(f"Expected a moments vector of length {want}, got length {t.numel()}")
    return Moments(t.to(torch.float64).clone(), d, e, cosine)


def upgrade(t: torch.Tensor, d: int, e: int, *, cosine: bool) -> Moments:
    """Moments from a vector of the former layout (:data:`FIELDS` only, no differences).

    Difference moments are derived from the Gram moments (``delta = w - z`` about
    ``cd = cx - cy``, ``s = (g - h) / 2``: ``Sd = Sw - Sz``, ``Gdd = Gww - Gwz - Gwz^T + Gzz``,
    ...): they cancel, so the gaps of such a set stay as accurate as the former ones (about
    ``1e-8`` of their scale), also once merged with rows accumulated here.

    Example:
        >>> w = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
        >>> m = of_chunk(w, w / 2, torch.zeros(2), torch.zeros(2), cosine=True)
        >>> old = m.flat[: size(2, 2, cosine=False)]
        >>> torch.equal(upgrade(old, 2, 2, cosine=True).flat, m.flat)
        True
    """
    t = torch.as_tensor(t).reshape(-1).to(torch.float64)
    base = size(d, e, cosine=False)
    if t.numel() != base:
        raise ValueError(f"Expected a moments vector of length {base}, got length {t.numel()}")
    if not has_differences(d, e, cosine):
        return Moments(t.clone(), d, e, cosine)
    out = empty(d, e, cosine=cosine, device=t.device)
    out.flat[:base] = t
    Gwz, Gzz = out["Gwz"], out["Gzz"]
    out["cd"].copy_(out["cx"] - out["cy"])
    out["Sd"].copy_(out["Sw"] - out["Sz"])
    out["Gzd"].copy_(Gwz.T - Gzz)
    out["Gdd"].copy_(out["Gww"] - Gwz - Gwz.T + Gzz)
    out["Ss"].copy_((out["Sg"] - out["Sh"]) / 2.0)
    out["Sss"].copy_((out["Sgg"] - 2.0 * out["Sgh"] + out["Shh"]) / 4.0)
    out["Zs"].copy_((out["Zg"] - out["Zh"]) / 2.0)
    out["Ds"].copy_((out["Wg"] - out["Wh"] - out["Zg"] + out["Zh"]) / 2.0)
    return out


# ----------------------------------------------------------------------------- rows of a chunk
_NORM_OK = (2.0**-450, 2.0**450)  # row norms here come from sums of squares without loss
_RAW_OK = (2.0**-100, 2.0**100)  # raw chunks whose largest norm is here are not rescaled


def checked_norms(x: torch.Tensor, names: str) -> tuple[torch.Tensor, bool]:
    """Row L2 norms of a float64 chunk and whether all lie in the safe range (no rescaling).

    Raises:
        ValueError: ``x`` holds NaN or inf (``names`` says which arguments, for the message).
    """
    norm = torch.linalg.vector_norm(x, dim=1)
    lo, hi = torch.aminmax(norm)  # NaN, inf, 0 and norms that under/overflowed show here
    ok = bool(lo > _NORM_OK[0]) and bool(hi < _NORM_OK[1])
    if not ok and not bool(torch.isfinite(x).all()):
        raise ValueError(f"Expected finite values in {names}, got NaN or inf")
    return norm, ok


def centred_unit_rows(
    x: torch.Tensor, norm: torch.Tensor, ok: bool, pilot: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(w, pilot, zero_rows)``: ``w = x / |x| - pilot`` row by row for a finite float64
    chunk ``x (c, d)`` (``norm, ok`` from :func:`checked_norms`); the pilot defaults to the
    first unit row (row 0 then gives exact zeros); zero rows stay zero before centring.

    Example:
        >>> x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
        >>> w, p, z = centred_unit_rows(x, *checked_norms(x, "`x`"))
        >>> p.tolist(), w[2].tolist(), z
        ([0.6, 0.8], [0.0, 0.0], 0)
    """
    zero = 0
    if not ok:  # some norm is 0 or under/overflowed: scale rows by powers of two (exact)
        amax = torch.linalg.vector_norm(x, ord=float("inf"), dim=1)  # 2^k: [0.5, 1) per row
        x = torch.ldexp(x, -torch.frexp(amax).exponent[:, None])
        norm = torch.linalg.vector_norm(x, dim=1)
        is_zero = norm == 0
        zero = int(is_zero.sum())
        norm = norm.masked_fill(is_zero, 1.0)  # zero rows stay zero
    if pilot is None:
        pilot = x[0] / norm[0]
    # one pass: -pilot + x / |x|, the quotient rounded first (a row equal to the pilot's gives
    # exact zeros; a fused x * (1/|x|) - pilot would not)
    w = torch.addcdiv(-pilot, x, norm[:, None])
    return w, pilot, zero


def scale_exponent(x: torch.Tensor, norm: torch.Tensor) -> int:
    """``k`` such that ``x 2^-k`` has its largest row norm near 1 (0 for usual scales)."""
    top = norm.max()
    if _RAW_OK[0] < float(top) < _RAW_OK[1]:
        return 0
    if _NORM_OK[0] < float(top) < _NORM_OK[1]:
        return int(torch.frexp(top).exponent)
    # the largest norm under/overflowed: take the largest entry instead
    return int(torch.frexp(torch.linalg.vector_norm(x, ord=float("inf"))).exponent)


def centred_scaled_rows(
    x: torch.Tensor, k: int, pilot: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``w = x 2^-k - pilot`` and the pilot (default ``x_0 2^-k``, the first scaled row).

    Example:
        >>> x = torch.tensor([[1e200, 0.0], [1e200, 1e199]], dtype=torch.float64)
        >>> k = scale_exponent(x, checked_norms(x, "`x`")[0])
        >>> w, p = centred_scaled_rows(x, k)
        >>> k, bool(torch.isfinite(w).all()), float(w[1, 1] * 2.0**k) == 1e199
        (665, True, True)
    """
    if k:
        x = torch.ldexp(x, torch.tensor(-k, dtype=torch.int32))
    if pilot is None:
        pilot = x[0].clone()
    return x - pilot, pilot


# ----------------------------------------------------------------------------- one chunk
def of_chunk(w: torch.Tensor, z: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, *,
             ex: int = 0, ey: int = 0, zero_x: int = 0, zero_y: int = 0, cosine: bool,
             consume: bool = False) -> Moments:
    """Moments of centred float64 rows ``w (c, d)``, ``z (c, e)`` about ``(cx, cy)``.

    With difference moments (:func:`has_differences`) ``delta = w - z`` about
    ``cd = cx - cy``; of ``Gww, Gzz, Gwz, Gdd, Gzd`` three products are formed and two
    derived through ``W = Z + Delta``, the base being the side with the smaller rows (each
    derived moment rounds at most a few times as much as a product). ``consume=True`` lets
    ``delta`` overwrite the other side's rows (the caller must not use ``w``, ``z`` after).

    Example:
        >>> w = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
        >>> m = of_chunk(w, w, torch.zeros(1), torch.zeros(1), cosine=False)
        >>> m.n, m["Sw"].item(), m["Gww"].item(), m["Sgg"].item(), m["Wg"].item()
        (3, 3.0, 5.0, 17.0, 9.0)
        >>> m = of_chunk(w, w / 2, torch.zeros(1), torch.zeros(1), cosine=True)
        >>> m["Sd"].item(), m["Gdd"].item(), m["Gzd"].item(), m["Gwz"].item(), m["Ss"].item()
        (1.5, 1.25, 1.25, 2.5, 1.875)
    """
    c, d = w.shape
    e = z.shape[1]
    g = torch.linalg.vector_norm(w, dim=1).square_()
    h = torch.linalg.vector_norm(z, dim=1).square_()
    V = torch.stack((g, h, torch.ones_like(g)), dim=1)  # (c, 3)
    VV = V.T @ V  # (3, 3)
    head = torch.tensor([c, ex, ey, zero_x, zero_y], dtype=torch.float64, device=w.device)
    parts = {"cx": cx, "cy": cy, "Sg": VV[0, 2], "Sh": VV[1, 2], "Sgg": VV[0, 0],
             "Shh": VV[1, 1], "Sgh": VV[0, 1]}  # fmt: skip
    diff = has_differences(d, e, cosine)
    if not diff:
        VW, VZ = V.T @ w, V.T @ z  # (3, d), (3, e): every vector moment
        parts.update(Gww=w.T @ w, Gzz=z.T @ z, Gwz=w.T @ z)
    elif VV[1, 2] <= VV[0, 2]:  # |Z| <= |W|: Z is the base, W = Z + Delta
        VW = V.T @ w  # before delta may overwrite w
        delta = torch.sub(w, z, out=w) if consume else w - z  # exact where close (Sterbenz)
        Gdd = delta.T @ delta
        V = torch.cat((V, _s(delta, z, 0.5, Gdd, V)[:, None]), dim=1)  # s = (g - h) / 2
        VZ, VD = V.T @ z, V.T @ delta  # (4, e), (4, d)
        Gzz, Gzd = z.T @ z, z.T @ delta
        Gwz = Gzz + Gzd.T
        Gww = Gwz + Gzd + Gdd
        Zs = VZ[3]
    else:  # |W| < |Z|: W is the base, Z = W - Delta
        VZ = V.T @ z
        delta = torch.sub(w, z, out=z) if consume else w - z
        Gdd = delta.T @ delta
        V = torch.cat((V, _s(delta, w, -0.5, Gdd, V)[:, None]), dim=1)
        VW, VD = V.T @ w, V.T @ delta
        Gww, Gwd = w.T @ w, w.T @ delta
        Gwz = Gww - Gwd
        Gzz = Gwz - Gwd.T + Gdd
        Gzd = Gwd - Gdd
        Zs = VW[3] - VD[3]  # sum (w - delta) s
    if diff:
        VV = V.T @ V  # (4, 4) with s
        parts.update(Gww=Gww, Gzz=Gzz, Gwz=Gwz, cd=cx - cy, Sd=VD[2], Gdd=Gdd, Gzd=Gzd,
                     Ss=VV[3, 2], Sss=VV[3, 3], Zs=Zs, Ds=VD[3])  # fmt: skip
    parts.update(Sw=VW[2], Sz=VZ[2], Wg=VW[0], Wh=VW[1], Zg=VZ[0], Zh=VZ[1])
    names = list(_layout(d, e, diff)[0])[5:]
    flat = torch.cat([head] + [parts[name].reshape(-1) for name in names])
    return Moments(flat, d, e, cosine)


def _s(delta, base, half: float, Gdd: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``s = (g - h) / 2`` row by row, without its cancellation where the rows are close:
    ``s = delta.base + half |delta|^2`` (``half = 1/2`` for the base ``z``, ``-1/2`` for
    ``w``), both terms of the size of ``s``. When ``sum |delta|^2 >= (sum g + sum h) / 4``
    (e.g. unrelated features) ``(g - h) / 2`` is as accurate and costs no pass."""
    g, h = V[:, 0], V[:, 1]
    if 4.0 * float(Gdd.diagonal().sum()) >= float(g.sum() + h.sum()):
        return (g - h).mul_(0.5)
    dots = (delta.unsqueeze(1) @ base.unsqueeze(2)).view(-1)  # (c,) row dot products
    return torch.linalg.vector_norm(delta, dim=1).square_().mul_(half).add_(dots)


# ----------------------------------------------------------------------------- algebra
def shift(m: Moments, cx: torch.Tensor, cy: torch.Tensor,
          cd: torch.Tensor | None = None) -> Moments:
    """The moments of ``m`` about the new shift ``(cx, cy)`` (in ``m``'s units).

    With ``a = cx - m.cx``, ``w' = w - a``, ``g' = |w'|^2 = g - 2 w.a + |a|^2`` (and the same
    for ``z``, ``b = cy - m.cy``), expand every sum; e.g. ``Gww' = Gww - Sw' a^T - a Sw^T``
    with ``Sw' = Sw - n a``, and ``Wg' = Wg - 2 Gww a + |a|^2 Sw - a Sg'``.
    ``O(d^2 + e^2 + d e)``; the moments move by the float ``a``, whose rounding is relative
    to ``|a|`` (the spread), not ``|cx|``. Difference moments move to ``cd`` (default
    ``cx - cy``) the same way.

    Example:
        >>> w = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
        >>> m = of_chunk(w, w, torch.zeros(1), torch.zeros(1), cosine=False)
        >>> s = shift(m, torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
        >>> s["Sw"].item(), s["Gww"].item(), s["Sgg"].item(), s["cx"].item()  # about 1
        (0.0, 2.0, 2.0, 1.0)
    """
    a, b = cx - m["cx"], cy - m["cy"]
    n = float(m.flat[0])
    out = Moments(m.flat.clone(), m.d, m.e, m.cosine)
    if m.diff:  # reads m, writes only the difference moments of out
        _shift_differences(out, m, cx - cy if cd is None else cd, b, n)
    if not (bool(a.any()) or bool(b.any())):
        out["cx"].copy_(cx)
        out["cy"].copy_(cy)
        return out
    Sw, Sz, Gww, Gzz, Gwz = m["Sw"], m["Sz"], m["Gww"], m["Gzz"], m["Gwz"]
    Sg, Sh = float(m["Sg"]), float(m["Sh"])
    aa, bb, aS, bS = float(a @ a), float(b @ b), float(a @ Sw), float(b @ Sz)
    # every product in one form (matrix @ vector), so that X = Y gives bitwise equal moments
    Ga, Gb, Gwz_b, Gzw_a = Gww @ a, Gzz @ b, Gwz @ b, Gwz.T.contiguous() @ a
    out["cx"].copy_(cx)
    out["cy"].copy_(cy)
    out["Sw"].sub_(n * a)
    out["Sz"].sub_(n * b)
    for name, (P, p, Q, q) in {"Gww": (Sw, a, Sw, a), "Gzz": (Sz, b, Sz, b),
                               "Gwz": (Sw, a, Sz, b)}.items():  # fmt: skip
        # sum (u - p)(v - q)^T = G - P q^T - p Q^T + n p q^T
        out[name].sub_(torch.outer(P, q)).sub_(torch.outer(p, Q)).add_(torch.outer(p, q), alpha=n)
    Sg2 = Sg - 2.0 * aS + n * aa  # sum |w - a|^2
    Sh2 = Sh - 2.0 * bS + n * bb
    out["Sg"].fill_(Sg2)
    out["Sh"].fill_(Sh2)
    # sum (u - p) |v - q|^2 = Pg - 2 G q + |q|^2 P - p Sg'
    for name, (Pg, Gq, P, qq, p, Sg_new) in {
        "Wg": (m["Wg"], Ga, Sw, aa, a, Sg2), "Wh": (m["Wh"], Gwz_b, Sw, bb, a, Sh2),
        "Zg": (m["Zg"], Gzw_a, Sz, aa, b, Sg2), "Zh": (m["Zh"], Gb, Sz, bb, b, Sh2),
    }.items():  # fmt: skip
        out[name].copy_(Pg - 2.0 * Gq + qq * P - Sg_new * p)
    # sum |u - p|^2 |v - q|^2, expanded (u.p, v.q terms through the vector moments)
    for name, (S2, Qg, Ph, Sg_, Sh_, SwP, SzQ, p, q, Gq) in {
        "Sgg": (float(m["Sgg"]), m["Wg"], m["Wg"], Sg, Sg, Sw, Sw, a, a, Ga),
        "Shh": (float(m["Shh"]), m["Zh"], m["Zh"], Sh, Sh, Sz, Sz, b, b, Gb),
        "Sgh": (float(m["Sgh"]), m["Zg"], m["Wh"], Sg, Sh, Sw, Sz, a, b, Gwz_b),
    }.items():  # fmt: skip
        pp, qq = float(p @ p), float(q @ q)
        out[name].fill_(
            S2 - 2.0 * float(q @ Qg) + qq * Sg_ - 2.0 * float(p @ Ph) + 4.0 * float(p @ Gq)
            - 2.0 * qq * float(p @ SwP) + pp * Sh_ - 2.0 * pp * float(q @ SzQ) + n * pp * qq
        )  # fmt: skip
    return out


def _vd(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())  # not a BLAS dot: its thread start-up costs milliseconds


def s_moments(m: Moments, p: torch.Tensor, b: torch.Tensor, *, vectors: bool = True
              ) -> tuple[float, float, torch.Tensor | None, torch.Tensor | None]:
    """``(Ss, Sss, Zs, Ds)`` of ``m`` with ``delta`` moved by ``p`` and ``z`` by ``b``.

    ``s' = (delta - p).(z - b + (delta - p) / 2) = s - z.p - delta.q + k`` with ``q = b + p``
    and ``k = b.p + |p|^2 / 2``; every sum expanded through the Gram and vector moments
    (``O(d^2)``; ``vectors=False``: the two sums only, ``Zs`` and ``Ds`` are ``None``).
    Elementwise products and sums, no BLAS call: this runs at every ``compute``.
    """
    n = float(m.flat[0])
    Sd, Sz, Gzz, Gdd, Gzd, Zs, Ds = (m[k] for k in ("Sd", "Sz", "Gzz", "Gdd", "Gzd", "Zs", "Ds"))
    q = b + p
    k = _vd(b, p) + _vd(p, p) / 2.0
    Gzz_p, Gdd_q, Gzd_q = (Gzz * p).sum(1), (Gdd * q).sum(1), (Gzd * q).sum(1)
    Ss, Szp, Sdq = float(m["Ss"]), _vd(Sz, p), _vd(Sd, q)
    Ss2 = Ss - Szp - Sdq + n * k
    Sss2 = (
        float(m["Sss"]) + _vd(p, Gzz_p) + _vd(q, Gdd_q) + n * k * k
        - 2.0 * _vd(p, Zs) - 2.0 * _vd(q, Ds) + 2.0 * k * Ss
        + 2.0 * _vd(p, Gzd_q) - 2.0 * k * Szp - 2.0 * k * Sdq
    )  # fmt: skip
    if not vectors:
        return Ss2, Sss2, None, None
    Gdz_p = (Gzd * p[:, None]).sum(0)  # Gzd^T p
    Zs2 = Zs - Gzz_p - Gzd_q + k * Sz - Ss2 * b  # sum (z - b) s'
    Ds2 = Ds - Gdz_p - Gdd_q + k * Sd - Ss2 * p  # sum (delta - p) s'
    return Ss2, Sss2, Zs2, Ds2


def _shift_differences(out: Moments, m: Moments, cd: torch.Tensor, b: torch.Tensor, n: float):
    """Move the difference moments of ``m`` (into ``out``) to ``cd``, ``z`` moving by ``b``.

    With ``p = cd - m.cd``: ``delta' = delta - p``, ``s'`` by :func:`s_moments`, the Gram
    moments expanded as in :func:`shift` (``O(d^2)``).
    """
    p = cd - m["cd"]
    out["cd"].copy_(cd)
    if not bool(p.any()) and not bool(b.any()):
        return
    Ss, Sss, Zs, Ds = s_moments(m, p, b)
    out["Ss"].fill_(Ss)
    out["Sss"].fill_(Sss)
    out["Zs"].copy_(Zs)
    out["Ds"].copy_(Ds)
    Sd, Sz = m["Sd"], m["Sz"]
    out["Sd"].sub_(n * p)
    out["Gdd"].sub_(torch.outer(Sd, p)).sub_(torch.outer(p, Sd)).add_(torch.outer(p, p), alpha=n)
    out["Gzd"].sub_(torch.outer(Sz, p)).sub_(torch.outer(b, Sd)).add_(torch.outer(b, p), alpha=n)


def rescale(m: Moments, ex: int, ey: int) -> Moments:
    """The moments of ``m`` in units of ``2^ex``, ``2^ey`` (exact unless they underflow).

    Raises:
        ValueError: ``m`` holds difference moments (unit rows, always in units of 1).
    """
    ox, oy = m.exponents()
    if (ox, oy) == (ex, ey):
        return m
    if m.diff:
        raise ValueError(f"Expected exponents (0, 0) for unit-row moments, got {(ex, ey)}")
    kx, ky = _degrees(m.d, m.e)
    k = (kx * (ox - ex) + ky * (oy - ey)).to(m.flat.device)
    out = Moments(torch.ldexp(m.flat, k), m.d, m.e, m.cosine)
    out.flat[1], out.flat[2] = ex, ey
    return out


def merge(a: Moments | None, b: Moments | None) -> Moments | None:
    """The moments of the rows of ``a`` and ``b`` together (Chan's update, module docstring).

    Both sets move to one shift near the combined mean, ``c = cA + (SwA + SwB + nB (cB -
    cA)) / n`` (:func:`shift`), and are then added.

    Example:
        >>> rows = torch.arange(6.0, dtype=torch.float64)[:, None] ** 2
        >>> def part(r):
        ...     return of_chunk(r - r[0], r - r[0], r[0].clone(), r[0].clone(), cosine=False)
        >>> m, one = merge(part(rows[:2]), part(rows[2:])), part(rows)
        >>> bool(torch.allclose(shift(m, one["cx"], one["cy"]).flat, one.flat, rtol=1e-14))
        True
    """
    if a is None or a.n == 0:
        return b
    if b is None or b.n == 0:
        return a
    if (a.d, a.e, a.cosine) != (b.d, b.e, b.cosine):
        raise ValueError(
            f"Expected moments of the same widths and kind, got (d, e, cosine) = "
            f"{(a.d, a.e, a.cosine)} and {(b.d, b.e, b.cosine)}"
        )
    ex, ey = (max(p, q) for p, q in zip(a.exponents(), b.exponents(), strict=True))
    a, b = rescale(a, ex, ey), rescale(b, ex, ey)
    na, nb = float(a.flat[0]), float(b.flat[0])
    n = na + nb
    new = {}
    for c, s in (("cx", "Sw"), ("cy", "Sz"), ("cd", "Sd"))[: 3 if a.diff else 2]:
        ca, cb = a[c], b[c]
        new[c] = ca + (a[s] + b[s] + nb * (cb - ca)) / n
    to = (new["cx"], new["cy"], new.get("cd"))
    return _add(shift(a, *to), shift(b, *to))


def _add(a: Moments, b: Moments) -> Moments:
    """The moments of two row sets about the same shift and exponents: their sum."""
    out = Moments(a.flat + b.flat, a.d, a.e, a.cosine)
    for name in ("ex", "ey", "cx", "cy", "cd")[: 5 if a.diff else 4]:
        out[name].copy_(a[name])
    return out


def _pilot_checked(m: Moments) -> Moments:
    """``m`` about its own mean if its pilot lies over ``sqrt(3)`` RMS spreads from the mean.

    About a pilot at distance ``delta`` from the mean the centred moments lose a factor
    ``1 + delta^2 / spread^2`` of precision when centred (at most ``n``: the pilot is a row);
    a typical first row costs a factor of about 2, and at most 4 is kept.
    """
    n = m.n
    sides = [(m["Gww"], m["Sw"]), (m["Gzz"], m["Sz"])] + ([(m["Gdd"], m["Sd"])] if m.diff else [])
    for G, S in sides:
        off2 = float(S @ S) / n**2
        if off2 > 3.0 * (float(G.diagonal().sum()) / n - off2):  # a factor above 4 lost
            cd = m["cd"] + m["Sd"] / n if m.diff else None
            return shift(m, m["cx"] + m["Sw"] / n, m["cy"] + m["Sz"] / n, cd)
    return m


# ----------------------------------------------------------------------------- whole inputs
def accumulate(x: torch.Tensor, y: torch.Tensor,
               start: tuple[Moments | None, Moments | None] = (None, None), *,
               cosine: bool = True, raw: bool = False, device=None,
               names: str = "`x` and `y`") -> tuple[Moments | None, Moments | None]:
    """The cosine and/or raw moments of ``start``'s rows plus ``x (N, d)``, ``y (N, e)``.

    Float64 chunks of ``_CHUNK_ROWS`` rows on ``device`` (default: ``x``'s); the first chunk
    of an empty start is taken about its first row (moved to its mean if that row is an
    outlier), every later one about that shift, so their moments add. ``O(N (d^2 + e^2 +
    d e))`` time, ``O(d^2 + e^2)`` memory besides one chunk; ``start`` is not modified.

    Raises:
        ValueError: NaN or inf in the input (``names`` says which, for the message).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(50, 3, generator=g), torch.randn(50, 2, generator=g)
        >>> cos, raw = accumulate(x, y, raw=True)
        >>> cos.n, raw.n, cos.cosine, raw.cosine
        (50, 50, True, False)
        >>> two = accumulate(x[20:], y[20:], accumulate(x[:20], y[:20], raw=True), raw=True)
        >>> same = shift(two[0], cos["cx"], cos["cy"])  # the same rows about the same shift
        >>> bool(torch.allclose(same.flat, cos.flat, rtol=1e-12, atol=1e-12))
        True
    """
    device = x.device if device is None else torch.device(device)
    cos_m, raw_m = start
    for i in range(0, x.shape[0], _CHUNK_ROWS):
        xc = x[i : i + _CHUNK_ROWS].to(device, torch.float64)
        yc = y[i : i + _CHUNK_ROWS].to(device, torch.float64)
        nx, okx = checked_norms(xc, names)
        ny, oky = checked_norms(yc, names)
        if cosine:
            cos_m = _fold_unit(cos_m, xc, yc, nx, okx, ny, oky)
        if raw:
            raw_m = _fold_scaled(raw_m, xc, yc, nx, ny)
    return cos_m, raw_m


def _fold_unit(m, xc, yc, nx, okx, ny, oky) -> Moments:
    fresh = m is None or m.n == 0
    px, py = (None, None) if fresh else (m["cx"], m["cy"])
    w, px, zx = centred_unit_rows(xc, nx, okx, px)
    z, py, zy = centred_unit_rows(yc, ny, oky, py)
    part = of_chunk(w, z, px, py, zero_x=zx, zero_y=zy, cosine=True, consume=True)
    if fresh:
        return _pilot_checked(part)
    if part.diff and not torch.equal(part["cd"], m["cd"]):  # the stream's cd has moved
        part = shift(part, px, py, m["cd"])
    return _add(m, part)


def _fold_scaled(m, xc, yc, nx, ny) -> Moments:
    kx, ky = scale_exponent(xc, nx), scale_exponent(yc, ny)
    fresh = m is None or m.n == 0
    if not fresh:  # one unit for both: the larger scale (the smaller may only underflow)
        ex, ey = m.exponents()
        kx, ky = max(kx, ex), max(ky, ey)
        m = rescale(m, kx, ky)
    px, py = (None, None) if fresh else (m["cx"], m["cy"])
    w, px = centred_scaled_rows(xc, kx, px)
    z, py = centred_scaled_rows(yc, ky, py)
    part = of_chunk(w, z, px, py, ex=kx, ey=ky, cosine=False)
    return _pilot_checked(part) if fresh else _add(m, part)
