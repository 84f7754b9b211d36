"""``python -m empirics.studies``: every study's command line, generated from declarations.

    python -m empirics.studies tightness         [--out DIR] [--steps 200] [--quick]
    python -m empirics.studies surrogate-trends  [--out DIR] [--seeds 0,1,2] [--quick]
    python -m empirics.studies trainer           [--out DIR] [--seeds 0,1,2] [--quick]
    python -m empirics.studies accuracy|fewshot|merging|alignment-accuracy --runs DIR ...
                                   (Table 1/2, [P1] Prop. 1, Fig. 17, Fig. 12)
    python -m empirics.studies docs claims|accuracy [--write]   (the docs' generated tables)

The first three print the Markdown tables of docs/surrogate.md. With ``--out DIR`` each
study also writes its raw rows as CSV there and keeps the run directories in ``DIR/runs``,
so a second call reuses every finished run. ``trainer`` trains CL and NSCL in lockstep on
synthetic data (one factor of ``C``, ``tau``, ``B`` varied at a time around a base setting)
and, for the same trained pairs, measures ``||Sigma^CL - Sigma^NSCL||_F`` on reference sets
of growing ``N`` against the run's own Theorem 1 ([P2], THEORY.md s6): the "real networks"
table. The experiment studies are :mod:`empirics.studies.experiments`.

Every parser is built by :func:`cl_nscl_align.cli.commands` from the :class:`Options`
classes below and those of the studies (:class:`~empirics.studies.accuracy.AccuracyOptions`,
:class:`~empirics.studies.merging.MergingOptions`,
:class:`~empirics.studies.alignment_accuracy.Fig12Options`), with the launch flags of
:class:`empirics.runs.LaunchOptions`. :func:`cl_nscl_align.cli.options_of` builds the
declared options from the parsed flags; a refused value is one line naming its flag, exit
status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import commands, fail, one_line_warnings, options_of
from cl_nscl_align.options import Options, in_range, option, path_text
from empirics.runs.launcher import LaunchOptions

__all__ = ["DOC_TARGETS", "STUDIES", "DocsOptions", "OutOptions", "SeedsOptions",
           "SourceOptions", "OwnRunsOptions", "SurrogateStudyOptions", "docs_main", "main"]

PROG = "python -m empirics.studies"
#: The studies of ``docs/surrogate.md``.
SURROGATE_STUDIES = ("tightness", "surrogate-trends", "trainer")
#: The experiment studies (:mod:`empirics.studies.experiments`).
EXPERIMENTS = ("accuracy", "fewshot", "merging", "alignment-accuracy")
#: Every study of ``python -m empirics.studies``.
STUDIES = (*SURROGATE_STUDIES, *EXPERIMENTS)
#: The documents whose tables ``docs`` generates.
DOC_TARGETS = ("claims", "accuracy")
LAUNCH_NOTE = ("Runs (and evaluations) launch in a local process pool by default "
               "(--executor local, min(runs, CPUs) workers): a study's runs are independent, "
               "so a pool keeps every core busy; --executor serial runs them one after the "
               "other in this process.")


# ----------------------------------------------------------------------------- declarations
def _seed_list(name: str, value: str) -> None:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"Expected `{name}` as a comma list of integers, got {value!r}"
                         ) from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"Expected `{name}` as integers >= 0, got {value!r}")


@dataclass(frozen=True)
class OutOptions(Options):
    """output"""

    out: str | None = option(None, "write the tables as CSV in DIR and keep the runs (and "
                             "evaluations) in DIR/runs (DIR/evaluations)", metavar="DIR",
                             check=path_text, default_text="print only; a temporary folder",
                             result=False)


@dataclass(frozen=True)
class SeedsOptions(Options):
    """seeds"""

    seeds: str = option("0,1,2", "comma list of root seeds (the trend studies, and the "
                        "experiment studies' own runs)", check=_seed_list, metavar="0,1,2")

    def seed_list(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.seeds.split(",") if s.strip())


@dataclass(frozen=True)
class SurrogateStudyOptions(Options):
    """the studies of docs/surrogate.md"""

    steps: int = option(200, "surrogate steps of the tightness study",
                        check=in_range(1, 100000))
    quick: bool = option(False, "a much smaller grid, a smoke test", switch=True,
                         default_text="the full study")


@dataclass(frozen=True)
class SourceOptions(Options):
    """the runs to evaluate"""

    runs: str | None = option(None, "evaluate the finished runs under DIR (a claims folder "
                              "with runs.csv, a sweep folder with results.csv, or run "
                              "directories)", metavar="DIR", check=path_text,
                              default_text="none, train the study's own runs")
    only: str | None = option(None, "with --runs on a claims-study folder: only the runs its "
                              "runs.csv lists for these claims", metavar="C1,C3",
                              default_text="every run")


def _positive_all(name: str, value: tuple[float, ...]) -> None:
    if any(not v > 0 for v in value):
        raise ValueError(f"Expected `{name}` > 0, got {','.join(map(str, value))!r}")


def _classes(name: str, value: tuple[int, ...]) -> None:
    if any(v < 2 for v in value):
        raise ValueError(f"Expected `{name}` as integers >= 2, got "
                         f"{','.join(map(str, value))!r}")


def _some(what: str):
    def check(name: str, value: tuple) -> None:
        if not value:
            raise ValueError(f"Expected at least one {what} in `{name}`, got none")

    return check


@dataclass(frozen=True)
class OwnRunsOptions(Options):
    """the study's own runs (without --runs)"""

    size: str = option("quick", "run size of the study's own runs",
                       choices=lambda: tuple(_experiment_sizes()))
    datasets: tuple[str, ...] = option(("digits", "mnist", "synthetic"), "data sets",
                                       choices=lambda: _datasets(), check=_some("data set"))
    taus: tuple[float, ...] | None = option(None, "temperatures of the Table 2 runs on the "
                                            "first data set", check=_positive_all,
                                            default_text="0.1,0.5,1.0 for accuracy, none "
                                            "otherwise")
    classes: tuple[int, ...] | None = option(None, "class counts of extra settings on the "
                                             "first data set (Fig. 12)", check=_classes,
                                             default_text="2,5 for alignment-accuracy, none "
                                             "otherwise")
    data_root: str | None = option(None, "local folder of the CIFAR data", metavar="PATH",
                                   check=path_text)

    #: Each study's own default of a list given as ``None``.
    DEFAULTS = {"taus": {"accuracy": (0.1, 0.5, 1.0)}, "classes": {"alignment-accuracy": (2, 5)}}

    def of(self, name: str, study: str) -> tuple:
        """``taus`` or ``classes`` for ``study`` (its default where not given)."""
        value = getattr(self, name)
        return tuple(self.DEFAULTS[name].get(study, ())) if value is None else value


