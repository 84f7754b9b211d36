"""The experiment studies: accuracy (Table 1 / 2), few-shot ([P1] Prop. 1), merging
(Fig. 17) and alignment-accuracy (Fig. 12), run by ``python -m empirics.studies
<study>`` (the command line is declared in :mod:`empirics.studies.cli`).

``--runs DIR`` evaluates the finished lockstep runs under DIR: a claims-study folder (its
runs.csv), a sweep folder (its results.csv) or any folder of run directories. Without
--runs the study trains its own runs first (:func:`empirics.studies.plan.experiment_specs`)
into OUT/runs. Every run is measured from its final weights (checkpoints/last.pt); each
measurement is itself a run of the runs layer (OUT/evaluations,
:mod:`empirics.studies.evaluations`), so a second call reuses it. Tables are printed as
Markdown; with --out they are also written there as CSV (atomically).

Exit status: 0 done; 1 a run or an evaluation failed (one line naming its error.txt);
2 bad input (one line naming the argument or the file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from empirics.data.catalog import NEEDS_ROOT
from empirics.objectives import THEOREM_PAIR
from empirics.studies.plan import experiment_specs, run_folder

__all__ = ["DATASETS", "run_experiment"]

#: The data sets of the studies' own runs (the local CIFAR ones need --data-root).
DATASETS = ("digits", "mnist", "synthetic", "cifar10", "cifar100")
#: The flags of the study's own runs: they mean nothing with --runs (the runs are found).
OWN_RUN_FLAGS = ("size", "datasets", "seeds", "taus", "data_root", "classes")
#: The objectives each study's runs need (the others evaluate whatever was trained).
NEEDS = {"merging": THEOREM_PAIR[:1], "alignment-accuracy": THEOREM_PAIR}


def _pct(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else 100.0 * v


def _cell(r: dict[str, Any] | None, value: str = "accuracy") -> str:
    """``mean [low, high]`` in percent (``-`` for a missing row, no interval for one seed)."""
    if r is None:
        return "-"
    m, lo, hi = _pct(r[f"{value}_mean"]), _pct(r["ci_low"]), _pct(r["ci_high"])
    if m is None:
        return "nan"
    mark = "*" if r.get("ci_clipped") else ""  # the t interval clipped to [0, 100]
    return f"{m:.1f}" if lo is None else f"{m:.1f} [{lo:.1f}, {hi:.1f}]{mark}"


def _pivot_table1(t1) -> list[dict[str, Any]]:
    """One row per setting, model and feature kind; NCC and LP side by side."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in t1:
        k = (r["setting"], r["model"], r["features"])
        row = rows.setdefault(k, {"setting": k[0], "model": k[1], "features": k[2],
                                  "n_seeds": r["n_seeds"]})
        row[{"ncc": "NCC %", "linear": "LP %", "logistic": "LR %",
             "head": "own head %"}[r["probe"]]] = _cell(r)
    return list(rows.values())


def _pivot_table2(t2) -> list[dict[str, Any]]:
    """One row per setting, model and feature kind; one column per temperature."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in t2:
        k = (r["setting"], r["model"], r["features"])
        row = rows.setdefault(k, {"setting": k[0], "model": k[1], "features": k[2],
                                  "n_seeds": r["n_seeds"]})
        row[f"tau={r['tau']:g}"] = _cell(r)
    return list(rows.values())


def _write(out: Path | None, name: str, rows) -> None:
    from empirics.studies.report import write_csv

    if out is not None and rows:
        write_csv(rows, out / name)


def _sources(study: str, src, own, seeds, fail) -> list:
    """The runs to evaluate, checked before anything is written: found under --runs (each
    checked; those without the objectives the study needs are skipped with a note), or the
    run specs of the study's own runs (validated; launched by :func:`_launch_own`)."""
    from empirics.runs import read_run
    from empirics.runs.tables import RunFileError
    from empirics.studies.evaluations import check_source, find_sources
    from empirics.studies.report import progress

    need = NEEDS.get(study, ())
    if src.runs is not None:
        try:
            found = find_sources(src.runs)
            if not found:
                raise ValueError(f"Expected finished training runs under `--runs`, got none "
                                 f"in {src.runs!r}")
            if src.only is not None:
                only = {c.strip().upper() for c in src.only.split(",")}
                if not found[0].labels.get("claim"):
                    raise ValueError(f"Expected `--only` with a claims-study folder at "
                                     f"`--runs` (its runs.csv names the claims), got "
                                     f"{src.only!r}")
                found = [f for f in found if only & set(f.labels.get("claim", ()))]
                if not found:
                    raise ValueError(f"Expected runs of the claims in `--only` under "
                                     f"`--runs`, got none for {src.only!r}")
            for s in found:
                check_source(s.path, ())
            usable = [s for s in found
                      if set(need) <= set(read_run(s.path).cfg("objectives") or [])]
            if len(usable) < len(found):
                progress(f"skipping {len(found) - len(usable)} run(s) without the objectives "
                         f"{list(need)}")
            if not usable:
                check_source(found[0].path, need)  # raises: the reason, for the error line
        except (ValueError, RunFileError, FileNotFoundError) as exc:
            fail(" ".join(str(exc).split()))
        return usable
    if any(d in NEEDS_ROOT for d in own.datasets) and not own.data_root:
        fail(f"Expected `--data-root` (the local data folder) for the data sets "
             f"{', '.join(d for d in own.datasets if d in NEEDS_ROOT)}, got none")
    try:
        specs = experiment_specs(own.size, list(own.datasets), list(seeds.seed_list()),
                                 list(own.of("taus", study)), list(own.of("classes", study)),
                                 own.data_root)
        for s in specs:
            s.options()
    except ValueError as exc:
        fail(" ".join(str(exc).split()))
    return specs


