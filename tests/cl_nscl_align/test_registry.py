"""Registry: built-ins plus entry points, in a fixed order; a broken plugin is left out."""

from __future__ import annotations

import warnings
from importlib import metadata

import pytest

import cl_nscl_align.registry as registry
from cl_nscl_align.registry import Registry


def _ep(name: str, value: str, group: str = "demo.group") -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group=group)


def _registry(**kw) -> Registry:
    def from_plugin(name, obj):
        if not isinstance(obj, int):
            raise TypeError(f"Expected an int, got {type(obj).__name__}")
        return (name, obj)

    return Registry("demo.group", [("b", 1), ("a", 2)], name_of=lambda e: e[0],
                    from_plugin=from_plugin, what="demo entry", **kw)


def test_builtins_keep_their_order_and_plugins_follow_by_name(monkeypatch):
    monkeypatch.setattr(registry, "_entry_points", lambda group: [
        _ep("zeta", "math:pi"), _ep("three", "operator:index")])
    monkeypatch.setattr(metadata.EntryPoint, "load", lambda self: len(self.name))
    reg = _registry()
    assert reg.names() == ("b", "a", "three", "zeta")
    assert reg.builtin_names() == ("b", "a") and len(reg) == 4
    assert reg["zeta"] == ("zeta", 4) and "three" in reg and reg.get("nope") is None
    ordered = _registry(order_of=lambda e: -e[1])  # largest value first
    assert ordered.names() == ("three", "zeta", "a", "b")


@pytest.mark.parametrize(("plugins", "why"), [
    ([_ep("a", "x:y")], "the name is taken"),
    ([_ep("c", "x:y"), _ep("c", "x:z")], "the name is taken"),
    ([_ep("c-d", "x:y")], "letters, digits and underscores"),
    ([_ep("c", "no_such_module_xyz:y")], "ModuleNotFoundError"),
])
def test_a_broken_plugin_is_left_out_with_one_warning(monkeypatch, plugins, why):
    monkeypatch.setattr(registry, "_entry_points", lambda group: plugins)
    if "no_such" not in plugins[0].value:
        monkeypatch.setattr(metadata.EntryPoint, "load", lambda self: 3)
    reg = _registry()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = reg.names()
        reg.names()  # loaded once: no second warning
    assert names[:2] == ("b", "a") and "c-d" not in names
    assert len(caught) == 1 and why in str(caught[0].message)
    assert "demo entry plugin" in str(caught[0].message) and "demo.group" in str(caught[0].message)


def test_an_invalid_entry_is_left_out_and_reload_reads_again(monkeypatch):
    found = [[_ep("c", "x:y")]]
    monkeypatch.setattr(registry, "_entry_points", lambda group: found[0])
    monkeypatch.setattr(metadata.EntryPoint, "load", lambda self: "not an int")
    reg = _registry()
    with pytest.warns(RuntimeWarning, match="TypeError: Expected an int, got str"):
        assert reg.names() == ("b", "a")
    found[0] = []
    reg.reload()
    assert reg.names() == ("b", "a")


def test_an_unknown_name_names_the_known_ones():
    reg = _registry()
    with pytest.raises(ValueError, match="Expected a demo entry among b, a, got 'c'"):
        reg["c"]
