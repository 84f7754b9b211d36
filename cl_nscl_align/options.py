"""Declare a configuration once; flags, TOML, ``--help`` and validation follow from it.

A configuration is a frozen dataclass deriving from :class:`Options` whose fields are
declared with :func:`option`: type (the annotation), default, one line of help, and the
checks (``choices``, ``check``). Everything else is generated from that one declaration:

- validation on construction, one sentence naming the field and the value
  (``Expected `tau` > 0, got -0.5``), raised as ``ValueError`` / ``TypeError``;
- :meth:`Options.from_dict` (unknown keys rejected), :meth:`Options.from_toml`,
  :meth:`Options.to_dict`;
- :meth:`Options.add_arguments`: one command-line flag per field, whose help shows the
  description, the choices and the default;
- :meth:`Options.key_dict`: the fields that decide a run's results (the cache key leaves
  out execution knobs such as the device, declared with ``result=False``).

Cross-field rules go in an overridden :meth:`Options.check`.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo(Options):
...     tau: float = option(0.5, "temperature", check=positive)
...     rule: str = option("linear", "learning-rate rule", choices=("linear", "sqrt"))
>>> Demo(tau=1).tau
1.0
>>> Demo(tau=-0.5)
Traceback (most recent call last):
...
ValueError: Expected `tau` > 0, got -0.5
>>> Demo.from_dict({"tau": 2, "temp": 1})
Traceback (most recent call last):
...
ValueError: Expected only Demo keys, got unknown key(s) ['temp']
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

__all__ = [
    "GIVEN_NONE",
    "Options",
    "at_least",
    "flag_of",
    "in_open_unit",
    "in_range",
    "load_toml",
    "nonnegative",
    "option",
    "path_text",
    "positive",
    "read_toml",
]

Check = Callable[[str, Any], None]


# ----------------------------------------------------------------------------- checks
def _number_text(value: Any) -> str:
    return repr(value)


def positive(name: str, value: Any) -> None:
    """``value > 0``."""
    if not value > 0:
        raise ValueError(f"Expected `{name}` > 0, got {_number_text(value)}")


def nonnegative(name: str, value: Any) -> None:
    """``value >= 0``."""
    if not value >= 0:
        raise ValueError(f"Expected `{name}` >= 0, got {_number_text(value)}")


def in_open_unit(name: str, value: Any) -> None:
    """``0 < value < 1``."""
    if not 0 < value < 1:
        raise ValueError(f"Expected `{name}` in (0, 1), got {_number_text(value)}")


def in_range(lo: float, hi: float) -> Check:
    """``lo <= value <= hi`` (e.g. a size with a ceiling that catches typos); the message
    names the side that failed.

    >>> in_range(1, 10**8)("train_size", 10**12)
    Traceback (most recent call last):
    ...
    ValueError: Expected `train_size` <= 100000000, got 1000000000000
    """
    low = at_least(lo)

    def text(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"

    def check(name: str, value: Any) -> None:
        low(name, value)
        if not value <= hi:
            raise ValueError(f"Expected `{name}` <= {text(hi)}, got {_number_text(value)}")

    check.__name__ = f"in_range_{lo}_{hi}"
    return check


def path_text(name: str, value: Any) -> None:
    """A file or folder path: not empty, not only blanks, no NUL character (``--out ''``
    would otherwise mean the current folder)."""
    if not str(value).strip() or "\0" in str(value):
        raise ValueError(f"Expected `{name}` to be a path, got {value!r}")


def at_least(lo: float) -> Check:
    """``value >= lo`` (for ints: the smallest allowed count)."""

    def check(name: str, value: Any) -> None:
        if not value >= lo:
            raise ValueError(f"Expected `{name}` >= {lo}, got {_number_text(value)}")

    check.__name__ = f"at_least_{lo}"
    return check


# ----------------------------------------------------------------------------- fields
#: ``option(const=...)`` not given: the flag takes a value.
_UNSET = object()


def option(
    default: Any,
    help: str,  # noqa: A002 - the word every CLI library uses
    *,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    check: Check | None = None,
    result: bool = True,
    flag: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    const: Any = _UNSET,
    switch: bool = False,
    default_text: str | None = None,
    words: bool = False,
) -> Any:
    """Declare one field: its default, one line of help, and its checks.

    Args:
        default: the default value (immutable).
        help: one line for ``--help`` and the docs (the default is appended there).
        choices: the allowed strings (one place for every option list), or a function
            returning them, read when a value is checked (a registry that plugins extend).
        check: ``check(name, value)`` raising ``ValueError``; applied to non-``None`` values.
        result: ``False`` for execution knobs that do not change a run's results (device,
            threads, output folder): they stay out of :meth:`Options.key_dict`.
        flag: the command-line flag (default ``--`` + the name with ``_`` as ``-``).
        metavar: the value's name in ``--help``.
        positional: a positional command-line argument (``compare A B``) instead of a flag.
        const: the value of the flag given without one: its value is then optional
            (``--resume [DIR]``; argparse's ``nargs="?"``).
        switch: a ``bool`` flag that only turns on (``--json``), without the ``--no-`` form.
        default_text: how ``--help`` shows the default (e.g. ``"off"``), when its value
            says less than words would.
        words: a ``tuple[str, ...]`` field given as one or more words after its flag
            (``--grid tau=0.1,0.5 C=10``; argparse's ``nargs="+"``), each word one item
            kept whole (commas included), instead of one comma list.
    """
    if choices is not None and not callable(choices):
        choices = tuple(choices)
    meta = {
        "help": help,
        "choices": choices,
        "positional": bool(positional),
        "check": check,
        "result": bool(result),
        "flag": flag,
        "metavar": metavar,
        "const": const,
        "switch": bool(switch),
        "default_text": default_text,
        "words": bool(words),
    }
    return dataclasses.field(default=default, metadata=meta)


def field_choices(f: dataclasses.Field) -> tuple[str, ...] | None:
    """The allowed values of a field (its ``choices``, called when it is a function)."""
    choices = f.metadata.get("choices")
    if callable(choices):
        return tuple(choices())
    return choices


def _field_type(tp: Any) -> tuple[Any, bool]:
    """(base type, optional) of an annotation: ``int | None`` -> ``(int, True)``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def _is_str_tuple(tp: Any) -> bool:
    """A list field: ``tuple[str, ...]``, ``tuple[int, ...]`` or ``tuple[float, ...]``."""
    return typing.get_origin(tp) is tuple


def _item_type(tp: Any) -> Any:
    """The item type of a list field (``tuple[float, ...]`` -> ``float``)."""
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    return args[0] if args else str


_SCALAR_NAMES = {int: "an int", float: "a number", bool: "a bool", str: "a str"}


def _type_name(tp: Any) -> str:
    if _is_str_tuple(tp):
        return f"a comma list or a list of {_item_type(tp).__name__}"
    return _SCALAR_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _comma_list(name: str, text: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``; blank text is the empty list; an empty item (``a,,b``,
    a trailing comma) is refused rather than dropped."""
    if not text.strip():
        return ()
    items = tuple(s.strip() for s in text.split(","))
    if not all(items):
        raise ValueError(f"Expected `{name}` to be a comma list without empty items, got "
                         f"{text!r}")
    return items


def _scalar(name: str, value: Any, tp: Any) -> Any:
    """``value`` as a ``tp`` scalar (``bool`` never counts as a number), or ``_BAD``."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar
    if tp is bool:
        return value if isinstance(value, bool) else _BAD
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"Expected `{name}` to be finite, got {value!r}")
            return value
        return _BAD
    if tp is str:
        return value if isinstance(value, str) else _BAD
    raise TypeError(f"Unsupported option type {tp!r} for `{name}`")  # a declaration error


_BAD = object()


def _parse_scalar(name: str, text: str, tp: Any) -> Any:
    """One command-line word as a ``tp`` (``ValueError`` naming ``name`` and the text)."""
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"Expected `{name}` to be an int, got {text!r}") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"Expected `{name}` to be a number, got {text!r}") from None
    return text


