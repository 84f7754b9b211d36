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
from dataclasses import dataclass
from pathlib import Path

from cl_nscl_align.cli import command, one_line_warnings, terminate_as_interrupt
from cl_nscl_align.options import Options, option, path_text
from empirics.runs import check_out_dir
from empirics.runs.launcher import LaunchOptions
from empirics.studies.claims.protocol import (
    CLAIMS,
    SIZES,
    file_sha256,
    load_protocol,
    protocol_path,
    protocol_state,
)

__all__ = ["MAX_SEEDS", "ClaimsOptions", "main"]

PROG = "python -m empirics.claims"
#: The most seeds a command line may ask for (a larger number is a typo, and would plan
#: millions of runs before failing).
MAX_SEEDS = 10000


def _seeds(name: str, value: int) -> None:
    if not 4 <= value <= MAX_SEEDS:
        raise ValueError(f"Expected `{name}` in [4, {MAX_SEEDS}] (two seed sets of at least "
                         f"two seeds), got {value}")


def _claims(name: str, value: str) -> None:
    items = [c.strip().upper() for c in value.split(",")]
    if not value or any(c not in CLAIMS for c in items):
        raise ValueError(f"Expected `{name}` as a comma list among {', '.join(CLAIMS)}, got "
                         f"{value!r}")


@dataclass(frozen=True)
class ClaimsOptions(Options):
    """the study"""

    out: str | None = option(None, "the study folder: outputs, and the runs in DIR/runs "
                             "(required)", metavar="DIR", check=path_text, result=False)
    size: str | None = option(None, "the committed protocol: quick (the pilot, at most 5 min "
                              "on 2 cores), medium (the committed results, at most 45 min), "
                              "full (the GPU protocol), tiny (tests)", choices=SIZES,
                              default_text="quick")
    protocol: str | None = option(None, "a protocol TOML file instead of --size",
                                  metavar="FILE", check=path_text)
    seeds: int | None = option(None, "seeds 0..N-1, N >= 4 (two seed sets of at least 2), "
                               "instead of the protocol's", metavar="N", check=_seeds,
                               default_text="the protocol's")
    only: str | None = option(None, "test only these claims (runs they share are still "
                              "shared; Holm is then over their primaries)", metavar="C1,C3",
                              check=_claims, default_text="the protocol's claims")
    data_root: str | None = option(None, "local data of a protocol that reads it (full: "
                                   "CIFAR-10 instead of the synthetic images)", metavar="PATH",
                                   check=path_text)
    no_figure: bool = option(False, "no effect, kept for earlier command lines: the study "
                             "draws no figure (python -m figures claims --claims DIR draws it)",
                             switch=True, default_text="off", result=False)

    def check(self) -> None:
        if self.size is not None and self.protocol is not None:
            raise ValueError(f"Expected one of `size` and `protocol`, got both "
                             f"({self.size!r} and {self.protocol!r})")

    def claims(self) -> list[str] | None:
        """``--only`` as claim names (``None``: the protocol's)."""
        return None if self.only is None else [c.strip().upper() for c in self.only.split(",")]


def _parser() -> argparse.ArgumentParser:
    return command(PROG, "A verdict on every empirical claim of THEORY.md s13: one "
                   "pre-registered primary per claim, Holm, equivalence and replication "
                   "(docs/claims.md).", ClaimsOptions, LaunchOptions,
                   epilog="Protocols: empirics/studies/claims/protocols/<size>.toml; "
                          "statistics and verdict rule: docs/claims.md. The runs launch in a "
                          "local process pool by default (--executor local): they are "
                          "independent, so a pool keeps every core busy.")


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it (claims.md is
    committed; an absolute path would name this machine)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
    from cl_nscl_align.cli import options_of

    one_line_warnings(PROG)
    p = _parser()
    a, launch_opts = options_of(p, p.parse_args(argv), ClaimsOptions, LaunchOptions)
    if a.out is None:
        p.error("the following arguments are required: --out")
    try:
        path = Path(a.protocol) if a.protocol else protocol_path(a.size or "quick")
        protocol = load_protocol(a.size, file=path, seeds=a.seeds, claims=a.claims())
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
        if launch_opts.executor == "ray":
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
        result = run_study(protocol, out, **launch_opts.launch_kwargs(), progress=False,
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
