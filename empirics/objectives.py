"""The registry of training objectives: every objective, and everything the toolkit knows
about it, in one place.

An :class:`Objective` carries its loss, its label, colour and order (figures, tables, the
canonical order that names the pairs ``cl-nscl``, ...), whether it needs labels, and its
source (THEORY.md s2). The training configuration's choices, the trainer, the evaluator,
the studies and the figures all read :data:`OBJECTIVES`; nothing else lists the names.

Built-in (THEORY.md s2): ``cl`` (decoupled contrastive: the positive is not in the
denominator; with ``positive_in_denominator`` the official code's NT-Xent-style CL),
``ntxent`` (SimCLR's NT-Xent), ``nscl`` (CL without same-class negatives), ``scl``
(supervised contrastive, Khosla et al. 2020) and ``ce`` (cross-entropy through a linear
head on the backbone: ``kind = "head"``, trained by the trainer's head path).

A package installed beside the toolkit adds an objective with an entry point in group
``cl_nscl_align.objectives`` (docs/extending.md): a plain function
``loss(views, labels, tau) -> scalar tensor`` with ``views`` of shape ``(K, B, d)``, or an
:class:`Objective` (or a dict of its fields, ``loss`` included) to set the metadata too. It
becomes a ``--objectives`` choice and trains in lockstep like the built-ins.

This module imports no torch: the figures read labels and colours from it.

>>> OBJECTIVES.names()[:5]
('cl', 'ntxent', 'nscl', 'scl', 'ce')
>>> OBJECTIVES["nscl"].label, OBJECTIVES["nscl"].needs_labels
('NSCL', True)
>>> canonical_objectives("ce, cl,nscl")
('cl', 'nscl', 'ce')
>>> pair_name("cl", "nscl")
'cl-nscl'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cl_nscl_align.registry import Registry, plugin_fields

__all__ = ["OBJECTIVES", "Objective", "THEOREM_PAIR", "canonical_objectives", "contrastive",
           "objective_loss", "pair_color", "pair_name", "paper_objectives"]

#: The pair the theorems are about: self-supervised CL and its supervised surrogate NSCL.
THEOREM_PAIR = ("cl", "nscl")

#: The colours plugins take, in turn, after the built-ins' (Okabe & Ito 2008, then greys).
_PLUGIN_COLORS = ("#E69F00", "#F0E442", "#000000", "#777777", "#AAAAAA", "#444444")
#: Plugins sort after the built-in contrastive objectives and before the head objective.
_PLUGIN_ORDER = 50


@dataclass(frozen=True)
class Objective:
    """One training objective and its metadata.

    Attributes:
        name: the name in ``--objectives``, column values and pair names.
        label: the name shown in figures and tables.
        color: its colour in every figure (a pair ``a-b`` takes ``b``'s).
        order: the canonical order (pairs are formed in it: ``cl`` first).
        needs_labels: whether the loss reads the class labels (supervised).
        kind: ``"contrastive"`` (a loss on the projected views) or ``"head"`` (CE: a linear
            head on the backbone features, trained by the trainer's head path).
        loss: ``"module:function"`` (built-ins, imported when first used) or a function;
            called as ``loss(views, labels, tau, pairs=..., positive_in_denominator=...)``
            for built-ins and ``loss(views, labels, tau)`` for plugins.
        source: where it comes from (THEORY.md tag or the plugin's distribution).
        plugin: declared by an installed package rather than the toolkit.
        in_paper: one of the four objectives [P2] trains and compares.
    """

    name: str
    label: str
    color: str
    order: int
    needs_labels: bool
    kind: str = "contrastive"
    loss: str | Callable[..., Any] | None = None
    source: str = ""
    plugin: bool = False
    in_paper: bool = False  # one of the four objectives [P2] compares (Figs. 1-6, Table 1)

    def loss_function(self) -> Callable[..., Any]:
        """The loss, imported on first use."""
        if callable(self.loss):
            return self.loss
        if not isinstance(self.loss, str):
            raise ValueError(f"Expected a loss for objective {self.name!r} (kind "
                             f"{self.kind!r}), got none")
        module, _, attr = self.loss.partition(":")
        return getattr(importlib.import_module(module), attr)


_BUILTINS = (
    Objective("cl", "CL", "#0072B2", 0, False, loss="empirics.objectives:_cl",
              source="[P2] CL (decoupled contrastive), THEORY.md s2", in_paper=True),
    Objective("ntxent", "NT-Xent", "#56B4E9", 10, False, loss="empirics.objectives:_ntxent",
              source="SimCLR's NT-Xent, THEORY.md s2"),
    Objective("nscl", "NSCL", "#D55E00", 20, True, loss="empirics.objectives:_nscl",
              source="[P1]/[P2] NSCL (negatives-only supervised contrastive), THEORY.md s2",
              in_paper=True),
    Objective("scl", "SCL", "#009E73", 30, True, loss="empirics.objectives:_scl",
              source="SCL (Khosla et al. 2020), [P2] baseline, THEORY.md s2", in_paper=True),
    Objective("ce", "CE", "#CC79A7", 90, True, kind="head",
              source="cross-entropy with a linear head, [P2] baseline, THEORY.md s2",
              in_paper=True),
)


def _plugin(name: str, obj: Any) -> Objective:
    """An entry point's object as an :class:`Objective` (see the module docstring); its
    colour, unless declared, is one of :data:`_PLUGIN_COLORS` chosen by its name (stable
    whatever else is installed)."""
    color = _PLUGIN_COLORS[sum(map(ord, name)) % len(_PLUGIN_COLORS)]
    meta = plugin_fields(Objective, obj, call="loss", what="a loss function", defaults={
        "name": name, "label": name, "color": color, "order": _PLUGIN_ORDER,
        "needs_labels": True, "source": "plugin"}, forced={
        "name": name, "plugin": True, "kind": "contrastive", "in_paper": False})
    meta["loss"] = _plain(meta["loss"])
    return Objective(**meta)


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A plugin's ``loss(views, labels, tau)`` called with the built-ins' keywords."""

    def loss(views, labels, tau, **_options):
        return fn(views, labels, tau)

    loss.__wrapped__ = fn  # type: ignore[attr-defined]
    return loss


#: Every objective: the built-ins, then the installed plugins (group
#: ``cl_nscl_align.objectives``), in canonical order.
OBJECTIVES: Registry[Objective] = Registry(
    "cl_nscl_align.objectives", _BUILTINS, name_of=lambda o: o.name, from_plugin=_plugin,
    what="objective", order_of=lambda o: (o.order, o.name))


def canonical_objectives(objectives: Any) -> tuple[str, ...]:
    """A comma string or a sequence of objective names, checked, in canonical order.

    Raises:
        TypeError: not a string or a sequence.
        ValueError: an unknown name (naming the known ones), a repeat, or none.
    """
    if isinstance(objectives, str):
        items = [s.strip() for s in objectives.split(",")]
        if len(items) > 1 and not all(items):
            raise ValueError(f"Expected `objectives` to be a comma list without empty items, "
                             f"got {objectives!r}")
        items = [s for s in items if s]
    elif isinstance(objectives, (list, tuple)):
        items = list(objectives)
    else:
        raise TypeError(
            f"Expected `objectives` to be a comma list or a sequence, got {objectives!r}")
    known = OBJECTIVES.names()
    for name in items:
        if name not in known:
            raise ValueError(f"Expected `objectives` among {', '.join(known)}, got {name!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"Expected `objectives` without repeats, got {objectives!r}")
    if not items:
        raise ValueError(f"Expected at least one objective in `objectives`, got {objectives!r}")
    return tuple(o for o in known if o in items)


def paper_objectives() -> tuple[str, ...]:
    """The four objectives [P2] trains and compares (CL, NSCL, SCL, CE), in canonical order.

    The built-ins alone (a plugin is never one of them), so no plugin is loaded for it:
    it is :class:`~empirics.training.config.TrainConfig`'s default, read at import.

    >>> paper_objectives()
    ('cl', 'nscl', 'scl', 'ce')
    """
    return tuple(o.name for o in _BUILTINS if o.in_paper)  # the built-ins are in order


def contrastive(names: Any = None) -> tuple[str, ...]:
    """The objectives trained by a loss on the views (all but the head objectives), in
    canonical order; of ``names`` when given."""
    keep = None if names is None else set(names)
    return tuple(o.name for o in OBJECTIVES if o.kind == "contrastive"
                 and (keep is None or o.name in keep))


def pair_name(a: str, b: str) -> str:
    """The name of the pair ``(a, b)`` in ``metrics.csv`` (``a`` first in canonical order)."""
    return f"{a}-{b}"


def pair_color(pair: str) -> str:
    """A pair ``a-b`` is drawn in the colour of ``b`` (the objective CL is compared with)."""
    return OBJECTIVES[pair.split("-", 1)[1]].color


def objective_loss(name: str, views, labels, config) -> Any:
    """The training loss of objective ``name`` on ``views`` ``(K, B, d)`` with ``labels``.

    ``config`` supplies ``tau``, ``pairs`` and ``positive_in_denominator`` (with it, CL is
    the official code's NT-Xent-style CL and NSCL keeps the positive in its denominator too;
    [P2] code; the [P1] bound holds for both, THEORY.md s2-3).

    Raises:
        ValueError: ``name`` is not a contrastive objective.
    """
    entry = OBJECTIVES[name]
    if entry.kind != "contrastive":
        raise ValueError(f"Expected a contrastive objective among {', '.join(contrastive())}, "
                         f"got {name!r}")
    return entry.loss_function()(views, labels, config.tau, pairs=config.pairs,
                                 positive_in_denominator=config.positive_in_denominator)


# ----------------------------------------------------------------------------- built-in losses
# Each is its loss of empirics.losses with the run's options (THEORY.md s2).
def _cl(views, labels, tau, *, pairs="distinct", positive_in_denominator=False):
    from empirics.losses import cl_loss, ntxent_loss

    if positive_in_denominator:  # the official code's CL keeps the positive (NT-Xent)
        return ntxent_loss(views, tau=tau, pairs=pairs)
    return cl_loss(views, tau=tau, pairs=pairs)


def _ntxent(views, labels, tau, *, pairs="distinct", positive_in_denominator=False):
    from empirics.losses import ntxent_loss

    return ntxent_loss(views, tau=tau, pairs=pairs)


def _nscl(views, labels, tau, *, pairs="distinct", positive_in_denominator=False):
    from empirics.losses import nscl_loss

    return nscl_loss(views, labels, tau=tau, pairs=pairs,
                     positive_in_denominator=positive_in_denominator)


def _scl(views, labels, tau, *, pairs="distinct", positive_in_denominator=False):
    from empirics.losses import scl_loss

    return scl_loss(views, labels, tau=tau)
