"""The similarity measures a comparison reports, each with its metadata, and their intervals.

:data:`MEASURES` is one table: for every measure its label, range, direction (``higher``
or ``lower`` is more aligned), basis (``moments``: exact from the d x d moments, streamed
and merged; ``rows``: from the rows of a bounded reference set), whether it needs labels,
its source, and the pure function that computes it. The new measures declare their entry
next to their function (:data:`empirics.metrics.procrustes.METADATA`,
:data:`empirics.metrics.knn.METADATA`); the entries of the existing ones are declared here
until the toolkit's registry of measures holds them all.

``A`` plays the role of ``X`` (CL) and ``B`` of ``Y`` (NSCL) where the order matters:
``rho`` and ``r`` are normalised by ``A`` (THEORY.md s7).

**Bootstrap** (``--bootstrap R``): the resampling unit is the compared sample, a row pair
of ``A`` and ``B``. Replicate ``b`` gives each sample a Poisson(1) multiplicity ``c_i``
(the streaming form of Efron's bootstrap, ``N`` draws in expectation), drawn from
``empirics.seeds.rng(seed, "bootstrap", "compare", b)``. The moment measures are evaluated
on the moments of the replicate (each row ``c_i`` times). A row measure is the mean of
per-sample values (``mutual_knn``: each sample's overlap ``o_i / k``), and its replicate is
the ``c``-weighted mean of those values over its bounded rows: the neighbourhoods stay those
of the full set (a copy of a sample would otherwise be its own nearest neighbour), so its
interval says which samples were averaged, not how the neighbour graph would move.

The interval (``--interval``) is the **basic** bootstrap interval by default,
``[2 v - q_hi, 2 v - q_lo]`` with ``q`` the replicate quantiles at ``(1 -+ level) / 2``
(Davison and Hinkley 1997, eq. 5.6), clipped to the measure's range: resampling repeats
rows, which lowers the effective sample size and shifts small-sample biases (biased-HSIC
CKA rises), and the basic interval reflects that shift back; ``percentile`` is
``[q_lo, q_hi]``. The mean shift ``bias = mean(replicates) - v`` is reported beside it.
Replicates where a measure is undefined are left out and counted.

>>> [m.name for m in MEASURES]
['cka', 'cka_linear', 'rsa', 'sim_gap', 'rho', 'r', 'procrustes', 'mutual_knn']
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from empirics.metrics import knn, procrustes, quantities
from empirics.metrics.moments import Moments, accumulate

__all__ = ["INTERVALS", "MEASURES", "Measure", "PairMoments", "bootstrap", "describe", "knn_rows",
           "measure", "moment_values", "row_values"]


@dataclass(frozen=True)
class Measure:
    """One similarity measure and everything a report needs to know about it."""

    name: str
    label: str
    range: tuple[float, float]
    direction: str  # "higher" or "lower" is more aligned
    basis: str  # "moments" or "rows"
    source: str
    of_moments: Callable[[Moments, Moments], quantities.Value] | None = None
    of_rows: Callable[..., float] | None = None
    per_sample: Callable[..., torch.Tensor | None] | None = None  # rows: the values averaged
    needs_labels: bool = False

    @classmethod
    def from_metadata(cls, meta: dict, **functions) -> Measure:
        return cls(**{k: meta[k] for k in _META}, **functions)

    def metadata(self) -> dict:
        """The entry without its functions (what a report or registry lists)."""
        return {k: getattr(self, k) for k in _META}


_META = ("name", "label", "range", "direction", "basis", "source", "needs_labels")


_INF = math.inf
MEASURES: tuple[Measure, ...] = (
    Measure("cka", "CKA, cosine Gram (the theory's)", (0.0, 1.0), "higher", "moments",
            "[P2] Corollary, THEORY.md s7", lambda c, r: quantities.cka(c)),
    Measure("cka_linear", "CKA, raw features (the paper code's)", (0.0, 1.0), "higher",
            "moments", "THEORY.md s12", lambda c, r: quantities.cka(r)),
    Measure("rsa", "RSA, Pearson of 1 - cos", (-1.0, 1.0), "higher", "moments",
            "[P2] Corollary, THEORY.md s7", lambda c, r: quantities.rsa(c)),
    Measure("sim_gap", "||Sigma_A - Sigma_B||_F", (0.0, _INF), "lower", "moments",
            "[P2] Theorem 1 (left side)", lambda c, r: quantities.sim_gap(c)),
    Measure("rho", "||K_A - K_B||_F / ||K_A||_F", (0.0, _INF), "lower", "moments",
            "[P2] Corollary, THEORY.md s7", lambda c, r: quantities.rho(c)),
    Measure("r", "||b - a|| / (sqrt(M) sigma_a)", (0.0, _INF), "lower", "moments",
            "[P2] Corollary, THEORY.md s7", lambda c, r: quantities.r(c)[0]),
    Measure.from_metadata(procrustes.METADATA,
                          of_moments=lambda c, r: procrustes.procrustes_from_moments(r)),
    Measure.from_metadata(knn.METADATA, of_rows=knn.mutual_knn,
                          per_sample=lambda X, Y, *, k, metric: _per_anchor(X, Y, k, metric)),
)
_BY_NAME = {m.name: m for m in MEASURES}
INTERVALS = ("basic", "percentile")


def _per_anchor(X, Y, k: int, metric: str) -> torch.Tensor | None:
    o = knn.knn_overlaps(X, Y, k, metric=metric)
    return None if o is None else o.double() / k


def describe(name: str) -> Measure:
    """The entry of a measure by name (``KeyError`` naming the known ones)."""
    if name not in _BY_NAME:
        raise KeyError(f"Expected a measure among {', '.join(_BY_NAME)}, got {name!r}")
    return _BY_NAME[name]


def moment_values(cos: Moments, raw: Moments) -> tuple[dict[str, float], dict[str, str]]:
    """Every moment measure of :data:`MEASURES` and the reasons of its NaNs, plus the
    normalisers ``k_norm`` (``||K_A||_F``) and ``sigma_a`` of ``A`` (for the [P2] bounds)."""
    values: dict[str, float] = {"n": cos.n}
    reasons: dict[str, str] = {}
    for m in MEASURES:
        if m.of_moments is not None:
            v = m.of_moments(cos, raw)
            values[m.name] = v.value
            if v.why:
                reasons[m.name] = v.why
    values["k_norm"] = quantities.k_norm(cos)
    values["sigma_a"] = quantities.r(cos)[1]
    return values, reasons


class PairMoments:
    """Streamed cosine and raw moments of the paired rows of ``A`` and ``B``."""

    def __init__(self) -> None:
        self.start: tuple[Moments | None, Moments | None] = (None, None)

    def update(self, xa: torch.Tensor, xb: torch.Tensor) -> None:
        self.start = accumulate(xa, xb, self.start, raw=True, names="`A` and `B`")

    def values(self) -> tuple[dict[str, float], dict[str, str]]:
        return moment_values(*self.start)


def measure(X: torch.Tensor, Y: torch.Tensor) -> tuple[dict[str, float], dict[str, str]]:
    """The moment measures of rows held in memory, the six of :mod:`empirics.metrics` exactly
    as its one-shot :func:`~empirics.metrics.alignment` gives them (its exact fallback for
    near-identical gaps included; it warns about its own NaNs)."""
    from empirics.metrics.functional import alignment

    values, reasons = moment_values(*accumulate(X, Y, raw=True, names="`A` and `B`"))
    one_shot = alignment(X, Y)
    exact = [m.name for m in MEASURES if m.name in one_shot] + ["k_norm", "sigma_a"]
    for key in exact:
        values[key] = one_shot[key]
    return values, {k: v for k, v in reasons.items() if k not in exact}


def knn_rows(N: int, limit: int, seed: int) -> np.ndarray:
    """The rows ``mutual_knn`` runs on: all ``N``, or a sorted seeded subset of ``limit``
    (``empirics.seeds.rng(seed, "reference", "mutual_knn")``).

    >>> knn_rows(5, 10, 0).tolist(), len(knn_rows(100, 10, 0))
    ([0, 1, 2, 3, 4], 10)
    """
    if N <= limit:
        return np.arange(N)
    from empirics.seeds import rng

    return np.sort(rng(seed, "reference", "mutual_knn").choice(N, size=limit, replace=False))


def row_values(X: torch.Tensor, Y: torch.Tensor, *, k: int, metric: str) -> dict[str, float]:
    """Every row measure of :data:`MEASURES` on the (bounded) rows ``X``, ``Y``."""
    return {m.name: m.of_rows(X, Y, k=k, metric=metric) for m in MEASURES if m.of_rows}


def progress_bar(total: int | None, desc: str, enabled: bool):
    """A tqdm bar on stderr, shown only on a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                disable=not enabled or not sys.stderr.isatty())


