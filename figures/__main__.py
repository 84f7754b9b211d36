"""python -m figures: redraw the paper-figure analogues and the bound-vs-measured views.

  python -m figures all --out DIR [--quick]    every figure, PNG and PDF
  python -m figures fig3-classes --out DIR     one figure (or an alias: fig3)
  python -m figures list                       the figure names
  python -m figures fig5 --runs SWEEP_DIR      draw from existing runs instead
  python -m figures fig3 --runs DIR --select tau=0.5   only the runs with tau = 0.5

The runs a figure needs are kept in the run cache (--cache, default OUT/runs). The ones
missing there are launched first by the runs layer (empirics.runs), keyed by their
configuration, so a second call trains nothing. With --no-run nothing is launched and a
missing run is an error. Drawing from saved runs needs neither torch nor the trainer.

Three sources of runs, one per call: the built-in plan (--quick / --size, --cache,
--dataset, --device, --workers apply to it), --runs DIR, or --claims DIR. --runs and
--claims launch nothing, so the plan's options are refused with them (one line, exit
status 2), as is giving both.

A figure averages over seeds only, and says so in its title. Runs that fall on one point
of a figure but differ in another setting (a sweep over classes and tau, drawn as Fig. 3)
are refused, naming the setting: keep one value with --select KEY=VALUE. A figure about
pairs of models refuses a run without the pair rows it needs (a run of one objective),
naming the run.

Exit status: 0 when every figure was written; 1 when a launched run failed or a file
could not be written; 2 on a usage error or an input that cannot be used (one line on
stderr naming the argument and the value, or the file and line).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from cl_nscl_align.cli import ArgumentParser, one_line_warnings, terminate_as_interrupt

matplotlib.use("Agg")  # files only; never opens a window

from empirics.data.catalog import CATALOG  # noqa: E402
from empirics.runs import RunFileError, RunSpec, check_out_dir  # noqa: E402
from empirics.studies import plan as runs  # noqa: E402 - the one planner
from figures import io, selection, style  # noqa: E402

PROG = "python -m figures"
FORMATS = ("png", "pdf", "svg")
#: The catalog's data sets that need no local path (the choices of --dataset).
BUNDLED = tuple(name for name, info in CATALOG.items() if not info.needs_root)
#: Defaults of the plan's options (None in the parser, so that a given one is seen).
PLAN_DEFAULTS = {"dataset": "synthetic", "device": "auto"}
#: The options that apply to the built-in plan only: refused with --runs or --claims.
PLAN_ONLY = (("cache", "--cache"), ("dataset", "--dataset"), ("quick", "--quick"),
             ("size", "--size"), ("device", "--device"), ("workers", "--workers"))


@dataclass(frozen=True)
class FigureDef:
    groups: tuple[str, ...]  # run groups of the plan it reads
    build: Callable  # (Context) -> matplotlib Figure
    what: str


class Context:
    """The runs of a plan, by group (each read once, when first needed).

    With ``given`` (runs read from ``--runs``: a sweep folder or any folder of run
    directories) every group is taken from those runs instead: ``surrogate`` = the
    surrogate runs, ``base`` = the training run with the most objectives (then steps),
    every other group = all training runs. ``allow_run`` false (``--no-run``): a figure that
    derives its data from runs (an evaluation of a checkpoint) fails on a missing one
    instead of launching it.
    """

    def __init__(self, plan: runs.Plan, paths: dict[str, Path],
                 given: list[io.Run] | None = None, *, allow_run: bool = True):
        self.plan = plan
        self.paths = paths
        self.given = given
        self.allow_run = allow_run
        self._cache: dict[str, io.Run] = {}

    def load(self, spec: RunSpec) -> io.Run:
        k = spec.key()
        if k not in self._cache:
            self._cache[k] = io.load_run(self.paths[k])
        return self._cache[k]

    def group(self, name: str) -> list[io.Run]:
        if self.given is None:
            return [self.load(s) for s in self.plan.groups()[name]]
        sur = [r for r in self.given if io.is_surrogate(r)]
        train = [r for r in self.given if r.kind == "train"]
        if name == "surrogate":
            found = sur
        elif name == "base":
            found = sorted(train, key=lambda r: (len(r.cfg("objectives") or []),
                                                 r.cfg("steps") or 0))[-1:]
        else:
            found = train
        if not found:
            kind = "surrogate" if name == "surrogate" else "training"
            raise FileNotFoundError(f"Expected {kind} runs under `--runs` for the {name!r} "
                                    "runs of this figure, got none")
        return found


def _fig1(ctx):
    from figures import training

    return training.figure_angles(ctx.group("base")[0])


def _fig2(ctx):
    from figures import training

    return training.figure_alignment(ctx.group("base")[0])


def _fig3(ctx):
    from figures import sweeps

    return sweeps.figure_classes(ctx.group("classes"))


def _fig4(ctx):
    from figures import sweeps

    return sweeps.figure_tau(ctx.group("tau"))


def _fig5(ctx):
    from figures import sweeps

    return sweeps.figure_batch(ctx.group("batch"))


def _fig6(ctx):
    from figures import training

    return training.figure_weight_gap(ctx.group("base")[0])


def _landscape(ctx):
    from figures import landscapes

    return landscapes.figure_landscape()


def _bvm(ctx):
    from figures import measured

    sur = ctx.group("surrogate")[0]
    return measured.figure_bound_vs_measured(ctx.group("base")[0], io.surrogate_trace(sur),
                                             surrogate=sur)


def _p1(ctx):
    from figures import measured

    return measured.figure_p1(ctx.group("classes"))


def _accuracy(ctx):
    from figures import experiments

    return experiments.build_accuracy(ctx)


def _fewshot(ctx):
    from figures import experiments

    return experiments.build_fewshot(ctx)


def _merging(ctx):
    from figures import experiments

    return experiments.build_merging(ctx)


def _fig12(ctx):
    from figures import experiments

    return experiments.build_alignment_accuracy(ctx)


def _appendix_d(ctx):
    from figures import linearization

    return linearization.figure_linearization(ctx.group("linearization"))


FIGURES: dict[str, FigureDef] = {
    "fig1-angles": FigureDef(("base",), _fig1, "weight- vs representation-space angle"),
    "fig2-alignment": FigureDef(("base",), _fig2, "CKA and RSA of CL vs NSCL, SCL, CE"),
    "fig3-classes": FigureDef(("classes",), _fig3, "CL-NSCL CKA heatmap, classes x epoch"),
    "fig4-tau": FigureDef(("tau",), _fig4, "temperature tau in {0.1, 0.5, 1.0}"),
    "fig5-batch": FigureDef(("batch",), _fig5, "batch size with three learning-rate rules"),
    "fig6-weight-gap": FigureDef(("base",), _fig6, "weight gap vs similarity gap"),
    "bound-landscape": FigureDef((), _landscape, "Theorem 1, CKA and RSA bounds vs C, tau, B"),
    "bound-vs-measured": FigureDef(("base", "surrogate"), _bvm,
                                   "measured gaps against the bounds"),
    "p1-loss-gap": FigureDef(("classes",), _p1, "[P1] loss gap vs C with its bound"),
    "table1-accuracy": FigureDef(("base", "tau"), _accuracy,
                                 "NCC / LP accuracy, LP vs tau, m-shot accuracy"),
    "p1-fewshot": FigureDef(("base",), _fewshot, "[P1] few-shot bound vs m-shot error"),
    "fig17-merging": FigureDef(("base",), _merging, "accuracy along CL -> NSCL weight paths"),
    "fig12-align-acc": FigureDef(("classes", "tau", "base"), _fig12,
                                 "CL-NSCL CKA vs accuracy gap across settings"),
    "appendix-d": FigureDef(("linearization",), _appendix_d,
                            "[P2] App. D: L_Sigma, one step's remainder"),
}

ALIASES = {"fig1": "fig1-angles", "fig2": "fig2-alignment", "fig3": "fig3-classes",
           "fig4": "fig4-tau", "fig5": "fig5-batch", "fig6": "fig6-weight-gap",
           "landscape": "bound-landscape", "bvm": "bound-vs-measured", "p1": "p1-loss-gap",
           "table1": "table1-accuracy", "fewshot": "p1-fewshot", "fig17": "fig17-merging",
           "fig12": "fig12-align-acc", "linearization": "appendix-d"}


def _epilog() -> str:
    alias = {v: k for k, v in ALIASES.items()}
    lines = ["figures (alias):"]
    lines += [f"  {name:18s} {alias.get(name, ''):13s} {fd.what}" for name, fd in FIGURES.items()]
    lines.append(f"  {'claims':18s} {'':13s} the claims study's verdicts (with --claims DIR)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_epilog())
    p.add_argument("name", help="'all', 'list', or a figure name or alias (listed below)")
    p.add_argument("--out", default="figures-out",
                   help="folder the figure files are written to (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="the quick plan: small synthetic runs, the whole gallery in minutes; "
                        "built-in plan only (default: off, the full plan)")
    p.add_argument("--size", choices=tuple(runs.GALLERY_SIZES), default=None,
                   help="plan size ('tiny' is for smoke tests); with --quick it must be "
                        "quick; built-in plan only (default: full, or quick with --quick)")
    p.add_argument("--cache", default=None,
                   help="run cache folder, shared by every call; built-in plan only "
                        "(default: OUT/runs)")
    p.add_argument("--dataset", default=None, choices=BUNDLED,
                   help="bundled data set of the training runs (the Appendix D runs use "
                        "digits when this is synthetic); for CIFAR or image folders run a "
                        "sweep and pass it with --runs; built-in plan only (default: "
                        f"{PLAN_DEFAULTS['dataset']})")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                   help="device of the launched runs; auto leaves each kind of run its own "
                        "default (the trainer uses CUDA when present); built-in plan only "
                        f"(default: {PLAN_DEFAULTS['device']})")
    p.add_argument("--workers", type=int, default=None,
                   help="runs launched in parallel, a local process pool when > 1; built-in "
                        f"plan only (default: {runs.default_workers()} here, at most 2)")
    p.add_argument("--no-run", action="store_true",
                   help="never launch a run; a missing run is an error naming it (--runs "
                        "and --claims launch nothing anyway) (default: off)")
    p.add_argument("--runs", default=None,
                   help="draw from these runs instead of the plan: a sweep folder (its "
                        "results.csv) or any folder of run directories; launches nothing, "
                        "so --cache, --dataset, --quick, --size, --device and --workers are "
                        "refused with it (default: none, the built-in plan)")
    p.add_argument("--select", action="append", default=None, metavar="KEY=VALUE",
                   help="with --runs: keep only the runs whose setting KEY (a configuration "
                        "field: tau, classes, batch_size, objectives as cl+nscl, ...) is "
                        "VALUE; repeat for several keys. Needed when the runs of one point "
                        "of a figure differ in a setting it does not show (default: none, "
                        "every run)")
    p.add_argument("--claims", default=None, metavar="DIR",
                   help="draw from a claims-study folder (python -m empirics.claims --out "
                        "DIR): 'claims' is its summary, 'all' also redraws the gallery from "
                        "its runs (figures/claims.py); launches nothing, so the plan's "
                        "options and --runs are refused with it (default: none)")
    p.add_argument("--formats", default="png,pdf",
                   help=f"comma list of output formats among {', '.join(FORMATS)} "
                        "(default: %(default)s)")
    lo, hi = style.DPI_RANGE
    p.add_argument("--dpi", type=int, default=style.PNG_DPI,
                   help=f"resolution of the PNG files in dots per inch, {lo} to {hi} "
                        "(default: %(default)s)")
    return p


def _given(a: argparse.Namespace, dest: str) -> bool:
    value = getattr(a, dest)
    return value is not None and value is not False


def _conflict(a: argparse.Namespace) -> str | None:
    """The first pair of options that cannot go together (one sentence), or None."""
    if a.claims is not None and a.runs is not None:
        return (f"Expected one source of runs, got both `--claims` {a.claims!r} and `--runs` "
                f"{a.runs!r}")
    source = "--runs" if a.runs is not None else "--claims" if a.claims is not None else None
    if source is not None:
        for dest, flag in PLAN_ONLY:
            if _given(a, dest):
                value = "" if getattr(a, dest) is True else f" {getattr(a, dest)!r}"
                hint = (f"; to keep the runs of one data set, --select dataset="
                        f"{a.dataset}" if dest == "dataset" and source == "--runs" else "")
                return (f"Expected `{source}` without `{flag}`, got `{flag}`{value}: "
                        f"{source} draws from saved runs and launches nothing, so the "
                        f"built-in plan's options do not apply{hint}")
    if a.quick and a.size not in (None, "quick"):
        return f"Expected `--size` quick with `--quick`, got `--quick` and `--size` {a.size!r}"
    if a.select and a.runs is None:
        return (f"Expected `--select` with `--runs`, got `--select` {a.select[0]!r} without "
                "it (the built-in plan and a claims study keep each figure's runs apart)")
    return None


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device (imports torch: only asked for --device cuda)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _error(message: str) -> int:
    """One stderr line for an input that cannot be used; exit status 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _message(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())  # one line


