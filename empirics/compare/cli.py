"""``python -m empirics.compare A B``: the alignment of two encoders, beside the theory.

Exit status: 0 done; 1 the output folder could not be written (nothing is left in half);
2 bad usage or an input that cannot be used (one line on stderr naming the argument and
the value, no traceback); 130 interrupted. Warnings (a NaN and
why) are one line each.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from cl_nscl_align.cli import command, one_line_warnings
from cl_nscl_align.options import Options, option
from empirics.compare.options import CompareOptions

__all__ = ["PROG", "CompareCommand", "build_parser", "main"]

PROG = "python -m empirics.compare"


@dataclass(frozen=True)
class CompareCommand(Options):
    """The two encoders (and the progress bar)."""

    A: str = option("", "first encoder (the CL side: rho and r are normalised by it)",
                    positional=True, result=False)
    B: str = option("", "second encoder", positional=True, result=False)
    no_progress: bool = option(False, "no progress bar", switch=True,
                               default_text="a bar on a terminal", result=False)


def build_parser() -> argparse.ArgumentParser:
    """The parser, generated from :class:`CompareCommand` and :class:`CompareOptions`."""
    return command(
        PROG, "Compare two encoders -- feature files (.npy, .npz, .pt), run members "
        "(RUN_DIR:cl) or checkpoints (--arch) -- with every similarity measure, intervals, "
        "and what [P1]/[P2] predict. Exit status: 0 done, 1 output not written, 2 bad usage "
        "or input, 130 interrupted.", CompareCommand, CompareOptions)


def _error(message: object) -> str:
    return f"{PROG}: error: " + " ".join(str(message).split())


def _return_freed_buffers() -> None:
    """Let glibc hand freed chunk buffers back to the system at once.

    A pass frees and reallocates buffers of ~10 MB per chunk; glibc's dynamic mmap threshold
    then serves them from the heap, which fragments, and the resident size grew with ``N``
    (1.3 GB at N = 10^5 on a small MLP with --layers all). A fixed 128 KiB threshold keeps it
    flat. A no-op where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    one_line_warnings(PROG)
    args = build_parser().parse_args(argv)
    import torch

    from empirics.compare.comparison import compare
    from empirics.compare.report import check_out, render, write_out
    from empirics.runs.tables import RunFileError

    threads = torch.get_num_threads()
    try:
        cmd = CompareCommand.from_dict(CompareCommand.given(args))
        opts = CompareOptions.from_layers(CompareOptions.given(args))
        if opts.out is not None:
            check_out(opts.out)
    except (ValueError, TypeError) as exc:  # a bad option value
        print(_error(exc), file=sys.stderr)
        return 2
    _return_freed_buffers()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        result = compare(cmd.A, cmd.B, opts, progress=not cmd.no_progress)
        text = render(result, opts.format)
        if opts.out is not None:
            write_out(opts.out, result)
    except (ValueError, FileNotFoundError, RunFileError) as exc:  # CompareError included
        print(_error(exc), file=sys.stderr)
        return 2
    except OSError as exc:  # the output could not be written (nothing was left in half)
        print(f"{PROG}: could not write `--out` {opts.out!r}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)
    print(text)
    return 0
