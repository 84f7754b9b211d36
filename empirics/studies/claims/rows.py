"""One statistic of one claim and setting, one value per seed: :class:`ClaimRow`, and the
helpers the statistics build their rows with (:func:`new_row`, :func:`get`, :func:`uses`;
the dispatch over claims is :func:`empirics.studies.claims.study.compute_rows`).

A row holds values only; its direction, role, ``delta`` and the paper's number come from
the one declaration in :mod:`empirics.studies.claims.catalog` (:attr:`ClaimRow.meta`). A
run that failed, or lacks a column, gives NaN for its seed and a note, never a plausible
value; one note per distinct reason (``seeds 0, 1, 2: ...``), so a measure that no run
recorded is one note, not one per seed. The statistics themselves:
:mod:`~empirics.studies.claims.alignment` (C1-C4, C6), :mod:`~empirics.studies.claims.drift`
(C5), :mod:`~empirics.studies.claims.checks` (C7).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from empirics.runs import Run
from empirics.studies.claims.catalog import STATISTICS, Statistic, lookup
from empirics.studies.claims.plan import PlannedRun

__all__ = ["ClaimRow", "Missing", "Reader", "get", "new_row", "uses"]

Reader = Callable[[str], "Run | None"]


class Missing(Exception):
    """A run (or task) a statistic needs did not finish, or a value is undefined."""


@dataclass
class ClaimRow:
    """One claim and setting: its statistic text and one value per seed."""

    claim: str
    setting: str
    statistic: str
    values: dict[int, float] = field(default_factory=dict)
    data: str = ""
    features: str = ""
    split: str = ""
    metric: str = ""
    note: str = ""
    reasons: dict[str, list[int]] = field(default_factory=dict)

    @property
    def meta(self) -> Statistic:
        """The catalog entry (direction, role, delta, paper) of this row."""
        return lookup(self.claim, self.setting)

    def put(self, seed: int, fn: Callable[[], float]) -> None:
        """Record ``fn()`` for ``seed``; a failed run, a missing column or an undefined value
        gives NaN and a note."""
        try:
            value = float(fn())
        except (Missing, KeyError, IndexError, ValueError, ZeroDivisionError) as exc:
            value = math.nan
            self.reasons.setdefault(_one_line(exc), []).append(seed)
        self.values[seed] = value

    @property
    def missing(self) -> list[str]:
        """One note per reason a seed has no value, naming its seeds."""
        return [f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {why}"
                for why, seeds in self.reasons.items()]


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())


def get(read: Reader, run: PlannedRun) -> Run:
    """The finished run of a planned use, or :class:`Missing`."""
    got = read(run.name)
    if got is None:
        raise Missing(f"run {run.name} did not finish")
    return got


def uses(planned: Sequence[PlannedRun], claim: str, seed: int,
         setting: str | None = None) -> list[PlannedRun]:
    """The planned uses of ``claim`` for ``seed`` (and run group ``setting``)."""
    return [r for r in planned if r.claim == claim and r.seed == seed
            and (setting is None or r.setting == setting)]


def new_row(claim: str, pattern: str, *, data: str = "", features: str = "",
            split: str = "", metric: str = "", **fields: Any) -> ClaimRow:
    """A row of the catalog entry ``pattern`` of ``claim`` with its fields filled in."""
    entry = next(s for s in STATISTICS if s.claim == claim and s.setting == pattern)
    setting, statistic = entry.format(features=features, metric=metric, **fields)
    return ClaimRow(claim, setting, statistic, data=data, features=features, split=split,
                    metric=metric)