def _experiment_sizes():
    from empirics.studies.plan import EXPERIMENT_SIZES

    return EXPERIMENT_SIZES


def _datasets() -> tuple[str, ...]:
    from empirics.studies.experiments import DATASETS

    return DATASETS


@dataclass(frozen=True)
class DocTarget(Options):
    """the document"""

    target: str = option("claims", "claims (docs/claims.md) or accuracy (docs/accuracy.md)",
                         choices=DOC_TARGETS, positional=True)


@dataclass(frozen=True)
class DocsOptions(Options):
    """the generated tables"""

    write: bool = option(False, "regenerate the document's blocks", switch=True,
                         default_text="check them, exit 1 if stale", result=False)
    readme: bool = option(False, "claims: print the README's claims table", switch=True,
                          default_text="off", result=False)
    claims: str | None = option(None, "claims: print the tables of the study folder DIR",
                                metavar="DIR", result=False)

    def check(self) -> None:
        given = [f"`{n}`" for n, v in (("write", self.write), ("readme", self.readme),
                                         ("claims", self.claims is not None)) if v]
        if len(given) > 1:
            raise ValueError(f"Expected one of `write`, `readme` and `claims`, got "
                             f"{' and '.join(given)}")


def _study_classes(study: str) -> tuple[type, ...]:
    from empirics.studies.accuracy import AccuracyOptions
    from empirics.studies.alignment_accuracy import Fig12Options
    from empirics.studies.merging import MergingOptions

    if study in SURROGATE_STUDIES:
        return (OutOptions, SeedsOptions, SurrogateStudyOptions, LaunchOptions)
    own = (SourceOptions, OutOptions, OwnRunsOptions, SeedsOptions, LaunchOptions)
    return own + {"accuracy": (AccuracyOptions,), "fewshot": (AccuracyOptions,),
                  "merging": (MergingOptions,),
                  "alignment-accuracy": (AccuracyOptions, Fig12Options)}[study]


