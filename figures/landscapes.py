"""Bound landscapes: Theorem 1 and its CKA / RSA corollaries as functions of C, tau, B, epochs.

Everything here comes from :func:`bounds.evaluate_bounds` (no runs). The base setting is the
paper's CIFAR-scale schedule ([P2], THEORY.md s11-12: ``N = 50000``, base rate 0.3 with the
linear rule, cosine schedule, ``B = 1024``, ``tau = 0.5``, ``C = 100``, reference set
``N_ref = 10000``) trained for one epoch, where the bounds still say something; the last
column lengthens training to the paper's 300 epochs, where they become vacuous (exponent
``S/(2 tau^2 B)`` about 17, THEORY.md s12).

Vacuous means: Theorem 1 exceeds the trivial ``||Sigma - Sigma'||_F <= 2 sqrt(N_ref (N_ref -
1))`` (shaded band; :func:`bounds.numeric.log_largest_sim_gap`), or a corollary falls back to
its trivial value (CKA 0, RSA -1; x-ranges shaded where every drawn line is vacuous; a single
vacuous line shows as a line at 0 or -1). The batch-size column stops at ``B = N``.
"""

from __future__ import annotations

import warnings

import numpy as np

from figures import style

#: Base setting of every panel (keyword arguments of :func:`bounds.evaluate_bounds`).
BASE = dict(C=100, tau=0.5, B=1024, epochs=1, N=50000, lr=0.3, lr_rule="linear",
            schedule="cosine", warmup_epochs=0, delta=0.05, N_ref=10000)

#: The quantity Theorem 1 bounds (its measure's name), drawn as ``log10`` of the bound.
THEOREM1 = "sim_gap"


def quantities() -> dict[str, tuple[str, str]]:
    """Each row of the landscape: the Theorem 1 bound, then the lower bound of every measure
    a corollary bounds (:func:`figures.measured.corollaries`): ``{quantity: (the key of
    bounds.evaluate_bounds, the axis label)}``; the vacuous flag is ``vacuous_<quantity>``.
    """
    from figures.measured import corollaries

    out = {THEOREM1: (f"log10_{THEOREM1}", r"$\log_{10}$ Theorem 1 bound")}
    out.update({m: (f"{m}_lower", f"{style.measure(m).label} lower bound (Corollary)")
                for m in corollaries()})
    return out


def evaluate(**kw) -> dict[str, np.ndarray]:
    """:func:`bounds.evaluate_bounds` on ``BASE`` updated by ``kw`` (warnings of the log of 0
    off)."""
    import bounds

    args = {**BASE, **kw}
    C, tau, B = args.pop("C"), args.pop("tau"), args.pop("B")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return bounds.evaluate_bounds(C, tau, B, **args)


def _curves(vary: str) -> tuple[np.ndarray, list[tuple[str, dict, dict]]]:
    """x grid and the (label, evaluate kwargs, line style) of each line for one column."""
    taus = (0.1, 0.5, 1.0)
    tcols = style.sequential_colors(len(taus))
    if vary == "C":
        x = np.unique(np.round(np.geomspace(2, 5000, 60)).astype(int))
        lines = [(f"τ = {t:g}", {"tau": t}, {"color": c}) for t, c in zip(taus, tcols,
                                                                          strict=True)]
    elif vary == "tau":
        x = np.geomspace(0.05, 5.0, 80)
        Cs = (10, 100, 1000)
        lines = [(f"C = {C}", {"C": C}, {"color": c})
                 for C, c in zip(Cs, style.sequential_colors(len(Cs)), strict=True)]
    elif vary == "B":
        import bounds

        x = 2 ** np.arange(5, int(np.log2(BASE["N"])) + 1)  # a batch holds at most N samples
        lines = []
        T_fixed = bounds.steps_from_epochs(BASE["epochs"], BASE["N"], BASE["B"])
        for rule in ("linear", "sqrt", "fourth-root"):
            color = style.RULE_COLORS[rule]
            lines.append((f"{rule}, fixed epochs", {"lr_rule": rule},
                          {"color": color, "linestyle": "-"}))
            lines.append((f"{rule}, fixed steps (T={T_fixed})", {"lr_rule": rule,
                                                                   "T": T_fixed},
                          {"color": color, "linestyle": "--"}))
    elif vary == "epochs":
        x = np.unique(np.round(np.geomspace(1, 300, 40)).astype(int))
        lines = [(f"τ = {t:g}", {"tau": t}, {"color": c}) for t, c in zip(taus, tcols,
                                                                          strict=True)]
    else:
        raise ValueError(f"Expected `vary` in ('C', 'tau', 'B', 'epochs'), got {vary!r}")
    return x, lines


