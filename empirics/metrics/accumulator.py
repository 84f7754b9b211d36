"""Streaming, mergeable alignment metrics: a thin stateful shell over the pure functions.

:class:`AlignmentAccumulator` holds one or two :class:`~empirics.metrics.moments.Moments`
(cosine, and raw for linear CKA). ``update`` merges the moments of a batch
(:func:`~empirics.metrics.moments.accumulate`, :func:`~empirics.metrics.moments.merge`),
``compute`` evaluates :func:`empirics.metrics.quantities.alignment` and warns about its NaNs.
Streaming equals one-shot; merging follows Chan's update (exact up to rounding). The state
is one flat float64 vector (``stats_tensor``); vectors of different accumulators merge with
``merge_stats_``, which is what a distributed reduction does with every rank's vector
(``DistContext.reduce_accumulator_``: gather, then merge in rank order). When both feature
sets have the same width the cosine moments also hold the difference moments
(:mod:`empirics.metrics.moments`), so streamed and merged gaps between nearly identical
representations are as exact as one-shot ones (docs/metrics.md).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import torch

from empirics.metrics import moments, quantities
from empirics.metrics._array import as_features, check_pair

__all__ = ["AlignmentAccumulator"]

_KINDS = ("cosine", "linear")
_V1_FIELDS = ("n", "Sw", "Sz", "Gww", "Gzz", "Gwz", "Sg", "Sh", "Sgg", "Shh", "Sgh",
              "Wg", "Wh", "Zg", "Zh", "zero_x", "zero_y")  # fmt: skip
_STATE_KEYS = ("version", "kind", "linear", "unbiased", "dims", "stats")
_MAX_EXPONENT = 1100  # |ex|, |ey| of raw moments: float64 exponents lie in [-1074, 1024]


# ----------------------------------------------------------------------------- validation
def _check_flag(value: object, name: str) -> bool:
    """A boolean option (``"no"`` is not silently taken as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Expected `{name}` to be a bool, got {value!r}")
    return bool(value)


def _check_dims(dims: object, name: str) -> tuple[int, int]:
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"Expected `{name}` = (d, e), a pair of ints, got {dims!r}")
    ok = len(dims) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1
        for v in dims
    )
    if not ok:
        raise ValueError(f"Expected `{name}` = (d, e) with positive ints, got {dims!r}")
    return int(dims[0]), int(dims[1])


def _as_vector(t: object, name: str) -> torch.Tensor:
    """``t`` as a 1-D torch tensor (numpy arrays wrapped without a copy); type and rank checked."""
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"Expected `{name}` to be a torch tensor or numpy array, got {type(t).__name__}"
        )
    if t.dim() != 1:
        raise ValueError(f"Expected a flat (1-D) `{name}`, got shape {tuple(t.shape)}")
    return t


def _check_values(t: torch.Tensor, name: str) -> torch.Tensor:
    """A float64 vector of finite numbers (a float32 copy has lost the moments' precision)."""
    if t.dtype != torch.float64:
        raise ValueError(f"Expected a float64 `{name}`, got dtype {t.dtype}")
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"Expected finite values in `{name}`, got {int(bad.sum())} NaN or inf "
            f"(the first, {float(t[first])}, at index {first})"
        )
    return t


def _check_header(m: moments.Moments, name: str) -> None:
    """The counts and exponents of one moment set: whole numbers in their ranges."""
    n, ex, ey, zx, zy = m.flat[:5].tolist()
    what = f"the {'cosine' if m.cosine else 'raw'} moments of `{name}`"
    if not (n == int(n) and 0 <= n <= 2.0**53):
        raise ValueError(f"Expected a row count n >= 0, a whole number, in {what}, got n={n!r}")
    for key, v in (("ex", ex), ("ey", ey)):
        limit = 0 if m.cosine else _MAX_EXPONENT  # unit rows are never rescaled
        if not (v == int(v) and abs(v) <= limit):
            raise ValueError(
                f"Expected a whole exponent {key} in [-{limit}, {limit}] in {what}, got {v!r}"
            )
    for key, v in (("zero_x", zx), ("zero_y", zy)):
        if not (v == int(v) and 0 <= v <= n):
            raise ValueError(
                f"Expected a zero-row count {key} in [0, n={n:g}] in {what}, got {v!r}"
            )
    if n == 0 and bool(m.flat.any()):
        raise ValueError(f"Expected all-zero {what} when n = 0, got non-zero entries")


