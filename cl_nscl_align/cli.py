"""Command-line conventions shared by every entry point of the toolkit.

A usage error prints one line on stderr, ``<prog>: error: <message>``, naming the
argument and the value, and exits with status 2; never a traceback, never the whole
usage block (``--help`` shows that). This package sits below ``bounds``, ``empirics`` and
``figures`` and imports nothing but the standard library, so every entry point (the
torch-free ``python -m bounds.evaluate`` included) takes its parser from here.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, NoReturn

__all__ = ["ArgumentParser", "command", "commands", "fail", "flagged", "one_line_warnings",
           "options_of", "terminate_as_interrupt"]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line and exit status 2.

    >>> p = ArgumentParser(prog="demo")
    >>> _ = p.add_argument("--n", type=int)
    >>> try:
    ...     p.parse_args(["--n", "x"])
    ... except SystemExit as exc:
    ...     exc.code
    2
    >>> _ = p.add_argument("--tau", type=float)
    >>> p.parse_args(["--tau", "-1e-3"]).tau      # a value, not a flag
    -0.001
    """

    #: What reads as a negative number (a value, not a flag): argparse's own pattern
    #: knows ``-1`` and ``-.5`` but not ``-1e-3``, ``-inf`` or ``-nan``, so ``--tau -1e-3``
    #: would fail with "expected one argument" instead of naming the bad value. A comma
    #: list of numbers starting with a negative one (``--C -1,2``) is a value too.
    _NUMBER = r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan"
    _NEGATIVE = re.compile(rf"^-({_NUMBER})(,\s*[-+]?({_NUMBER}))*$", re.IGNORECASE)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE

    def error(self, message: str) -> NoReturn:  # argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def terminate_as_interrupt(signum, frame):
    """A ``SIGTERM`` handler that raises ``KeyboardInterrupt``: a scheduler's stop is then
    handled as Ctrl+C (finished work kept, workers stopped, exit status 130).

    Install it with ``signal.signal(signal.SIGTERM, terminate_as_interrupt)``.
    """
    raise KeyboardInterrupt(f"signal {signum}")


#: The program named by the last :func:`one_line_warnings` call (``None``: not installed);
#: a process pool passes it on to its workers so that their warnings look the same.
WARNING_PROG: str | None = None


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
    global WARNING_PROG
    WARNING_PROG = prog
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


def command(prog: str, description: str, *options: type, epilog: str | None = None,
            parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The parser of one command, generated from its declarations: every field of every
    :class:`~cl_nscl_align.options.Options` class in ``options`` becomes an argument (a
    flag, or a positional argument where declared so), in one help section per class
    (titled by the class's ``cli_title``, else the first line of its docstring).

    ``parser``: fill this (sub)parser instead of making one.

    >>> from dataclasses import dataclass
    >>> from cl_nscl_align.options import Options, option, positive
    >>> @dataclass(frozen=True)
    ... class Demo(Options):
    ...     '''the demo's settings'''
    ...     tau: float = option(0.5, "temperature", check=positive)
    >>> p = command("demo", "A demo.", Demo)
    >>> Demo.given(p.parse_args(["--tau", "2"]))
    {'tau': 2.0}
    """
    p = parser if parser is not None else ArgumentParser(prog=prog, description=description,
                                                         epilog=epilog)
    for cls in options:
        title = getattr(cls, "cli_title", None) or (cls.__doc__ or cls.__name__).strip(
            ).splitlines()[0].rstrip(".")
        cls.add_arguments(p.add_argument_group(title))
    return p


def commands(prog: str, description: str,
             subcommands: dict[str, tuple[str, tuple[type, ...]]], *,
             dest: str = "command", epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser of subcommands, each generated by :func:`command` from its declarations:
    ``subcommands`` maps a name to ``(one line of help, Options classes)``.

    >>> from dataclasses import dataclass
    >>> from cl_nscl_align.options import Options, option
    >>> @dataclass(frozen=True)
    ... class Out(Options):
    ...     '''output'''
    ...     out: str = option("out", "folder")
    >>> p = commands("demo", "Demo.", {"draw": ("draw it", (Out,))})
    >>> vars(p.parse_args(["draw", "--out", "x"]))
    {'command': 'draw', 'out': 'x'}
    """
    p = ArgumentParser(prog=prog, description=description, epilog=epilog)
    sub = p.add_subparsers(dest=dest, parser_class=ArgumentParser)
    sub.required = True
    for name, (help_line, classes) in subcommands.items():
        sp = sub.add_parser(name, help=help_line, description=help_line,
                            prog=f"{prog} {name}")
        command(f"{prog} {name}", help_line, *classes, parser=sp)
    return p


def flagged(exc: BaseException, classes: Sequence[type]) -> str:
    """An Options error as one line (line breaks joined, the value's own blanks kept), each
    field of ``classes`` named by its flag (```seeds``` -> ```--seeds```)."""
    from cl_nscl_align.options import flag_of

    text = re.sub(r"\s*\n\s*", " ", str(exc)).strip()
    for cls in classes:
        for f in fields(cls):
            if not f.metadata.get("positional"):
                text = text.replace(f"`{f.name}`", f"`{flag_of(f)}`")
    return text


def fail(prog: str, message: str) -> NoReturn:
    """A usage error: one stderr line, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


def options_of(parser: argparse.ArgumentParser | str, args: argparse.Namespace,
               *classes: type, named: Sequence[type] | None = None) -> list[Any]:
    """Each Options class built from the flags given in ``args`` (the declared defaults
    for the others); a refused value is one line naming its flag, exit status 2.

    ``parser``: the parser (its ``error``) or the program name to report under; ``named``:
    the classes whose fields a message may name (default ``classes``).
    """
    out = []
    for cls in classes:
        try:
            out.append(cls.from_dict(cls.given(args)))
        except (ValueError, TypeError) as exc:
            message = flagged(exc, classes if named is None else named)
            if isinstance(parser, str):
                fail(parser, message)
            parser.error(message)
    return out
