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
--dataset, --executor, --workers, --device apply to it), --runs DIR, or --claims DIR.
--runs and --claims launch nothing, so the plan's options are refused with them (one line,
exit status 2), as is giving both. The plan's missing runs are launched by the runs layer
(--workers none: a pool of min(runs, CPU cores); --executor: serial for one worker, else
local, unless given).

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
import dataclasses
import importlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from cl_nscl_align.cli import command, one_line_warnings, options_of, terminate_as_interrupt
from cl_nscl_align.options import Options, flag_of, option

matplotlib.use("Agg")  # files only; never opens a window

from empirics.data.catalog import CATALOG  # noqa: E402
from empirics.runs import LaunchOptions, RunFileError, RunSpec, check_out_dir  # noqa: E402
from empirics.studies import plan  # noqa: E402 - the one planner
from figures import io, selection, style  # noqa: E402

PROG = "python -m figures"
FORMATS = ("png", "pdf", "svg")
#: The catalog's data sets that need no local path (the choices of --dataset).
BUNDLED = tuple(name for name, info in CATALOG.items() if not info.needs_root)


# ----------------------------------------------------------------------------- options
def _known_name(name: str, value: str) -> None:
    if value not in ("all", "list", "claims") and ALIASES.get(value, value) not in FIGURES:
        raise ValueError(f"Expected `{name}` to be 'all', 'list' or one of "
                         f"{', '.join(FIGURES)}, got {value!r}")


def _folder(name: str, value: str) -> None:
    if not value.strip():
        raise ValueError(f"Expected `{name}` to name a folder, got {value!r}")


def _formats(name: str, value: str) -> None:
    items = [f.strip() for f in value.split(",")]
    if not all(items) or any(f not in FORMATS for f in items):
        raise ValueError(f"Expected `{name}` as a comma list of {', '.join(FORMATS)}, got "
                         f"{value!r}")


def _dpi(name: str, value: int) -> None:
    style.check_dpi(value, name)


@dataclass(frozen=True)
class Figure(Options):
    """which figure"""

    name: str = option("all", "'all', 'list', or a figure name or alias (listed below)",
                       check=_known_name, positional=True)


@dataclass(frozen=True)
class Output(Options):
    """the figure files"""

    out: str = option("figures-out", "folder the figure files are written to",
                      check=_folder, result=False, metavar="DIR")
    formats: str = option(",".join(FORMATS[:2]), "comma list of output formats among "
                          f"{', '.join(FORMATS)}", check=_formats, result=False, metavar="LIST")
    dpi: int = option(style.PNG_DPI, "resolution of the PNG files in dots per inch, "
                      f"{style.DPI_RANGE[0]} to {style.DPI_RANGE[1]}", check=_dpi,
                      result=False)

    def format_list(self) -> list[str]:
        return list(dict.fromkeys(f.strip() for f in self.formats.split(",")))


@dataclass(frozen=True)
class Sources(Options):
    """where the runs come from (one source per call)"""

    runs: str | None = option(
        None, "draw from these runs instead of the plan: a sweep folder (its results.csv) or "
        "any folder of run directories; launches nothing, so the built-in plan's options "
        "(--cache, --dataset, --quick, --size, --executor, --workers, --device) are refused "
        "with it", default_text="none, the built-in plan", result=False, metavar="DIR")
    claims: str | None = option(
        None, "draw from a claims-study folder (python -m empirics.claims --out DIR): "
        "'claims' is its summary, 'all' also redraws the gallery from its runs "
        "(figures/claims.py); launches nothing, so the plan's options and --runs are refused "
        "with it", metavar="DIR", result=False)
    select: tuple[str, ...] = option(
        (), "with --runs: keep only the runs whose setting KEY (a configuration field: tau, "
        "classes, batch_size, objectives as cl+nscl, ...) is VALUE; repeat (or give a comma "
        "list) for several keys. Needed when the runs of one point of a figure differ in a "
        "setting it does not show", metavar="KEY=VALUE", default_text="none, every run",
        result=False)
    no_run: bool = option(False, "never launch a run; a missing run is an error naming it "
                          "(--runs and --claims launch nothing anyway)", switch=True,
                          default_text="off", result=False)


@dataclass(frozen=True)
class Gallery(Options):
    """the built-in plan (empirics/studies/plan.py); refused with --runs or --claims"""

    quick: bool = option(False, "the quick plan: small synthetic runs, the whole gallery in "
                         "minutes", switch=True, default_text="off, the full plan")
    size: str | None = option(None, "plan size ('tiny' is for smoke tests); with --quick it "
                              "must be quick", choices=tuple(plan.GALLERY_SIZES),
                              default_text="full, or quick with --quick")
    cache: str | None = option(None, "run cache folder, shared by every call",
                               default_text="OUT/runs", result=False, metavar="DIR")
    dataset: str = option("synthetic", "bundled data set of the training runs (the Appendix "
                          "D runs use digits when this is synthetic); for CIFAR or image "
                          "folders run a sweep and pass it with --runs", choices=BUNDLED)

    def resolved_size(self) -> str:
        return self.size or ("quick" if self.quick else "full")


