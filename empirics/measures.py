"""The registry of similarity measures: every measure of two representations, and
everything the toolkit knows about it, in one place.

A :class:`Measure` carries its label, range, direction (``higher`` or ``lower`` is more
aligned), its basis, whether it needs labels, its source, and how it is computed:

- ``basis = "moments"``: exact from the ``d x d`` (``d x e``) moments of the paired rows, so
  streamed over batches, merged across processes and reduced across ranks
  (:mod:`empirics.metrics`); the value is the quantity of the same name computed by
  :func:`empirics.metrics.quantities.alignment` (the one other module that names them);
- ``basis = "rows"``: a function ``f(X, Y) -> float`` of two ``(N, d)`` numpy arrays on a
  bounded reference set (the run's reference sets in training, a bounded subset in
  ``python -m empirics.compare``).

The evaluator (``metrics.csv`` columns), the summaries, the claims study's secondary
statistics, ``compare`` and the figures all read :data:`MEASURES`; nothing else lists the
names. A package installed beside the toolkit adds a row measure with an entry point in
group ``cl_nscl_align.metrics`` (docs/extending.md): a plain ``f(X, Y) -> float``, or a
:class:`Measure` (or a dict of its fields, ``function`` included) to declare the metadata.
Its column in ``metrics.csv`` is the entry point's name.

This module imports no torch: the figures read labels and ranges from it.

>>> MEASURES.names()
('cka', 'cka_linear', 'rsa', 'sim_gap', 'rho', 'r', 'procrustes', 'mutual_knn')
>>> MEASURES["procrustes"].direction, MEASURES["mutual_knn"].basis
('lower', 'rows')
>>> [m.name for m in moment_measures()][:2]
['cka', 'cka_linear']
"""

from __future__ import annotations

import importlib
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cl_nscl_align.registry import Registry, plugin_fields

__all__ = ["BASES", "DIRECTIONS", "MEASURES", "Measure", "measure_rows", "moment_measures",
           "row_measures", "row_values"]

DIRECTIONS = ("higher", "lower")
BASES = ("moments", "rows")


@dataclass(frozen=True)
class Measure:
    """One similarity measure and its metadata.

    Attributes:
        name: its name: a ``metrics.csv`` column, a JSON key of ``compare``, a claims metric.
        label: the name shown in figures and tables.
        range: the values it can take, ``(lo, hi)``.
        direction: ``"higher"`` or ``"lower"`` is more aligned.
        basis: ``"moments"`` (exact, streamed, merged) or ``"rows"`` (a bounded set).
        source: its definition (THEORY.md tag or paper).
        convention: which features it reads, where that matters (the theory's cosine Gram
            or the paper code's raw features).
        needs_labels: whether it reads class labels.
        function: rows: ``"module:function"`` or a function ``f(X, Y, **options) -> float``.
        per_sample: rows: the per-sample values whose mean the measure is (bootstrap),
            ``"module:function"``, or ``None``.
        options: keyword arguments of ``function`` (e.g. ``k`` of mutual kNN).
        plugin: declared by an installed package rather than the toolkit.
    """

    name: str
    label: str
    range: tuple[float, float]
    direction: str
    basis: str
    source: str
    convention: str = ""
    needs_labels: bool = False
    function: str | Callable[..., Any] | None = None
    per_sample: str | Callable[..., Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: bool = False

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"Expected `direction` among {', '.join(DIRECTIONS)}, got "
                             f"{self.direction!r}")
        if self.basis not in BASES:
            raise ValueError(f"Expected `basis` among {', '.join(BASES)}, got {self.basis!r}")
        if self.basis == "rows" and self.function is None:
            raise ValueError(f"Expected a `function` for the row measure {self.name!r}, got "
                             "none")
        lo, hi = self.range
        if not lo < hi:
            raise ValueError(f"Expected `range` (lo, hi) with lo < hi, got {self.range!r}")

    @property
    def sign(self) -> int:
        """``+1`` when higher is more aligned, ``-1`` when lower is."""
        return 1 if self.direction == "higher" else -1

    def options_for(self, **given: Any) -> dict[str, Any]:
        """The keyword arguments of a row measure's function: its entry's ``options``, then
        those of ``given`` (e.g. ``k``, ``metric`` of ``python -m empirics.compare``) that the
        function takes.

        >>> MEASURES["mutual_knn"].options_for(k=5, metric="euclidean", other=1)
        {'k': 5, 'metric': 'euclidean'}
        """
        try:
            takes = inspect.signature(self.row_function()).parameters
        except (TypeError, ValueError):  # a builtin without a signature: its own options
            takes = {}
        return {**dict(self.options), **{k: v for k, v in given.items() if k in takes}}

    def of_rows(self, X, Y, labels=None, **given: Any) -> float:
        """The measure of two ``(N, d)`` arrays (row measures): ``function(X, Y, **options)``
        (:meth:`options_for`), plus ``labels=`` (the ``(N,)`` class labels) for a measure
        that needs them."""
        extra = {"labels": labels} if self.needs_labels else {}
        return float(self.row_function()(X, Y, **self.options_for(**given), **extra))

    def row_function(self) -> Callable[..., Any] | None:
        """The function of a row measure (``"module:function"`` imported), ``None`` for a
        moment measure."""
        return None if self.function is None else _resolve(self.function)

    def per_sample_function(self) -> Callable[..., Any] | None:
        return None if self.per_sample is None else _resolve(self.per_sample)