HELP = {
    "tightness": "measured gap over every bound of the surrogate (docs/surrogate.md s3)",
    "surrogate-trends": "the surrogate's alignment against C, tau, B (docs/surrogate.md s4)",
    "trainer": "trained CL-NSCL pairs against C, tau, B, and real networks' gaps against "
               "Theorem 1 (docs/surrogate.md s4-5)",
    "accuracy": "Table 1 and Table 2 analogues and m-shot accuracy (docs/accuracy.md)",
    "fewshot": "m-shot accuracy against [P1] Proposition 1 (docs/accuracy.md)",
    "merging": "Fig. 17 analogue: merging CL's weights with another objective's",
    "alignment-accuracy": "Fig. 12 analogue: CL-NSCL CKA against the accuracy gap",
    "docs": "check (or --write) the generated tables of docs/claims.md or docs/accuracy.md",
}


def parser() -> argparse.ArgumentParser:
    """The parser of ``python -m empirics.studies``, one subcommand per study and ``docs``."""
    subs = {s: (HELP[s], _study_classes(s)) for s in STUDIES}
    subs["docs"] = (HELP["docs"], (DocTarget, DocsOptions))
    p = commands(PROG, "The studies behind docs/surrogate.md and docs/accuracy.md, and the "
                 "docs' generated tables.", subs, dest="study", epilog=LAUNCH_NOTE)
    # errors name the argument `study` (argparse shows the choices in the usage anyway)
    next(a for a in p._actions if a.dest == "study").metavar = None
    return p


# ----------------------------------------------------------------------------- run
def main(argv: Sequence[str] | None = None) -> int:
    """Run one study (or ``docs``); 0 done, 1 a run failed or a doc is stale, 2 bad input,
    130 interrupted."""
    one_line_warnings(PROG)
    args = parser().parse_args(argv)
    study = args.study
    prog = f"{PROG} {study}"
    if study == "docs":
        target, opts = options_of(prog, args, DocTarget, DocsOptions)
        return docs_main(target.target, opts, prog)
    if study in EXPERIMENTS:
        from empirics.studies.experiments import run_experiment

        return run_experiment(study, args, prog, _study_classes(study))
    out_opts, seeds, opts, launch = options_of(prog, args, *_study_classes(study))
    out = None
    if out_opts.out is not None:
        from empirics.runs import check_out_dir

        try:
            out = check_out_dir(out_opts.out)
        except ValueError as exc:
            fail(prog, str(exc))
    return _surrogate_study(study, seeds.seed_list(), opts, out,
                            launch.launch_kwargs())


