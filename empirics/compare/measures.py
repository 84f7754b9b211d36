"""The similarity measures a comparison reports (the registry's), and their intervals.

Every measure of :data:`empirics.measures.MEASURES` is reported, the built-ins and the
installed plugins alike (:func:`reported`); its metadata (label, range, direction, basis,
source) is the registry's. By basis:

- ``moments``: the value is the quantity of that name of
  :func:`empirics.metrics.quantities.alignment` on the streamed moments of the paired rows
  (cosine and raw), exact and mergeable;
- ``rows``: the entry's function on the bounded rows (``--knn-rows``, a seeded subset
  when ``N`` is larger), as two ``(n, d)`` float64 numpy arrays; a keyword the function
  takes among those of :meth:`Measure.options_for` (``k`` and ``metric``, from ``--k`` and
  ``--knn-metric``) overrides the entry's own, and a measure that needs labels gets them.
  A plugin that fails or needs labels there are none of is NaN, with the reason.

``A`` plays the role of ``X`` (CL) and ``B`` of ``Y`` (NSCL) where the order matters:
``rho`` and ``r`` are normalised by ``A`` (THEORY.md s7).

**Bootstrap** (``--bootstrap R``): the resampling unit is the compared sample, a row pair
of ``A`` and ``B``. Replicate ``b`` gives each sample a Poisson(1) multiplicity ``c_i``
(the streaming form of Efron's bootstrap, ``N`` draws in expectation), drawn from
``empirics.seeds.rng(seed, "bootstrap", "compare", b)``. The moment measures are evaluated
on the moments of the replicate (each row ``c_i`` times). A row measure with per-sample
values (its entry's ``per_sample``; ``mutual_knn``: each sample's overlap ``o_i / k``) is
their mean, and its replicate is the ``c``-weighted mean of those values over its bounded
rows: the neighbourhoods stay those of the full set (a copy of a sample would otherwise be
its own nearest neighbour), so its interval says which samples were averaged, not how the
neighbour graph would move. A row measure without per-sample values has no interval
(its replicates are counted as undefined).

The interval (``--interval``) is the **basic** bootstrap interval by default,
``[2 v - q_hi, 2 v - q_lo]`` with ``q`` the replicate quantiles at ``(1 -+ level) / 2``
(Davison and Hinkley 1997, eq. 5.6), clipped to the measure's range: resampling repeats
rows, which lowers the effective sample size and shifts small-sample biases (biased-HSIC
CKA rises), and the basic interval reflects that shift back; ``percentile`` is
``[q_lo, q_hi]``. The mean shift ``bias = mean(replicates) - v`` is reported beside it.
Replicates where a measure is undefined are left out and counted.

>>> [m.name for m in reported()] == list(MEASURES.names())
True
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch

from empirics.measures import MEASURES, Measure, measure_rows, moment_measures, row_measures
from empirics.metrics import quantities
from empirics.metrics.moments import Moments, accumulate

__all__ = ["INTERVALS", "PairMoments", "bootstrap", "bounded_rows", "measure",
           "measures_markdown", "metadata", "moment_values", "progress_bar", "reported",
           "row_values"]

INTERVALS = ("basic", "percentile")
#: What a report says of each measure (the registry's fields).
_META = ("name", "label", "range", "direction", "basis", "source", "needs_labels")


def reported() -> tuple[Measure, ...]:
    """Every measure a comparison reports: the registry's, in its order."""
    return tuple(MEASURES)


def metadata(m: Measure, **given: Any) -> dict[str, Any]:
    """What a report says of ``m``: the registry's fields, and for a row measure the options
    its entry declares, as used (``given``: :meth:`Measure.options_for`; e.g. ``k``)."""
    out = {k: getattr(m, k) for k in _META}
    if m.basis == "rows":
        used = m.options_for(**given)
        out["options"] = {k: used[k] for k in dict(m.options)}
    return out


def measures_markdown() -> str:
    """The reported measures as a Markdown table, from the registry (docs/compare.md holds
    it; a test keeps them equal).

    >>> measures_markdown().splitlines()[0]
    '| measure | label | range | aligned | basis | source |'
    """
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| measure | label | range | aligned | basis | source |", "|---|---|---|---|---|---|"]
    for m in reported():
        lo, hi = m.range
        span = f"[{lo:g}, {'inf' if math.isinf(hi) else f'{hi:.4g}'}]"
        lines.append(f"| `{m.name}` | {cell(m.label)} | {span} | {m.direction} | {m.basis} | "
                     f"{cell(m.source)} |")
    return "\n".join(lines)


