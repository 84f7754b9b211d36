"""``python -m empirics.claims``: a verdict on every claim of THEORY.md s13, with intervals.

    python -m empirics.claims --out DIR [--size quick|medium|full|tiny] [--seeds N]
        [--protocol FILE] [--only C1,C3] [--executor serial|local|ray] [--workers K]
        [--data-root PATH] [--device auto|cpu|cuda] [--no-figure]

Writes ``DIR/claims.csv`` (one row per claim and setting), ``DIR/claims.md`` (the table
with the paper's number beside ours, and the verdict rule), ``DIR/claims_seeds.csv``,
``DIR/runs.csv`` (the manifest), ``DIR/protocol.json`` and, unless ``--no-figure``, the
summary figure ``DIR/claims.png`` / ``.pdf`` (drawn by ``python -m figures claims``, run as
a subprocess: empirics never imports figures). The runs live in ``DIR/runs``; a second
call, after an interruption or not, reruns nothing that finished.

Exit status: 0 when every run and the figure were made; 1 when a run (or the figure)
failed (the statistics that need it are NaN for its seed, and say so); 130 when
interrupted (Ctrl+C or SIGTERM; rerun the same command to resume); 2 on a usage error
(one line naming the argument and the value).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from cl_nscl_align.cli import ArgumentParser, terminate_as_interrupt
from empirics.runs import EXECUTORS, check_out_dir
from empirics.studies.claims.protocol import (
    CLAIMS,
    PROTOCOL_DIR,
    SIZES,
    file_sha256,
    load_protocol,
    protocol_path,
)

__all__ = ["main"]

PROG = "python -m empirics.claims"


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="A verdict, with an interval over seeds, on "
                       "every empirical claim of THEORY.md s13 (docs/claims.md).",
                       epilog="Protocols: empirics/studies/claims/protocols/<size>.toml; "
                              "statistics and verdict rule: docs/claims.md.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the study folder: outputs, and the runs in DIR/runs (required)")
    p.add_argument("--size", choices=SIZES, default="quick",
                   help="the committed protocol: quick (1.5-5 min on 2 cores, 3 seeds), "
                        "medium (11-30 min, 5 seeds), full (the GPU protocol), tiny "
                        "(tests) (default: quick)")
    p.add_argument("--protocol", default=None, metavar="FILE",
                   help="a protocol TOML file instead of --size (default: none)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1, N >= 2, instead of the protocol's (default: the "
                        "protocol's)")
    p.add_argument("--only", default=None, metavar="C1,C3",
                   help="test only these claims (runs they share are still shared) "
                        "(default: the protocol's claims)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="serial: in this process; local: a process pool; ray: Ray tasks "
                        "(default: local)")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="runs in parallel (default: min(runs, CPUs))")
    p.add_argument("--data-root", default=None, metavar="PATH",
                   help="local data of a protocol whose dataset is cifar10, cifar100 or "
                        "imagefolder (default: none)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device of every run; auto uses CUDA when present (default: auto)")
    p.add_argument("--no-figure", action="store_true",
                   help="skip the summary figure (default: draw DIR/claims.png and .pdf)")
    return p



def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it (claims.md is
    committed; an absolute path would name this machine)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def protocol_state(path: Path) -> str:
    """What claims.md says of the protocol file: ``committed`` (one of the committed files,
    unchanged in git, or no git to ask), ``edited since its commit``, ``not yet committed``,
    or ``a protocol of the user``."""
    if path.resolve().parent != PROTOCOL_DIR.resolve():
        return "a protocol of the user"
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--", path.name],
                              capture_output=True, text=True, cwd=PROTOCOL_DIR, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return "committed"
    flags = proc.stdout.strip()[:2] if proc.returncode == 0 else ""
    if not flags:
        return "committed"
    return "not yet committed" if flags == "??" else "edited since its commit"


def draw_figure(out: Path) -> int:
    """``python -m figures claims --claims DIR --out DIR`` as a subprocess; its status."""
    cmd = [sys.executable, "-m", "figures", "claims", "--claims", str(out), "--out",
           str(out)]
    return subprocess.run(cmd, stdout=sys.stderr, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0, 1 a run failed, 130 interrupted)."""
    p = _parser()
    a = p.parse_args(argv)
    if a.seeds is not None and a.seeds < 2:
        p.error(f"Expected `--seeds` >= 2 (an interval needs two seeds), got {a.seeds}")
    if a.workers is not None and a.workers < 1:
        p.error(f"Expected `--workers` >= 1, got {a.workers}")
    only = None
    if a.only is not None:
        only = [c.strip().upper() for c in a.only.split(",") if c.strip()]
        bad = [c for c in only if c not in CLAIMS]
        if bad or not only:
            p.error(f"Expected `--only` among {', '.join(CLAIMS)}, got {a.only!r}")
    try:
        path = Path(a.protocol) if a.protocol else protocol_path(a.size)
        protocol = load_protocol(a.size, file=path, seeds=a.seeds, data_root=a.data_root,
                                 claims=only)
        from empirics.studies.claims.plan import plan_runs

        plan_runs(protocol)  # every run configuration valid before any work
        out = check_out_dir(a.out, "--out")
        if a.executor == "ray":
            from empirics.runs.launcher import import_ray

            import_ray()
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        p.error(" ".join(str(exc).split()))
    from empirics.studies.claims.study import run_study, verdict_lines

    command = "python -m empirics.claims " + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, terminate_as_interrupt)  # a scheduler's stop = Ctrl+C
    try:
        result = run_study(protocol, out, executor=a.executor, workers=a.workers,
                           device=None if a.device == "auto" else a.device, progress=False,
                           command=command, protocol_file=_shown(path),
                           protocol_sha256=file_sha256(path),
                           protocol_state=protocol_state(path))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished runs are kept, rerun the same command to "
              "resume", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:
        p.error(" ".join(str(exc).split()))
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in verdict_lines(result.table):
        print(line)
    status = 0
    for res in result.failed:
        print(f"{PROG}: run {res.name} failed: {res.error} (traceback in "
              f"{res.path / 'error.txt'})", file=sys.stderr)
        status = 1
    if not a.no_figure and draw_figure(out) != 0:
        print(f"{PROG}: the summary figure failed (python -m figures claims --claims "
              f"{out} --out {out})", file=sys.stderr)
        status = 1
    print(f"claims: {out / 'claims.csv'}, {out / 'claims.md'} ({result.wall:.0f} s)",
          file=sys.stderr)
    return status
