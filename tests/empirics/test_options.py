"""Declared-once configurations: validation, dict/TOML round trips, generated flags."""

import argparse
from dataclasses import dataclass

import pytest

from cl_nscl_align.cli import ArgumentParser
from empirics.options import (
    Options,
    at_least,
    in_open_unit,
    nonnegative,
    option,
    positive,
    read_toml,
)


@dataclass(frozen=True)
class Demo(Options):
    toml_tables = ("demo",)

    n: int = option(3, "a count", check=at_least(1))
    tau: float = option(0.5, "a temperature", check=positive)
    p: float = option(0.05, "a probability", check=in_open_unit)
    decay: float = option(0.0, "decay", check=nonnegative)
    rule: str = option("linear", "a rule", choices=("linear", "sqrt"))
    names: tuple[str, ...] = option(("a", "b"), "names", choices=("a", "b", "c"))
    flag: bool = option(False, "a switch")
    size: int | None = option(None, "optional size", check=at_least(2))
    device: str = option("cpu", "where", result=False)

    def check(self):
        if self.size is not None and self.size < self.n:
            raise ValueError(f"Expected `size` >= `n` ({self.n}), got {self.size}")


@pytest.mark.parametrize("kw, exc, text", [
    ({"n": 0}, ValueError, "Expected `n` >= 1, got 0"),
    ({"n": 1.5}, TypeError, "Expected `n` to be an int, got 1.5"),
    ({"n": True}, TypeError, "Expected `n` to be an int, got True"),
    ({"tau": -0.5}, ValueError, "Expected `tau` > 0, got -0.5"),
    ({"tau": float("inf")}, ValueError, "Expected `tau` to be finite, got inf"),
    ({"tau": "x"}, TypeError, "Expected `tau` to be a number, got 'x'"),
    ({"p": 1.0}, ValueError, "Expected `p` in (0, 1), got 1.0"),
    ({"decay": -1.0}, ValueError, "Expected `decay` >= 0, got -1.0"),
    ({"rule": "cubic"}, ValueError, "Expected `rule` among linear, sqrt, got 'cubic'"),
    ({"names": "a,d"}, ValueError, "Expected `names` among a, b, c, got 'd'"),
    ({"flag": 1}, TypeError, "Expected `flag` to be a bool, got 1"),
    ({"size": 1}, ValueError, "Expected `size` >= 2, got 1"),
    ({"size": 2, "n": 3}, ValueError, "Expected `size` >= `n` (3), got 2"),
    ({"rule": None}, TypeError, "Expected `rule` to be a str, got None"),
])
def test_every_check_names_the_field_and_the_value(kw, exc, text):
    with pytest.raises(exc) as info:
        Demo(**kw)
    assert str(info.value) == text


def test_coercions():
    import numpy as np

    d = Demo(tau=1, names=["c"], n=np.int64(4))
    assert d.tau == 1.0 and isinstance(d.tau, float)
    assert d.names == ("c",) and d.n == 4 and type(d.n) is int
    assert Demo(names="a, c").names == ("a", "c")


def test_dict_round_trip_unknown_keys_and_key_dict():
    d = Demo(n=5, names=("c",))
    assert Demo.from_dict(d.to_dict()) == d
    assert d.to_dict()["names"] == ["c"]
    assert "device" not in d.key_dict() and d.key_dict()["n"] == 5
    with pytest.raises(ValueError, match=r"Expected only Demo keys, got unknown key\(s\) \['m'\]"):
        Demo.from_dict({"m": 1})
    with pytest.raises(TypeError, match="Expected a dict"):
        Demo.from_dict([("n", 1)])
    assert d.replace(n=6).n == 6
    with pytest.raises(ValueError, match="unknown key"):
        d.replace(m=1)
    assert d.differences({**d.to_dict(), "n": 1}) == ["n"]
    assert d.differences({**d.to_dict(), "device": "cuda"}, ignore=["device"]) == []


def test_toml_top_level_or_named_table(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text("n = 4\ntau = 1\n")
    b = tmp_path / "b.toml"
    b.write_text("[demo]\nn = 4\n")
    assert Demo.from_toml(a).n == 4 and Demo.from_toml(a).tau == 1.0
    assert Demo.from_toml(b).n == 4
    c = tmp_path / "c.toml"
    c.write_text("n = \n")
    with pytest.raises(ValueError, match=r"valid TOML in .*c.toml.*line 1"):
        Demo.from_toml(c)
    with pytest.raises(FileNotFoundError, match="no file at"):
        read_toml(tmp_path / "none.toml")
    with pytest.raises(ValueError, match="got the folder"):
        read_toml(tmp_path)
    d = tmp_path / "d.toml"
    d.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="UTF-8|valid TOML"):
        read_toml(d)


def test_flags_are_generated_with_help_and_defaults():
    p = ArgumentParser(prog="demo")
    Demo.add_arguments(p)
    text = p.format_help()
    for flag in ("--n", "--tau", "--rule", "--names", "--flag", "--no-flag", "--size"):
        assert flag in text
    assert "a temperature (default: 0.5)" in text and "(default: none)" in text
    args = p.parse_args(["--n", "7", "--names", "a,c", "--flag", "--size", "none"])
    given = Demo.given(args)
    assert given == {"n": 7, "names": ("a", "c"), "flag": True}
    assert Demo.from_layers({"n": 9, "tau": 2.0}, given).tau == 2.0


@pytest.mark.parametrize("argv, text", [
    (["--n", "x"], "argument --n: Expected `n` to be an int, got 'x'"),
    (["--tau", "hot"], "argument --tau: Expected `tau` to be a number, got 'hot'"),
])
def test_bad_flag_values_are_one_line_usage_errors(capsys, argv, text):
    p = ArgumentParser(prog="demo")
    Demo.add_arguments(p)
    with pytest.raises(SystemExit) as exc:
        p.parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == f"demo: error: {text}\n"


def test_describe_lists_every_field():
    rows = Demo.describe()
    assert [r[0] for r in rows][:3] == ["--n", "--tau", "--p"]
    assert all(r[2] for r in rows)


def test_argparse_percent_in_help_is_kept():
    @dataclass(frozen=True)
    class P(Options):
        x: int = option(1, "100% sure")

    p = argparse.ArgumentParser()
    P.add_arguments(p)
    assert "100% sure" in p.format_help()