def moment_values(cos: Moments, raw: Moments) -> tuple[dict[str, float], dict[str, str]]:
    """Every moment measure and the reasons of its NaNs, plus ``n`` and the normalisers
    ``k_norm`` (``||K_A||_F``) and ``sigma_a`` of ``A`` (for the [P2] bounds)."""
    every, why = quantities.alignment(cos, raw)
    values: dict[str, float] = {"n": cos.n}
    reasons: dict[str, str] = {}
    for m in moment_measures():
        values[m.name] = every[m.name]
        reason = why.get(m.name)
        if reason:
            reasons[m.name] = reason
    values["k_norm"] = every["k_norm"]
    values["sigma_a"] = every["sigma_a"]
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
    """The moment measures of rows held in memory, exactly as the one-shot
    :func:`empirics.metrics.alignment` gives them (its exact fallback for near-identical
    gaps included; it warns about its own NaNs)."""
    from empirics.metrics.functional import alignment

    values, reasons = moment_values(*accumulate(X, Y, raw=True, names="`A` and `B`"))
    one_shot = alignment(X, Y)
    exact = [m.name for m in moment_measures() if m.name in one_shot] + ["k_norm", "sigma_a"]
    for key in exact:
        values[key] = one_shot[key]
    return values, {k: v for k, v in reasons.items() if k not in exact}


def bounded_rows(N: int, limit: int, seed: int) -> np.ndarray:
    """The rows the row measures run on: all ``N``, or a sorted seeded subset of ``limit``
    (``empirics.seeds.rng(seed, "reference", "mutual_knn")``: the stream keeps the name of
    the first row measure, so that subsets stay what they were).

    >>> bounded_rows(5, 10, 0).tolist(), len(bounded_rows(100, 10, 0))
    ([0, 1, 2, 3, 4], 10)
    """
    if N <= limit:
        return np.arange(N)
    from empirics.seeds import rng

    return np.sort(rng(seed, "reference", "mutual_knn").choice(N, size=limit, replace=False))


def row_values(X: torch.Tensor, Y: torch.Tensor, *, labels=None, warn: bool = True,
               **given: Any) -> tuple[dict[str, float], dict[str, str]]:
    """Every row measure on the (bounded) rows ``X``, ``Y`` (``given``: ``k``, ``metric``;
    :meth:`Measure.options_for`), and the reasons of its NaNs
    (:func:`empirics.measures.measure_rows`): a built-in's error propagates; a plugin that
    fails, or needs labels where there are none, is NaN (``warn``: one ``RuntimeWarning``
    per reason)."""
    x, y = (np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float64) for t in (X, Y))
    values, reasons = measure_rows(x, y, None if labels is None else np.asarray(labels),
                                   strict=True, **given)
    if warn:
        quantities.warn_nan(reasons)
    return values, reasons


def _per_sample(m: Measure, X: torch.Tensor, Y: torch.Tensor, given: dict
                ) -> torch.Tensor | None:
    """The per-sample values whose mean ``m`` is (float64), or ``None``."""
    fn = m.per_sample_function()
    if fn is None or m.needs_labels:
        return None
    x, y = (np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float64) for t in (X, Y))
    try:
        v = fn(x, y, **m.options_for(**given))
    except Exception:  # noqa: BLE001 - no interval, not a failed comparison
        if not m.plugin:
            raise
        return None
    return None if v is None else torch.as_tensor(np.asarray(v), dtype=torch.float64)


def progress_bar(total: int | None, desc: str, enabled: bool):
    """A tqdm bar on stderr, shown only on a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                disable=not enabled or not sys.stderr.isatty())


def bootstrap(X: torch.Tensor, Y: torch.Tensor, rows: np.ndarray, estimates: dict, *,
              replicates: int, level: float, seed: int, interval: str = "basic",
              progress: bool = False, **given: Any) -> dict[str, dict]:
    """Bootstrap intervals of every measure over Poisson(1) replicates (module docstring).

    Args:
        X, Y: the compared rows ``(N, d)``, ``(N, e)``; rows: the bounded rows of the row
            measures; estimates: the measures on all rows (the centre of ``basic``);
            given: the row measures' options (``k``, ``metric``).

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
    measures = reported()
    per_sample = {m.name: _per_sample(m, X[rows_t], Y[rows_t], given) for m in row_measures()}
    draws: dict[str, list[float]] = {m.name: [] for m in measures}
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
    for m in measures:
        a = np.asarray(draws[m.name])
        ok = a[np.isfinite(a)]
        v = float(estimates.get(m.name, math.nan))
        low = high = bias = math.nan
        if ok.size:
            q_lo, q_hi = np.quantile(ok, [alpha, 1.0 - alpha]).tolist()
            bias = float(ok.mean()) - v
            if interval == "percentile":
                low, high = q_lo, q_hi
            elif math.isfinite(v):
                lo_r, hi_r = m.range
                low, high = max(lo_r, 2.0 * v - q_hi), min(hi_r, 2.0 * v - q_lo)
        out[m.name] = {"low": float(low), "high": float(high), "bias": bias,
                       "replicates": int(ok.size), "undefined": int(a.size - ok.size),
                       "interval": interval}
    return out