def _launch_own(specs, runs_root: Path, launch: dict[str, Any]) -> list:
    """Train the study's own runs (finished ones reused); their sources."""
    from empirics.studies.evaluations import Source
    from empirics.studies.plan import launch_study

    results = launch_study(specs, runs_root, desc="study runs", **launch)
    return [Source(Path(r.path).resolve()) for r in results]


def run_experiment(study: str, args: argparse.Namespace, prog: str,
                   classes: Sequence[type]) -> int:
    """Run one experiment study from its parsed flags (``classes``: its declarations, in
    the order of :func:`empirics.studies.cli._study_classes`); 0 done, 1 a run failed,
    2 bad input, 130 interrupted."""
    from cl_nscl_align.cli import fail, options_of

    src, out_opts, own, seeds, launch, *opts = options_of(prog, args, *classes)

    def error(message: str):
        fail(prog, message)

    given = {name for cls in classes for name in cls.given(args)}
    if src.only is not None:
        from empirics.studies.claims.protocol import CLAIMS

        items = [c.strip().upper() for c in src.only.split(",")]
        if src.runs is None or not items or any(c not in CLAIMS for c in items):
            error(f"Expected `--only` as a comma list among {', '.join(CLAIMS)} with "
                  f"`--runs`, got {src.only!r}" + ("" if src.runs else " without --runs"))
    if src.runs is not None:
        flags = [f for f in OWN_RUN_FLAGS if f in given]
        if flags:
            error(f"Expected no `--{flags[0].replace('_', '-')}` with `--runs` (the runs under "
                  f"--runs are evaluated, not trained), got both")
    found = _sources(study, src, own, seeds, error)  # every check before anything is written
    out = None
    if out_opts.out is not None:
        from empirics.runs import check_out_dir

        try:
            out = check_out_dir(out_opts.out, "--out")
        except ValueError as exc:
            error(str(exc))
    launch_kw = launch.launch_kwargs()
    try:
        with contextlib.ExitStack() as stack:
            eval_root = stack.enter_context(run_folder(out, "evaluations"))
            sources = found if src.runs else _launch_own(
                found, stack.enter_context(run_folder(out, "runs")), launch_kw)
            return _run(study, opts, sources, eval_root, out, launch_kw)
    except RuntimeError as exc:
        print(f"{prog}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished runs and evaluations are kept (with --out) and "
              "the next call resumes the others", file=sys.stderr)
        return 130


