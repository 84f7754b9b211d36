"""Command-line conventions shared by every entry point of the toolkit.

A usage error prints one line on stderr, ``<prog>: error: <message>``, naming the
argument and the value, and exits with status 2; never a traceback, never the whole
usage block (``--help`` shows that). This package sits below ``bounds``, ``empirics`` and
``figures`` and imports nothing but the standard library, so every entry point (the
torch-free ``python -m bounds.evaluate`` included) takes its parser from here.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["ArgumentParser", "terminate_as_interrupt"]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line and exit status 2.

    >>> p = ArgumentParser(prog="demo")
    >>> _ = p.add_argument("--n", type=int)
    >>> try:
    ...     p.parse_args(["--n", "x"])
    ... except SystemExit as exc:
    ...     exc.code
    2
    """

    def error(self, message: str) -> NoReturn:  # argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def terminate_as_interrupt(signum, frame):
    """A ``SIGTERM`` handler that raises ``KeyboardInterrupt``: a scheduler's stop is then
    handled as Ctrl+C (finished work kept, workers stopped, exit status 130).

    Install it with ``signal.signal(signal.SIGTERM, terminate_as_interrupt)``.
    """
    raise KeyboardInterrupt(f"signal {signum}")