def _coerce(name: str, value: Any, tp: Any, optional: bool) -> Any:
    """Check ``value``'s type and return it in canonical form (ints for float fields become
    floats, numpy scalars become Python scalars, a comma string becomes a tuple)."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"Expected `{name}` to be {_type_name(tp)}, got None")
    if _is_str_tuple(tp):
        item = _item_type(tp)
        if isinstance(value, str):
            value = tuple(_parse_scalar(name, t, item) for t in _comma_list(name, value))
        if isinstance(value, (list, tuple)):
            items = tuple(_scalar(name, v, item) for v in value)
            if all(v is not _BAD for v in items):
                return items
    else:
        out = _scalar(name, value, tp)
        if out is not _BAD:
            return out
    raise TypeError(f"Expected `{name}` to be {_type_name(tp)}, got {value!r}")


class _GivenNone:
    """The value of an optional flag given as ``none`` (or ``null``) on the command line.

    A flag's default is ``None`` ("not given"), so ``--classes none`` needs its own
    marker to override a declared default with ``None``; :meth:`Options.given` turns it
    into ``None``.
    """

    def __repr__(self) -> str:
        return "none"


#: ``--field none`` as parsed (:meth:`Options.given` maps it to ``None``).
GIVEN_NONE = _GivenNone()


# ----------------------------------------------------------------------------- base
@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every configuration (see the module docstring)."""

    #: Names of TOML tables whose keys are this configuration's (e.g. ``("train",)``).
    toml_tables: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        hints = self._hints()
        for f in dataclasses.fields(self):
            tp, optional = _field_type(hints[f.name])
            value = _coerce(f.name, getattr(self, f.name), tp, optional)
            meta = f.metadata
            if value is not None:
                choices = field_choices(f)
                if choices is not None:
                    items = value if isinstance(value, tuple) else (value,)
                    for item in items:
                        if item not in choices:
                            raise ValueError(
                                f"Expected `{f.name}` among {', '.join(choices)}, got {item!r}"
                            )
                check = meta.get("check")
                if check is not None:
                    check(f.name, value)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field rules (override); raise ``ValueError`` naming the fields."""

    # -- introspection ---------------------------------------------------------------------
    @classmethod
    def _hints(cls) -> dict[str, Any]:
        cache = cls.__dict__.get("_hints_cache")
        if cache is None:
            cache = typing.get_type_hints(cls)
            type.__setattr__(cls, "_hints_cache", cache)
        return cache

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """``(flag, default, help)`` of every field, for docs."""
        return [(flag_of(f), repr(f.default), _help_text(f, cls._hints()[f.name]))
                for f in dataclasses.fields(cls)]

    # -- conversion -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON/TOML-ready (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    def key_dict(self) -> dict[str, Any]:
        """The fields that decide the results (``result=True``): a run's cache key."""
        out = self.to_dict()
        return {f.name: out[f.name] for f in dataclasses.fields(self) if f.metadata["result"]}

    def differences(self, other: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> list[str]:
        """Field names whose value differs from ``other`` (a dict such as a saved config)."""
        mine, skip = self.to_dict(), set(ignore)
        return sorted(k for k in mine if k not in skip and other.get(k) != mine[k])

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, Mapping):
            raise TypeError(f"Expected a dict of {cls.__name__} keys, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"Expected only {cls.__name__} keys, got unknown key(s) {unknown!r}")
        return cls(**dict(d))

    @classmethod
    def from_toml(cls, path: str | os.PathLike):
        """Load a TOML file: its top-level keys, or the keys of one table named in
        :attr:`toml_tables` (e.g. ``[train]``)."""
        return cls.from_dict(read_toml(path, tables=cls.toml_tables))

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied (validated again)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(
                f"Expected only {type(self).__name__} keys, got unknown key(s) {unknown!r}"
            )
        return dataclasses.replace(self, **changes)

    # -- command line -----------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, *,
                      exclude: Iterable[str] = ()) -> None:
        """One flag per field (``--batch-size``; booleans also as ``--no-...``).

        Every flag's default is ``None`` ("not given"), so :meth:`from_layers` can tell a
        given flag from an absent one; the help shows the declared default.
        """
        skip = set(exclude)
        hints = cls._hints()
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            tp, optional = _field_type(hints[f.name])
            if f.metadata.get("positional"):
                parser.add_argument(f.name, type=_converter(f.name, tp, optional),
                                    metavar=f.metadata.get("metavar") or f.name,
                                    help=f.metadata.get("help", "").replace("%", "%%"))
                continue
            kw: dict[str, Any] = {"dest": f.name, "default": None,
                                  "help": _help_text(f, hints[f.name])}
            if tp is bool:
                switch = f.metadata.get("switch")
                kw["action"] = "store_true" if switch else argparse.BooleanOptionalAction
            elif f.metadata.get("words"):
                if not _is_str_tuple(tp):
                    raise TypeError(f"Expected a tuple[str, ...] field for words=True, got "
                                    f"`{f.name}`: {hints[f.name]}")
                kw.update(nargs="+", metavar=f.metadata.get("metavar") or "WORD")
            else:
                kw["type"] = _converter(f.name, tp, optional)
                kw["metavar"] = f.metadata.get("metavar") or _metavar(f, tp)
                if f.metadata.get("const", _UNSET) is not _UNSET:
                    kw.update(nargs="?", const=f.metadata["const"])
            parser.add_argument(flag_of(f), **kw)

    @classmethod
    def given(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The fields given on the command line (flags whose value is not ``None``); an
        optional field given as ``none`` is ``None`` (it overrides the default)."""
        out = {}
        for k in cls.field_names():
            value = getattr(args, k, None)
            if value is not None:
                out[k] = None if value is GIVEN_NONE else value
        return out

    @classmethod
    def from_layers(cls, *layers: Mapping[str, Any]):
        """Merge dicts left to right (e.g. saved run, TOML file, flags) and build."""
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer)
        return cls.from_dict(merged)


def flag_of(f: dataclasses.Field) -> str:
    """The command-line flag of a declared field (its ``flag``, else ``--name-with-dashes``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _metavar(f: dataclasses.Field, tp: Any) -> str:
    choices = field_choices(f)
    if choices and not _is_str_tuple(tp):
        return "{" + ",".join(choices) + "}"
    return {int: "INT", float: "X", str: "STR"}.get(tp, "LIST")


def _default_text(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(_default_text(v) for v in default)
    if isinstance(default, bool):
        return "true" if default else "false"
    if default is None:
        return "none"
    return str(default)


def _help_text(f: dataclasses.Field, annotation: Any) -> str:
    tp, _ = _field_type(annotation)
    text = f.metadata.get("help", "")
    choices = field_choices(f)
    if choices and _is_str_tuple(tp):
        text += f" (comma list of {', '.join(choices)})"
    # argparse expands "%"; keep literal percent signs
    shown = f.metadata.get("default_text") or _default_text(f.default)
    return f"{text} (default: {shown})".replace("%", "%%")


def _converter(name: str, tp: Any, optional: bool) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        if optional and text.strip().lower() in ("none", "null"):
            return GIVEN_NONE
        try:
            if _is_str_tuple(tp):
                item = _item_type(tp)
                return tuple(_parse_scalar(name, t, item) for t in _comma_list(name, text))
            return _parse_scalar(name, text, tp)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def load_toml(path: str | os.PathLike, *, what: str = "a TOML file",
              name: str | None = None) -> dict[str, Any]:
    """The parsed TOML document at ``path``; every failure one sentence naming the file
    (and the argument ``name`` that gave it, e.g. ``--config``, when there is one).

    Raises:
        FileNotFoundError: no such file (the message names it and ``what`` was expected).
        ValueError: a folder, not valid TOML (the message names the file, line and column)
            or not UTF-8 text.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    expected = f"`{name}` to be {what}" if name else what
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"Expected {expected}, got no file at {str(path)!r}"
                                ) from None
    except IsADirectoryError:
        raise ValueError(f"Expected {expected}, got the folder {str(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        if name:
            raise ValueError(f"Expected `{name}` to be valid TOML, got {str(path)!r} ({exc})"
                             ) from None
        raise ValueError(f"Expected valid TOML in {str(path)!r}, got {exc}") from None
    except UnicodeDecodeError:
        if name:
            raise ValueError(f"Expected `{name}` to be UTF-8 TOML text, got binary data in "
                             f"{str(path)!r}") from None
        raise ValueError(f"Expected UTF-8 TOML text in {str(path)!r}, got binary data") from None


def read_toml(path: str | os.PathLike, *, tables: Iterable[str] = (),
              name: str | None = None) -> dict[str, Any]:
    """The keys of a TOML file: top level, or those of its single table named in ``tables``
    (``name``: the argument that gave the file, e.g. ``--config``, named in the messages).

    Raises:
        FileNotFoundError: no such file (the message names it).
        ValueError: not valid TOML (the message names the file, line and column).
    """
    data = load_toml(path, name=name)
    names = tuple(tables)
    if len(data) == 1:
        (only, value), = data.items()
        if only in names and isinstance(value, dict):
            return value
    return data
