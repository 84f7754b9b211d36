"""Layer-wise alignment: every layer of ``A`` against every layer of ``B``, from exact moments.

Forward hooks capture the outputs of the chosen layers (``--layers all``: every leaf module
but ``Identity``, ``Flatten`` and ``Dropout``, in module order; or a comma list of module
names). An output ``(N, C, ...)`` becomes rows by averaging the dimensions after ``C``
(``--pool mean``, global average pooling, the default) or by flattening them (``--pool
flatten``, refused above ``--max-width`` columns).

**Exact, streamed, one pass.** The pooled outputs of the ``L_A`` layers of ``A`` form one
wide row ``[w_1 | ... | w_LA]`` per sample (each block centred on its pilot row; unit rows
for the cosine kind, rows scaled by a power of two for the raw kind), and those of ``B``
another. Per batch :class:`WideMoments` adds the wide cross moment ``W^T Z`` (``D_A x
D_B``), each layer's own ``W_l^T W_l``, the column sums, and the few moments of the squared
block norms ``g_l = |w_l|^2`` the dissimilarities need (``sum g_l``, ``sum g_l^2``,
``sum g_l h_m``, ``W^T h``, ``Z^T g``...). The block of layers ``(l, m)`` is then exactly
the :class:`~empirics.metrics.moments.Moments` of the pair (the same fields, about the same
shifts), so every moment measure of a layer pair is the toolkit's own function of it:
every moment measure of :data:`empirics.measures.MEASURES`, by
:func:`empirics.metrics.quantities.alignment`. Memory is
``O(sum_l d_l^2 + sum_m e_m^2 + D_A D_B)`` floats per kind, whatever ``N``: ``N = 10^5``
samples never exist at once (torch-cka's minibatch CKA is unbiased-HSIC averaged over
batches, an estimate; this is the exact full-batch value). Difference moments of blocks of
equal width are derived from the Gram moments
(:func:`~empirics.metrics.moments.upgrade`): gaps between nearly identical layers are as
accurate as the Gram form (about ``1e-8`` of their scale).

**Row measures** (``mutual_knn``, the plugins) need rows, not moments: the pooled outputs of
a bounded seeded subset of the rows (``--layer-rows``, default 1000) are kept for every
layer, and each row measure is evaluated on every layer pair, ``O(L_A L_B n^2)`` time for
``mutual_knn`` (``--layer-rows 0`` leaves them out, NaN).

The heatmap (:func:`plot_layers`) draws on an Axes it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from empirics.compare.measures import moment_values, reported, row_values
from empirics.compare.sources import CompareError
from empirics.measures import MEASURES, moment_measures
from empirics.metrics import moments
from empirics.metrics.moments import (
    centred_scaled_rows,
    centred_unit_rows,
    checked_norms,
    scale_exponent,
)

__all__ = ["LAYER_MEMORY_LIMIT", "LayerHooks", "WideMoments", "columns", "figure_layers",
           "heatmap_measures", "layer_names", "layer_rows", "plot_layers", "select_layers"]


def columns() -> list[str]:
    """layers.csv columns: the two layers, their widths, the rows of the moments, then
    every measure of the pair (:data:`empirics.measures.MEASURES`, in its order).

    >>> columns()[:5]
    ['layer_a', 'layer_b', 'width_a', 'width_b', 'n']
    """
    return ["layer_a", "layer_b", "width_a", "width_b", "n", *(m.name for m in reported())]


def heatmap_measures() -> list[str]:
    """The panels of layers.png: every moment measure on ``[0, 1]`` with higher more aligned
    (the heatmap's colour scale), in the registry's order."""
    return [m.name for m in moment_measures()
            if tuple(m.range) == (0.0, 1.0) and m.direction == "higher"]
#: Largest memory the wide moments may take (bytes), else ``--layers`` is refused.
LAYER_MEMORY_LIMIT = 4 * 2**30
_SKIP = (nn.Identity, nn.Flatten, nn.Dropout)


def layer_names(model: nn.Module) -> list[str]:
    """Every leaf module but ``Identity``, ``Flatten`` and ``Dropout``, in module order.

    >>> from empirics.models import build_model
    >>> layer_names(build_model("mlp", (4,), hidden=8, feature_dim=3, proj_dim=2))[:3]
    ['encoder.net.1', 'encoder.net.2', 'encoder.net.3']
    """
    return [name for name, m in model.named_modules()
            if name and not any(True for _ in m.children()) and not isinstance(m, _SKIP)]


def select_layers(model: nn.Module, spec: str, side: str) -> list[str]:
    """``all`` or a comma list of module names of ``model`` (``CompareError`` naming an
    unknown one and listing the known)."""
    known = layer_names(model)
    if spec.strip() == "all":
        return known
    names = [s.strip() for s in spec.split(",") if s.strip()]
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules or not name:
            raise CompareError(f"Expected `--layers` to name layers of `{side}` ("
                               f"{', '.join(known[:12])}{' ...' if len(known) > 12 else ''}), "
                               f"got {name!r}")
    if not names:
        raise CompareError(f"Expected `--layers` all or a comma list of names, got {spec!r}")
    return names


class LayerHooks:
    """Forward hooks that keep the pooled output of each named layer of the last forward."""

    def __init__(self, model: nn.Module, names: Sequence[str], *, pool: str, max_width: int,
                 side: str) -> None:
        self.names, self.pool, self.max_width, self.side = list(names), pool, max_width, side
        self.outputs: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.names]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.outputs[name] = self.rows(name, out.detach())
        return hook

    def rows(self, name: str, out: torch.Tensor) -> torch.Tensor:
        """``(N, C, ...)`` -> ``(N, C)`` (mean) or ``(N, C * ...)`` (flatten); ``(N,)``: one
        column."""
        if out.dim() == 1:
            return out[:, None]
        if out.dim() == 2:
            return out
        if self.pool == "mean":
            return out.flatten(2).mean(dim=2)
        width = math.prod(out.shape[1:])
        if width > self.max_width:
            raise CompareError(f"Expected layers of at most `--max-width` {self.max_width} "
                               f"columns for `--pool flatten`, got {width} ({name!r} of "
                               f"`{self.side}`, shape {tuple(out.shape[1:])}); use --pool mean "
                               "or name fewer layers")
        return out.flatten(1)

    def take(self) -> list[torch.Tensor]:
        """The rows of every layer of the last forward, in order."""
        missing = [n for n in self.names if n not in self.outputs]
        if missing:
            raise CompareError(f"Expected every layer of `--layers` to run in the forward of "
                               f"`{self.side}`, got none from {missing[:3]}")
        out = [self.outputs[n] for n in self.names]
        self.outputs = {}
        return out

    def close(self) -> None:
        for h in self.handles:
            h.remove()


class WideMoments:
    """The moments of every layer pair ``(l, m)``, as one wide accumulation (module docstring).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = [torch.randn(30, 3, generator=g), torch.randn(30, 2, generator=g)]
        >>> wm = WideMoments([3, 2], [3], cosine=True)
        >>> wm.update(a, [a[0]])
        >>> from empirics.metrics import quantities
        >>> round(quantities.cka(wm.block(0, 0)).value, 12)
        1.0
    """

    def __init__(self, dims_a: Sequence[int], dims_b: Sequence[int], *, cosine: bool,
                 device=None) -> None:
        self.dims = (list(dims_a), list(dims_b))
        self.cosine = bool(cosine)
        f64 = {"dtype": torch.float64, "device": device}
        La, Lb, DA, DB = len(dims_a), len(dims_b), sum(dims_a), sum(dims_b)
        self.off = [_offsets(dims_a), _offsets(dims_b)]
        self.col = [torch.repeat_interleave(torch.arange(L, device=device),
                                            torch.tensor(d, device=device))
                    for L, d in ((La, self.dims[0]), (Lb, self.dims[1]))]
        self.n = 0
        self.pilot: list[list[torch.Tensor | None]] = [[None] * La, [None] * Lb]
        self.exp = [[0] * La, [0] * Lb]
        self.zero = [[0] * La, [0] * Lb]
        self.S = [torch.zeros(DA, **f64), torch.zeros(DB, **f64)]
        self.G = [[torch.zeros(d, d, **f64) for d in self.dims[0]],
                  [torch.zeros(d, d, **f64) for d in self.dims[1]]]
        self.Gwz = torch.zeros(DA, DB, **f64)
        self.Sg = [torch.zeros(La, **f64), torch.zeros(Lb, **f64)]
        self.Sgg = [torch.zeros(La, **f64), torch.zeros(Lb, **f64)]
        self.Sgh = torch.zeros(La, Lb, **f64)
        self.own = [torch.zeros(DA, **f64), torch.zeros(DB, **f64)]  # W^T g, own layer
        self.Wh = torch.zeros(DA, Lb, **f64)
        self.Zg = torch.zeros(DB, La, **f64)

    @staticmethod
    def memory(dims_a: Sequence[int], dims_b: Sequence[int]) -> int:
        """Bytes of one kind's state."""
        DA, DB = sum(dims_a), sum(dims_b)
        return 8 * (sum(d * d for d in dims_a) + sum(e * e for e in dims_b) + DA * DB
                    + (DA + DB) * (len(dims_a) + len(dims_b) + 2))

    def _centred(self, side: int, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        """The chunk's wide rows, each block centred on its pilot (``(c, D)``)."""
        out = []
        for i, x in enumerate(blocks):
            x = x.to(self.S[side].device, torch.float64)
            norm, ok = checked_norms(x, "`A` and `B`")
            if self.cosine:
                w, pilot, zero = centred_unit_rows(x, norm, ok, self.pilot[side][i])
                self.zero[side][i] += zero
            else:
                if self.pilot[side][i] is None:
                    self.exp[side][i] = scale_exponent(x, norm)
                w, pilot = centred_scaled_rows(x, self.exp[side][i], self.pilot[side][i])
            self.pilot[side][i] = pilot
            out.append(w)
        return torch.cat(out, dim=1)

    def update(self, blocks_a: Sequence[torch.Tensor], blocks_b: Sequence[torch.Tensor]) -> None:
        """Add a chunk: the rows of every layer of ``A`` and of ``B`` (same samples)."""
        W, Z = self._centred(0, blocks_a), self._centred(1, blocks_b)
        g = torch.zeros(W.shape[0], len(self.dims[0]), dtype=W.dtype, device=W.device)
        h = torch.zeros(Z.shape[0], len(self.dims[1]), dtype=Z.dtype, device=Z.device)
        g.index_add_(1, self.col[0], W * W)  # g_l = |w_l|^2 per layer
        h.index_add_(1, self.col[1], Z * Z)
        self.n += int(W.shape[0])
        for side, (R, q) in enumerate(((W, g), (Z, h))):
            self.S[side] += R.sum(0)
            for i, (lo, hi) in enumerate(self.off[side]):
                self.G[side][i] += R[:, lo:hi].T @ R[:, lo:hi]
            self.Sg[side] += q.sum(0)
            self.Sgg[side] += (q * q).sum(0)
            self.own[side] += (R * q[:, self.col[side]]).sum(0)
        self.Gwz += W.T @ Z
        self.Sgh += g.T @ h
        self.Wh += W.T @ h
        self.Zg += Z.T @ g

    def block(self, i: int, j: int) -> moments.Moments:
        """The :class:`~empirics.metrics.moments.Moments` of layer ``i`` of A and ``j`` of B."""
        (a0, a1), (b0, b1) = self.off[0][i], self.off[1][j]
        d, e = a1 - a0, b1 - b0
        m = moments.empty(d, e, cosine=False, device=self.S[0].device)
        fields: dict[str, Any] = {
            "n": self.n, "ex": self.exp[0][i], "ey": self.exp[1][j],
            "zero_x": self.zero[0][i], "zero_y": self.zero[1][j],
            "cx": self.pilot[0][i], "cy": self.pilot[1][j],
            "Sw": self.S[0][a0:a1], "Sz": self.S[1][b0:b1],
            "Gww": self.G[0][i], "Gzz": self.G[1][j], "Gwz": self.Gwz[a0:a1, b0:b1],
            "Sg": self.Sg[0][i], "Sh": self.Sg[1][j], "Sgg": self.Sgg[0][i],
            "Shh": self.Sgg[1][j], "Sgh": self.Sgh[i, j],
            "Wg": self.own[0][a0:a1], "Wh": self.Wh[a0:a1, j], "Zg": self.Zg[b0:b1, i],
            "Zh": self.own[1][b0:b1],
        }  # fmt: skip
        for name, value in fields.items():
            m[name].copy_(torch.as_tensor(value, dtype=torch.float64).reshape(m[name].shape))
        return moments.upgrade(m.flat, d, e, cosine=self.cosine)


def _offsets(dims: Sequence[int]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for d in dims:
        out.append((pos, pos + d))
        pos += d
    return out


def layer_rows(names: tuple[list[str], list[str]], cos: WideMoments, raw: WideMoments,
               kept: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None, *,
               labels=None, progress=None, **given: Any
               ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One row per layer pair (:func:`columns`) and the reasons of its NaNs.

    ``kept``: the bounded rows of every layer of ``A`` and of ``B`` (the row measures';
    ``None``: they are NaN); ``labels``: those rows' classes (``None``: unknown);
    ``given``: the row measures' options (``k``, ``metric``); ``progress``: a bar updated
    once per pair.
    """
    rows, reasons = [], {}
    for i, la in enumerate(names[0]):
        for j, lb in enumerate(names[1]):
            c, r = cos.block(i, j), raw.block(i, j)
            row: dict[str, Any] = {"layer_a": la, "layer_b": lb, "width_a": c.d,
                                   "width_b": c.e, "n": c.n}
            values, why = moment_values(c, r)
            if kept is not None:
                more, more_why = row_values(kept[0][i], kept[1][j], labels=labels, warn=False,
                                            **given)
                values, why = {**values, **more}, {**why, **more_why}
            for m in reported():
                row[m.name] = values.get(m.name, math.nan)
            for name, text in why.items():
                reasons[f"{name} of layers {la} / {lb}"] = text
            rows.append(row)
            if progress is not None:
                progress.update(1)
    return rows, reasons


def plot_layers(ax, rows: Sequence[dict], names: tuple[list[str], list[str]], *,
                measure: str = "cka", labels: tuple[str, str] = ("A", "B"),
                types: tuple[list[str], list[str]] | None = None) -> Any:
    """A heatmap of ``measure`` for every layer pair on ``ax``: layers of ``A`` on the y axis
    (first at the top), of ``B`` on the x axis, each ticked with its name (and module type);
    values written in the cells when they fit. Returns the image (for a colour bar)."""
    import numpy as np

    La, Lb = len(names[0]), len(names[1])
    grid = np.full((La, Lb), np.nan)
    where = {(r["layer_a"], r["layer_b"]): r[measure] for r in rows}
    for i, la in enumerate(names[0]):
        for j, lb in enumerate(names[1]):
            grid[i, j] = where[(la, lb)]
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="cividis", aspect="auto",
                      interpolation="nearest")
    size = max(5.0, min(9.0, 160.0 / max(La, Lb)))
    ticks = [list(n) if types is None else [f"{a} ({t})" for a, t in zip(n, ty, strict=True)]
             for n, ty in zip(names, types or (None, None), strict=True)]
    ax.set_xticks(range(Lb), ticks[1], rotation=90, fontsize=size)
    ax.set_yticks(range(La), ticks[0], fontsize=size)
    ax.set_xlabel(f"layer of B: {labels[1]}")
    ax.set_ylabel(f"layer of A: {labels[0]}")
    ax.grid(False)
    if La * Lb <= 144:
        for i in range(La):
            for j in range(Lb):
                v = grid[i, j]
                text = "nan" if not np.isfinite(v) else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=size - 1,
                        color="black" if np.isfinite(v) and v > 0.6 else "white")
    ax.set_title(MEASURES[measure].label)
    return image


def figure_layers(rows: Sequence[dict], names: tuple[list[str], list[str]], *,
                  labels: tuple[str, str] = ("A", "B"), n: int | None = None,
                  types: tuple[list[str], list[str]] | None = None):
    """The panels of ``layers.png`` (:func:`heatmap_measures`: cosine CKA and linear CKA of
    every layer pair)."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    La, Lb = len(names[0]), len(names[1])
    side = max(3.2, 0.32 * max(La, Lb) + 1.6)
    panels = heatmap_measures()
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * side + 1.2, side + 0.6),
                             layout="constrained", squeeze=False)
    axes = list(axes[0])
    for ax, measure in zip(axes, panels, strict=True):
        image = plot_layers(ax, rows, names, measure=measure, labels=labels, types=types)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="CKA")
    suffix = f" ({n} samples, exact streamed moments)" if n else ""
    fig.suptitle(f"Layer-wise alignment of A and B{suffix}")
    return fig
