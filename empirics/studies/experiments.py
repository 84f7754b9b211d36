"""The command line of the experiment studies: accuracy, few-shot, merging, alignment-accuracy.

    python -m empirics.studies accuracy            --runs DIR  [--out OUT]  Table 1 / 2
    python -m empirics.studies fewshot             --runs DIR  [--out OUT]  [P1] Prop. 1
    python -m empirics.studies merging             --runs DIR  [--out OUT]  Fig. 17
    python -m empirics.studies alignment-accuracy  --runs DIR  [--out OUT]  Fig. 12

``--runs DIR`` evaluates the finished lockstep runs under DIR: a claims-study folder (its
runs.csv), a sweep folder (its results.csv) or any folder of run directories. Without
--runs the study trains its own runs first (--size tiny|quick|full, --datasets, --seeds,
--taus; CIFAR-10 with --data-root), into OUT/runs. Every run is measured from its final
weights (checkpoints/last.pt); each measurement is itself a run of the runs layer
(OUT/evaluations), so a second call reuses it. Tables are printed as Markdown; with --out
they are also written there as CSV (atomically).

Exit status: 0 done; 1 a run or an evaluation failed (one line naming its error.txt);
2 bad input (one line naming the argument or the file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import ArgumentParser, one_line_warnings
from empirics.studies.plan import EXPERIMENT_SIZES, experiment_specs

__all__ = ["EXPERIMENTS", "main"]

EXPERIMENTS = ("accuracy", "fewshot", "merging", "alignment-accuracy")
PROG = "python -m empirics.studies"
DATASETS = ("digits", "mnist", "synthetic", "cifar10", "cifar100")
#: The largest values the command line accepts (a larger one is a typo, and would allocate
#: or launch far more than any study needs before failing).
LIMITS = {"--workers": 1024, "--repeats": 1000, "--shots": 100000, "--points": 1001,
          "--bootstrap": 1000000}
#: The flags of the study's own runs: they mean nothing with --runs (the runs are found).
OWN_RUN_FLAGS = ("--size", "--datasets", "--seeds", "--taus", "--data-root", "--classes")

def _ints(p, name: str, text: str, minimum: int) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        p.error(f"Expected `{name}` as a comma list of integers, got {text!r}")
    if not vals or any(v < minimum for v in vals):
        p.error(f"Expected `{name}` as integers >= {minimum}, got {text!r}")
    return vals


def _floats(p, name: str, text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        p.error(f"Expected `{name}` as a comma list of numbers, got {text!r}")
    if any(not (v > 0 and math.isfinite(v)) for v in vals):
        p.error(f"Expected `{name}` > 0, got {text!r}")
    return vals


def _parser(study: str) -> argparse.ArgumentParser:
    from empirics.runs import EXECUTORS
    from empirics.studies import accuracy, merging

    p = ArgumentParser(prog=f"{PROG} {study}", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=None, metavar="DIR",
                   help="evaluate the finished runs under DIR (a claims folder with runs.csv, "
                        "a sweep folder with results.csv, or run directories) (default: none, "
                        "train the study's own runs)")
    p.add_argument("--only", default=None, metavar="C1,C3",
                   help="with --runs on a claims-study folder: only the runs its runs.csv "
                        "lists for these claims (default: every run)")
    p.add_argument("--out", default=None, metavar="OUT",
                   help="write the tables as CSV there and keep runs and evaluations in "
                        "OUT/runs and OUT/evaluations (default: print only; a temporary "
                        "folder)")
    g = p.add_argument_group("the study's own runs (without --runs)")
    g.add_argument("--size", choices=tuple(EXPERIMENT_SIZES), default="quick",
                   help="run size (default: %(default)s)")
    g.add_argument("--datasets", default="digits,mnist,synthetic",
                   help=f"comma list among {', '.join(DATASETS)} (default: %(default)s)")
    g.add_argument("--seeds", default="0,1,2", help="comma list of root seeds (default: "
                                                    "%(default)s)")
    g.add_argument("--taus", default="0.1,0.5,1.0" if study == "accuracy" else "",
                   help="temperatures of the Table 2 runs on the first data set (default: "
                        "%(default)s)")
    g.add_argument("--data-root", default=None,
                   help="local folder of the CIFAR data (default: none)")
    g.add_argument("--executor", choices=EXECUTORS, default="serial",
                   help="how runs and evaluations are launched (default: %(default)s)")
    g.add_argument("--workers", type=int, default=None,
                   help="local pool size (default: min(runs, CPUs))")
    if study in ("accuracy", "fewshot", "alignment-accuracy"):
        e = p.add_argument_group("accuracy and few-shot evaluation")
        e.add_argument("--shots", default="1,5,10,100",
                       help="m of the m-shot classifier; those above the smallest training "
                            "class are skipped (default: %(default)s)")
        e.add_argument("--repeats", type=int, default=accuracy.DEFAULTS["repeats"],
                       help="random support sets per m (default: %(default)s)")
        e.add_argument("--vs", choices=accuracy.VS_CHOICES, default=accuracy.DEFAULTS["vs"],
                       help="Vs_f of Proposition 1 [open]: the directional variability on the "
                            "support set, Vt_f, or V_f (default: %(default)s)")
        e.add_argument("--raw-features", action="store_true",
                       help="few-shot on raw features instead of L2-normalised rows "
                            "(default: off)")
    if study == "merging":
        e = p.add_argument_group("merging")
        e.add_argument("--points", type=int, default=merging.DEFAULTS["points"],
                       help="values of a in [0, 1] (default: %(default)s)")
        e.add_argument("--bn", choices=merging.BN_MODES, default=merging.DEFAULTS["bn"],
                       help="BatchNorm statistics of a merged model: re-estimated on the "
                            "training inputs, or interpolated (default: %(default)s)")
        e.add_argument("--partners", default=",".join(merging.DEFAULTS["partners"]),
                       help="paths from CL towards these objectives (default: %(default)s)")
    if study == "alignment-accuracy":
        e = p.add_argument_group("Fig. 12")
        e.add_argument("--features", choices=("h", "z"), default="h",
                       help="feature kind of CKA and accuracy (default: %(default)s)")
        e.add_argument("--probe", choices=("ncc", "linear"), default="ncc",
                       help="probe of the accuracy gap (default: %(default)s)")
        e.add_argument("--classes", default="2,5",
                       help="own runs only: class counts of extra settings on the first "
                            "data set (default: %(default)s)")
        e.add_argument("--bootstrap", type=int, default=2000,
                       help="bootstrap resamples of the settings (default: %(default)s)")
        e.add_argument("--bootstrap-seed", type=int, default=0,
                       help="root seed of the bootstrap (default: %(default)s)")
    return p


@contextlib.contextmanager
def _folder(out: Path | None, name: str) -> Iterator[Path]:
    if out is not None:
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        yield d
        return
    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as tmp:
        yield Path(tmp)


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


def _display(rows, value: str) -> list[dict[str, Any]]:
    """Rows with the value and its interval in percent, ``mean [low, high]``."""
    out = []
    for r in rows:
        d = dict(r)
        d["mean %"] = _pct(r[f"{value}_mean"])
        lo, hi = _pct(r["ci_low"]), _pct(r["ci_high"])
        d["95% t interval"] = "-" if lo is None else f"[{lo:.1f}, {hi:.1f}]"
        out.append(d)
    return out


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


def _sources(a, p, need: tuple[str, ...]) -> list:
    """The runs to evaluate, checked before anything is written: found under --runs (each
    checked; those without the objectives ``need`` are skipped with a note), or the run
    specs of the study's own runs (validated; launched by :func:`_launch_own`)."""
    from empirics.runs import read_run
    from empirics.runs.tables import RunFileError
    from empirics.studies.evaluations import check_source, find_sources
    from empirics.studies.report import progress

    if a.runs is not None:
        try:
            found = find_sources(a.runs)
            if not found:
                raise ValueError(f"Expected finished training runs under `--runs`, got none "
                                 f"in {a.runs!r}")
            if a.only is not None:
                only = {c.strip().upper() for c in a.only.split(",")}
                if not found[0].labels.get("claim"):
                    raise ValueError(f"Expected `--only` with a claims-study folder at "
                                     f"`--runs` (its runs.csv names the claims), got {a.only!r}")
                found = [f for f in found if only & set(f.labels.get("claim", ()))]
                if not found:
                    raise ValueError(f"Expected runs of the claims in `--only` under "
                                     f"`--runs`, got none for {a.only!r}")
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
            p.error(" ".join(str(exc).split()))
        return usable
    datasets = [d.strip() for d in a.datasets.split(",") if d.strip()]
    bad = [d for d in datasets if d not in DATASETS]
    if not datasets or bad:
        p.error(f"Expected `--datasets` among {', '.join(DATASETS)}, got {a.datasets!r}")
    if any(d.startswith("cifar") for d in datasets) and not a.data_root:
        p.error("Expected `--data-root` (the local CIFAR folder) for a CIFAR data set, got "
                "none")
    seeds = _ints(p, "--seeds", a.seeds, 0)
    taus = _floats(p, "--taus", a.taus) if a.taus.strip() else []
    classes = _ints(p, "--classes", a.classes, 2) if getattr(a, "classes", "") else []
    try:
        specs = experiment_specs(a.size, datasets, seeds, taus, classes, a.data_root)
        for s in specs:
            s.options()
    except ValueError as exc:
        p.error(" ".join(str(exc).split()))
    return specs