def bootstrap(X: torch.Tensor, Y: torch.Tensor, rows: np.ndarray, estimates: dict, *,
              replicates: int, level: float, seed: int, k: int, metric: str,
              interval: str = "basic", progress: bool = False) -> dict[str, dict]:
    """Bootstrap intervals of every measure over Poisson(1) replicates (module docstring).

    Args:
        X, Y: the compared rows ``(N, d)``, ``(N, e)``; rows: the bounded rows of the row
            measures; estimates: the measures on all rows (the centre of ``basic``).

    Returns ``{name: {"low", "high", "bias", "replicates", "undefined", "interval"}}``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(40, 3, generator=g, dtype=torch.float64)
        >>> Y = X + 0.1 * torch.randn(40, 3, generator=g, dtype=torch.float64)
        >>> est = {"cka": 0.99, "mutual_knn": 0.5}
        >>> out = bootstrap(X, Y, np.arange(40), est, replicates=20, level=0.9, seed=0, k=3,
        ...                 metric="cosine")
        >>> out["cka"]["low"] <= out["cka"]["high"] <= 1.0, out["cka"]["replicates"]
        (True, 20)
    """
    from empirics.seeds import rng

    if interval not in INTERVALS:
        raise ValueError(f"Expected `interval` in {INTERVALS}, got {interval!r}")
    N = int(X.shape[0])
    rows_t = torch.from_numpy(rows)
    per_sample = {m.name: m.per_sample(X[rows_t], Y[rows_t], k=k, metric=metric)
                  for m in MEASURES if m.per_sample is not None}
    draws: dict[str, list[float]] = {m.name: [] for m in MEASURES}
    bar = progress_bar(replicates, "bootstrap", progress)
    for b in range(replicates):
        counts = rng(seed, "bootstrap", "compare", b).poisson(1.0, size=N)
        idx = torch.from_numpy(np.repeat(np.arange(N), counts))
        vals: dict[str, float] = {}
        if idx.numel() >= 2:
            vals, _ = moment_values(*accumulate(X[idx], Y[idx], raw=True,
                                                names="`A` and `B`"))
        weight = torch.from_numpy(counts[rows]).double()
        for name, v in per_sample.items():
            if v is not None and float(weight.sum()) > 0:
                vals[name] = float((weight * v).sum() / weight.sum())
        for name in draws:
            draws[name].append(float(vals.get(name, math.nan)))
        bar.update(1)
    bar.close()
    alpha = (1.0 - level) / 2.0
    out = {}
    for name, values in draws.items():
        a = np.asarray(values)
        ok = a[np.isfinite(a)]
        v = float(estimates.get(name, math.nan))
        low = high = bias = math.nan
        if ok.size:
            q_lo, q_hi = np.quantile(ok, [alpha, 1.0 - alpha]).tolist()
            bias = float(ok.mean()) - v
            if interval == "percentile":
                low, high = q_lo, q_hi
            elif math.isfinite(v):
                lo_r, hi_r = _BY_NAME[name].range
                low, high = max(lo_r, 2.0 * v - q_hi), min(hi_r, 2.0 * v - q_lo)
        out[name] = {"low": float(low), "high": float(high), "bias": bias,
                     "replicates": int(ok.size), "undefined": int(a.size - ok.size),
                     "interval": interval}
    return out