def _surrogate_study(study: str, seeds: tuple[int, ...], a: SurrogateStudyOptions,
                     out: Path | None, launch: dict[str, Any]) -> int:
    from empirics.studies import tightness, trends
    from empirics.studies.report import aggregate, markdown_table, write_csv

    launch = dict(out=out, **launch)
    if study == "tightness":
        grid = tightness.QUICK_GRID if a.quick else tightness.TIGHTNESS_GRID
        rows = tightness.tightness_rows(grid, steps=20 if a.quick else a.steps, **launch)
        print(markdown_table(rows, tightness.COLUMNS, {"cka": ".4f"}))
        if out:
            write_csv(rows, Path(out) / "tightness.csv")
    elif study == "surrogate-trends":
        axes = {"C": (2, 10), "tau": (0.5, 1.0), "B": (16, 32)} if a.quick else None
        base = {**trends.SURROGATE_BASE, "steps": 20, "N": 64} if a.quick else None
        rows = trends.surrogate_trend_rows(seeds, axes, base, **launch)
        print(markdown_table(aggregate(rows), ["factor", "value", "seeds", "sim_gap_mean",
                                               "sim_gap_std", "cka_mean", "cka_std"],
                             {"cka_mean": ".5f", "cka_std": ".1e"}))
        if out:
            write_csv(rows, Path(out) / "surrogate_trends.csv")
    else:
        axes = {"classes": (2, 4)} if a.quick else None
        base = ({**trends.TRAIN_BASE, "train_size": 128, "reference_size": 32, "steps": 4,
                 "eval_every": 4, "checkpoint_every": 4, "warmup_steps": 0, "batch_size": 32}
                if a.quick else None)
        trend, realnet = trends.trainer_rows(
            seeds, axes, base, realnet_N=(32, 64) if a.quick else trends.REALNET_N, **launch)
        agg = aggregate(trend, keys=("sim_gap", "cka", "log10_theorem1"))
        print(markdown_table(agg, ["factor", "value", "seeds", "sim_gap_mean", "sim_gap_std",
                                   "cka_mean", "cka_std", "log10_theorem1_mean"],
                             {"cka_mean": ".3f", "cka_std": ".3f"}))
        print()
        print(markdown_table(realnet, ["C", "tau", "B", "seed", "sum_eta", "N", "sim_gap",
                                       "rms_entry", "theorem1", "covered"]))
        if out:
            write_csv(trend, Path(out) / "trainer_trends.csv")
            write_csv(realnet, Path(out) / "realnet.csv")
    return 0


# ----------------------------------------------------------------------------- docs
def docs_main(target: str, opts: DocsOptions, prog: str) -> int:
    """Check (default) or regenerate (``--write``) the generated blocks of docs/claims.md
    (with the README's claims table) or docs/accuracy.md; ``claims`` also prints the README's
    table (``--readme``) or the tables of any study folder (``--claims DIR``). 0 fresh or
    written, 1 stale."""
    from empirics.studies.report import sync

    if target == "claims":
        from empirics.studies.claims import docs as module

        path, renderers = module.CLAIMS_DOC, module.renderers
        extra = {module.README: module.readme_renderers()}
        if opts.claims is not None:
            folder = Path(opts.claims)
            if not (folder / "claims.csv").is_file():
                fail(prog, f"Expected a study folder with claims.csv at `--claims`, got "
                           f"{opts.claims!r}")
            print(module.folder_tables(folder), end="")
            return 0
        if opts.readme:
            print(module.readme(), end="")
            return 0
    else:
        from empirics.studies import accuracy_docs as module

        if opts.readme or opts.claims is not None:
            fail(prog, "Expected `--readme` and `--claims` only for docs/claims.md (docs "
                       "claims), got them for docs/accuracy.md")
        path, renderers = module.ACCURACY_DOC, module.renderers
        extra = {}
    status = 0
    for doc, blocks in {path: renderers(), **extra}.items():
        stale = sync(doc, blocks, write=opts.write)
        if stale:
            print(f"{prog}: stale blocks of {doc.relative_to(module.ROOT)}: "
                  f"{', '.join(stale)} (run with --write)", file=sys.stderr)
            status = 1
    return status
