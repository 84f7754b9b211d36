"""One visual language for every figure: a colour-blind-safe palette, and the colours, labels
and axes of the objectives and measures, read from their registries.

The palette is Okabe & Ito (2008), "Color Universal Design", safe for the common forms of
colour-vision deficiency. An objective's colour, label and order come from
:data:`empirics.objectives.OBJECTIVES` (CL blue, NSCL vermillion, SCL bluish green, CE
reddish purple, NT-Xent sky blue; a plugin objective brings its own), so an objective has
the same colour everywhere; a pair ``a-b`` takes the colour of ``b``, the objective CL is
compared with (:func:`empirics.objectives.pair_color`). A similarity measure's label, range
and direction come from :data:`empirics.measures.MEASURES` (:func:`measure_label`,
:func:`measure_axis`): an axis of a measure for which lower is more aligned says so. Nothing
here lists objective or measure names: a registered plugin is drawn like a built-in.

>>> method_color("cl-nscl") == method_color("nscl") == OBJECTIVES["nscl"].color
True
>>> pair_label("cl-nscl"), measure_label("procrustes", prefix="CL-NSCL ")
('CL vs NSCL', 'CL-NSCL Procrustes distance (angular), lower is more aligned')
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt

from empirics.measures import MEASURES, Measure
from empirics.objectives import OBJECTIVES, pair_color

#: The eight Okabe-Ito colours.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}


#: Bounds are black/grey/orange with fixed line styles; measured values use the pair colour.
BOUND_STYLES: dict[str, dict] = {
    "theorem1": {"color": OKABE_ITO["orange"], "linestyle": ":", "linewidth": 2.0},
    "recurrence": {"color": OKABE_ITO["black"], "linestyle": "-.", "linewidth": 1.6},
    "certificate": {"color": "#777777", "linestyle": "--", "linewidth": 1.6},
    "certificate_lipschitz": {"color": "#AAAAAA", "linestyle": (0, (3, 1, 1, 1, 1, 1)),
                              "linewidth": 1.4},
    "lower_bound": {"color": OKABE_ITO["black"], "linestyle": "--", "linewidth": 1.4},
    "p1_bound": {"color": OKABE_ITO["orange"], "linestyle": ":", "linewidth": 2.0},
}

BOUND_LABELS: dict[str, str] = {
    "theorem1": "Theorem 1 bound [P2]",
    "recurrence": "exact recurrence bound",
    "certificate": "one-run certificate",
    "certificate_lipschitz": "certificate, Lipschitz form",
}

#: Learning-rate rules of [P2] Fig. 5 (THEORY.md s11).
RULE_COLORS: dict[str, str] = {
    "linear": OKABE_ITO["blue"],
    "sqrt": OKABE_ITO["vermillion"],
    "fourth-root": OKABE_ITO["bluish_green"],
    "constant": OKABE_ITO["reddish_purple"],
}
RULE_LABELS: dict[str, str] = {
    "linear": r"linear ($\eta \propto B$)",
    "sqrt": r"square root ($\eta \propto \sqrt{B}$)",
    "fourth-root": r"fourth root ($\eta \propto B^{1/4}$)",
    "constant": "constant",
}

#: Sequential colour map for ordered parameters (C, tau, B): perceptually uniform, CVD-safe.
SEQUENTIAL_CMAP = "cividis"

#: Shading of regions where a bound is vacuous.
VACUOUS_STYLE: dict = {"color": "#BBBBBB", "alpha": 0.35, "hatch": "//", "linewidth": 0}

RC: dict = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.8,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "hatch.color": "#888888",
    "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO.values())[1:] + ["#000000"]),
}

#: Resolution of committed gallery PNGs (keeps each file small).
PNG_DPI = 80
#: The resolutions :func:`save` accepts (dots per inch): 600 is print quality; above it the
#: largest figure (the bound landscape, 12 x 7.2 inches) needs gigabytes to render.
DPI_RANGE = (10, 600)
#: The most pixels one raster file may have (about 400 MB of RGBA while it is drawn).
MAX_PIXELS = 10**8


def method_color(name: str) -> str:
    """Colour of an objective (``cl``) or a pair (``cl-nscl``: the colour of ``nscl``, the
    objective CL is compared with); unknown names raise."""
    if name in OBJECTIVES:
        return OBJECTIVES[name].color
    a, sep, b = name.partition("-")
    if sep and a in OBJECTIVES and b in OBJECTIVES:
        return pair_color(name)
    raise ValueError(f"Expected `name` to be a known method or pair, got {name!r}")


def objective_color(name: str, default: str = "#555555") -> str:
    """Colour of an objective, or ``default`` for a name the registry does not know (a run
    of an uninstalled plugin)."""
    entry = OBJECTIVES.get(name)
    return entry.color if entry is not None else default


def objective_label(name: str) -> str:
    """Label of an objective (its name when the registry does not know it)."""
    entry = OBJECTIVES.get(name)
    return entry.label if entry is not None else name


def in_order(names: Iterable[str], *, keep: Iterable[str] = ()) -> list[str]:
    """``names`` (and ``keep``) in the registry's canonical order, unknown names last in
    the order given: the objectives a panel draws, and the order of its legend."""
    found = list(dict.fromkeys([*keep, *names]))
    known = [n for n in OBJECTIVES.names() if n in found]
    return known + [n for n in found if n not in known]


def pair_label(pair: str) -> str:
    """``'cl-nscl'`` -> ``'CL vs NSCL'``."""
    parts = pair.split("-")
    if len(parts) != 2:
        raise ValueError(f"Expected `pair` of the form 'a-b', got {pair!r}")
    return " vs ".join(OBJECTIVES[p].label if p in OBJECTIVES else p.upper() for p in parts)


# ----------------------------------------------------------------------------- measures
#: Said on the axis of a measure for which lower is more aligned.
LOWER_NOTE = "lower is more aligned"
#: How far an axis reaches past the aligned end of a bounded measure (1 stays visible).
ALIGNED_PAD = 0.005


def measure(name: str) -> Measure:
    """The registry entry of a measure (``ValueError`` naming the known ones)."""
    return MEASURES[name]


def measure_label(name: str, *, prefix: str = "", suffix: str = "", sep: str = ", ") -> str:
    """The axis label of a measure: its registry label between ``prefix`` and ``suffix``,
    and, where lower is more aligned, :data:`LOWER_NOTE` (after ``sep``)."""
    m = measure(name)
    text = f"{prefix}{m.label}{suffix}"
    return text + (f"{sep}{LOWER_NOTE}" if m.direction == "lower" else "")


def measure_axis(ax, name: str) -> None:
    """Limit the y axis at the measure's aligned end, from its registry range: a little
    above the top of a bounded higher-is-aligned measure (1.005 for CKA), at the bottom of a
    lower-is-aligned one (0 for the gaps); the other end stays automatic, so that small
    differences stay visible."""
    m = measure(name)
    lo, hi = m.range
    if m.direction == "higher" and math.isfinite(hi):
        ax.set_ylim(top=hi + ALIGNED_PAD)
    elif m.direction == "lower" and math.isfinite(lo):
        ax.set_ylim(bottom=lo)


def is_score(m: Measure) -> bool:
    """Whether ``m`` is an alignment score drawn with the others ([P2] Fig. 2 analogue):
    every measure but the unbounded distances (range up to infinity, lower is more aligned:
    the similarity gaps, which the bound figures draw against their bounds)."""
    return not (m.direction == "lower" and math.isinf(m.range[1]))


def measures_in(columns: Iterable[str], *, scores: bool = False) -> list[str]:
    """The registered measures among ``columns`` (a ``metrics.csv`` header), in the
    registry's order; only the scores (:func:`is_score`) with ``scores``."""
    have = set(columns)
    return [m.name for m in MEASURES if m.name in have and (not scores or is_score(m))]