def _resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_THEORY = "the theory's: cosine Gram (row-normalised features)"
_RAW = "the paper code's convention: raw features"
_BUILTINS = (
    Measure("cka", "CKA", (0.0, 1.0), "higher", "moments", "[P2] Corollary, THEORY.md s7",
            _THEORY),
    Measure("cka_linear", "linear CKA (raw features)", (0.0, 1.0), "higher", "moments",
            "the paper's code, THEORY.md s12", _RAW),
    Measure("rsa", "RSA", (-1.0, 1.0), "higher", "moments",
            "[P2] Corollary (Pearson on 1 - cos), THEORY.md s7", _THEORY),
    Measure("sim_gap", "||Σ_CL - Σ_NSCL||_F", (0.0, math.inf), "lower", "moments",
            "[P2] Theorem 1 (its left side), THEORY.md s6", _THEORY),
    Measure("rho", "ρ = ||K_CL - K_NSCL||_F / ||K_CL||_F", (0.0, math.inf), "lower", "moments",
            "[P2] Corollary, THEORY.md s7", _THEORY),
    Measure("r", "r = ||b - a|| / (√M σ_a)", (0.0, math.inf), "lower", "moments",
            "[P2] Corollary, THEORY.md s7", _THEORY),
    Measure("procrustes", "Procrustes distance (angular)", (0.0, math.pi / 2), "lower",
            "moments", "Williams, Kunz, Kornblith, Linderman, NeurIPS 2021, eq. (3): "
            "arccos ||X~^T Y~||_* of the centred, unit-Frobenius representations", _RAW),
    Measure("mutual_knn", "mutual kNN overlap", (0.0, 1.0), "higher", "rows",
            "Huh, Cheung, Wang, Isola, ICML 2024, s3 (m_NN): mean |N_k^X(i) ∩ N_k^Y(i)| / k",
            "cosine neighbours of the features", function="empirics.metrics.knn:mutual_knn",
            per_sample="empirics.metrics.knn:overlap_fractions", options={"k": 10}),
)


def _plugin(name: str, obj: Any) -> Measure:
    """An entry point's object as a row :class:`Measure` (see the module docstring)."""
    meta = plugin_fields(Measure, obj, call="function", what="a function f(X, Y)", defaults={
        "name": name, "label": name, "range": (-math.inf, math.inf), "direction": "higher",
        "source": "plugin"}, forced={"name": name, "plugin": True, "basis": "rows"})
    meta["range"] = tuple(meta["range"])
    return Measure(**meta)


#: Every similarity measure: the built-ins, then the installed plugins (group
#: ``cl_nscl_align.metrics``).
MEASURES: Registry[Measure] = Registry(
    "cl_nscl_align.metrics", _BUILTINS, name_of=lambda m: m.name, from_plugin=_plugin,
    what="similarity measure")


def moment_measures() -> tuple[Measure, ...]:
    """The measures computed from the moments (exact, streamed, merged)."""
    return tuple(m for m in MEASURES if m.basis == "moments")


def row_measures() -> tuple[Measure, ...]:
    """The measures computed from the rows of a bounded reference set."""
    return tuple(m for m in MEASURES if m.basis == "rows")


def measure_rows(X, Y, labels=None, *, strict: bool = False, **given: Any
                 ) -> tuple[dict[str, float], dict[str, str]]:
    """Every row measure of two ``(N, d)`` float64 numpy arrays, and the reasons of its NaNs.

    A measure that needs labels where there are none, or that fails on these rows (e.g.
    ``mutual_knn`` with ``N - 1 <= k``), is NaN with the reason; ``strict``: a built-in's
    error propagates instead (a plugin's bug is always one NaN). ``given``: options passed
    to the functions that take them (:meth:`Measure.options_for`).
    """
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for m in row_measures():
        if m.needs_labels and labels is None:
            values[m.name], reasons[m.name] = math.nan, "needs labels, and none were given"
            continue
        try:
            values[m.name] = m.of_rows(X, Y, labels, **given)
        except Exception as exc:  # noqa: BLE001 - one measure's failure is one NaN
            if strict and not m.plugin:
                raise
            values[m.name] = math.nan
            reasons[m.name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return values, reasons


def row_values(X, Y, labels=None) -> dict[str, float]:
    """Every row measure of two ``(N, d)`` float64 numpy arrays, by name (the
    ``metrics.csv`` columns of the row measures; ``labels``: the rows' classes, for a
    measure that needs them).

    A measure that is undefined on these rows (e.g. ``mutual_knn`` with ``N - 1 <= k``) or
    that fails is NaN, with one ``RuntimeWarning`` naming it and why: a plugin's bug never
    ends a training run (:func:`measure_rows`).

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(30, 4))
    >>> row_values(X, 2.0 * X)["mutual_knn"]
    1.0
    """
    values, reasons = measure_rows(X, Y, labels)
    for name, why in reasons.items():
        warnings.warn(f"{name} is NaN: {why}", RuntimeWarning, stacklevel=2)
    return values
