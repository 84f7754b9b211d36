"""One visual language for every figure: a colour-blind-safe palette and fixed method colours.

The palette is Okabe & Ito (2008), "Color Universal Design", safe for the common forms of
colour-vision deficiency. Every figure takes its colours from the tables below, so a method
(``cl``, ``nscl``, ``scl``, ``ce``, ``ntxent``) or a pair (``cl-nscl`` ...) has the same colour
everywhere. A pair is drawn in the colour of the method CL is compared with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt

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

#: Fixed colour of each training objective.
METHOD_COLORS: dict[str, str] = {
    "cl": OKABE_ITO["blue"],
    "nscl": OKABE_ITO["vermillion"],
    "scl": OKABE_ITO["bluish_green"],
    "ce": OKABE_ITO["reddish_purple"],
    "ntxent": OKABE_ITO["sky_blue"],
}

#: Human-readable method names.
METHOD_LABELS: dict[str, str] = {
    "cl": "CL",
    "nscl": "NSCL",
    "scl": "SCL",
    "ce": "CE",
    "ntxent": "NT-Xent",
}

#: A pair ``a-b`` takes the colour of ``b`` (the method CL is compared with).
PAIR_COLORS: dict[str, str] = {
    "cl-nscl": METHOD_COLORS["nscl"],
    "cl-scl": METHOD_COLORS["scl"],
    "cl-ce": METHOD_COLORS["ce"],
    "cl-ntxent": METHOD_COLORS["ntxent"],
    "ntxent-nscl": OKABE_ITO["orange"],
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


def method_color(name: str) -> str:
    """Colour of a method (``cl``) or pair (``cl-nscl``); unknown names raise."""
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    if name in PAIR_COLORS:
        return PAIR_COLORS[name]
    raise ValueError(f"Expected `name` to be a known method or pair, got {name!r}")


def pair_label(pair: str) -> str:
    """``'cl-nscl'`` -> ``'CL vs NSCL'``."""
    parts = pair.split("-")
    if len(parts) != 2:
        raise ValueError(f"Expected `pair` of the form 'a-b', got {pair!r}")
    return " vs ".join(METHOD_LABELS.get(p, p.upper()) for p in parts)


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


def save(fig, out_dir: str | Path, name: str, *, formats: Sequence[str] = ("png", "pdf"),
         dpi: int = PNG_DPI) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.<format>`` for each format and close it.

    Each file is written by :func:`cl_nscl_align.atomic.atomic_path`: complete or absent,
    never half-written, with the mode a plain ``open`` would give it (the umask honoured).

    Returns:
        The paths written, in the order of ``formats``.

    Raises:
        OSError: ``out_dir`` cannot be created or written.
    """
    from cl_nscl_align.atomic import atomic_path

    out_dir = Path(out_dir)
    paths = []
    try:
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