def main(argv=None) -> int:
    one_line_warnings(PROG)
    p = _parser()
    a = p.parse_args(argv)
    name = ALIASES.get(a.name, a.name)
    if name not in ("all", "list", "claims") and name not in FIGURES:
        p.error(f"Expected `name` to be 'all', 'list' or one of {', '.join(FIGURES)}, "
                f"got {a.name!r}")
    if a.workers is not None and a.workers < 1:
        p.error(f"Expected `--workers` >= 1, got {a.workers!r}")
    lo, hi = style.DPI_RANGE
    if not lo <= a.dpi <= hi:
        p.error(f"Expected `--dpi` in {lo}..{hi}, got {a.dpi!r}")
    items = [f.strip() for f in a.formats.split(",")]
    if not all(items) or any(f not in FORMATS for f in items):
        p.error(f"Expected `--formats` as a comma list of {', '.join(FORMATS)}, got "
                f"{a.formats!r}")
    formats = list(dict.fromkeys(items))
    if not a.out.strip():
        p.error(f"Expected `--out` to name a folder, got {a.out!r}")
    conflict = _conflict(a)
    if conflict:
        p.error(conflict)
    try:
        selected = selection.parse_selection(a.select)
    except selection.FigureInputError as e:
        p.error(str(e))
    if name == "list":
        for n, fd in FIGURES.items():
            print(f"{n:18s} {fd.what}")
        print(f"{'claims':18s} the claims study's verdicts (with --claims DIR)")
        return 0
    if a.claims is not None or name == "claims":  # the claims study's figures
        from figures import claims as claims_figures

        return claims_figures.main(a, name, formats)
    size = a.size or ("quick" if a.quick else "full")
    dataset = a.dataset or PLAN_DEFAULTS["dataset"]
    device = a.device or PLAN_DEFAULTS["device"]
    if device == "cuda" and not _cuda_available():  # once, before any run starts
        p.error("Expected a CUDA device for `--device` 'cuda', got none (use --device auto "
                "or cpu)")
    names = list(FIGURES) if name == "all" else [name]
    try:
        out = check_out_dir(a.out, "--out")
    except ValueError as e:
        p.error(str(e))
    t0 = time.perf_counter()
    plan = runs.gallery_plan(size, dataset=dataset)
    given, paths = None, {}
    try:
        if a.runs is not None:
            given = io.runs_from(a.runs)
            if not given:
                raise FileNotFoundError(f"Expected run directories under `--runs`, got none "
                                        f"in {a.runs!r}")
            given = selection.select_runs(given, selected)
        else:
            needed = runs.unique(s for n in names for g in FIGURES[n].groups
                                 for s in plan.groups()[g])
            cache = Path(a.cache) if a.cache else out / "runs"
            if needed and not a.no_run:
                check_out_dir(cache, "--cache")
            previous = signal.signal(signal.SIGTERM, terminate_as_interrupt)
            try:  # a scheduler's stop is a Ctrl+C: the launcher stops its workers
                paths = runs.ensure(cache, needed, allow_run=not a.no_run,
                                    device=None if device == "auto" else device,
                                    workers=a.workers or runs.default_workers())
            finally:
                signal.signal(signal.SIGTERM, previous)
        ctx = Context(plan, paths, given, allow_run=not a.no_run)
        for spec in needed if given is None else ():
            ctx.load(spec)  # every run read once, before anything is drawn
    except runs.RunFailedError as e:
        print(f"{PROG}: {_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished runs are kept and the next call resumes the "
              "others", file=sys.stderr)
        return 130
    except (RunFileError, FileNotFoundError, ValueError) as e:
        return _error(_message(e))
    with style.style():
        for n in names:
            t1 = time.perf_counter()
            try:
                fig = FIGURES[n].build(ctx)
            except (RunFileError, FileNotFoundError, KeyError,
                    selection.FigureInputError) as e:
                return _error(f"{n}: {_message(e)}")
            rc = _save(fig, out, n, formats, a.dpi)
            if rc:
                return rc
            print(f"{n:18s} {time.perf_counter() - t1:5.1f}s  "
                  + ", ".join(str(w) for w in (out / f"{n}.{f}" for f in formats)))
    print(f"figures: done in {time.perf_counter() - t0:.1f}s ({size} plan)")
    return 0


def _save(fig, out: Path, name: str, formats, dpi: int) -> int:
    """Write one figure: 0, or the exit status after its one-line message."""
    try:
        style.save(fig, out, name, formats=formats, dpi=dpi)
    except OSError as e:
        print(f"{PROG}: could not write {name} into {str(out)!r}: {_message(e)}",
              file=sys.stderr)
        return 1
    except ValueError as e:  # a figure too large to draw at this --dpi
        return _error(f"{name}: `--dpi` {dpi}: {_message(e)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
