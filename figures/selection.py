"""Which runs a figure may draw, and what it may average over.

A figure averages the runs that fall on one of its points (a cell: one value of each
setting it shows, e.g. ``classes`` for Fig. 3). It may average over seeds, and says so in
its title (:func:`figures.io.seed_note`); it must never average over any other setting,
which it would then report as if it were one. :func:`check_not_pooled` refuses runs whose
cell holds two values of a result-deciding field other than the seed (the execution knobs
each kind declares with ``result=False``, such as the device or the output folder, are not
settings). :func:`select_runs` is the way out on the command line (``--select tau=0.5``).

A figure about pairs of models needs the pair rows of ``metrics.csv``; a run trained with
one objective has none. :func:`require_pair` and :func:`require_cl_pairs` refuse such a
run in one sentence naming it and what it lacks.

Every refusal is a :class:`FigureInputError` (a ``ValueError``): ``python -m figures``
prints it as one line and exits with status 2.

>>> parse_selection(["tau=0.5", "objectives=cl+nscl"])
{'tau': '0.5', 'objectives': 'cl+nscl'}
>>> matches(0.5, "0.50"), matches(["cl", "nscl"], "cl+nscl"), matches(10, "11")
(True, True, False)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from figures import io

__all__ = ["FigureInputError", "check_not_pooled", "ignored_fields", "matches",
           "parse_selection", "pooled_fields", "require_cl_pairs", "require_pair",
           "select_runs"]

#: The field a figure may average over (and says so).
SEED = "seed"


class FigureInputError(ValueError):
    """The runs cannot make this figure honestly (a pair missing, a setting pooled)."""


# ----------------------------------------------------------------------------- pairs
def objectives_of(run: io.Run) -> str:
    """The run's objectives as written on the command line (``cl+nscl``), or ``?``."""
    obj = run.cfg("objectives")
    return "+".join(map(str, obj)) if isinstance(obj, (list, tuple)) else str(obj or "?")


def has_pair(run: io.Run, pair: str) -> bool:
    """Whether ``metrics.csv`` holds a row of ``pair`` (``cl-nscl``)."""
    m = run.metrics
    return "pair" in m.columns and bool((m["pair"].astype(str) == pair).any())


def require_pair(run: io.Run, pair: str) -> None:
    """Raise :class:`FigureInputError` when ``metrics.csv`` of ``run`` has no ``pair`` rows.

    >>> import pandas as pd, pathlib
    >>> run = io.Run(pathlib.Path("r"), "train", {"objectives": ["cl"]}, pd.DataFrame(),
    ...              pd.DataFrame(), pd.DataFrame())
    >>> try:
    ...     require_pair(run, "cl-nscl")
    ... except FigureInputError as e:
    ...     print(str(e).partition(" (")[2])
    the run trained cl alone: no pair of models)
    """
    if not has_pair(run, pair):
        raise FigureInputError(f"Expected {pair} rows in {str(run.path / 'metrics.csv')!r}, "
                               f"got none {_trained(run)}")


def require_cl_pairs(run: io.Run) -> list[str]:
    """The pairs of CL with another objective in ``run`` (:func:`figures.io.pairs_in`).

    Raises:
        FigureInputError: there is none (names the run and its objectives).
    """
    pairs = io.pairs_in(run)
    if not pairs:
        raise FigureInputError(f"Expected pairs of CL with another objective (cl-<other>) "
                               f"in {str(run.path / 'metrics.csv')!r}, got none "
                               f"{_trained(run)}")
    return pairs


def _trained(run: io.Run) -> str:
    obj = run.cfg("objectives")
    if isinstance(obj, (list, tuple)) and len(obj) == 1:
        return f"(the run trained {obj[0]} alone: no pair of models)"
    return f"(the run trained {objectives_of(run)})"


# ----------------------------------------------------------------------------- pooling
def ignored_fields(kind: str) -> frozenset[str]:
    """Fields that are not settings of a ``kind`` run: its declared execution knobs
    (``result=False``: device, threads, output folder, ...). Unknown kinds: none."""
    from empirics.runs.spec import KINDS

    if kind not in KINDS:
        return frozenset()
    cls = KINDS[kind].options_class()
    return frozenset(f.name for f in dataclasses.fields(cls) if not f.metadata["result"])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return "none" if value is None else str(value)


