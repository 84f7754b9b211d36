"""Every statistic of the claims study, declared once: claim, setting, statistic, paper
direction, role, smallest effect of interest ``delta``, and the paper's number.

This table is the one source of the statistics' metadata. The study reads each row's
direction, role and ``delta`` from it (:func:`lookup`); docs/claims.md's table of
statistics is rendered from it (:func:`markdown_table`, checked by a test that the
committed doc holds exactly that text), so the two cannot drift.

**One primary per claim C1-C6** (role ``primary``), fixed before any result of the
protocols that use it: its ``delta`` is half of the paper's own number where the paper
gives one (C1, C4), and otherwise derived from the paper's one quantified trend or from
the theorem's form, as each entry's ``delta_reason`` says. Every other statistic is
``secondary``: reported in its own table, never tallied with the primaries. The primaries
read the paper's own alignment measure: linear CKA of the raw backbone features ``h`` (the
paper's code, THEORY.md s12), so that ``delta`` and the estimate share units.

A setting pattern has fields in braces: ``{features}`` (``h`` backbone, ``z`` projection),
``{metric}`` (a measure of :data:`empirics.measures.MEASURES`: ``cka`` cosine Gram, the
theory's; ``cka_linear`` raw features, the paper's code; ...), ``{group}`` (``real`` C-way
subsets of the real set, ``synthetic``), ``{budget}`` (``steps`` or ``epochs``), ``{rule}``
(a batch-size rule), ``{grid}`` (the protocol's values).

>>> lookup("C4", "linear/epochs/h/cka_linear").role
'primary'
>>> lookup("C4", "sqrt-linear/steps/z/cka").direction
'+'
>>> [s.claim for s in primaries()]
['C1', 'C2', 'C3', 'C4', 'C5', 'C6']

A secondary of a measure where lower is more aligned (``procrustes``, ``sim_gap``, ...) is
signed so that ``+`` is still the paper's direction: C1's is
``min(D(CL,SCL), D(CL,CE)) - D(CL,NSCL)`` (:attr:`Statistic.lower`), a trend's is ``-1`` times
the slope or the change (the measure's :attr:`~empirics.measures.Measure.sign`).

>>> lookup("C1", "base/test/h/procrustes").format(features="h", metric="procrustes")[1][:50]
'min(Procrustes distance(CL,SCL), Procrustes distan'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from empirics.measures import MEASURES

__all__ = [
    "CLAIMS",
    "PRIMARY_FEATURES",
    "PRIMARY_METRIC",
    "STATISTICS",
    "Statistic",
    "delta_table",
    "lookup",
    "markdown_table",
    "metric_name",
    "primaries",
]

#: Each claim of THEORY.md s13 in a few words (the README's and the figures' label).
CLAIMS = {
    "C1": "CL is closest to NSCL",
    "C2": "alignment grows with C",
    "C3": "alignment grows with tau",
    "C4": "alignment falls with B (linear rule)",
    "C5": "weights drift, similarities stay close",
    "C6": "alignment declines in long training",
    "C7": "the [P1] loss-gap bound",
}

#: The primaries' alignment measure and features: the paper's (linear CKA, raw backbone).
PRIMARY_METRIC = "cka_linear"
PRIMARY_FEATURES = "h"


def metric_name(metric: str) -> str:
    """The name of a measure in a statistic's text: its registry label without a
    parenthesised gloss, or its name where the label is a formula.

    >>> metric_name("cka_linear"), metric_name("rsa"), metric_name("rho")
    ('linear CKA', 'RSA', 'rho')
    """
    entry = MEASURES.get(metric)
    if entry is None:
        return metric
    label = entry.label.split(" (")[0]
    return metric if any(c in label for c in "=|") else label

_PER_DOUBLING = 0.02  # half of the paper's -0.04 CKA per doubling of B (C4, Fig. 5)
_TREND_REASON = ("the paper gives no number; its one quantified trend, C4's -0.04 CKA per "
                 "doubling of B (Fig. 5), sets the scale of a trend on a log axis: half of "
                 "0.04 per doubling, i.e. 0.02 per doubling = 0.02 / ln 2 per unit of ln x")


@dataclass(frozen=True)
class Statistic:
    """One statistic of the claims study (a row of docs/claims.md's table).

    Attributes:
        claim: ``C1`` .. ``C7``.
        setting: the setting pattern (claims.csv ``setting`` after formatting).
        statistic: what one seed's value is (pattern, like ``setting``).
        direction: ``+`` or ``-`` (the paper's sign), or ``none`` (a shape: no test).
        role: ``primary`` or ``secondary``.
        delta: the smallest effect of interest (primaries; NaN for secondaries).
        delta_reason: how ``delta`` was chosen.
        paper: the paper's statement and number.
        paper_value: the paper's number in our units (NaN where it gives none).
        lower: the statistic's text for a measure where lower is more aligned (empty: ``-1
            x`` the statistic, so that ``+`` is still the paper's direction).
    """

    claim: str
    setting: str
    statistic: str
    direction: str
    role: str = "secondary"
    delta: float = math.nan
    delta_reason: str = ""
    paper: str = ""
    paper_value: float = math.nan
    lower: str = ""

    def pattern(self) -> re.Pattern:
        """A regular expression matching the formatted settings of this entry."""
        parts = re.split(r"(\{[a-z]+\})", self.setting)
        body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{body}$")

    def format(self, **fields) -> tuple[str, str]:
        """``(setting, statistic)`` with the fields filled in; the statistic of a measure
        where lower is more aligned is :attr:`lower` (or ``-1 x`` the statistic)."""
        metric = fields.get("metric")
        text = self.statistic
        if metric:
            fields = {**fields, "metric_name": metric_name(metric)}
            entry = MEASURES.get(metric)
            if entry is not None and entry.sign < 0 and "{metric" in self.setting:
                text = self.lower or f"-1 x [{self.statistic}] (lower is more aligned)"
        return self.setting.format(**fields), text.format(**fields)


STATISTICS: tuple[Statistic, ...] = (
    # ------------------------------------------------------------------------------- C1
    Statistic("C1", "base/test/h/cka_linear",
              "linear CKA(CL,NSCL) - max(linear CKA(CL,SCL), linear CKA(CL,CE)), last step, "
              "test, h", "+", "primary", 0.185,
              "half of the paper's +0.37",
              "+0.37 (Fig. 2, Tiny-ImageNet, ResNet-50 backbone: CKA 0.87 vs max(0.04 SCL, "
              "0.45-0.50 CE))", 0.37),
    Statistic("C1", "base/test/{features}/{metric}",
              "{metric_name}(CL,NSCL) - max({metric_name}(CL,SCL), {metric_name}(CL,CE)), "
              "last step, test, {features}", "+", paper="+ (Fig. 2)",
              lower="min({metric_name}(CL,SCL), {metric_name}(CL,CE)) - "
                    "{metric_name}(CL,NSCL), last step, test, {features}"),
    # ------------------------------------------------------------------------------- C2
    Statistic("C2", "synthetic/h/cka_linear",
              "slope of the final CL-NSCL linear CKA (test, h) against ln C, synthetic data "
              "with fixed samples per class and orthonormal prototypes, C in {grid}", "+",
              "primary", _PER_DOUBLING / math.log(2), _TREND_REASON,
              "+ (Fig. 3: higher with more classes)"),
    Statistic("C2", "{group}/{features}/{metric}",
              "slope of the final CL-NSCL {metric_name} (test, {features}) against ln C, "
              "{group} data, C in {grid}", "+", paper="+ (Fig. 3)"),
    # ------------------------------------------------------------------------------- C3
    Statistic("C3", "tau/h/cka_linear",
              "slope of the final CL-NSCL linear CKA (test, h) against ln tau, tau in {grid}",
              "+", "primary", _PER_DOUBLING / math.log(2), _TREND_REASON,
              "+ (Fig. 4: higher with larger tau)"),
    Statistic("C3", "tau/{features}/{metric}",
              "slope of the final CL-NSCL {metric_name} (test, {features}) against ln tau, "
              "tau in {grid}", "+", paper="+ (Fig. 4)"),
    # ------------------------------------------------------------------------------- C4
    Statistic("C4", "linear/epochs/h/cka_linear",
              "slope of the final CL-NSCL linear CKA (test, h) against log2 B under the "
              "linear rule, equal samples seen (fixed epochs, as the paper), B in {grid}",
              "-", "primary", _PER_DOUBLING, "half of the paper's -0.04 per doubling",
              "-0.04 per doubling (Fig. 5, Mini-ImageNet: 0.94, 0.91, 0.86 at B = 256, 512, "
              "1024, fixed epochs)", -0.04),
    Statistic("C4", "linear/{budget}/{features}/{metric}",
              "slope of the final CL-NSCL {metric_name} (test, {features}) against log2 B "
              "under the linear rule, {budget} budget, B in {grid}", "-",
              paper="- (Fig. 5)"),
    Statistic("C4", "{rule}-linear/{budget}/{features}/{metric}",
              "slope under the {rule} rule minus slope under the linear rule (CL-NSCL "
              "{metric_name}, test, {features}, against log2 B, {budget} budget)", "+",
              paper="+ (Fig. 5: flatter than linear; about 0.98 at every B with sqrt)"),
    # ------------------------------------------------------------------------------- C5
    Statistic("C5", "long/weight-vs-similarity",
              "[ln d_w(T) - ln d_w(S_T/2)] - [ln d_S(T) - ln d_S(S_T/2)]: growth over the "
              "second half of S of the weight distance d_w = ||w_CL - w_NSCL|| minus that "
              "of the similarity gap d_S = ||Sigma_CL - Sigma_NSCL||_F (test, z), both "
              "absolute, long run", "+", "primary", math.log(2) / 2,
              "the paper gives no number; growth proportional to S (the least that "
              "Theorem 2's exp(beta S) - 1 allows, and what 'keeps growing' means at the "
              "least) doubles d_w over the second half of S, ln 2, while a similarity gap "
              "that stays close does not grow; half of that, ln(2)/2",
              "+ (Figs. 1, 6: the weight gap keeps growing while the similarity gap stays "
              "small; Theorems 1, 2)"),
    Statistic("C5", "long/weight_distance",
              "ln d_w(T) - ln d_w(S_T/2): growth of ||w_CL - w_NSCL|| over the second half "
              "of S (every parameter, float64)", "+",
              paper="+ (Fig. 6: the weight gap keeps growing)"),
    Statistic("C5", "long/sim_gap",
              "ln d_S(T) - ln d_S(S_T/2): growth of ||Sigma_CL - Sigma_NSCL||_F (test, z) "
              "over the second half of S", "none",
              paper="none (Theorem 1 bounds it; the paper shows it small, not its growth)"),
    Statistic("C5", "long/weight_gap",
              "ln(wg(T) / wg(S_T/2)): growth of the relative weight gap (mean over tensors "
              "of ||W_CL - W_NSCL|| / ||W_NSCL||) over the second half of S", "+",
              paper="+ (Fig. 6: the weight gap keeps growing)"),
    Statistic("C5", "long/weight_gap_official",
              "ln(wg(T) / wg(S_T/2)) with the official code's weight gap (mean over the "
              "backbone's weight tensors of ||W_CL - W_NSCL|| / (0.5 (||W_CL|| + "
              "||W_NSCL||)))", "+", paper="+ (Fig. 6, the official code's definition)"),
    Statistic("C5", "long/angles",
              "weight angle - representation angle (degrees, test, h) at the end of the "
              "long run", "+",
              paper="+58 degrees (Fig. 1: weight angle about 86, representation angle "
                    "about 28)", paper_value=58.0),
    Statistic("C5", "long/shape",
              "k = b (S_T - S_1) of the fit d_w(S) = c + a (exp(b (S - S_1)) - 1) with a "
              "free intercept, on the evaluations after the first (k > 0 convex, 0 linear, "
              "< 0 concave)", "none",
              paper="none (Theorem 2 is an upper bound; any shape below it agrees)"),
    # ------------------------------------------------------------------------------- C6
    Statistic("C6", "long/h/cka_linear",
              "linear CKA(CL,NSCL) at the end minus at T/2 of the long run (test, h): the "
              "decline within one run", "-", "primary", _PER_DOUBLING,
              "the paper gives no number; the C4 scale (0.04 CKA per doubling, half of it) "
              "over one doubling of training time, T/2 to T",
              "- (Figs. 2, 3: slow decline with much longer training)"),
    Statistic("C6", "long/{features}/{metric}",
              "{metric_name}(CL,NSCL) at the end minus at T/2 of the long run (test, "
              "{features})", "-", paper="- (Figs. 2, 3)"),
    # ------------------------------------------------------------------------------- C7
    Statistic("C7", "{group}/loss_gap",
              "slope of the CL encoder's final test L_CL - L_NSCL against ln C, {group} "
              "data, C in {grid}", "-",
              paper="- ([P1]: the bound log(1 + e^(2/tau)/(C-1)) falls with C)"),
)


def primaries() -> list[Statistic]:
    """The primary statistic of each claim, in claim order."""
    return [s for s in STATISTICS if s.role == "primary"]


def lookup(claim: str, setting: str) -> Statistic:
    """The entry of a formatted ``setting`` of ``claim``: the primary when it is one, else
    the first secondary pattern that matches.

    Raises:
        KeyError: no entry matches (a statistic that is not declared here).
    """
    candidates = [s for s in STATISTICS if s.claim == claim]
    for s in sorted(candidates, key=lambda s: s.role != "primary"):
        if s.pattern().match(setting):
            return s
    raise KeyError(f"Expected a declared statistic of {claim} for setting {setting!r}, got "
                   "none (empirics/studies/claims/catalog.py)")


def _num(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table() -> str:
    """docs/claims.md's table of statistics, one row per entry (primaries first)."""
    lines = ["| claim | role | setting | statistic (one value per seed) | direction | delta "
             "| paper |", "|---|---|---|---|---|---|---|"]
    for s in sorted(STATISTICS, key=lambda s: (s.role != "primary", s.claim)):
        text = s.statistic + (f"; where lower is more aligned: {s.lower}" if s.lower else "")
        lines.append(f"| {s.claim} | {s.role} | `{s.setting}` | {_cell(text)} | "
                     f"{s.direction} | {_num(s.delta)} | {_cell(s.paper)} |")
    return "\n".join(lines) + "\n"


def delta_table() -> str:
    """docs/claims.md's table of the primaries' ``delta`` and how each was chosen."""
    lines = ["| claim | primary | delta | how delta was chosen |", "|---|---|---|---|"]
    for s in primaries():
        lines.append(f"| {s.claim} | `{s.setting}` | {_num(s.delta)} | "
                     f"{_cell(s.delta_reason)} |")
    return "\n".join(lines) + "\n"