#: Colour of each verdict of the claims study (docs/claims.md); any other verdict is grey
#: and still counted.
VERDICT_COLORS: dict[str, str] = {
    "holds": OKABE_ITO["bluish_green"],
    "reversed": OKABE_ITO["vermillion"],
    "inconclusive": "#888888",
    "absent": OKABE_ITO["sky_blue"],
    "unstable": OKABE_ITO["orange"],
    "descriptive": OKABE_ITO["reddish_purple"],
}


def verdict_color(verdict: str) -> str:
    """The colour of a verdict (:data:`VERDICT_COLORS`; an unknown one: inconclusive's)."""
    return VERDICT_COLORS.get(str(verdict), VERDICT_COLORS["inconclusive"])


def sequential_colors(n: int) -> list:
    """``n`` colours from the sequential map, light to dark avoided at the yellow end."""
    cmap = mpl.colormaps[SEQUENTIAL_CMAP]
    if n <= 1:
        return [cmap(0.2)]
    return [cmap(0.0 + 0.75 * i / (n - 1)) for i in range(n)]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context manager applying the figure style (rcParams) for the duration."""
    with mpl.rc_context(RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 3.4, height: float = 2.8,
               **kw):
    """A figure with ``nrows x ncols`` Axes, ``width x height`` inches per panel."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, layout="constrained", **kw)
    return fig, axes


