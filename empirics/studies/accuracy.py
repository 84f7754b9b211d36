"""Accuracy of the trained objectives: the Table 1 and Table 2 analogues and few-shot accuracy.

For one finished lockstep run (its final weights, :mod:`empirics.studies.trained`),
:func:`evaluate_into` measures, for every trained objective (CL, NSCL, SCL, CE, ...) and
on both feature kinds (``h`` the backbone output, ``z`` the projector output):

- **all-way test accuracy** with the toolkit's three probes
  (:mod:`empirics.training.probe`), fitted on the *full* training split and scored on the
  *full* test split: ``ncc`` (nearest class centre in cosine geometry: unit rows, unit
  class means), ``linear`` (closed-form ridge regression onto one-hot targets on
  standardised features, ``l2 = 1e-3``; a least-squares probe) and ``logistic``
  (multinomial logistic regression on the same features, L2 ``1e-3`` on the weights,
  full-batch L-BFGS in float64: the probe family of the papers; fitted where ``C <=``
  :data:`LOGISTIC_MAX_CLASSES`, listed in the summary's ``probes_skipped`` above). CE's own
  head is reported too (probe ``head``). These are ``metrics.csv``;
- **m-shot accuracy** of the nearest-class-mean classifier for ``m`` in ``shots`` (default
  1, 5, 10, 100; those above the smallest training class are skipped and listed in the
  summary), averaged over ``repeats`` random support sets: ``m`` training samples per
  class, drawn from ``rng(run seed, "support", repetition)`` (:mod:`empirics.seeds`),
  nested across ``m`` (the 1-shot support is in the 5-shot one) and shared by every
  objective; queries are the full test split. The classifier is the one [P1]
  Proposition 1 is about: Euclidean distance to the mean of each class's support
  features, on unit rows by default (``normalize``);
- **[P1] Proposition 1** beside it (:mod:`empirics.studies.fewshot_bound`): ``V_f``,
  ``Vt_f``, ``Vs_f`` and the bound, against the measured m-shot error. Both go to
  ``fewshot.csv``.

:func:`table1`, :func:`table2` and :func:`fewshot_table` aggregate evaluations over seeds
(mean and Student-t 95% interval, :func:`empirics.studies.statistics.t_interval`).

Nothing is imported from torch at module import time (the aggregations are torch-free).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_nscl_align.options import Options, in_range, option
from empirics.objectives import OBJECTIVES, THEOREM_PAIR, pair_name
from empirics.studies.evaluations import setting_key, setting_of, source_dir
from empirics.studies.statistics import t_interval

__all__ = [
    "AccuracyOptions",
    "FEATURES",
    "PAPER_TABLE1",
    "PROBES",
    "VS_CHOICES",
    "check_paper_keys",
    "evaluate_into",
    "fewshot_table",
    "paired_differences",
    "probe_rows",
    "setting_label",
    "summary_label",
    "support_indices",
    "table1",
    "table2",
]

FEATURES = ("h", "z")
PROBES = ("ncc", "linear", "logistic")
#: The most classes the logistic probe is fitted for: its cost per L-BFGS iteration grows
#: as (samples x features x classes), 3e10 operations at C = 1000 with 64,000 samples;
#: above, its rows are left out and the evaluation's summary says so.
LOGISTIC_MAX_CLASSES = 100
#: ``Vs_f`` of Proposition 1 [open]: the directional variability on the support set
#: (default), the population directional one (``Vt_f``), or the total one (``V_f``).
VS_CHOICES = ("support", "directional", "total")
#: The most shots the command line takes (a larger number is a typo).
MAX_SHOTS = 100000


def _shots(name: str, value: tuple[int, ...]) -> None:
    text = ",".join(map(str, value))
    if not value or min(value) < 1:
        raise ValueError(f"Expected `{name}` as integers >= 1, got {text!r}")
    if max(value) > MAX_SHOTS:
        raise ValueError(f"Expected `{name}` <= {MAX_SHOTS}, got {text!r}")


@dataclass(frozen=True)
class AccuracyOptions(Options):
    """accuracy and few-shot evaluation

    The options of an accuracy evaluation (:func:`evaluate_into`), declared once for the
    command line (``python -m empirics.studies accuracy|fewshot|alignment-accuracy``), the
    figures and the evaluation itself. An evaluation's configuration stores them as
    :meth:`config` gives them (its cache key): ``normalize`` is ``not raw_features``, the
    key of the evaluations already on disk.

    >>> AccuracyOptions.from_config({"shots": [5, 1], "normalize": False}).raw_features
    True
    >>> AccuracyOptions(shots=(0,))
    Traceback (most recent call last):
    ...
    ValueError: Expected `shots` as integers >= 1, got '0'
    """

    shots: tuple[int, ...] = option((1, 5, 10, 100), "m of the m-shot classifier; those "
                                    "above the smallest training class are skipped",
                                    check=_shots)
    repeats: int = option(10, "random support sets per m", check=in_range(1, 1000))
    vs: str = option("support", "Vs_f of Proposition 1 [open]: the directional variability "
                     "on the support set, Vt_f, or V_f", choices=VS_CHOICES)
    raw_features: bool = option(False, "few-shot on raw features instead of L2-normalised "
                                "rows", switch=True, default_text="off")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AccuracyOptions:
        """The options of an evaluation's configuration (its other keys are ignored).

        Raises:
            ValueError / TypeError: a value the options refuse (one sentence naming it).
        """
        out = {k: config[k] for k in ("shots", "repeats", "vs") if k in config}
        if "normalize" in config:
            if not isinstance(config["normalize"], bool):
                raise TypeError(f"Expected `normalize` to be a bool, got "
                                f"{config['normalize']!r}")
            out["raw_features"] = not config["normalize"]
        return cls.from_dict(out)

    def config(self) -> dict[str, Any]:
        """The evaluation's configuration of these options (``shots`` as given)."""
        return {"shots": list(self.shots), "repeats": self.repeats, "vs": self.vs,
                "normalize": not self.raw_features}

    @property
    def shot_list(self) -> list[int]:
        """``shots`` sorted, without repeats."""
        return sorted(set(self.shots))