class Launch(LaunchOptions):
    """The launcher's options (:class:`empirics.runs.LaunchOptions`), for the plan's missing
    runs."""

    cli_title = "how the plan's missing runs are launched (built-in plan only)"


#: The options of the built-in plan only: refused with --runs or --claims.
PLAN_ONLY = (*Gallery.field_names(), *Launch.field_names())
CLASSES = (Figure, Output, Sources, Gallery, Launch)


def _flag_of(name: str) -> str:
    """The flag of the field ``name`` of :data:`CLASSES`."""
    return next(flag_of(f) for cls in CLASSES for f in dataclasses.fields(cls)
                if f.name == name)


def _joined(argv: Sequence[str], flag: str = "--select") -> list[str]:
    """``--select A --select B`` as ``--select A,B``: a list option may be repeated (its
    values are then joined, in order, where the first one stood)."""
    out: list[str] = []
    values: list[str] = []
    at = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
            i += 2
        elif a.startswith(flag + "="):
            values.append(a[len(flag) + 1:])
            i += 1
        else:
            out.append(a)
            i += 1
            continue
        if at is None:
            at = len(out)
    if at is None or len(values) < 2:
        return list(argv)
    return [*out[:at], flag, ",".join(values), *out[at:]]


@dataclass(frozen=True)
class FigureDef:
    """A figure of the gallery: the plan's run groups it reads, its one builder and what it
    shows. The builder (``module.function`` of figures/, imported when the figure is drawn)
    gets the runs of its first group, nothing when it reads none, or the context itself
    (``context``: figures drawn from evaluations, or from two groups)."""

    groups: tuple[str, ...]
    builder: str
    what: str
    context: bool = False

    def build(self, ctx: Context):
        module, _, name = self.builder.partition(".")
        fn = getattr(importlib.import_module(f"figures.{module}"), name)
        if self.context:
            return fn(ctx)
        return fn(ctx.group(self.groups[0])) if self.groups else fn()