def shade_vacuous(ax, x: Sequence[float], vacuous: Sequence[bool], *, label: str | None =
                  "bound vacuous") -> bool:
    """Shade the x-ranges where ``vacuous`` is true (contiguous runs, midpoints as edges).

    Returns whether anything was shaded.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    v = np.asarray(vacuous, dtype=bool)
    if x.size == 0 or not v.any():
        return False
    order = np.argsort(x)
    x, v = x[order], v[order]
    # Edges halfway between neighbours (geometric if the axis is positive, as on log axes).
    if np.all(x > 0):
        mids = np.sqrt(x[1:] * x[:-1])
    else:
        mids = 0.5 * (x[1:] + x[:-1])
    lo_edges = np.concatenate([[x[0]], mids])
    hi_edges = np.concatenate([mids, [x[-1]]])
    first = True
    i = 0
    while i < len(x):
        if v[i]:
            j = i
            while j + 1 < len(x) and v[j + 1]:
                j += 1
            ax.axvspan(lo_edges[i], hi_edges[j], label=label if first else None,
                       **VACUOUS_STYLE)
            first = False
            i = j + 1
        else:
            i += 1
    return True


#: A value a log axis cannot show (0, or below 0) is drawn as this marker at the axis floor:
#: filled for exactly 0, hollow for below 0 (see :func:`floor_marks`).
FLOOR_STYLE: dict = {"marker": "v", "markersize": 6, "linestyle": "none", "clip_on": False}
#: Height of the floor markers, as a fraction of the axes.
FLOOR_Y = 0.02


def floor_marks(ax, x: Sequence[float], y: Sequence[float], *, color: str) -> tuple[int, int]:
    """Draw the values of ``y`` that a log y axis would drop (0 and below) at the axis floor.

    Call it for each series drawn on a log axis, then :func:`floor_note` once for the legend.
    The markers sit at a fixed height of the axes (:data:`FLOOR_Y`), whatever its limits,
    and leave the y limits alone; the series itself is drawn as before (NaN there).

    Returns:
        ``(zeros, negatives)``: how many values are exactly 0 and how many are below 0.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    zero = (y == 0) & np.isfinite(x)
    neg = (y < 0) & np.isfinite(x)
    for sel, face in ((zero, color), (neg, "white")):
        if sel.any():
            ax.plot(x[sel], np.full(int(sel.sum()), FLOOR_Y), transform=ax.get_xaxis_transform(),
                    color=color, markerfacecolor=face, label="_floor", **FLOOR_STYLE)
    return int(zero.sum()), int(neg.sum())


def floor_label(zeros: int, negatives: int, what: str = "value") -> str:
    """The legend text of the floor markers (empty when there are none); ``what`` is the
    singular noun of one value.

    >>> floor_label(2, 0, "loss gap")
    'at the axis floor: 2 loss gaps exactly 0'
    >>> floor_label(1, 3)
    'at the axis floor: 1 value exactly 0, 3 below 0 (hollow)'
    """
    def count(n: int) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    parts = ([f"{count(zeros)} exactly 0"] if zeros else []) + (
        [f"{negatives if zeros else count(negatives)} below 0 (hollow)"] if negatives else [])
    return f"at the axis floor: {', '.join(parts)}" if parts else ""


def floor_note(ax, zeros: int, negatives: int, what: str = "value") -> None:
    """One legend entry for the floor markers of ``ax`` (nothing when there are none)."""
    text = floor_label(zeros, negatives, what)
    if text:  # an empty line as the legend handle (clipped: no extent for the layout)
        ax.plot([], [], color="#555555", label=text,
                **{**FLOOR_STYLE, "clip_on": True})


#: Height of the markers of values above the float range, as a fraction of the axes.
CEILING_Y = 0.98