XLABELS = {"C": "number of classes C", "tau": "temperature τ",
           "B": "batch size B (samples)", "epochs": "training length (epochs)"}


def plot_landscape(ax, quantity: str = "sim_gap", vary: str = "C", *, legend: bool = True):
    """One bound (:func:`quantities`: ``sim_gap``, ``cka``, ``rsa``) against one setting (C,
    tau, B, epochs)."""
    known = quantities()
    if quantity not in known:
        raise ValueError(f"Expected `quantity` in {tuple(known)}, got {quantity!r}")
    x, lines = _curves(vary)
    key, ylabel = known[quantity]
    all_vac = np.ones(x.shape, dtype=bool)
    for label, kw, ls in lines:
        out = evaluate(**{vary: x, **kw})
        y = np.asarray(out[key], dtype=float)
        y = np.where(np.isfinite(y), y, np.nan)
        vac = np.asarray(out[f"vacuous_{quantity}"], dtype=bool)
        all_vac &= vac
        ax.plot(x, y, label=label, **ls)
    ax.set_xscale("log")
    if quantity == THEOREM1:
        from bounds.numeric import log_largest_sim_gap

        trivial = float(log_largest_sim_gap(BASE["N_ref"])) / np.log(10.0)
        ax.axhline(trivial, color="black", linewidth=0.8)
        top = max(ax.get_ylim()[1], trivial + 1)
        ax.axhspan(trivial, top, label=r"vacuous (above trivial $2\sqrt{N_{ref}(N_{ref}-1)}$)",
                   **style.VACUOUS_STYLE)
        ax.set_ylim(top=top)
    else:
        style.shade_vacuous(ax, x, all_vac, label="vacuous for every line")
        lo, hi = style.measure(quantity).range  # the measure's range, a little room
        ax.set_ylim(lo - (0.05 if lo < 0 else 0.02), hi + 0.02)
    ax.set_xlabel(XLABELS[vary])
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(loc="lower left" if vary == "B" else "best", fontsize=6 if vary == "B" else 7)


def figure_landscape():
    """A 3 x 4 grid: Theorem 1, CKA and RSA bounds vs C, tau, B and training length."""
    cols = ("C", "tau", "B", "epochs")
    rows = quantities()
    fig, axes = style.new_figure(len(rows), 4, width=3.0, height=2.4)
    for j, vary in enumerate(cols):
        for i, q in enumerate(rows):
            plot_landscape(axes[i, j], q, vary, legend=(i == 0 or vary == "B" and i == 0))
        axes[0, j].set_title(f"vs {XLABELS[vary].split(' (')[0]}")
    b = BASE
    fig.suptitle(
        "Where the [P2] bounds bite: Theorem 1, "
        f"{' and '.join(style.measure(m).label for m in list(rows)[1:])} lower bounds\n"
        f"(base: C={b['C']}, τ={b['tau']}, B={b['B']}, {b['epochs']} epoch of N={b['N']}, "
        f"lr {b['lr']}·B/256 cosine, δ={b['delta']}, N_ref={b['N_ref']})")
    return fig
