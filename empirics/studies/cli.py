"""The command line of the studies behind docs/surrogate.md.

    python -m empirics.studies tightness         [--out DIR] [--steps 200] [--quick]
    python -m empirics.studies surrogate-trends  [--out DIR] [--seeds 0,1,2] [--quick]
    python -m empirics.studies trainer           [--out DIR] [--seeds 0,1,2] [--quick]
    python -m empirics.studies accuracy|fewshot|merging|alignment-accuracy --runs DIR ...
                                   (Table 1/2, [P1] Prop. 1, Fig. 17, Fig. 12; see
                                   python -m empirics.studies accuracy --help)

Each prints Markdown tables (the ones in docs/surrogate.md). With ``--out DIR`` it also
writes the raw rows as CSV there and keeps the run directories in ``DIR/runs``, so a
second call reuses every finished run. ``trainer`` trains CL and NSCL in lockstep on
synthetic data (one factor of ``C``, ``tau``, ``B`` varied at a time around a base
setting) and, for the same trained pairs, measures ``||Sigma^CL - Sigma^NSCL||_F`` on
reference sets of growing ``N`` against the run's own Theorem 1 ([P2], THEORY.md s6):
the "real networks" table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cl_nscl_align.cli import ArgumentParser, one_line_warnings
from empirics.runs import EXECUTORS, check_out_dir
from empirics.studies import tightness, trends
from empirics.studies.experiments import EXPERIMENTS
from empirics.studies.experiments import main as experiments_main
from empirics.studies.report import aggregate, markdown_table, write_csv

__all__ = ["main"]

STUDIES = ("tightness", "surrogate-trends", "trainer", *EXPERIMENTS)
#: The largest surrogate steps and workers accepted (a larger number is a typo).
MAX_STEPS = 100000
MAX_WORKERS = 1024


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m empirics.studies", description=__doc__.replace("``", ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=STUDIES, help="which study to run")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write the raw rows as CSV and keep the runs in DIR/runs (default: "
                        "print only; runs in a temporary folder)")
    p.add_argument("--seeds", default="0,1,2",
                   help="comma list of root seeds of the trend studies (default: 0,1,2)")
    p.add_argument("--steps", type=int, default=200,
                   help="surrogate steps of the tightness study (default: 200)")
    p.add_argument("--quick", action="store_true",
                   help="a much smaller grid, a smoke test (default: the full study)")
    p.add_argument("--executor", choices=EXECUTORS, default="serial",
                   help="how the runs are launched: serial, local process pool or Ray "
                        "(default: serial)")
    p.add_argument("--workers", type=int, default=None,
                   help="local pool size or the CPUs of a local Ray instance (default: "
                        "min(runs, CPUs))")
    return p


def main(argv=None) -> int:
    """Run one study and print its tables; 0 on success, 2 on a usage error."""
    one_line_warnings("python -m empirics.studies")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in EXPERIMENTS:  # their own flags: empirics.studies.experiments
        return experiments_main(args)
    p = _parser()
    a = p.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in a.seeds.split(",") if s.strip())
    except ValueError:
        p.error(f"Expected `--seeds` as a comma list of integers, got {a.seeds!r}")
    if not seeds or min(seeds) < 0:
        p.error(f"Expected `--seeds` as integers >= 0, got {a.seeds!r}")
    if not 1 <= a.steps <= MAX_STEPS:
        p.error(f"Expected `--steps` in [1, {MAX_STEPS}], got {a.steps}")
    if a.workers is not None and not 1 <= a.workers <= MAX_WORKERS:
        p.error(f"Expected `--workers` in [1, {MAX_WORKERS}], got {a.workers}")
    out = None
    if a.out is not None:
        if not a.out.strip():
            p.error(f"Expected `--out` to be a folder, got {a.out!r}")
        try:
            out = check_out_dir(a.out)
        except ValueError as exc:
            p.error(str(exc))
    launch = dict(out=out, executor=a.executor, workers=a.workers)
    if a.study == "tightness":
        grid = tightness.QUICK_GRID if a.quick else tightness.TIGHTNESS_GRID
        rows = tightness.tightness_rows(grid, steps=20 if a.quick else a.steps, **launch)
        print(markdown_table(rows, tightness.COLUMNS, {"cka": ".4f"}))
        if out:
            write_csv(rows, Path(out) / "tightness.csv")
    elif a.study == "surrogate-trends":
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
