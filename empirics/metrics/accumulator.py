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

from collections.abc import Mapping

import torch

from empirics.metrics import moments, quantities
from empirics.metrics._array import as_features, check_pair

__all__ = ["AlignmentAccumulator"]

_KINDS = ("cosine", "linear")
_V1_FIELDS = ("n", "Sw", "Sz", "Gww", "Gzz", "Gwz", "Sg", "Sh", "Sgg", "Shh", "Sgh",
              "Wg", "Wh", "Zg", "Zh", "zero_x", "zero_y")  # fmt: skip


class AlignmentAccumulator:
    """Streaming CKA / RSA / similarity gap / rho / r between two models' features.

    ``update(x, y)`` adds a batch of paired rows (``x`` from the CL model, ``y`` from the
    NSCL model: ``rho`` and ``r`` are normalised by ``x``, THEORY.md s7); ``compute()``
    returns the dict below; ``merge(other)`` adds another accumulator's rows;
    ``stats_tensor()`` / ``from_stats_tensor(t)`` give and load the state as one flat
    float64 vector, and ``merge_stats_(t)`` merges such a vector in.

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
        self._cos: moments.Moments | None = None
        self._raw: moments.Moments | None = None
        self.dims: tuple[int, int] | None = None
        if dims is not None:
            d, e = dims
            if not (isinstance(d, int) and isinstance(e, int) and d >= 1 and e >= 1):
                raise ValueError(f"Expected `dims` = (d, e) with positive ints, got {dims!r}")
            self._allocate(d, e, self.device or torch.device("cpu"))

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
        """Add paired rows ``x (b, d)``, ``y (b, e)`` (numpy or torch; any real dtype)."""
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
        """Merge ``other``'s rows into this accumulator (in place); returns ``self``."""
        if not isinstance(other, AlignmentAccumulator):
            raise TypeError(f"Expected an AlignmentAccumulator, got {type(other).__name__}")
        if other.dims is None:
            return self
        if self.dims is None:
            self._allocate(*other.dims, self.device or other.device)
        self._check_compatible(other.dims, other.linear)
        return self.merge_stats_(other.stats_tensor())

    def _check_compatible(self, dims, linear) -> None:
        if dims != self.dims or linear != self.linear:
            raise ValueError(
                f"Expected an accumulator with dims {self.dims} and linear={self.linear}, "
                f"got dims {dims} and linear={linear}"
            )

    # -- flat vector ---------------------------------------------------------------------
    def _split(self, t: torch.Tensor) -> list[moments.Moments]:
        """Moments from a flat vector laid out as :meth:`stats_tensor` (length checked)."""
        if self.dims is None:
            raise ValueError("Expected `dims` to be known (an update or dims=(d, e)), got None")
        d, e = self.dims
        t = torch.as_tensor(t).reshape(-1).to(self.device, torch.float64)
        sizes = [moments.size(d, e, cosine=s.cosine) for s in self._sets()]
        if t.numel() != sum(sizes):
            raise ValueError(
                f"Expected a stats vector of length {sum(sizes)} for dims "
                f"{self.dims} and linear={self.linear}, got length {t.numel()}"
            )
        parts = torch.split(t, sizes)
        return [
            moments.from_flat(part, d, e, cosine=s.cosine)
            for part, s in zip(parts, self._sets(), strict=True)
        ]

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
        """Replace the state by a vector made by :meth:`stats_tensor`; returns ``self``."""
        sets = self._split(t)
        self._cos, self._raw = sets[0], (sets[1] if self.linear else None)
        return self

    def merge_stats_(self, t: torch.Tensor) -> AlignmentAccumulator:
        """Merge another accumulator's :meth:`stats_tensor` (same dims and flags); returns self.

        Not a sum: each vector holds moments about its own shift (Chan's update merges them).
        """
        sets = self._split(t)
        self._cos = moments.merge(self._cos, sets[0])
        if self.linear:
            self._raw = moments.merge(self._raw, sets[1])
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
        their former accuracy."""
        version = state.get("version")
        if version not in (1, 2, 3):
            raise ValueError(f"Expected accumulator state version 1, 2 or 3, got {version!r}")
        self.kind, self.linear, self.unbiased = state["kind"], state["linear"], state["unbiased"]
        self._cos = self._raw = self.dims = None
        if state["dims"] is not None:
            self._allocate(*state["dims"], self.device or torch.device("cpu"))
            stats = state["stats"]
            if version < 3:
                stats = self._from_v2(stats if version == 2 else self._from_v1(stats))
            self.from_stats_tensor(stats)
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