def _launch_own(a, specs, runs_root: Path) -> list:
    """Train the study's own runs (finished ones reused); their sources."""
    from empirics.studies.evaluations import Source
    from empirics.studies.plan import launch_study

    results = launch_study(specs, runs_root, executor=a.executor, workers=a.workers,
                           desc="study runs")
    return [Source(Path(r.path).resolve()) for r in results]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one experiment study; 0 done, 1 a run failed, 2 bad input, 130 interrupted."""
    one_line_warnings(PROG)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in EXPERIMENTS:
        print(f"{PROG}: error: Expected a study among {', '.join(EXPERIMENTS)}, got "
              f"{argv[0] if argv else 'none'!r}", file=sys.stderr)
        return 2
    study = argv[0]
    p = _parser(study)
    a = p.parse_args(argv[1:])
    _check_args(p, a, study, argv[1:])
    opts: dict[str, Any] = {}
    if study != "merging":
        shots = _ints(p, "--shots", a.shots, 1)
        if max(shots) > LIMITS["--shots"]:
            p.error(f"Expected `--shots` <= {LIMITS['--shots']}, got {a.shots!r}")
        opts = {"shots": shots, "repeats": a.repeats, "vs": a.vs,
                "normalize": not a.raw_features}
    else:
        partners = [s.strip() for s in a.partners.split(",") if s.strip()]
        if not partners or any(x not in ("nscl", "scl", "ce", "ntxent") for x in partners):
            p.error(f"Expected `--partners` among nscl, scl, ce, ntxent, got {a.partners!r}")
        opts = {"points": a.points, "bn": a.bn, "partners": partners}
    if a.out is not None and not a.out.strip():
        p.error(f"Expected `--out` to be a folder, got {a.out!r}")
    need = {"merging": ("cl",), "alignment-accuracy": ("cl", "nscl")}.get(study, ())
    found = _sources(a, p, need)  # every check before anything is written
    out = None
    if a.out is not None:
        from empirics.runs import check_out_dir

        try:
            out = check_out_dir(a.out, "--out")
        except ValueError as exc:
            p.error(str(exc))
    try:
        with contextlib.ExitStack() as stack:
            eval_root = stack.enter_context(_folder(out, "evaluations"))
            sources = found if a.runs else _launch_own(
                a, found, stack.enter_context(_folder(out, "runs")))
            return _run(study, a, opts, sources, eval_root, out)
    except RuntimeError as exc:
        print(f"{PROG} {study}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {study}: interrupted; finished runs and evaluations are kept (with "
              "--out) and the next call resumes the others", file=sys.stderr)
        return 130


def _check_args(p, a, study: str, argv: Sequence[str]) -> None:
    """Ranges of the numeric flags, and no own-run flag beside ``--runs`` (one line each)."""
    lows = {"--workers": 1, "--repeats": 1, "--points": 2, "--bootstrap": 1,
            "--bootstrap-seed": 0}
    for flag, low in lows.items():
        value = getattr(a, flag[2:].replace("-", "_"), None)
        if value is None:
            continue
        high = LIMITS.get(flag)
        if value < low or (high is not None and value > high):
            rng = f">= {low}" if high is None else f"in [{low}, {high}]"
            p.error(f"Expected `{flag}` {rng}, got {value}")
    if a.only is not None:
        from empirics.studies.claims.protocol import CLAIMS

        items = [c.strip().upper() for c in a.only.split(",")]
        if a.runs is None or not items or any(c not in CLAIMS for c in items):
            p.error(f"Expected `--only` as a comma list among {', '.join(CLAIMS)} with "
                    f"`--runs`, got {a.only!r}" + ("" if a.runs else " without --runs"))
    if a.runs is not None:
        given = [f for f in OWN_RUN_FLAGS
                 if any(x == f or x.startswith(f + "=") for x in argv)]
        if given:
            p.error(f"Expected no `{given[0]}` with `--runs` (the runs under --runs are "
                    f"evaluated, not trained), got both")
        if not a.runs.strip():
            p.error(f"Expected `--runs` to be a folder, got {a.runs!r}")


def _run(study: str, a, opts: dict[str, Any], sources, eval_root: Path,
         out: Path | None) -> int:
    from empirics.runs import read_run
    from empirics.studies import accuracy, alignment_accuracy, merging
    from empirics.studies.evaluations import launch_evaluations
    from empirics.studies.report import markdown_table, progress

    kind = "merging" if study == "merging" else "accuracy"
    progress(f"{study}: evaluating {len(sources)} run(s) into {eval_root}")
    paths = launch_evaluations(kind, [s.path for s in sources], eval_root, opts,
                               executor=a.executor, workers=a.workers)
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