#: [P2] Table 1 (THEORY.md s13): all-way test accuracy (%), NCCC / LP, ResNet-50; data,
#: keyed by objective (its keys are checked against the registry: :func:`check_paper_keys`).
PAPER_TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "CIFAR-10": {"cl": (88.37, 90.16), "nscl": (94.47, 94.09), "scl": (94.93, 94.67),
                 "ce": (92.97, 93.39)},
    "CIFAR-100": {"cl": (54.62, 65.65), "nscl": (60.14, 68.38), "scl": (64.06, 69.52),
                  "ce": (67.35, 68.04)},
    "Mini-ImageNet": {"cl": (60.78, 65.30), "nscl": (63.92, 72.60), "scl": (74.78, 76.00),
                      "ce": (75.20, 74.00)},
    "Tiny-ImageNet": {"cl": (40.59, 44.61), "nscl": (40.76, 45.79), "scl": (48.63, 48.73),
                      "ce": (48.28, 52.57)},
}


def check_paper_keys(table: Mapping[str, Mapping[str, Any]] = PAPER_TABLE1) -> None:
    """Every row of a table of the paper names exactly the registered objectives of the
    paper (:func:`empirics.objectives.paper_objectives`).

    >>> check_paper_keys({"CIFAR-10": {"cl": (1, 2)}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Expected the paper's objectives [...] in 'CIFAR-10', got ['cl']
    """
    from empirics.objectives import paper_objectives

    known = set(paper_objectives())
    for setting, row in table.items():
        if set(row) != known:
            raise ValueError(f"Expected the paper's objectives {sorted(known)} in "
                             f"{setting!r}, got {sorted(row)}")