def pooled_fields(runs: Sequence[io.Run], cells: Sequence[Hashable]
                  ) -> list[tuple[Hashable, dict[str, list[str]]]]:
    """Per cell whose runs differ in more than the seed: ``(cell, {field: values})``.

    ``cells[i]`` is the point run ``i`` is drawn at. Fields are the saved configuration's,
    less the seed and each kind's execution knobs (:func:`ignored_fields`).
    """
    if len(cells) != len(runs):
        raise ValueError(f"Expected one cell per run, got {len(cells)} for {len(runs)} runs")
    groups: dict[Hashable, list[io.Run]] = {}
    for run, cell in zip(runs, cells, strict=True):
        groups.setdefault(cell, []).append(run)
    out = []
    for cell, members in groups.items():
        if len(members) < 2:
            continue
        skip = {SEED}.union(*(ignored_fields(r.kind) for r in members))
        keys = sorted(set().union(*(r.config for r in members)) - skip)
        differ: dict[str, list[str]] = {}
        for k in keys:
            values = {_canonical(r.cfg(k)): _show(r.cfg(k)) for r in members}
            if len(values) > 1:
                differ[k] = sorted(values.values(), key=_order)
        if len({r.kind for r in members}) > 1:
            differ["kind"] = sorted({r.kind for r in members})
        if differ:
            out.append((cell, differ))
    return out


def _order(text: str) -> tuple:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def check_not_pooled(runs: Sequence[io.Run], shown: Sequence[str] = (), *,
                     cells: Sequence[Hashable] | None = None) -> None:
    """Refuse runs that a figure would average over a setting it does not show.

    Args:
        runs: the runs of the figure (or of one panel).
        shown: the settings the figure shows (:func:`figures.io.setting` names, e.g.
            ``("classes",)``); runs with equal values fall on one point.
        cells: the point of each run, when the figure places runs by something other than
            their saved settings (overrides ``shown``).

    Raises:
        FigureInputError: a point holds runs that differ in more than the seed; the
            message names the point, the fields and their values, and ``--select``.
    """
    if cells is None:
        cells = [tuple(io.setting(r, k) for k in shown) for r in runs]
    bad = pooled_fields(runs, cells)
    if not bad:
        return
    cell, differ = bad[0]
    where = ", ".join(f"{k} = {_show(v)}" for k, v in zip(shown, cell, strict=True)) if (
        shown and isinstance(cell, tuple) and len(cell) == len(shown)) else _show(cell)
    fields = "; ".join(f"{k} ({', '.join(v)})" for k, v in differ.items())
    first = next(iter(differ))
    raise FigureInputError(
        f"Expected the runs drawn at one point ({where or 'the one point of this figure'}) "
        f"to differ only in the seed, got them differing in {fields}: the figure would "
        f"average over {first} without showing it; keep one value with --select "
        f"{first}=VALUE")


# ----------------------------------------------------------------------------- --select
def parse_selection(items: Sequence[str] | None) -> dict[str, str]:
    """``["tau=0.5", ...]`` as ``{"tau": "0.5"}``.

    Raises:
        FigureInputError: an item without ``=``, an empty key, or a key given twice.
    """
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise FigureInputError(f"Expected `--select` as KEY=VALUE, got {item!r}")
        if key in out:
            raise FigureInputError(f"Expected `--select` {key} once, got it twice ({item!r})")
        out[key] = value.strip()
    return out


def matches(value: Any, wanted: str) -> bool:
    """Whether a saved configuration value is ``wanted`` as written on the command line
    (numbers compared as numbers, lists joined by ``+``, ``none`` for no value)."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return _show(value).lower() == str(wanted).lower()
    if isinstance(value, (int, float)):
        try:
            w = float(wanted)
        except ValueError:
            return False
        return math.isclose(float(value), w, rel_tol=1e-12, abs_tol=0.0) or value == w
    return _show(value) == wanted


def select_runs(runs: Sequence[io.Run], selection: Mapping[str, str]) -> list[io.Run]:
    """The runs whose every selected setting has the selected value.

    A key is a setting name (:func:`figures.io.setting`: ``classes`` finds a surrogate's
    ``C``).

    Raises:
        FigureInputError: a key that no run has, or no run left (names the selection and
            the values the runs hold).
    """
    kept = list(runs)
    for key, wanted in selection.items():
        have = [r for r in runs if key in r.config
                or io.SETTINGS.get(key, {}).get(r.kind, key) in r.config]
        if not have:
            raise FigureInputError(f"Expected `--select` to name a setting of the runs, got "
                                   f"{key!r} (no run has it)")
        before = kept
        kept = [r for r in kept if matches(io.setting(r, key), wanted)]
        if not kept:
            values = sorted({_show(io.setting(r, key)) for r in before}, key=_order)
            raise FigureInputError(f"Expected a run with {key} = {wanted} for `--select`, got "
                                   f"none (the runs hold {', '.join(values)})")
    return kept
