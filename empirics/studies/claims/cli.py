"""``python -m empirics.claims``: a verdict on every claim of THEORY.md s13.

    python -m empirics.claims --out DIR [--size quick|medium|full|tiny | --protocol FILE]
        [--seeds N] [--only C1,C3] [--executor serial|local|ray] [--workers K]
        [--data-root PATH] [--device auto|cpu|cuda]

Writes ``DIR/claims.csv`` (one row per claim and setting: the six primaries and the
secondaries), ``DIR/claims_seeds.csv``, ``DIR/theorem_checks.csv``, ``DIR/claims.md``,
``DIR/runs.csv`` (the manifest), ``DIR/protocol.json`` and ``DIR/study.json``. The runs
live in ``DIR/runs``; a second call, after an interruption or not, reruns nothing that
finished. Drawing is a separate step: ``python -m figures claims --claims DIR --out DIR``.

Every argument is checked once, before any run (``--device cuda`` without CUDA, a
``--data-root`` that is not a readable data folder, an empty protocol file, ...).

Exit status: 0 when every run was made; 1 when a run failed (the statistics that need it
are NaN for its seed, and say so); 130 when interrupted (Ctrl+C or SIGTERM; rerun the same
command to resume); 2 on a usage error (one line naming the argument and the value).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from cl_nscl_align.cli import ArgumentParser, one_line_warnings, terminate_as_interrupt
from empirics.runs import EXECUTORS, check_out_dir
from empirics.studies.claims.protocol import (
    CLAIMS,
    SIZES,
    file_sha256,
    load_protocol,
    protocol_path,
    protocol_state,
)

__all__ = ["MAX_SEEDS", "MAX_WORKERS", "main"]

PROG = "python -m empirics.claims"
#: The most seeds and workers a command line may ask for (a larger number is a typo, and
#: would plan millions of runs or processes before failing).
MAX_SEEDS = 10000
MAX_WORKERS = 1024


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="A verdict on every empirical claim of "
                       "THEORY.md s13: one pre-registered primary per claim, Holm, "
                       "equivalence and replication (docs/claims.md).",
                       epilog="Protocols: empirics/studies/claims/protocols/<size>.toml; "
                              "statistics and verdict rule: docs/claims.md.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the study folder: outputs, and the runs in DIR/runs (required)")
    p.add_argument("--size", choices=SIZES, default=None,
                   help="the committed protocol: quick (the pilot, at most 5 min on 2 "
                        "cores), medium (the committed results, at most 45 min), full (the "
                        "GPU protocol), tiny (tests) (default: quick)")
    p.add_argument("--protocol", default=None, metavar="FILE",
                   help="a protocol TOML file instead of --size (default: none)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1, N >= 4 (two seed sets of at least 2), instead of the "
                        "protocol's (default: the protocol's)")
    p.add_argument("--only", default=None, metavar="C1,C3",
                   help="test only these claims (runs they share are still shared; Holm "
                        "is then over their primaries) (default: the protocol's claims)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="serial: in this process; local: a process pool; ray: Ray tasks "
                        "(default: local)")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="runs in parallel (default: min(runs, CPUs))")
    p.add_argument("--data-root", default=None, metavar="PATH",
                   help="local data of a protocol that reads it (full: CIFAR-10 instead of "
                        "the synthetic images) (default: none)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device of every run; auto uses CUDA when present (default: auto)")
    p.add_argument("--no-figure", action="store_true",
                   help="no effect, kept for earlier command lines: the study draws no "
                        "figure (python -m figures claims --claims DIR draws it)")
    return p


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it (claims.md is
    committed; an absolute path would name this machine)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _check_device(p: argparse.ArgumentParser, device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("Expected a CUDA device for `--device` 'cuda', got none "
                    "(torch.cuda.is_available() is False; use --device auto or cpu)")


def _check_data_root(p: argparse.ArgumentParser, root: str | None, protocol) -> None:
    """The data folder, read once: its classes (the loaders name a missing file)."""
    if root is None:
        return
    if not Path(root).is_dir():
        p.error(f"Expected `--data-root` to be a folder of local data, got {root!r} (no "
                "such folder)")
    from empirics.data import num_available_classes

    try:
        num_available_classes(protocol.base("dataset"), root=root)
    except (ValueError, FileNotFoundError, OSError) as exc:
        p.error(f"Expected `--data-root` {root!r} to hold {protocol.base('dataset')} data, "
                f"got: {' '.join(str(exc).split())}")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0, 1 a run failed, 130 interrupted)."""
    one_line_warnings(PROG)
    p = _parser()
    a = p.parse_args(argv)
    if a.size is not None and a.protocol is not None:
        p.error(f"Expected one of `--size` and `--protocol`, got both ({a.size!r} and "
                f"{a.protocol!r})")
    if a.seeds is not None and not 4 <= a.seeds <= MAX_SEEDS:
        p.error(f"Expected `--seeds` in [4, {MAX_SEEDS}] (two seed sets of at least two "
                f"seeds), got {a.seeds}")
    if a.workers is not None and not 1 <= a.workers <= MAX_WORKERS:
        p.error(f"Expected `--workers` in [1, {MAX_WORKERS}], got {a.workers}")
    if not a.out.strip():
        p.error(f"Expected `--out` to be a folder, got {a.out!r}")
    if a.protocol is not None and not a.protocol.strip():
        p.error(f"Expected `--protocol` to be a file, got {a.protocol!r}")
    if a.data_root is not None and not a.data_root.strip():
        p.error(f"Expected `--data-root` to be a folder, got {a.data_root!r}")
    only = None
    if a.only is not None:
        only = [c.strip().upper() for c in a.only.split(",")]
        bad = [c for c in only if c not in CLAIMS]
        if bad or not only:
            p.error(f"Expected `--only` as a comma list among {', '.join(CLAIMS)}, got "
                    f"{a.only!r}")
    _check_device(p, a.device)
    try:
        path = Path(a.protocol) if a.protocol else protocol_path(a.size or "quick")
        protocol = load_protocol(a.size, file=path, seeds=a.seeds, claims=only)
    except FileNotFoundError as exc:
        p.error(f"Expected `--protocol` to be a protocol file, got {str(path)!r}: "
                f"{' '.join(str(exc).split())}")
    except (ValueError, TypeError) as exc:
        where = "`--protocol`" if a.protocol else f"the {a.size or 'quick'} protocol"
        p.error(f"{' '.join(str(exc).split())} ({where} {str(path)!r})")
    try:
        protocol = protocol.with_data_root(a.data_root)
    except ValueError as exc:
        p.error(" ".join(str(exc).split()))
    _check_data_root(p, a.data_root, protocol)
    try:
        from empirics.studies.claims.plan import plan_runs

        plan_runs(protocol)  # every run configuration valid before any work
        out = check_out_dir(a.out, "--out")
        if a.executor == "ray":
            from empirics.runs.launcher import import_ray

            import_ray()
    except (ValueError, TypeError, ImportError) as exc:
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
    for line in verdict_lines(result.table, result.checks):
        print(line)
    status = 0
    for res in result.failed:
        print(f"{PROG}: run {res.name} failed: {res.error} (traceback in "
              f"{res.path / 'error.txt'})", file=sys.stderr)
        status = 1
    print(f"claims: {out / 'claims.csv'}, {out / 'claims.md'} ({result.wall:.0f} s); draw "
          f"with python -m figures claims --claims {out} --out {out}", file=sys.stderr)
    return status