#: Fields shown in a setting's label (the rest of the setting still tells settings apart).
LABEL_FIELDS = ("dataset", "classes", "tau", "batch_size", "lr_rule", "steps", "arch",
                "train_size")


def setting_label(setting: Mapping[str, Any]) -> str:
    """A short readable label of a setting: ``dataset=digits classes=10 tau=0.5 ...``.

    >>> setting_label({"dataset": "digits", "classes": 10, "tau": 0.5, "lr": 0.1})
    'dataset=digits classes=10 tau=0.5'
    """
    return " ".join(f"{k}={setting[k]}" for k in LABEL_FIELDS
                    if k in setting and setting[k] is not None)


def summary_label(summary: Mapping[str, Any]) -> str:
    """The label of an evaluation's setting, derived from its ``setting`` (so evaluations
    cached under an earlier :data:`LABEL_FIELDS` read with today's labels); the stored
    ``setting_label`` only where no setting was saved.

    >>> summary_label({"setting": {"dataset": "digits", "tau": 0.5}, "setting_label": "old"})
    'dataset=digits tau=0.5'
    """
    setting = summary.get("setting")
    return setting_label(setting) if setting else str(summary.get("setting_label", ""))


# ----------------------------------------------------------------------------- one run
def support_indices(labels, num_classes: int, shots: Sequence[int], *, seed: int,
                    repetition: int) -> dict[int, Any]:
    """``{m: indices}`` of one random support set per ``m``: ``m`` samples of every class.

    One permutation of each class's samples per repetition, from ``rng(seed, "support",
    repetition)``; the ``m``-shot support is its first ``m`` (so supports are nested across
    ``m``). Every ``m`` must be at most the smallest class.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1, 0, 1, 0, 1])
        >>> s = support_indices(y, 2, [1, 2], seed=0, repetition=0)
        >>> sorted(y[s[2]].tolist()), set(s[1].tolist()) <= set(s[2].tolist())
        ([0, 0, 1, 1], True)
    """
    import numpy as np

    from empirics.seeds import rng

    y = np.asarray(labels)
    g = rng(seed, "support", repetition)
    perms = []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        if max(shots) > idx.size:
            raise ValueError(f"Expected `shots` <= {idx.size} (the samples of class {c}), "
                             f"got {max(shots)}")
        perms.append(g.permutation(idx))
    return {int(m): np.concatenate([p[:m] for p in perms]) for m in shots}