def _run(study: str, opts: Sequence[Any], sources, eval_root: Path, out: Path | None,
         launch: dict[str, Any]) -> int:
    from empirics.runs import read_run
    from empirics.studies import accuracy, alignment_accuracy, merging
    from empirics.studies.evaluations import launch_evaluations
    from empirics.studies.report import markdown_table, progress

    kind = "merging" if study == "merging" else "accuracy"
    progress(f"{study}: evaluating {len(sources)} run(s) into {eval_root}")
    paths = launch_evaluations(kind, [s.path for s in sources], eval_root, opts[0].config(),
                               executor=launch["executor"], workers=launch["workers"])
    evals = [read_run(pth) for pth in paths]
    skipped = sorted({m for e in evals for m in e.summary.get("shots_skipped", [])})
    if skipped:
        progress(f"{study}: m = {skipped} skipped where above the smallest training class "
                 "(see each evaluation's summary.json)")
    if study == "accuracy":
        t1 = accuracy.table1(evals)
        print("## Table 1 analogue: all-way test accuracy, % (mean over seeds [Student-t 95% "
              "interval]; * = the interval clipped to [0, 100]; LP ridge, LR logistic)\n")
        p1 = _pivot_table1(t1)
        print(markdown_table(p1, ["setting", "model", "features", "NCC %", "LP %", "LR %",
                                  "own head %", "n_seeds"]))
        paired = accuracy.paired_differences(evals)
        if paired:
            print("\n## Table 1 as paired differences to CL, percentage points (mean over "
                  "seeds of the same-seed difference [Student-t 95% interval], p)\n")
            rows = [dict(r, **{"difference": _cell(r, "diff"), "p": f"{r['p_value']:.2g}"})
                    for r in paired]
            print(markdown_table(rows, ["setting", "probe", "features", "model",
                                        "difference", "p", "n_seeds"]))
        _write(out, "table1_paired.csv", paired)
        t2 = accuracy.table2(evals)
        if t2:
            print("\n## Table 2 analogue: linear-probe accuracy against tau, % (mean over "
                  "seeds [Student-t 95% interval])\n")
            p2 = _pivot_table2(t2)
            taus = sorted({r["tau"] for r in t2})
            print(markdown_table(p2, ["setting", "model", "features",
                                      *[f"tau={t:g}" for t in taus], "n_seeds"]))
        few = accuracy.fewshot_table(evals)
        _fewshot_print(few, markdown_table)
        _write(out, "table1.csv", t1)
        _write(out, "table2.csv", t2)
        _write(out, "fewshot.csv", few)
    elif study == "fewshot":
        few = accuracy.fewshot_table(evals)
        _fewshot_print(few, markdown_table, bound=True)
        _write(out, "fewshot.csv", few)
    elif study == "merging":
        rows = merging.merging_summary(evals)
        print("## Fig. 17 analogue: does the interior a chosen on held-out data beat both "
              "ends on the test set?\n")
        print(markdown_table(rows, ["setting", "partner", "features", "probe", "acc_cl",
                                    "acc_partner", "best_interior", "seeds_beating",
                                    "n_seeds", "gain_mean", "ci_low", "ci_high",
                                    "gain_vs_cl_mean", "gain_vs_cl_low", "gain_vs_cl_high",
                                    "bn"],
                             {"gain_mean": "+.4f", "ci_low": "+.4f", "ci_high": "+.4f",
                              "gain_vs_cl_mean": "+.4f", "gain_vs_cl_low": "+.4f",
                              "gain_vs_cl_high": "+.4f", "acc_cl": ".4f",
                              "acc_partner": ".4f", "best_interior": ".4f"}))
        from empirics.studies.accuracy import summary_label

        paths_rows = []
        for e in evals:
            for r in e.metrics.to_dict("records"):
                paths_rows.append({"setting": summary_label(e.summary),
                                   "seed": e.summary.get("seed"), **r})
        _write(out, "merging_summary.csv", rows)
        _write(out, "merging_paths.csv", paths_rows)
    else:
        a = opts[1]  # Fig12Options
        labels = {str(s.path): s.labels for s in sources}
        pts = alignment_accuracy.points(evals, features=a.features, probe=a.probe,
                                        labels=labels)
        res = alignment_accuracy.fig12(pts, resamples=a.bootstrap, seed=a.bootstrap_seed)
        print(f"## Fig. 12 analogue: CL-NSCL CKA ({a.features}) against the accuracy gap "
              f"acc(NSCL) - acc(CL) ({a.probe}), per setting\n")
        print(markdown_table(res["settings"], ["setting", "claims", "n_seeds", "cka", "gap",
                                               "acc_cl", "acc_nscl"],
                             {"cka": ".4f", "gap": "+.4f", "acc_cl": ".4f",
                              "acc_nscl": ".4f"}))
        print(f"\nSpearman rho over {res['n_settings']} settings: {res['spearman']:.3f}, "
              f"95% percentile bootstrap interval [{res['ci_low']:.3f}, {res['ci_high']:.3f}] "
              f"({res['resamples']} resamples of the settings, seed {res['seed']}; "
              f"{res['dropped']} without variation dropped)")
        _write(out, "fig12_points.csv", pts)
        _write(out, "fig12_settings.csv", res["settings"])
        if out is not None:
            from cl_nscl_align.atomic import atomic_write_json

            atomic_write_json(out / "fig12.json",
                              {k: v for k, v in res.items() if k != "settings"}
                              | {"features": a.features, "probe": a.probe})
    if out is not None:
        progress(f"{study}: tables written to {out}")
    return 0


def _fewshot_print(few, markdown_table, bound: bool = False) -> None:
    if not few:
        print("\n(no few-shot rows: every m is above the smallest training class)")
        return
    print("\n## m-shot nearest-class-mean accuracy on h, % (mean over seeds of the mean over "
          "support sets [Student-t 95% interval]) and [P1] Proposition 1 (z: fewshot.csv)\n")
    rows = [dict(r, **{"accuracy %": _cell(r)}) for r in few if r["features"] == "h"]
    cols = ["setting", "model", "m", "accuracy %", "n_seeds"]
    cols += ["error_mean", "bound_mean", "vacuous"] if bound else ["bound_mean", "vacuous"]
    print(markdown_table(rows, cols, {"error_mean": ".3f", "bound_mean": ".3g"}))
