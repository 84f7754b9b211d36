"""Command-line conventions shared by every entry point of the toolkit.

A usage error prints one line on stderr, ``<prog>: error: <message>``, naming the
argument and the value, and exits with status 2; never a traceback, never the whole
usage block (``--help`` shows that). This package sits below ``bounds``, ``empirics`` and
``figures`` and imports nothing but the standard library, so every entry point (the
torch-free ``python -m bounds.evaluate`` included) takes its parser from here.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import NoReturn

__all__ = ["ArgumentParser", "one_line_warnings", "terminate_as_interrupt"]


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


def one_line_warnings(prog: str) -> None:
    r"""Show every warning of this process as one stderr line, ``<prog>: warning: <text>``.

    Python's default shows the warning's source file and line, which a command-line user
    has no use for (and which leaks internals). Each distinct text is shown once. Call it
    first thing in an entry point's ``main``.

    >>> import io, contextlib
    >>> err = io.StringIO()
    >>> with warnings.catch_warnings(), contextlib.redirect_stderr(err):
    ...     one_line_warnings("demo")
    ...     warnings.warn("NaN: too few seeds")
    ...     warnings.warn("NaN: too few seeds")
    >>> err.getvalue()
    'demo: warning: NaN: too few seeds\n'
    """
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        if text in seen:
            return
        seen.add(text)
        stream = file if file is not None else sys.stderr
        try:
            stream.write(f"{prog}: warning: {text}\n")
        except (OSError, ValueError):  # a closed or broken stderr: nothing to tell
            pass

    warnings.simplefilter("default")
    warnings.showwarning = show