def ceiling_marks(ax, x: Sequence[float], y: Sequence[float],
                  log10: Sequence[float] | None = None, *, color: str, what: str) -> int:
    """Mark the values of ``y`` that overflowed to ``+inf`` (a bound beyond float range,
    which no axis can place) at the top of the axes, never dropping them silently.

    A value counts as overflowed where it is ``+inf``, or NaN while its ``log10`` twin (the
    ``log10_`` column the bounds write, THEORY.md) is finite. The markers (an upward
    triangle in ``color``) sit at a fixed height of the axes (:data:`CEILING_Y`), leave the
    limits alone, and carry one legend entry: ``what``, how many, and the largest
    ``log10`` where it is known.

    Returns:
        How many values were marked.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    lg = np.full(y.shape, np.nan) if log10 is None else np.asarray(log10, dtype=float)
    over = np.isfinite(x) & ((y == np.inf) | (np.isnan(y) & np.isfinite(lg)
                                                   & (lg > np.log10(np.finfo(float).max))))
    n = int(over.sum())
    if n:
        known = lg[over & np.isfinite(lg)]
        mag = f", log10 up to {known.max():.0f}" if known.size else ""
        ax.plot(x[over], np.full(n, CEILING_Y), transform=ax.get_xaxis_transform(),
                color=color, marker="^", markersize=6, linestyle="none", clip_on=False,
                label=f"{what} above float range ({n}{mag})")
    return n


def notice(ax, text: str, title: str = "") -> None:
    """An empty panel, with the title it would have, that says why there is nothing to
    draw."""
    import textwrap

    ax.text(0.5, 0.5, textwrap.fill(text, 40), ha="center", va="center",
            transform=ax.transAxes, fontsize=8, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)


def shots_axis(ax, ms: Sequence[int]) -> None:
    """A log x axis of shots per class ``m``, ticked at the measured ``ms`` only."""
    ax.set_xscale("log")
    ms = sorted(set(ms))
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.minorticks_off()
    ax.set_xlabel("shots per class m")


def _palette_png(path: str) -> None:
    """Re-encode a PNG with an adaptive 256-colour palette (plots have few colours; the
    files shrink about 3x, which keeps the committed gallery small)."""
    from PIL import Image

    with Image.open(path) as im:
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    q.save(path, format="PNG", optimize=True)


def check_dpi(dpi, name: str = "dpi") -> None:
    """Raise unless ``dpi`` is a number in :data:`DPI_RANGE`.

    >>> check_dpi(100000)
    Traceback (most recent call last):
    ...
    ValueError: Expected `dpi` in 10..600, got 100000
    """
    import math

    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)):
        raise TypeError(f"Expected `{name}` to be a number, got {dpi!r}")
    lo, hi = DPI_RANGE
    if not (math.isfinite(dpi) and lo <= dpi <= hi):
        raise ValueError(f"Expected `{name}` in {lo}..{hi}, got {dpi!r}")


def check_pixels(fig, dpi: float) -> None:
    """Raise ``ValueError`` when ``fig`` at ``dpi`` would be a raster of more than
    :data:`MAX_PIXELS` pixels or more than 2^16 on a side (before any memory is taken)."""
    w, h = (float(v) * dpi for v in fig.get_size_inches())
    if w * h > MAX_PIXELS or max(w, h) >= 2**16:
        raise ValueError(f"Expected a figure of at most {MAX_PIXELS:.0e} pixels, got "
                         f"{w:.0f} x {h:.0f} ({fig.get_size_inches()[0]:.3g} x "
                         f"{fig.get_size_inches()[1]:.3g} inches at {dpi:g} dpi)")


def save(fig, out_dir: str | Path, name: str, *, formats: Sequence[str] = ("png", "pdf"),
         dpi: int = PNG_DPI) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.<format>`` for each format and close it.

    Each file is written by :func:`cl_nscl_align.atomic.atomic_path`: complete or absent,
    never half-written, with the mode a plain ``open`` would give it (the umask honoured).

    Returns:
        The paths written, in the order of ``formats``.

    Raises:
        OSError: ``out_dir`` cannot be created or written.
        ValueError: ``dpi`` outside :data:`DPI_RANGE`, or a raster file of more than
            :data:`MAX_PIXELS` pixels (or 2^16 on a side); nothing is written.
        TypeError: ``dpi`` is not a number.
    """
    from cl_nscl_align.atomic import atomic_path

    out_dir = Path(out_dir)
    paths = []
    try:
        check_dpi(dpi)
        if any(fmt == "png" for fmt in formats):
            check_pixels(fig, dpi)
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi)
                if fmt == "png":
                    _palette_png(tmp)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