class AlignmentAccumulator:
    """Streaming CKA / RSA / similarity gap / rho / r between two models' features.

    ``update(x, y)`` adds a batch of paired rows (``x`` from the CL model, ``y`` from the
    NSCL model: ``rho`` and ``r`` are normalised by ``x``, THEORY.md s7); ``compute()``
    returns the dict below; ``merge(other)`` adds another accumulator's rows;
    ``stats_tensor()`` / ``from_stats_tensor(t)`` give and load the state as one flat
    float64 vector, and ``merge_stats_(t)`` merges such a vector in.

    Every state that comes in (``merge``, ``merge_stats_``, ``from_stats_tensor``,
    ``load_state_dict``) is validated before it is used: a wrong type is a ``TypeError``;
    a wrong length, shape or dtype (float64 only), a NaN or inf entry, a row count that is
    negative, not whole or differs between the moment sets, a zero-row count outside
    ``[0, n]``, an exponent that is not whole (or not 0 for the cosine set), non-zero
    moments of no rows, missing or unknown ``state_dict`` keys, or a merge that overflows
    are a ``ValueError`` naming the argument; the accumulator is then unchanged.

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
    (``||K_CL||_F``), ``sigma_a`` (population std of CL's dissimilarities) and ``procrustes``
    (the angular Procrustes distance of the raw features; NaN if ``linear=False``): every
    moment measure of :data:`empirics.measures.MEASURES` by name.

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
        if not (isinstance(kind, str) and kind in _KINDS):
            raise ValueError(f"Expected `kind` in {_KINDS}, got {kind!r}")
        linear, unbiased = _check_flag(linear, "linear"), _check_flag(unbiased, "unbiased")
        if kind == "linear" and not linear:
            raise ValueError(f"Expected `linear`=True when `kind`='linear', got linear={linear!r}")
        self.kind, self.linear, self.unbiased = kind, linear, unbiased
        try:
            self.device = None if device is None else torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"Expected a torch `device`, got {device!r} ({exc})") from None
        self._cos: moments.Moments | None = None
        self._raw: moments.Moments | None = None
        self.dims: tuple[int, int] | None = None
        if dims is not None:
            self._allocate(*_check_dims(dims, "dims"), self.device or torch.device("cpu"))

    # -- state ---------------------------------------------------------------------------
    def _allocate(self, d: int, e: int, device) -> None:
        self.dims, self.device = (d, e), torch.device(device)
        self._cos = moments.empty(d, e, cosine=True, device=self.device)
        self._raw = moments.empty(d, e, cosine=False, device=self.device) if self.linear else None

    def _sets(self) -> list[moments.Moments]:
        return [s for s in (self._cos, self._raw) if s is not None]

    def reset(self) -> AlignmentAccumulator:
        """Forget every row (keeps the feature widths)."""
        if self.dims is not None:
            self._allocate(*self.dims, self.device)
        return self

    @property
    def n(self) -> int:
        return 0 if self._cos is None else self._cos.n

    # -- streaming -----------------------------------------------------------------------
    def update(self, x, y) -> AlignmentAccumulator:
        """Add paired rows ``x (b, d)``, ``y (b, e)`` (numpy or torch; any real dtype).

        Raises:
            TypeError: ``x`` or ``y`` is not a real numpy array or torch tensor.
            ValueError: not 2-D, different row counts, other widths than before, or a NaN or
                inf entry (nothing is added then: the state is unchanged).
        """
        x, y = as_features(x, "x"), as_features(y, "y")
        check_pair(x, y, "x", "y")
        if self.dims is None:
            self._allocate(x.shape[1], y.shape[1], self.device or x.device)
        if (x.shape[1], y.shape[1]) != self.dims:
            raise ValueError(
                f"Expected feature widths (d, e) = {self.dims} as in earlier updates, "
                f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
            )
        self._cos, self._raw = moments.accumulate(
            x, y, (self._cos, self._raw), raw=self.linear, device=self.device
        )
        return self

    def merge(self, other: AlignmentAccumulator) -> AlignmentAccumulator:
        """Merge ``other``'s rows into this accumulator (in place); returns ``self``.

        Raises:
            TypeError: ``other`` is not an accumulator.
            ValueError: other widths or ``linear`` flag, or a state that is not finite or
                not well formed (:meth:`merge_stats_`); ``self`` is then unchanged.
        """
        if not isinstance(other, AlignmentAccumulator):
            raise TypeError(
                f"Expected `other` to be an AlignmentAccumulator, got {type(other).__name__}"
            )
        if other.dims is None:
            return self
        sets = other._split(other.stats_tensor(), "other")  # validated before self changes
        if self.dims is not None or other.linear != self.linear:
            self._check_compatible(other.dims, other.linear)
        if self.dims is None:
            self._allocate(*other.dims, self.device or other.device)
        here = self._cos.flat.device
        sets = [
            s if s.flat.device == here else moments.Moments(s.flat.to(here), s.d, s.e, s.cosine)
            for s in sets
        ]
        return self._merge_sets(sets, "other")

    def _check_compatible(self, dims, linear) -> None:
        if dims != self.dims or linear != self.linear:
            raise ValueError(
                f"Expected an accumulator with dims {self.dims} and linear={self.linear}, "
                f"got dims {dims} and linear={linear}"
            )

    # -- flat vector ---------------------------------------------------------------------
    def _split(self, t: object, name: str) -> list[moments.Moments]:
        """Moments from a flat vector laid out as :meth:`stats_tensor`, validated.

        Checks, each a ``ValueError`` naming ``name`` (``TypeError`` for a wrong type): a 1-D
        tensor or array, its length for the widths and ``linear``, float64, every entry
        finite, and in each moment set whole counts ``0 <= zero_x, zero_y <= n`` (the same
        ``n`` in both sets), whole exponents (0 for the cosine set), zeros where ``n = 0``.
        """
        if self.dims is None:
            raise ValueError("Expected `dims` to be known (an update or dims=(d, e)), got None")
        d, e = self.dims
        t = _as_vector(t, name)
        sizes = [moments.size(d, e, cosine=s.cosine) for s in self._sets()]
        if t.numel() != sum(sizes):
            raise ValueError(
                f"Expected a stats vector `{name}` of length {sum(sizes)} for dims "
                f"{self.dims} and linear={self.linear}, got length {t.numel()}"
            )
        t = _check_values(t, name).to(self.device)
        sets = [
            moments.from_flat(part, d, e, cosine=s.cosine)
            for part, s in zip(torch.split(t, sizes), self._sets(), strict=True)
        ]
        for m in sets:
            _check_header(m, name)
        if len({m.n for m in sets}) > 1:
            raise ValueError(
                f"Expected the same row count n in every moment set of `{name}`, "
                f"got {[m.n for m in sets]}"
            )
        return sets

    def stats_tensor(self, device: str | torch.device | None = None) -> torch.Tensor:
        """The state as one flat float64 vector (a copy): cosine moments, then raw ones.

        Its length depends only on the widths and ``linear`` (cosine moments of ``d == e``
        also hold the difference moments), so every rank's vector has the same length.
        """
        if self.dims is None:
            raise ValueError("Expected `dims` to be known (an update or dims=(d, e)), got None")
        flat = torch.cat([s.flat for s in self._sets()])
        return flat if device is None else flat.to(device)

    def from_stats_tensor(self, t: torch.Tensor) -> AlignmentAccumulator:
        """Replace the state by a vector made by :meth:`stats_tensor`; returns ``self``.

        Raises:
            TypeError, ValueError: ``t`` is not a well-formed finite state (:meth:`_split`).
        """
        sets = self._split(t, "t")
        self._cos, self._raw = sets[0], (sets[1] if self.linear else None)
        return self

    def merge_stats_(self, t: torch.Tensor) -> AlignmentAccumulator:
        """Merge another accumulator's :meth:`stats_tensor` (same dims and flags); returns self.

        Not a sum: each vector holds moments about its own shift (Chan's update merges them).

        Raises:
            TypeError, ValueError: ``t`` is not a well-formed finite state (:meth:`_split`),
                or the merge overflows; ``self`` is then unchanged.
        """
        return self._merge_sets(self._split(t, "t"), "t")

    def _merge_sets(self, sets: list[moments.Moments], name: str) -> AlignmentAccumulator:
        cos = moments.merge(self._cos, sets[0])
        raw = moments.merge(self._raw, sets[1]) if self.linear else None
        if not all(bool(torch.isfinite(m.flat).all()) for m in (cos, raw) if m is not None):
            raise ValueError(
                f"Expected `{name}` to hold moments of finite rows, got a state whose merge "
                "overflows"
            )
        self._cos, self._raw = cos, raw
        return self

    def state_dict(self) -> dict:
        """A plain dict (kind, flags, dims, flat state on CPU) for ``torch.save``."""
        stats = None if self.dims is None else self.stats_tensor("cpu")
        return {"version": 3, "kind": self.kind, "linear": self.linear,
                "unbiased": self.unbiased, "dims": self.dims, "stats": stats}  # fmt: skip

    def load_state_dict(self, state: Mapping) -> AlignmentAccumulator:
        """Restore from :meth:`state_dict` (version 3; 2: no difference moments; 1: the
        former sums about zero). Difference moments missing from an old state are derived
        from its Gram moments (:func:`empirics.metrics.moments.upgrade`): its gaps keep
        their former accuracy.

        Raises:
            TypeError: ``state`` is not a mapping, or an entry has the wrong type.
            ValueError: missing or unknown keys, an unknown version or kind, bad ``dims``,
                ``stats`` not ``None`` exactly when ``dims`` is, or ``stats`` not a
                well-formed finite state (:meth:`_split`). ``self`` is then unchanged.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"Expected `state` to be a mapping from state_dict(), got {type(state).__name__}"
            )
        version = state.get("version")
        if (
            not isinstance(version, numbers.Integral)
            or isinstance(version, (bool, np.bool_))
            or version not in (1, 2, 3)
        ):
            raise ValueError(f"Expected accumulator state version 1, 2 or 3, got {version!r}")
        missing = [k for k in _STATE_KEYS if k not in state]
        unknown = sorted(map(str, set(state) - set(_STATE_KEYS)))
        if missing or unknown:
            raise ValueError(
                f"Expected `state` with the keys {_STATE_KEYS}, got missing {missing} and "
                f"unknown {unknown}"
            )
        kind, dims, stats = state["kind"], state["dims"], state["stats"]
        if not (isinstance(kind, str) and kind in _KINDS):
            raise ValueError(f"Expected `state['kind']` in {_KINDS}, got {kind!r}")
        linear = _check_flag(state["linear"], "state['linear']")
        unbiased = _check_flag(state["unbiased"], "state['unbiased']")
        if kind == "linear" and not linear:
            raise ValueError("Expected `state['linear']` True when `state['kind']` is 'linear', "
                             "got False")  # fmt: skip
        new = AlignmentAccumulator(kind, linear=linear, unbiased=unbiased, device=self.device)
        if dims is None:
            if stats is not None:
                raise ValueError(f"Expected `state['stats']` None when dims is None, got {stats!r}")
        else:
            new._allocate(*_check_dims(dims, "state['dims']"), self.device or torch.device("cpu"))
            stats = _check_values(_as_vector(stats, "state['stats']"), "state['stats']")
            if version < 3:
                stats = new._from_v2(stats if version == 2 else new._from_v1(stats))
            sets = new._split(stats, "state['stats']")
            new._cos, new._raw = sets[0], (sets[1] if linear else None)
        self.__dict__.update(new.__dict__)  # every check passed: take the new state at once
        return self

    def _from_v2(self, t: torch.Tensor) -> torch.Tensor:
        """Version-2 vectors: the moments of :data:`~empirics.metrics.moments.FIELDS` only."""
        d, e = self.dims
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        base = moments.size(d, e, cosine=False)
        if t.numel() != base * len(self._sets()):
            raise ValueError(
                f"Expected a version-2 stats vector of length {base * len(self._sets())} for "
                f"dims {self.dims} and linear={self.linear}, got length {t.numel()}"
            )
        return torch.cat([
            moments.upgrade(part, d, e, cosine=s.cosine).flat
            for part, s in zip(torch.split(t, base), self._sets(), strict=True)
        ])  # fmt: skip

    def _from_v1(self, t: torch.Tensor) -> torch.Tensor:
        """Version-1 vectors held the same sums about the shift 0 (same order, no shift)."""
        d, e = self.dims
        shapes = {"n": 1, "Sw": d, "Sz": e, "Gww": d * d, "Gzz": e * e, "Gwz": d * e, "Wg": d,
                  "Wh": d, "Zg": e, "Zh": e}  # fmt: skip
        t, out, pos = torch.as_tensor(t, dtype=torch.float64).reshape(-1), [], 0
        want = sum(shapes.get(name, 1) for name in _V1_FIELDS) * len(self._sets())
        if t.numel() != want:
            raise ValueError(
                f"Expected a version-1 stats vector of length {want} for dims {self.dims} and "
                f"linear={self.linear}, got length {t.numel()}"
            )
        for _ in self._sets():
            m = moments.empty(d, e, cosine=False)  # the version-2 layout
            for name in _V1_FIELDS:
                k = shapes.get(name, 1)
                m[name].copy_(t[pos : pos + k].reshape(m[name].shape))
                pos += k
            out.append(m.flat)
        return torch.cat(out)

    # -- results -------------------------------------------------------------------------
    def compute(self) -> dict:
        """All alignment quantities (class docstring); NaN + RuntimeWarning if undefined."""
        if self.n == 0:
            raise ValueError("Expected at least one row before compute(), got n=0")
        values, reasons = quantities.alignment(
            self._cos, self._raw, kind=self.kind, unbiased=self.unbiased
        )
        quantities.warn_nan(reasons)
        return values
