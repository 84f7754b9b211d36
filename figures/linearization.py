"""[P2] Appendix D on real runs: where the surrogate describes the network, and where it stops.

Theorem 1 is proved for the similarity-descent surrogate (THEORY.md s9). Appendix D of [P2]
links it to SGD through the similarity map ``w -> Sigma(w)``: one step changes the
similarities by ``J_t (w_{t+1} - w_t)`` to first order (the kernel step
``-eta P_t grad_Sigma L`` with ``P_t = J_t J_t^T``), plus a second-order remainder, and the
surrogate tracks the network while ``sum eta / (tau^2 B)`` and ``sum eta^2`` stay bounded
(THEORY.md s13, [stated, from notes]; the constants of its Eq. 9 are not available). A
trainer run with ``linearization_every > 0`` measures both sides at its evaluation steps
(``linearization.csv``, :mod:`empirics.training.linearization`); this module draws them
for CL and NSCL on one step axis:

- (a) :func:`plot_jacobian_norm` -- ``L_Sigma = ||J(w_t)||_{2->2}`` (``jacobian_norm``);
- (b) :func:`plot_relative_remainder` -- ``||Sigma(w_{t+1}) - Sigma(w_t) - J_t dw||_F /
  ||Sigma(w_{t+1}) - Sigma(w_t)||_F`` (``relative_remainder``) of the **realised**
  optimiser step ``dw`` (momentum and weight decay included), with reference lines at
  :data:`THRESHOLDS` -- reading aids, not a theorem: below 0.1 the first-order (kernel)
  term gives the change to within 10%; at 1 the remainder is as large as the change;
- (c) :func:`plot_step_budget` -- ``sum_{s<t} eta_s / (tau^2 B)`` and ``sum_{s<t} eta_s^2``
  after ``t`` steps (:func:`step_budget`), with a mark wherever a measured step's relative
  remainder exceeds the first threshold.

Each ``plot_*`` function draws on one Axes it is given from loaded runs
(:class:`empirics.runs.Run`); :func:`figure_linearization` lays out the panels. Nothing
here trains or imports torch.

>>> [first_exceeding(pd.DataFrame({"step": [0, 4, 8], "model": "cl",
...                                "relative_remainder": [0.01, 0.2, 0.05]}), t)
...  for t in (0.1, 1.0)]
[{'cl': 4}, {'cl': None}]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from empirics.objectives import THEOREM_PAIR
from figures import io, style

__all__ = [
    "BUDGET_COLUMNS",
    "MODELS",
    "THRESHOLDS",
    "budget_label",
    "figure_linearization",
    "first_exceeding",
    "linearization_runs",
    "linearization_table",
    "plot_jacobian_norm",
    "plot_relative_remainder",
    "plot_step_budget",
    "run_labels",
    "series_label",
    "step_budget",
]

#: The models Appendix D compares with the surrogate (the trainer measures these).
MODELS = THEOREM_PAIR
#: Reference levels of the relative remainder: reading aids, not a theorem.
THRESHOLDS = (0.1, 1.0)
#: Columns of :func:`step_budget` (after ``t`` steps, ``t = 0..T``).
BUDGET_COLUMNS = ("step", "sum_eta", "sum_eta_over_tau2_b", "sum_eta_sq")

_REQUIRED = ("step", "model", "eta", "jacobian_norm", "relative_remainder")
_RUN_STYLES = ("-", "--", ":", "-.")
_THRESHOLD_STYLES = ({"color": "#777777", "linestyle": "--", "linewidth": 1.2},
                     {"color": style.OKABE_ITO["black"], "linestyle": ":", "linewidth": 1.4})
_BUDGET_COLORS = {"sum_eta_over_tau2_b": style.OKABE_ITO["orange"],
                  "sum_eta_sq": style.OKABE_ITO["bluish_green"]}
_BUDGET_TEX = {"sum_eta_over_tau2_b": r"∑$_{s<t}\,\eta_s\,/\,(\tau^2 B)$",
               "sum_eta_sq": r"∑$_{s<t}\,\eta_s^2$"}
# Fields that tell the runs of the figure apart, in the order of their labels.
_LABEL_FIELDS = (("dataset", "{}"), ("tau", "τ = {:g}"), ("lr", "lr = {:g}"),
                 ("lr_rule", "{} rule"), ("batch_size", "B = {}"), ("classes", "C = {}"),
                 ("optimizer", "{}"), ("seed", "seed {}"))
# Fields the runs share, named in the figure's title.
_TITLE_FIELDS = (("dataset", "{}"), ("classes", "C = {}"), ("tau", "τ = {:g}"),
                 ("batch_size", "B = {}"), ("steps", "{} steps"), ("optimizer", "{}"),
                 ("lr", "lr = {:g}"), ("lr_rule", "{} rule"))


# ----------------------------------------------------------------------------- data
def linearization_table(run: io.Run) -> pd.DataFrame:
    """``linearization.csv`` of ``run``, sorted by model then step.

    Raises:
        FileNotFoundError: the run has no rows (it was trained with ``linearization_every =
            0``); the message names its folder.
        KeyError: a column the figure draws is missing (names the column and the file).
    """
    df = run.linearization
    where = str(run.path / "linearization.csv")
    if df is None or df.empty:
        raise FileNotFoundError(f"Expected Appendix D rows in {where!r} (a run trained with "
                                "linearization_every > 0), got none")
    io.require(df, _REQUIRED, where)
    return df.sort_values(["model", "step"], kind="stable").reset_index(drop=True)


def linearization_runs(runs: Sequence[io.Run]) -> list[io.Run]:
    """The runs of ``runs`` that hold Appendix D rows, in order.

    Raises:
        FileNotFoundError: none does (one sentence: how many runs were looked at).
    """
    found = [r for r in runs if r.kind == "train" and not r.linearization.empty]
    if not found:
        raise FileNotFoundError(
            f"Expected runs with linearization.csv (trained with linearization_every > 0), "
            f"got none among {len(runs)} run(s)")
    return found


def first_exceeding(table: pd.DataFrame, threshold: float) -> dict[str, int | None]:
    """Per model, the first measured step whose relative remainder exceeds ``threshold``
    (``None`` when none does)."""
    out: dict[str, int | None] = {}
    for model, rows in table.groupby("model", sort=False):
        rows = rows.sort_values("step", kind="stable")
        over = rows.loc[pd.to_numeric(rows["relative_remainder"], errors="coerce") > threshold]
        out[str(model)] = int(over["step"].iloc[0]) if len(over) else None
    return out


def _rebuilt_eta(run: io.Run) -> np.ndarray:
    """``eta_t`` for ``t < T`` from the saved configuration (and the summary's ``steps``,
    ``base_lr``, ``N_train`` when recorded), as the trainer builds it: ``bounds.schedule``
    of the rule's base rate, with the trainer's default warm-up ``min(20, T // 10)`` when
    none is saved. Raises ``KeyError``/``TypeError``/``ValueError`` when it cannot."""
    from bounds.schedules import epoch_steps, lr_from_rule, schedule, steps_from_epochs

    cfg, summary = run.config, run.summary
    B = int(cfg["batch_size"])
    N = summary.get("N_train")
    T = summary.get("steps") or cfg.get("steps")
    if T is None:
        T = steps_from_epochs(cfg["epochs"], N, B)
    T = int(T)
    base = summary.get("base_lr")
    if base is None:
        base = lr_from_rule(cfg.get("lr_rule", "linear"), cfg["lr"], B)
    unit = cfg.get("schedule_unit", "step")
    P = int(epoch_steps(N, B)) if unit == "epoch" else 1
    W = cfg.get("warmup_steps")
    if W is None:
        W = min(20, T // 10)
        W = W - W % P
    return np.asarray(schedule(cfg.get("schedule", "cosine"), float(base), T, int(W),
                               unit=unit, steps_per_epoch=P), dtype=np.float64)


def _disagreement(run: io.Run, cum: np.ndarray, eta: np.ndarray) -> str | None:
    """Where the rebuilt schedule disagrees with what the run recorded (``None``: nowhere)."""
    def off(a: float, b: float) -> bool:
        return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)

    b = run.bounds
    if not b.empty and {"step", "sum_eta_so_far"} <= set(b.columns):
        for t, s in zip(b["step"], pd.to_numeric(b["sum_eta_so_far"], errors="coerce"),
                        strict=True):
            if 0 <= t < len(cum) and math.isfinite(s) and off(float(cum[t]), float(s)):
                return f"bounds.csv sum_eta_so_far {s!r} at step {t}, rebuilt {cum[t]!r}"
    lin = run.linearization
    if not lin.empty and {"step", "eta"} <= set(lin.columns):
        for t, e in zip(lin["step"], pd.to_numeric(lin["eta"], errors="coerce"), strict=True):
            if not 0 <= t < len(eta):
                return f"linearization.csv step {t} outside the rebuilt {len(eta)} steps"
            if math.isfinite(e) and off(float(eta[t]), float(e)):
                return f"linearization.csv eta {e!r} at step {t}, rebuilt {eta[t]!r}"
    total = run.summary.get("sum_eta")
    if isinstance(total, (int, float)) and off(float(cum[-1]), float(total)):
        return f"summary.json sum_eta {total!r}, rebuilt {cum[-1]!r}"
    return None


def step_budget(run: io.Run) -> pd.DataFrame:
    """The step budget of ``run`` after ``t = 0..T`` steps (THEORY.md s13, [P2] Appendix D).

    ``sum_eta = S_t = sum_{s<t} eta_s`` (the ``S`` of the run's own bounds after ``t``
    steps), ``sum_eta_over_tau2_b = S_t / (tau^2 B)`` and ``sum_eta_sq = sum_{s<t}
    eta_s^2``. The schedule ``eta_s`` is rebuilt from the saved configuration with
    :func:`bounds.schedule` and checked against every number the run recorded
    (``bounds.csv``'s ``sum_eta_so_far``, ``linearization.csv``'s ``eta``,
    ``summary.json``'s ``sum_eta``, to 1e-9 relative). When it cannot be rebuilt or
    disagrees, a ``RuntimeWarning`` says why and only the recorded ``S_t`` is returned (step
    0 and the evaluation steps of ``bounds.csv``), with ``sum_eta_sq`` NaN.

    Returns:
        A frame with :data:`BUDGET_COLUMNS`, one row per step, sorted.

    Raises:
        KeyError: the configuration lacks ``tau`` or ``batch_size``.
    """
    tau, B = float(run.config["tau"]), float(run.config["batch_size"])
    try:
        eta = _rebuilt_eta(run)
        cum = np.concatenate([[0.0], np.cumsum(eta)])
        why = _disagreement(run, cum, eta)
    except (KeyError, TypeError, ValueError) as exc:
        why = f"the configuration does not give the schedule ({exc})"
    if why is None:
        return pd.DataFrame({"step": np.arange(len(cum)), "sum_eta": cum,
                             "sum_eta_over_tau2_b": cum / (tau**2 * B),
                             "sum_eta_sq": np.concatenate([[0.0], np.cumsum(eta**2)])})
    warnings.warn(f"{run.path}: learning-rate schedule not rebuilt ({why}); the step budget "
                  "is drawn at the recorded evaluation steps only, sum eta^2 as NaN",
                  RuntimeWarning, stacklevel=2)
    b = run.bounds
    if b.empty or not {"step", "sum_eta_so_far"} <= set(b.columns):
        steps, S = np.array([0]), np.array([0.0])
    else:
        b = b.drop_duplicates("step", keep="last").sort_values("step")
        steps = np.concatenate([[0], b["step"].to_numpy()])
        S = np.concatenate([[0.0], pd.to_numeric(b["sum_eta_so_far"],
                                                 errors="coerce").to_numpy(float)])
    return pd.DataFrame({"step": steps, "sum_eta": S, "sum_eta_over_tau2_b": S / (tau**2 * B),
                         "sum_eta_sq": np.full(len(S), np.nan)})


# ----------------------------------------------------------------------------- labels
def run_labels(runs: Sequence[io.Run]) -> list[str]:
    """One short label per run, from the configuration fields in which the runs differ
    (``τ = 0.5``); a single run is labelled by its ``tau``. Repeats get the run's name."""
    keys = [(k, fmt) for k, fmt in _LABEL_FIELDS
            if len({repr(r.cfg(k)) for r in runs}) > 1] or [("tau", "τ = {:g}")]
    labels = []
    for r in runs:
        parts = [fmt.format(r.cfg(k)) for k, fmt in keys if r.cfg(k) is not None]
        labels.append(", ".join(parts) or r.name)
    return [lab if labels.count(lab) == 1 else f"{lab} ({r.name})"
            for lab, r in zip(labels, runs, strict=True)]


def series_label(model: str, run_label: str) -> str:
    """Legend label of one model's series in one run, e.g. ``CL, τ = 0.5``."""
    return f"{style.objective_label(model)}, {run_label}"


def budget_label(column: str, run_label: str) -> str:
    """Legend label of a step-budget curve (``sum_eta_over_tau2_b`` or ``sum_eta_sq``)."""
    return f"{_BUDGET_TEX[column]}, {run_label}"


def _models(table: pd.DataFrame) -> list[str]:
    found = list(dict.fromkeys(table["model"].astype(str)))
    return [m for m in MODELS if m in found] + [m for m in found if m not in MODELS]


def _color(model: str) -> str:
    return style.objective_color(model, style.OKABE_ITO["black"])


def _legend(ax) -> None:
    """The legend to the right of the panel (the curves stay uncovered)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _draw_models(ax, runs: Sequence[io.Run], column: str) -> tuple[int, int]:
    """Each model's ``column`` on a log axis; values of 0 or below at the axis floor
    (returns their counts, for :func:`figures.style.floor_note`)."""
    zeros = negatives = 0
    for i, (run, lab) in enumerate(zip(runs, run_labels(runs), strict=True)):
        table = linearization_table(run)
        for model in _models(table):
            rows = table[table["model"] == model]
            ax.plot(rows["step"].to_numpy(), io.finite(rows[column], positive=True),
                    color=_color(model), linestyle=_RUN_STYLES[i % len(_RUN_STYLES)],
                    marker="o", markersize=3, label=series_label(model, lab))
            z, n = style.floor_marks(ax, rows["step"], pd.to_numeric(rows[column],
                                                                     errors="coerce"),
                                     color=_color(model))
            zeros, negatives = zeros + z, negatives + n
    return zeros, negatives


# ----------------------------------------------------------------------------- panels
def plot_jacobian_norm(ax, runs: Sequence[io.Run]) -> None:
    """Panel (a): ``L_Sigma = ||J(w_t)||_{2->2}`` of the similarity map at each measured
    step, for CL and NSCL of every run (log scale; ``jacobian_norm`` of
    ``linearization.csv``; [P2] Appendix D, THEORY.md s13)."""
    style.floor_note(ax, *_draw_models(ax, runs, "jacobian_norm"), "value")
    ax.set_yscale("log")
    ax.set_ylabel(r"$L_\Sigma = \|J(w_t)\|_{2\to 2}$")
    n = sorted({int(v) for r in runs if "n" in r.linearization.columns
                for v in r.linearization["n"].dropna()})
    ax.set_title("(a) Jacobian norm of the similarity map"
                 + (f" (n = {', '.join(map(str, n))} samples)" if n else ""))
    _legend(ax)


def plot_relative_remainder(ax, runs: Sequence[io.Run],
                            thresholds: Sequence[float] = THRESHOLDS) -> None:
    """Panel (b): the relative second-order remainder of the realised optimiser step,
    ``||Sigma(w_{t+1}) - Sigma(w_t) - J_t dw||_F / ||Sigma(w_{t+1}) - Sigma(w_t)||_F``
    (``relative_remainder``; log scale), with horizontal reference lines at ``thresholds``
    (reading aids, not a theorem: where the first-order, kernel, description of the step
    stops being good)."""
    style.floor_note(ax, *_draw_models(ax, runs, "relative_remainder"), "value")
    ax.set_yscale("log")
    texts = {0.1: "0.1: kernel step within 10% (reading aid)",
             1.0: "1: remainder as large as the change (reading aid)"}
    for i, level in enumerate(thresholds):
        ax.axhline(level, label=texts.get(level, f"{level:g} (reading aid)"),
                   **_THRESHOLD_STYLES[min(i, len(_THRESHOLD_STYLES) - 1)])
    ax.set_ylabel("relative remainder")
    ax.set_title(r"(b) $\|\Sigma(w_{t+1})-\Sigma(w_t)-J_t\,\Delta w\|_F\,/\,"
                 r"\|\Sigma(w_{t+1})-\Sigma(w_t)\|_F$, realised step")
    _legend(ax)


def plot_step_budget(ax, runs: Sequence[io.Run], *, threshold: float = THRESHOLDS[0]) -> None:
    """Panel (c): ``sum_{s<t} eta_s / (tau^2 B)`` and ``sum_{s<t} eta_s^2`` after ``t``
    steps (:func:`step_budget`; log scale), the quantities the surrogate's validity depends
    on (THEORY.md s13). A cross in the model's colour on the first curve marks each
    measured step whose relative remainder exceeds ``threshold``. Both sums are 0 after
    0 steps: that point sits at the axis floor (counted in the legend)."""
    marked: set[str] = set()
    floor = (0, 0)
    for i, (run, lab) in enumerate(zip(runs, run_labels(runs), strict=True)):
        budget = step_budget(run)
        ls = _RUN_STYLES[i % len(_RUN_STYLES)]
        for column in ("sum_eta_over_tau2_b", "sum_eta_sq"):
            ax.plot(budget["step"].to_numpy(), io.finite(budget[column], positive=True),
                    color=_BUDGET_COLORS[column], linestyle=ls, label=budget_label(column, lab))
            z, n = style.floor_marks(ax, budget["step"], budget[column],
                                     color=_BUDGET_COLORS[column])
            floor = (floor[0] + z, floor[1] + n)
        table = linearization_table(run)
        at = budget.set_index("step")["sum_eta_over_tau2_b"]
        for model in _models(table):
            rows = table[(table["model"] == model)
                         & (pd.to_numeric(table["relative_remainder"], errors="coerce")
                            > threshold)]
            if rows.empty:
                continue
            label = (f"{style.objective_label(model)}: remainder > "
                     f"{threshold:g}")
            ax.plot(rows["step"].to_numpy(),
                    io.finite(at.reindex(rows["step"]).to_numpy(float), positive=True),
                    linestyle="none", marker="x", markersize=7, markeredgewidth=1.8,
                    color=_color(model), label=None if label in marked else label)
            marked.add(label)
    style.floor_note(ax, *floor, "sum")
    ax.set_yscale("log")
    ax.set_xlabel("training step t")
    ax.set_ylabel("step budget after t steps")
    ax.set_title("(c) what the surrogate's validity depends on (THEORY.md s13)")
    _legend(ax)


def figure_linearization(runs: Sequence[io.Run]):
    """[P2] Appendix D, measured: panels (a), (b), (c) on one step axis.

    Args:
        runs: training runs; those without ``linearization.csv`` rows are left out.

    Raises:
        FileNotFoundError: no run holds Appendix D rows.
    """
    runs = linearization_runs(runs)
    fig, axes = style.new_figure(3, 1, width=8.6, height=2.6, sharex=True)
    plot_jacobian_norm(axes[0, 0], runs)
    plot_relative_remainder(axes[1, 0], runs)
    plot_step_budget(axes[2, 0], runs)
    shared = [fmt.format(runs[0].cfg(k)) for k, fmt in _TITLE_FIELDS
              if runs[0].cfg(k) is not None and len({repr(r.cfg(k)) for r in runs}) == 1]
    shared.append("models by colour, runs by line style")
    fig.suptitle("[P2] Appendix D: does one optimiser step move the similarities as the "
                 f"kernel step says?\n({', '.join(shared)})")
    return fig