def probe_rows(features: Mapping[str, Mapping[str, Mapping[str, Any]]], y_train, y_test,
               heads: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per model, feature kind and probe: the all-way test accuracy.

    Args:
        features: ``{model: {"train"|"test": {"h"|"z": (N, d) tensors}}}``.
        y_train, y_test: labels of the full splits.
        heads: ``{model: LinearHead}`` for models with their own head (CE).
    """
    from empirics.training.probe import (
        linear_probe_accuracy,
        logistic_probe_accuracy,
        ncc_accuracy,
    )

    probes = {"ncc": ncc_accuracy, "linear": linear_probe_accuracy,
              "logistic": logistic_probe_accuracy}
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    used = [p for p in PROBES if p != "logistic" or classes <= LOGISTIC_MAX_CLASSES]
    rows = []
    for model, f in features.items():
        for kind in FEATURES:
            for probe in used:
                acc = probes[probe](f["train"][kind], y_train, f["test"][kind], y_test)
                rows.append({"model": model, "features": kind, "probe": probe,
                             "accuracy": acc, "n_train": int(y_train.shape[0]),
                             "n_test": int(y_test.shape[0])})
        if heads and heads.get(model) is not None:
            import torch

            head = heads[model]
            with torch.no_grad():
                h = f["test"]["h"].to(next(head.parameters()).dtype)
                pred = head(h).argmax(1)
            rows.append({"model": model, "features": "h", "probe": "head",
                         "accuracy": float((pred == y_test).double().mean()),
                         "n_train": int(y_train.shape[0]), "n_test": int(y_test.shape[0])})
    return rows


def _final_cka(run) -> dict[str, Any]:
    """The source run's final CL-NSCL CKA on the test reference set, per feature kind."""
    m = run.metrics
    out: dict[str, Any] = {}
    if m.empty or not {"pair", "split", "features", "cka", "step"} <= set(m.columns):
        return out
    sel = m[(m["pair"] == pair_name(*THEOREM_PAIR)) & (m["split"] == "test")]
    if sel.empty:
        return out
    sel = sel[sel["step"] == sel["step"].max()]
    for _, row in sel.iterrows():
        out[f"cka_{row['features']}"] = float(row["cka"])
        if "cka_linear" in sel.columns:
            out[f"cka_linear_{row['features']}"] = float(row["cka_linear"])
    return out


def evaluate_into(config: Mapping[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """The runs layer's target: evaluate the source run of ``config`` into ``run_dir``.

    Writes ``metrics.csv`` (:func:`probe_rows`) and ``fewshot.csv`` (m-shot accuracy with
    the Proposition 1 columns, :func:`empirics.studies.fewshot_bound.fewshot_rows`);
    returns the summary (the source, its seed and setting, the shots used and skipped, the
    source's final CL-NSCL CKA).
    """
    import torch

    from empirics.runs import read_run
    from empirics.studies import fewshot_bound
    from empirics.studies.report import progress, write_csv
    from empirics.studies.trained import load_trained, member_features

    opts = AccuracyOptions.from_config(config)
    src = source_dir(config, run_dir)
    source_run = read_run(src)
    progress(f"accuracy: {src.name}: loading the final weights")
    trained = load_trained(src)
    cfg = trained.config
    feats = member_features(trained)
    heads = {m.name: m.head for m in trained.trainer.members if m.head is not None}
    y_tr, y_te = trained.train.y, trained.test.y
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # kept in the summary: a pool
        warnings.simplefilter("always")                   # worker has no one-line display
        rows = probe_rows(feats, y_tr, y_te, heads)
    notes = sorted({" ".join(str(w.message).split()) for w in caught})
    for note in notes:
        progress(f"accuracy: {src.name}: {note}")
    probes_skipped = sorted(set(PROBES) - {r["probe"] for r in rows})
    progress(f"accuracy: {src.name}: probes done ({len(rows)} rows)")
    C = int(trained.train.num_classes)
    smallest = int(torch.bincount(y_tr, minlength=C).min())
    shots = [m for m in opts.shot_list if m <= smallest]
    skipped = [m for m in opts.shot_list if m > smallest]
    few = []
    if shots:
        supports = [support_indices(y_tr.numpy(), C, shots, seed=int(cfg.seed), repetition=r)
                    for r in range(opts.repeats)]
        few = fewshot_bound.fewshot_rows(feats, y_tr, y_te, C, supports, vs=opts.vs,
                                         normalize=not opts.raw_features)
        progress(f"accuracy: {src.name}: few-shot m={shots} over {opts.repeats} "
                 "support sets done")
    write_csv(rows, Path(run_dir) / "metrics.csv")
    if few:
        write_csv(few, Path(run_dir) / "fewshot.csv")
    setting = setting_of(source_run.config)
    return {
        "source": str(src), "source_name": src.name, "seed": int(cfg.seed),
        "setting": setting, "setting_label": setting_label(setting),
        "dataset": cfg.dataset, "C": C, "tau": cfg.tau, "objectives": list(cfg.objectives),
        "shots": shots, "shots_skipped": skipped, "smallest_class": smallest,
        "probes_skipped": probes_skipped, "warnings": notes,
        "repeats": opts.repeats, "vs": opts.vs, "normalize": not opts.raw_features,
        "n_train": int(y_tr.shape[0]), "n_test": int(y_te.shape[0]),
        **_final_cka(source_run),
    }


# ----------------------------------------------------------------------------- tables
def _runs(evaluations) -> list:
    from empirics.runs import read_run

    return [e if hasattr(e, "metrics") else read_run(e) for e in evaluations]


def _long_rows(evaluations, table: str = "metrics") -> list[dict[str, Any]]:
    """Every row of every evaluation's ``table``, with its setting, label and seed."""
    from empirics.runs import read_table

    out = []
    for run in _runs(evaluations):
        df = run.metrics if table == "metrics" else read_table(run.path / f"{table}.csv")
        setting = run.summary.get("setting", {})
        for rec in df.to_dict("records"):
            out.append({"setting": setting, "label": summary_label(run.summary),
                        "seed": run.summary.get("seed"), **rec})
    return out


def _aggregate(rows, keys: Sequence[str], value: str, drop: Sequence[str] = (),
               clip: tuple[float, float] | None = (0.0, 1.0)) -> list[dict[str, Any]]:
    """Mean, sample std and t interval of ``value`` over seeds, per setting and ``keys``;
    the interval clipped to ``clip`` (an accuracy's range) with ``ci_clipped`` saying
    where it was."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        k = (setting_key(r["setting"], drop), *(r[c] for c in keys))
        groups.setdefault(k, []).append(r)
    out = []
    for k, rs in groups.items():
        ci = t_interval([r[value] for r in rs])
        clipped = False
        if clip is not None and ci["n"] > 1:
            lo, hi = max(ci["ci_low"], clip[0]), min(ci["ci_high"], clip[1])
            clipped = (lo, hi) != (ci["ci_low"], ci["ci_high"])
            ci["ci_low"], ci["ci_high"] = lo, hi
        seeds = sorted({r["seed"] for r in rs})
        first = rs[0]
        label = first["label"]
        if drop:
            label = setting_label({kk: vv for kk, vv in first["setting"].items()
                                   if kk not in drop})
        out.append({"setting": label, "setting_tau": first["setting"].get("tau"),
                    **{c: first[c] for c in keys},
                    f"{value}_mean": ci["mean"], f"{value}_std": ci["std"],
                    "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "ci_clipped": clipped,
                    "n_seeds": ci["n"], "seeds": "+".join(str(s) for s in seeds),
                    "_key": k[0]})
    return out


def model_order(model: str) -> tuple[int, str]:
    """The canonical order of an objective (:data:`empirics.objectives.OBJECTIVES`); a name
    it does not know (a plugin no longer installed) after every known one."""
    entry = OBJECTIVES.get(model)
    return (entry.order, model) if entry is not None else (10**9, model)


_PROBE_ORDER = {"ncc": 0, "linear": 1, "logistic": 2, "head": 3}


def _order(r: Mapping[str, Any]) -> tuple:
    return (r["setting"], r.get("tau") or 0, model_order(r["model"]), r["features"],
            _PROBE_ORDER.get(r.get("probe"), 0), r.get("m") or 0)


def table1(evaluations) -> list[dict[str, Any]]:
    """Table 1 analogue: all-way accuracy per setting, model, features and probe, mean over
    seeds with a Student-t 95% interval (``n_seeds`` 1: NaN interval); sorted by setting,
    then model in the canonical order."""
    rows = _long_rows(evaluations)
    out = _aggregate(rows, ("model", "features", "probe"), "accuracy")
    for r in out:
        r.pop("_key")
    return sorted(out, key=_order)


def paired_differences(evaluations, *, reference: str = THEOREM_PAIR[0]
                       ) -> list[dict[str, Any]]:
    """Table 1 as paired differences: per setting, feature kind and probe, each model's
    accuracy minus ``reference``'s (CL) on the same seed, then the mean, sample std, t
    interval and two-sided one-sample t p-value of the per-seed differences (no clipping:
    a difference lies in [-1, 1]).

    >>> import pandas as pd
    >>> from empirics.runs import Run
    >>> def ev(seed, cl, nscl):
    ...     m = pd.DataFrame({"model": ["cl", "nscl"], "features": ["h"] * 2,
    ...                       "probe": ["ncc"] * 2, "accuracy": [cl, nscl]})
    ...     return Run(None, "custom", {}, m, pd.DataFrame(), pd.DataFrame(),
    ...                {"setting": {"dataset": "digits"}, "seed": seed})
    >>> (r,) = paired_differences([ev(0, 0.5, 0.6), ev(1, 0.7, 0.75)])
    >>> r["model"], round(r["diff_mean"], 3), r["n_seeds"]
    ('nscl', 0.075, 2)
    """
    from empirics.studies.statistics import t_test_p

    rows = _long_rows(evaluations)
    ref = {(setting_key(r["setting"]), r["seed"], r["features"], r["probe"]): r["accuracy"]
           for r in rows if r["model"] == reference}
    diffs = []
    for r in rows:
        base = ref.get((setting_key(r["setting"]), r["seed"], r["features"], r["probe"]))
        if r["model"] == reference or base is None:
            continue
        diffs.append({**r, "diff": r["accuracy"] - base})
    out = _aggregate(diffs, ("model", "features", "probe"), "diff", clip=None)
    by_key: dict[tuple, list[float]] = {}
    for d in diffs:
        by_key.setdefault((setting_key(d["setting"]), d["model"], d["features"], d["probe"]),
                          []).append(d["diff"])
    for r in out:
        r["reference"] = reference
        r["p_value"] = t_test_p(by_key[(r.pop("_key"), r["model"], r["features"],
                                        r["probe"])])
        r.pop("ci_clipped")
    return sorted(out, key=lambda r: (r["setting"], _PROBE_ORDER.get(r["probe"], 9),
                                      r["features"], model_order(r["model"])))


def table2(evaluations, *, probe: str = "linear") -> list[dict[str, Any]]:
    """Table 2 analogue: ``probe`` accuracy against ``tau``, over the settings that differ
    only in ``tau`` (groups with at least two temperatures), mean and t interval over seeds.

    The objectives trained beside a model do not separate settings: under shared
    randomness a model's run does not depend on them (the CL member of a CL+NSCL+SCL+CE
    run is the CL member of a CL+NSCL run), so a four-objective base run and two-objective
    runs at other temperatures form one row."""
    rows = [r for r in _long_rows(evaluations) if r["probe"] == probe]
    for r in rows:
        r["tau"] = r["setting"].get("tau")
    out = _aggregate(rows, ("model", "features", "tau"), "accuracy", drop=("tau", "objectives"))
    taus: dict[str, set] = {}
    for r in out:
        taus.setdefault(r["_key"], set()).add(r["tau"])
    out = [r for r in out if len(taus[r["_key"]]) >= 2]
    for r in out:
        r.pop("_key")
    return sorted(out, key=lambda r: (r["setting"], r["features"],
                                      model_order(r["model"]), r["tau"]))


def fewshot_table(evaluations) -> list[dict[str, Any]]:
    """m-shot accuracy and the Proposition 1 bound per setting, model, features and ``m``,
    over seeds: the mean accuracy with its t interval, and the means of the bound and of
    the measured error (``vacuous`` when the mean bound is above 1)."""
    import math

    rows = _long_rows(evaluations, "fewshot")
    acc = _aggregate(rows, ("model", "features", "m"), "accuracy")
    bound = {(r["_key"], r["model"], r["features"], r["m"]): r
             for r in _aggregate(rows, ("model", "features", "m"), "bound", clip=None)}
    err = {(r["_key"], r["model"], r["features"], r["m"]): r
           for r in _aggregate(rows, ("model", "features", "m"), "error")}
    out = []
    for r in acc:
        k = (r.pop("_key"), r["model"], r["features"], r["m"])
        b = bound[k]["bound_mean"]
        r["error_mean"] = err[k]["error_mean"]
        r["bound_mean"] = b
        r["vacuous"] = bool(b > 1) if math.isfinite(b) else None
        out.append(r)
    return sorted(out, key=_order)
