"""``python -m figures``: regenerate the paper-figure analogues and the bound-vs-measured views.

    python -m figures all --out DIR [--quick]      # every figure, PNG and PDF
    python -m figures fig3-classes --out DIR       # one figure
    python -m figures list                         # the figure names

Runs a figure needs are launched first when they are not already in the cache (``--cache``,
default ``DIR/runs``), keyed by their configuration; a second call trains nothing.
``--no-run`` refuses to train and fails on a missing run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from cl_nscl_align.cli import ArgumentParser

matplotlib.use("Agg")  # files only; never opens a window

from figures import io, runs, style  # noqa: E402


@dataclass(frozen=True)
class FigureDef:
    groups: tuple[str, ...]  # run groups of the plan it reads
    build: Callable  # (Context) -> matplotlib Figure
    what: str


class Context:
    """Loaded runs of a plan, by group (loaded lazily, once).

    With ``given`` (runs read from ``--runs``: a sweep folder or any folder of run
    directories) every group is taken from those runs instead: ``surrogate`` = the
    surrogate runs, ``base`` = the training run with the most objectives (then steps),
    every other group = all training runs.
    """

    def __init__(self, plan: runs.Plan, paths: dict[str, Path],
                 given: list[io.RunData] | None = None):
        self.plan = plan
        self.paths = paths
        self.given = given
        self._cache: dict[str, io.RunData] = {}

    def load(self, spec: runs.RunSpec) -> io.RunData:
        k = spec.key()
        if k not in self._cache:
            self._cache[k] = io.load_run(self.paths[k])
        return self._cache[k]

    def group(self, name: str) -> list[io.RunData]:
        if self.given is None:
            return [self.load(s) for s in self.plan.groups()[name]]
        sur = [r for r in self.given if io.is_surrogate(r)]
        train = [r for r in self.given if not io.is_surrogate(r)]
        if name == "surrogate":
            found = sur
        elif name == "base":
            found = sorted(train, key=lambda r: (len(r.cfg("objectives", default=[])),
                                                 r.cfg("steps", default=0) or 0))[-1:]
        else:
            found = train
        if not found:
            raise FileNotFoundError(f"Expected {name} runs under --runs, got none")
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

    sur = io.surrogate_trace(ctx.group("surrogate")[0])
    return measured.figure_bound_vs_measured(ctx.group("base")[0], sur)


def _p1(ctx):
    from figures import measured

    return measured.figure_p1(ctx.group("classes"))


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
}

ALIASES = {"fig1": "fig1-angles", "fig2": "fig2-alignment", "fig3": "fig3-classes",
           "fig4": "fig4-tau", "fig5": "fig5-batch", "fig6": "fig6-weight-gap",
           "landscape": "bound-landscape", "bvm": "bound-vs-measured", "p1": "p1-loss-gap"}


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m figures", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="figures: " + ", ".join(FIGURES))
    p.add_argument("name", help="'all', 'list', or a figure name (or alias fig1..fig6, "
                   "landscape, bvm, p1)")
    p.add_argument("--out", default="figures-out", help="output folder (default figures-out)")
    p.add_argument("--quick", action="store_true", help="tiny runs; whole gallery in minutes")
    p.add_argument("--size", choices=tuple(runs.SIZES), default=None,
                   help="run sizes (overrides --quick; 'tiny' is for smoke tests)")
    p.add_argument("--cache", default=None, help="run cache folder (default OUT/runs)")
    p.add_argument("--dataset", default="synthetic", choices=("synthetic", "digits"),
                   help="embedded dataset of the trainer runs (for CIFAR or image folders, "
                        "run a sweep and pass it with --runs)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default <= 2)")
    p.add_argument("--no-run", action="store_true", help="never train; fail on a missing run")
    p.add_argument("--runs", default=None,
                   help="draw from these runs instead of the plan: a sweep folder (its "
                        "results.csv) or a folder of run directories; trains nothing")
    p.add_argument("--formats", default="png,pdf", help="comma list of output formats")
    p.add_argument("--dpi", type=int, default=style.PNG_DPI, help="PNG resolution")
    return p


def main(argv=None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    if a.name == "list":
        for name, fd in FIGURES.items():
            print(f"{name:18s} {fd.what}")
        return 0
    name = ALIASES.get(a.name, a.name)
    if name != "all" and name not in FIGURES:
        p.error(f"Expected `name` to be 'all', 'list' or one of {', '.join(FIGURES)}, "
                f"got {a.name!r}")
    if a.workers is not None and a.workers < 1:
        p.error(f"Expected `--workers` >= 1, got {a.workers!r}")
    if a.dpi < 10:
        p.error(f"Expected `--dpi` >= 10, got {a.dpi!r}")
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        p.error(f"Expected `--formats` among png, pdf, svg, got {a.formats!r}")
    size = a.size or ("quick" if a.quick else "full")
    names = list(FIGURES) if name == "all" else [name]
    out = Path(a.out)
    cache = Path(a.cache) if a.cache else out / "runs"
    t0 = time.perf_counter()
    try:
        plan = runs.make_plan(size, dataset=a.dataset)
    except ValueError as e:
        p.error(str(e))
    needed: list[runs.RunSpec] = []
    for n in names:
        for g in FIGURES[n].groups:
            needed.extend(plan.groups()[g])
    given = None
    try:
        if a.runs is not None:
            given = io.runs_from(a.runs)
            if not given:
                raise FileNotFoundError(f"Expected run directories under --runs, got none in "
                                        f"{a.runs!r}")
            paths = {}
        else:
            paths = runs.ensure(cache, needed, device=a.device,
                                workers=a.workers or runs.default_workers(),
                                allow_run=not a.no_run)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"figures: {e}", file=sys.stderr)
        return 1
    ctx = Context(plan, paths, given)
    with style.style():
        for n in names:
            t1 = time.perf_counter()
            try:
                fig = FIGURES[n].build(ctx)
            except (FileNotFoundError, KeyError) as e:
                print(f"figures: {n}: {e}", file=sys.stderr)
                return 1
            written = style.save(fig, out, n, formats=formats, dpi=a.dpi)
            print(f"{n:18s} {time.perf_counter() - t1:5.1f}s  "
                  + ", ".join(str(w) for w in written))
    print(f"figures: done in {time.perf_counter() - t0:.1f}s ({size} plan)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