class Context:
    """The runs of a plan, by group (each read once, when first needed).

    With ``given`` (runs read from ``--runs``: a sweep folder or any folder of run
    directories) every group is taken from those runs instead: ``surrogate`` = the
    surrogate runs, ``base`` = the training run with the most objectives (then steps),
    every other group = all training runs. ``allow_run`` false (``--no-run``): a figure that
    derives its data from runs (an evaluation of a checkpoint) fails on a missing one
    instead of launching it.
    """

    def __init__(self, plan: plan.Plan, paths: dict[str, Path],
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


# ----------------------------------------------------------------------------- figures
# Each hands its runs to the one builder of its figure (the claims study hands its own runs
# to the same builders: figures/claims.py).
FIGURES: dict[str, FigureDef] = {
    "fig1-angles": FigureDef(("base",), "training.figure_angles",
                             "weight- vs representation-space angle"),
    "fig2-alignment": FigureDef(("base",), "training.figure_alignment",
                                "every alignment measure of CL vs NSCL, SCL, CE"),
    "fig3-classes": FigureDef(("classes",), "sweeps.figure_classes",
                              "CL-NSCL CKA heatmap, classes x epoch"),
    "fig4-tau": FigureDef(("tau",), "sweeps.figure_tau", "temperature tau in {0.1, 0.5, 1.0}"),
    "fig5-batch": FigureDef(("batch",), "sweeps.figure_batch",
                            "batch size with three learning-rate rules"),
    "fig6-weight-gap": FigureDef(("base",), "training.figure_weight_gap",
                                 "weight gap vs similarity gap"),
    "bound-landscape": FigureDef((), "landscapes.figure_landscape",
                                 "Theorem 1, CKA and RSA bounds vs C, tau, B"),
    "bound-vs-measured": FigureDef(("base", "surrogate"), "measured.build_bound_vs_measured",
                                   "measured gaps against the bounds", context=True),
    "p1-loss-gap": FigureDef(("classes",), "measured.figure_p1",
                             "[P1] loss gap vs C with its bound"),
    "table1-accuracy": FigureDef(("base", "tau"), "accuracy.build_accuracy",
                                 "NCC / LP accuracy, LP vs tau, m-shot accuracy", context=True),
    "p1-fewshot": FigureDef(("base",), "accuracy.build_fewshot",
                            "[P1] few-shot bound vs m-shot error", context=True),
    "fig17-merging": FigureDef(("base",), "accuracy.build_merging",
                               "accuracy along CL -> NSCL weight paths", context=True),
    "fig12-align-acc": FigureDef(("classes", "tau", "base"), "accuracy.build_alignment_accuracy",
                                 "CL-NSCL CKA vs accuracy gap across settings", context=True),
    "appendix-d": FigureDef(("linearization",), "linearization.figure_linearization",
                            "[P2] App. D: L_Sigma, one step's remainder"),
}

ALIASES = {"fig1": "fig1-angles", "fig2": "fig2-alignment", "fig3": "fig3-classes",
           "fig4": "fig4-tau", "fig5": "fig5-batch", "fig6": "fig6-weight-gap",
           "landscape": "bound-landscape", "bvm": "bound-vs-measured", "p1": "p1-loss-gap",
           "table1": "table1-accuracy", "fewshot": "p1-fewshot", "fig17": "fig17-merging",
           "fig12": "fig12-align-acc", "linearization": "appendix-d"}
CLAIMS_LINE = "the claims study's verdicts (with --claims DIR)"


# ----------------------------------------------------------------------------- command line
def _epilog() -> str:
    alias = {v: k for k, v in ALIASES.items()}
    lines = ["figures (alias):"]
    lines += [f"  {name:18s} {alias.get(name, ''):13s} {fd.what}" for name, fd in FIGURES.items()]
    lines.append(f"  {'claims':18s} {'':13s} {CLAIMS_LINE}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    """The command line, generated from the declarations (:data:`CLASSES`)."""
    p = command(PROG, __doc__, *CLASSES, epilog=_epilog())
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the listing's columns
    return p


def _conflict(source: Sources, given: dict) -> str | None:
    """The first pair of options that cannot go together (one sentence), or None;
    ``given``: the options given on the command line."""
    if source.claims is not None and source.runs is not None:
        return (f"Expected one source of runs, got both `--claims` {source.claims!r} and "
                f"`--runs` {source.runs!r}")
    flag = ("--runs" if source.runs is not None else
            "--claims" if source.claims is not None else None)
    if flag is not None:
        for dest in PLAN_ONLY:
            if given.get(dest) not in (None, False):
                value = "" if given[dest] is True else f" {given[dest]!r}"
                opt = _flag_of(dest)
                hint = (f"; to keep the runs of one data set, --select dataset="
                        f"{given[dest]}" if dest == "dataset" and flag == "--runs" else "")
                return (f"Expected `{flag}` without `{opt}`, got `{opt}`{value}: {flag} draws "
                        "from saved runs and launches nothing, so the built-in plan's "
                        f"options do not apply{hint}")
    if given.get("quick") and given.get("size") not in (None, "quick"):
        return (f"Expected `--size` quick with `--quick`, got `--quick` and `--size` "
                f"{given['size']!r}")
    if source.select and source.runs is None:
        return (f"Expected `--select` with `--runs`, got `--select` {source.select[0]!r} "
                "without it (the built-in plan and a claims study keep each figure's runs "
                "apart)")
    return None


def _error(message: str) -> int:
    """One stderr line for an input that cannot be used; exit status 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _message(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split())  # one line


def _declared(p: argparse.ArgumentParser, args: argparse.Namespace, cls):
    """``cls`` from the options given on the command line; a bad value is one line naming
    its flag (exit status 2), any field of :data:`CLASSES` it mentions named by its flag."""
    return options_of(p, args, cls, named=CLASSES)[0]


def main(argv=None) -> int:
    one_line_warnings(PROG)
    p = _parser()
    args = p.parse_args(_joined(sys.argv[1:] if argv is None else list(argv)))
    name = ALIASES.get(_declared(p, args, Figure).name, args.name)
    output = _declared(p, args, Output)
    source = _declared(p, args, Sources)
    gallery = _declared(p, args, Gallery)
    given = {**Gallery.given(args), **Launch.given(args)}
    conflict = _conflict(source, given)
    if conflict:
        p.error(conflict)
    try:
        selected = selection.parse_selection(source.select)
    except selection.FigureInputError as e:
        p.error(str(e))
    if name == "list":
        for n, fd in FIGURES.items():
            print(f"{n:18s} {fd.what}")
        print(f"{'claims':18s} {CLAIMS_LINE}")
        return 0
    if source.claims is not None or name == "claims":  # the claims study's figures
        return _claims(name, output, source.claims)
    launch = _declared(p, args, Launch)  # CUDA checked once, before any run starts
    names = list(FIGURES) if name == "all" else [name]
    try:
        out = check_out_dir(output.out, "--out")
    except ValueError as e:
        p.error(str(e))
    t0 = time.perf_counter()
    size = gallery.resolved_size()
    gallery_plan = plan.gallery_plan(size, dataset=gallery.dataset)
    given_runs, paths, needed = None, {}, []
    try:
        if source.runs is not None:
            given_runs = io.runs_from(source.runs)
            if not given_runs:
                raise FileNotFoundError(f"Expected run directories under `--runs`, got none "
                                        f"in {source.runs!r}")
            given_runs = selection.select_runs(given_runs, selected)
        else:
            needed = plan.unique(s for n in names for g in FIGURES[n].groups
                                 for s in gallery_plan.groups()[g])
            cache = Path(gallery.cache) if gallery.cache else out / "runs"
            if needed and not source.no_run:
                check_out_dir(cache, "--cache")
            workers = launch.workers or max(1, min(len(needed), os.cpu_count() or 1))
            previous = signal.signal(signal.SIGTERM, terminate_as_interrupt)
            try:  # a scheduler's stop is a Ctrl+C: the launcher stops its workers
                paths = plan.ensure(cache, needed, allow_run=not source.no_run,
                                    device=None if launch.device == "auto" else launch.device,
                                    workers=workers, executor=Launch.given(args).get(
                                        "executor"))
            finally:
                signal.signal(signal.SIGTERM, previous)
        ctx = Context(gallery_plan, paths, given_runs, allow_run=not source.no_run)
        for spec in needed:
            ctx.load(spec)  # every run read once, before anything is drawn
    except plan.RunFailedError as e:
        print(f"{PROG}: {_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished runs are kept and the next call resumes the "
              "others", file=sys.stderr)
        return 130
    except (RunFileError, FileNotFoundError, ValueError) as e:
        return _error(_message(e))
    rc, _ = _draw(names, lambda n: FIGURES[n].build(ctx), out, output,
                  (RunFileError, FileNotFoundError, KeyError, selection.FigureInputError))
    if rc:
        return rc
    print(f"figures: done in {time.perf_counter() - t0:.1f}s ({size} plan)")
    return 0


def _claims(name: str, output: Output, folder: str | None) -> int:
    """``NAME --claims DIR``: the claims study's figures (:mod:`figures.claims`: its summary,
    and its runs handed to the gallery's builders) and ``figure-captions.md``; under ``all``
    a figure the study cannot make is skipped with one line, else it is an error."""
    from figures import claims

    if name != "all" and name not in claims.CLAIMS_FIGURES:
        return _error(f"Expected a figure of the claims study ('all' or one of "
                      f"{', '.join(claims.CLAIMS_FIGURES)}) with `--claims`, got {name!r}")
    if folder is None:
        return _error(f"Expected `--claims DIR` (a claims-study folder) for the figure "
                      f"{name!r}, got none")
    try:
        out = check_out_dir(output.out, "--out")
        study = claims.load_study(folder)
    except (ValueError, FileNotFoundError, RunFileError, KeyError) as e:
        return _error(_message(e))
    t0 = time.perf_counter()
    names = list(claims.CLAIMS_FIGURES) if name == "all" else [name]
    rc, drawn = _draw(names, lambda n: claims.CLAIMS_FIGURES[n][0](study), out, output,
                      (FileNotFoundError, RunFileError, KeyError, ValueError),
                      skip=name == "all")
    if rc:
        return rc
    if name == "all" or len(drawn) > 1:
        from cl_nscl_align.atomic import atomic_write_text

        atomic_write_text(out / "figure-captions.md", claims.captions(study, drawn))
    skipped = [n for n in names if n not in drawn]
    print(f"figures: done in {time.perf_counter() - t0:.1f}s (claims study {study.path}"
          + (f"; skipped {', '.join(skipped)}" if skipped else "") + ")")
    return 0


def _draw(names: Sequence[str], build, out: Path, output: Output,
          refused: tuple[type[BaseException], ...], *, skip: bool = False
          ) -> tuple[int, list[str]]:
    """Build and save each figure, one line each: ``(exit status, the names drawn)``. A
    figure whose input is ``refused`` is one error line (exit status 2), or, with ``skip``,
    one line saying it was skipped."""
    drawn = []
    with style.style():
        for n in names:
            t1 = time.perf_counter()
            try:
                fig = build(n)
            except refused as e:
                if not skip:
                    return _error(f"{n}: {_message(e)}"), drawn
                print(f"{n:18s} skipped: {_message(e)}")
                continue
            rc = _save(fig, out, n, output.format_list(), output.dpi)
            if rc:
                return rc, drawn
            drawn.append(n)
            print(f"{n:18s} {time.perf_counter() - t1:5.1f}s  "
                  + ", ".join(str(out / f"{n}.{f}") for f in output.format_list()))
    return 0, drawn


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
