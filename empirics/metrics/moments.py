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

Why a shift: about zero, rows that nearly collapse onto one direction make ``W^T W`` the
huge ``n v v^T`` plus the tiny covariance, and the centred moments cancel (relative error
``1e-16 / spread^2``). About a shift inside the data they carry their full precision.

- :func:`of_chunk` -- the moments of one chunk about its first row (its pilot), in a few
  passes: three ``(c, d) x (c, d)`` products, three skinny ones, two row-norm passes (and
  two to four more passes over the rows for the difference moments).
- :func:`shift` -- the same moments about another shift, in closed form (``O(d^2)``).
- :func:`merge` -- Chan et al.'s parallel update ("Updating formulae and a pairwise
  algorithm for computing sample variances", 1979) generalised to these moments: both
  sets are moved to the combined mean and added, so the merged moments are always about
  (nearly) their own mean and no merge loses precision. Merging is exact up to rounding,
  associative and commutative up to rounding; streaming equals one-shot.
- :func:`rescale` -- the same moments in units of another power of two (exact).
- :func:`accumulate` -- the moments of whole inputs ``(N, d)``, ``(N, e)``, in row chunks.
- :func:`upgrade` -- a vector of the former layout (no difference moments) in this one.

Merging is not addition (the shifts differ), so a distributed reduction gathers every
rank's :func:`to_flat` vector and merges them in rank order
(``DistContext.reduce_accumulator_`` of the trainer's distributed context).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import torch

from empirics.metrics.rows import (
    centred_scaled_rows,
    centred_unit_rows,
    checked_norms,
    scale_exponent,
)

__all__ = [
    "DIFF_FIELDS",
    "FIELDS",
    "Moments",
    "accumulate",
    "empty",
    "from_flat",
    "has_differences",
    "merge",
    "of_chunk",
    "rescale",
    "s_moments",
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
    :mod:`empirics.metrics.rows`); ``diff`` that the set holds the difference moments
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

    Where the set keeps difference moments they are derived from the Gram moments,
    ``delta = w - z`` about ``cd = cx - cy`` and ``s = (g - h) / 2``: ``Sd = Sw - Sz``,
    ``Gzd = Gwz^T - Gzz``, ``Gdd = Gww - Gwz - Gwz^T + Gzz``, ``Ss = (Sg - Sh) / 2``,
    ``Sss = (Sgg - 2 Sgh + Shh) / 4``, ``Zs = (Zg - Zh) / 2``,
    ``Ds = (Wg - Wh - Zg + Zh) / 2``. Those differences cancel, so the gaps of such a set
    are only as accurate as the former ones (about ``1e-8`` of their scale), also after it
    is merged with rows accumulated here.

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


# ----------------------------------------------------------------------------- one chunk
def of_chunk(
    w: torch.Tensor,
    z: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    *,
    ex: int = 0,
    ey: int = 0,
    zero_x: int = 0,
    zero_y: int = 0,
    cosine: bool,
    consume: bool = False,
) -> Moments:
    """Moments of centred float64 rows ``w (c, d)``, ``z (c, e)`` about ``(cx, cy)``.

    With difference moments (:func:`has_differences`) ``delta = w - z`` about
    ``cd = cx - cy``; of ``Gww, Gzz, Gwz, Gdd, Gzd`` three products are formed and two
    derived through ``W = Z + Delta``, taking as base the side with the smaller rows (the
    rounding of each derived moment is then at most a few times that of its product).
    ``consume=True`` lets ``delta`` overwrite the other side's rows (one ``(c, d)`` buffer
    less; the caller must not use ``w`` and ``z`` afterwards).

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
    """``s = (g - h) / 2`` row by row, without its cancellation where the rows are close.

    ``s = delta.base + half |delta|^2``: ``delta.(z + delta/2)`` for the base ``z``
    (``half = 1/2``), ``delta.(w - delta/2)`` for ``w`` (``-1/2``); both terms are of the
    size ``|delta| |base|`` of ``s`` itself, so nothing cancels. When the differences are
    not small (``sum |delta|^2 >= (sum g + sum h) / 4``, e.g. unrelated features)
    ``(g - h) / 2`` is as accurate (its rounding, ``1e-16 (g + h)``, is then at most
    ``1e-16 |delta|^2``) and costs no pass over the rows.
    """
    g, h = V[:, 0], V[:, 1]
    if 4.0 * float(Gdd.diagonal().sum()) >= float(g.sum() + h.sum()):
        return (g - h).mul_(0.5)
    dots = (delta.unsqueeze(1) @ base.unsqueeze(2)).view(-1)  # (c,) row dot products
    return torch.linalg.vector_norm(delta, dim=1).square_().mul_(half).add_(dots)


# ----------------------------------------------------------------------------- algebra
def shift(
    m: Moments, cx: torch.Tensor, cy: torch.Tensor, cd: torch.Tensor | None = None
) -> Moments:
    """The moments of ``m`` about the new shift ``(cx, cy)`` (in ``m``'s units).

    With ``a = cx - m.cx``, ``w' = w - a``, ``g' = |w'|^2 = g - 2 w.a + |a|^2`` (and the same
    for ``z``, ``b = cy - m.cy``), expand every sum; e.g. ``Gww' = Gww - Sw' a^T - a Sw^T``
    with ``Sw' = Sw - n a``, and ``Wg' = Wg - 2 Gww a + |a|^2 Sw - a Sg'``.
    ``O(d^2 + e^2 + d e)``. The new shift is stored as given; the moments move by the float
    ``a``, whose rounding is relative to ``|a|`` (about the spread), not to ``|cx|``.
    Difference moments move to ``cd`` (default ``cx - cy``) the same way.

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


def s_moments(
    m: Moments, p: torch.Tensor, b: torch.Tensor, *, vectors: bool = True
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
def accumulate(
    x: torch.Tensor,
    y: torch.Tensor,
    start: tuple[Moments | None, Moments | None] = (None, None),
    *,
    cosine: bool = True,
    raw: bool = False,
    device=None,
    names: str = "`x` and `y`",
) -> tuple[Moments | None, Moments | None]:
    """The cosine and/or raw moments of ``start``'s rows plus ``x (N, d)``, ``y (N, e)``.

    Rows go through in float64 chunks of ``_CHUNK_ROWS`` on ``device`` (default: ``x``'s).
    The first chunk of an empty start is taken about its first row (constant rows give exact
    zeros; moved to its mean if that row is an outlier); every later chunk is taken about
    that shift, so its moments simply add. ``O(N (d^2 + e^2 + d e))`` time,
    ``O(d^2 + e^2)`` memory besides one chunk. Any input dtype; ``start`` is not modified.

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
