"""A registry of named entries that installed packages extend through Python entry points.

The toolkit keeps one registry per concept (the training objectives in
:mod:`empirics.objectives`, the similarity measures in :mod:`empirics.measures`): the
built-in entries are declared in that one module, and a package installed beside the
toolkit adds its own by declaring an entry point in the registry's group
(``cl_nscl_align.objectives``, ``cl_nscl_align.metrics``; docs/extending.md). Everything
else reads the registry, so nothing else lists the names.

Plugins are loaded once, on the first look-up that needs them, and in a fixed order
(built-ins first, then plugins by name). A plugin that fails to load, whose name is
already taken, or whose name is not an identifier (it becomes a CSV column and a
comma-list item) is left out with one warning naming it and why; it never breaks the
built-ins.

>>> reg = Registry("demo.group", [("a", 1), ("b", 2)], name_of=lambda e: e[0],
...                from_plugin=lambda name, obj: (name, obj), what="demo entry")
>>> reg.names()
('a', 'b')
>>> reg["b"]
('b', 2)
>>> reg["c"]
Traceback (most recent call last):
...
ValueError: Expected a demo entry among a, b, got 'c'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from importlib import metadata
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "plugin_fields"]

E = TypeVar("E")


class Registry(Generic[E]):
    """Built-in entries plus the entry points of ``group``, by name, in a fixed order.

    Args:
        group: the entry-point group plugins declare (e.g. ``cl_nscl_align.metrics``).
        builtins: the built-in entries, in their canonical order.
        name_of: an entry's name.
        from_plugin: ``(entry point name, loaded object) -> entry``; raises ``TypeError`` or
            ``ValueError`` when the object is not a valid entry (the plugin is then left out
            with a warning).
        what: what an entry is called in messages ("objective", "similarity measure").
        order_of: the sort key of an entry (default: built-ins first, then plugins by name).
    """

    def __init__(self, group: str, builtins: Iterable[E], *, name_of: Callable[[E], str],
                 from_plugin: Callable[[str, Any], E], what: str,
                 order_of: Callable[[E], Any] | None = None) -> None:
        self.group = group
        self.what = what
        self._builtins = list(builtins)
        self._name_of = name_of
        self._from_plugin = from_plugin
        self._order_of = order_of
        self._entries: dict[str, E] | None = None

    # -- loading ------------------------------------------------------------------------------
    def _load(self) -> dict[str, E]:
        if self._entries is not None:
            return self._entries
        entries = {self._name_of(e): e for e in self._builtins}
        plugins: list[E] = []
        for ep in sorted(_entry_points(self.group), key=lambda ep: ep.name):
            if ep.name in entries or any(self._name_of(p) == ep.name for p in plugins):
                warnings.warn(f"the {self.what} plugin {ep.name!r} ({ep.value}) of group "
                              f"{self.group} is left out: the name is taken", RuntimeWarning,
                              stacklevel=3)
                continue
            try:
                if not ep.name.isidentifier():  # a CSV column, a JSON key, a comma-list item
                    raise ValueError(f"Expected a name of letters, digits and underscores, "
                                     f"got {ep.name!r}")
                plugins.append(self._from_plugin(ep.name, ep.load()))
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the rest
                warnings.warn(f"the {self.what} plugin {ep.name!r} ({ep.value}) of group "
                              f"{self.group} is left out: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())}", RuntimeWarning, stacklevel=3)
        entries.update({self._name_of(p): p for p in plugins})
        if self._order_of is not None:
            entries = dict(sorted(entries.items(), key=lambda kv: self._order_of(kv[1])))
        self._entries = entries
        return entries

    def reload(self) -> None:
        """Forget the loaded plugins (e.g. after installing one in this process)."""
        self._entries = None

    # -- look-up ------------------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """Every name, in the registry's order."""
        return tuple(self._load())

    def builtin_names(self) -> tuple[str, ...]:
        """The built-in names only (what a fresh installation has)."""
        return tuple(self._name_of(e) for e in self._builtins)

    def __getitem__(self, name: str) -> E:
        entries = self._load()
        if name not in entries:
            raise ValueError(f"Expected a {self.what} among {', '.join(entries)}, got {name!r}")
        return entries[name]

    def get(self, name: str, default: E | None = None) -> E | None:
        return self._load().get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[E]:
        return iter(list(self._load().values()))

    def __len__(self) -> int:
        return len(self._load())


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=group))
    except Exception as exc:  # noqa: BLE001 - a broken distribution must not break the toolkit
        warnings.warn(f"entry points of group {group} could not be read: {exc}", RuntimeWarning,
                      stacklevel=4)
        return []


def plugin_fields(cls: type, obj: Any, *, call: str, defaults: dict[str, Any],
                  forced: dict[str, Any], what: str) -> dict[str, Any]:
    """The fields of a registry entry of dataclass ``cls`` read from a plugin's object:
    an instance of ``cls``, a dict of its fields, or a bare callable (then field ``call``).
    Fields the plugin leaves out (or sets to None) take ``defaults``; ``forced`` always wins.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class E:
    ...     name: str
    ...     f: object = None
    ...     label: str = ""
    >>> plugin_fields(E, len, call="f", defaults={"label": "x"}, forced={"name": "n"},
    ...               what="a function").keys()
    dict_keys(['label', 'f', 'name'])
    >>> plugin_fields(E, {"g": 1}, call="f", defaults={}, forced={}, what="a function")
    Traceback (most recent call last):
    ...
    ValueError: Expected E fields, got unknown key(s) ['g']
    """
    names = {f.name for f in fields(cls)}
    if isinstance(obj, cls):
        meta = {n: getattr(obj, n) for n in names}
    elif isinstance(obj, Mapping):
        meta = dict(obj)
    elif callable(obj):
        meta = {call: obj}
    else:
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"Expected {what}, {article} {cls.__name__} or a dict, got "
                        f"{type(obj).__name__}")
    unknown = sorted(set(meta) - names)
    if unknown:
        raise ValueError(f"Expected {cls.__name__} fields, got unknown key(s) {unknown}")
    meta = {**defaults, **{k: v for k, v in meta.items() if v is not None}, **forced}
    if not callable(meta.get(call)):
        raise TypeError(f"Expected a callable `{call}`, got {type(meta.get(call)).__name__}")
    return meta
