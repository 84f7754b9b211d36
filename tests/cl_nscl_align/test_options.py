"""Declared-once configurations: validation, dict/TOML round trips, generated flags."""

import argparse
from dataclasses import dataclass

import pytest

from cl_nscl_align.cli import ArgumentParser
from cl_nscl_align.options import (
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
    # `--size none` is given: None overrides an earlier layer (not "flag absent")
    assert given == {"n": 7, "names": ("a", "c"), "flag": True, "size": None}
    assert Demo.from_layers({"n": 9, "tau": 2.0}, given).tau == 2.0
    assert Demo.from_layers({"size": 12}, given).size is None
    assert "size" not in Demo.given(p.parse_args(["--n", "7"]))


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


# -- cache keys complete by construction (issue 20) -----------------------------------------
#: The fields each configuration leaves out of its cache key, each with why it may: where
#: or how a run executes, never what it computes. Everything else must enter the key.
EXECUTION_KNOBS = {
    "TrainConfig": {
        "device": "where the run computes (a resume may move it); not a setting of the run",
        "threads": "CPU threads: the numbers of one thread count are fixed, and a resume with "
                   "another count is refused (the checkpoint records it)",
        "out": "where the run directory is written",
    },
    "SurrogateConfig": {
        "device": "where the torch backend computes",
        "checkpoint_every": "how often the state is saved; the rows are the same",
        "max_memory_gib": "a refusal threshold checked before the run, not a number of it",
    },
    # issue 18: the classes of the commands generated from declarations
    "AccuracyOptions": {},
    "ClaimsOptions": {
        "out": "where the files are written",
        "no_figure": "whether a figure is drawn beside the numbers",
    },
    "CompareCommand": {
        "A": "which representation is read (the comparison's input, not a setting)",
        "B": "which representation is read (the comparison's input, not a setting)",
        "no_progress": "what is shown on the terminal",
    },
    "DocTarget": {},
    "DocsCommand": {
        "write": "whether the result is written, not what it is",
        "compare": "whether the result is checked against the committed one",
    },
    "DocsOptions": {
        "write": "whether the result is written, not what it is",
        "readme": "which document is written",
        "claims": "which document is written",
    },
    "EvaluateCommand": {
        "format": "how the result is printed",
        "saturation": "how the result is printed",
        "list": "what is printed",
    },
    "EvaluateOptions": {},
    "Fig12Options": {},
    "Figure": {},
    "Gallery": {
        "cache": "where finished runs are found",
    },
    "GoldenOptions": {
        "write": "whether the result is written, not what it is",
        "path": "where the golden file is",
    },
    "Launch": {
        "executor": "how the runs are scheduled; each run's numbers are the same",
        "workers": "how many run at once",
        "device": "where the runs compute",
    },
    "MergingOptions": {},
    "OutOptions": {
        "out": "where the files are written",
    },
    "Output": {
        "out": "where the files are written",
        "formats": "the figure's file formats",
        "dpi": "the figure's resolution",
    },
    "OwnRunsOptions": {},
    "RayOptions": {
        "ray_address": "where Ray runs",
        "cpus_per_run": "Ray resources per run",
        "gpus_per_run": "Ray resources per run",
    },
    "SeedsOptions": {},
    "SourceOptions": {},
    "Sources": {
        "runs": "where finished runs are read from",
        "claims": "which document is written",
        "select": "which runs are drawn",
        "no_run": "whether missing runs are launched",
    },
    "SurrogateCommand": {
        "config": "a file the fields are read from",
        "out": "where the files are written",
        "resume": "continue a run: the same numbers",
        "format": "how the result is printed",
        "no_progress": "what is shown on the terminal",
    },
    "SurrogateStudyOptions": {},
    "SweepOptions": {
        "out": "where the files are written",
        "no_progress": "what is shown on the terminal",
    },
    "StudyOptions": {},
    "CommandOptions": {  # python -m empirics.train's own switches, none a run's field
        "config": "a file the run's fields are read from; the fields decide",
        "resume": "continue a run: the same numbers (test_kill_resume)",
        "no_progress": "what is shown on the terminal",
        "stop_after": "where a run stops, as if killed; resumed, it is the same run",
        "json": "what is printed at the end",
    },
    "LaunchOptions": {
        "executor": "how the runs are scheduled; each run's numbers are the same",
        "workers": "how many run at once",
        "device": "where the runs compute (as TrainConfig's device)",
    },
    "CompareOptions": {
        "out": "where the comparison's files are written",
        "device": "where the models run",
        "chunk": "rows embedded at a time; the accumulated statistics are the same",
        "threads": "CPU threads: where the comparison computes, as the trainer's",
    },
}
#: Valid other values of fields with their own checks (``{class: {field: values}}``).
EXAMPLES = {
    "ClaimsOptions": {"only": ("C1", "C2,C5")},
    "Figure": {"name": ("fig2-alignment", "list")},
    "Output": {"formats": ("png", "pdf,svg")},
    "SeedsOptions": {"seeds": ("1,2", "0")},
}
#: Fields whose other value needs other fields too (``{class: {field: context}}``).
CONTEXT = {
    "SurrogateCommand": {"resume": {"out": "/tmp/elsewhere"}},
    "TrainConfig": {
        "data_root": {"dataset": "cifar10", "data_root": "/data/cifar"},
        "linearization_size": {"linearization_every": 50},
    },
    "SurrogateConfig": {"warmup_steps": {"schedule": "cosine"}, "device": {"backend": "torch"}},
    "CompareOptions": {"data_root": {"dataset": "cifar10", "data_root": "/data/cifar"},
                       "n": {"dataset": "digits"}},
}


def _option_classes():
    """Every configuration class built on Options in the packages (found by their source)."""
    import dataclasses
    import importlib
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for package in ("bounds", "cl_nscl_align", "empirics", "figures"):
        for path in sorted((root / package).rglob("*.py")):
            if re.search(r"^class \w+\(\w*Options\)", path.read_text(encoding="utf-8"), re.M):
                rel = path.relative_to(root).with_suffix("")
                importlib.import_module(".".join(rel.parts))
    seen, todo = {}, list(Options.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.split(".")[0] in ("bounds", "cl_nscl_align", "empirics", "figures") \
                and dataclasses.is_dataclass(cls):
            seen[cls.__name__] = cls
    return seen


def _key_function(cls):
    """The real key of ``cls``: its run spec's key for a kind of run, else ``key_dict``."""
    import json

    from empirics.runs.spec import KINDS, RunSpec

    for kind in KINDS.values():
        if kind.options_class() is cls:
            return lambda cfg: RunSpec(kind.name, cfg.to_dict()).key()
    return lambda cfg: json.dumps(cfg.key_dict(), sort_keys=True, default=str)


def _alternatives(cls, cfg, name):
    """Other values of field ``name`` to try, most plausible first."""
    import dataclasses
    import itertools
    import typing

    from cl_nscl_align.options import _field_type, field_choices

    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    tp, optional = _field_type(cls._hints()[name])
    cur, choices = getattr(cfg, name), field_choices(f)
    out: list = []
    out += [v for v in EXAMPLES.get(cls.__name__, {}).get(name, ())]
    if choices and typing_is_tuple(tp):
        out += [tuple(c) for r in (1, 2) for c in itertools.combinations(choices, r)]
    elif choices:
        out += list(choices)
    elif tp is bool:
        out.append(not cur)
    elif tp is int:
        base = cur if cur is not None else 0
        out += [base + 1, base + 2, base * 2, 2, 3, 4, 8, 16, 64, 128, 1000]
    elif tp is float:
        base = cur if cur is not None else 0.5
        out += [base * 0.5, base * 2, base + 0.1, 0.25, 0.5, 1.0, 0.01, 2.0]
    elif tp is str:
        out += ["other-value", "/tmp/elsewhere", "cuda"]
    elif typing_is_tuple(tp):
        item = [t for t in typing.get_args(tp) if t is not Ellipsis][0]
        out += {int: [(3,), (2, 4)], float: [(0.25,), (2.0, 4.0)]}.get(
            item, [("3",), ("2", "4"), ("0.25",), ("h",)])
    if optional:
        out.append(None)
    return [v for v in out if v != cur]


def typing_is_tuple(tp) -> bool:
    import typing

    return typing.get_origin(tp) is tuple


def test_every_configuration_class_is_pinned():
    assert set(_option_classes()) == set(EXECUTION_KNOBS)


@pytest.mark.parametrize("name", sorted(EXECUTION_KNOBS))
def test_cache_key_leaves_out_exactly_the_execution_knobs(name):
    """The fields outside the key are the pinned knobs; changing any other field (to another
    valid value) changes the real key, and changing a knob does not."""
    import dataclasses

    cls = _option_classes()[name]
    key = _key_function(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    out_of_key = {f for f in fields if f not in cls().key_dict()}
    assert out_of_key == set(EXECUTION_KNOBS[name])
    for field in fields:
        base = cls().replace(**CONTEXT.get(name, {}).get(field, {}))
        tried = []
        for value in _alternatives(cls, base, field):
            try:
                changed = base.replace(**{field: value})
            except (ValueError, TypeError) as exc:
                tried.append(f"{value!r}: {exc}")
                continue
            if field in EXECUTION_KNOBS[name]:
                assert key(changed) == key(base), (name, field, value)
            else:
                assert key(changed) != key(base), (name, field, value)
            break
        else:
            pytest.fail(f"{name}.{field}: no other valid value found ({tried})")


def test_run_spec_key_covers_kind_config_and_target():
    from empirics.runs.spec import RunSpec

    a = RunSpec("train", {"tau": 0.25})
    assert a.key() != RunSpec("surrogate", {"tau": 0.25}).key()
    assert a.key() != RunSpec("train", {"tau": 0.3}).key()
    assert set(a.key_dict()) == {"kind", "config"}
    t = RunSpec("custom", {"x": 1}, target="m:f")
    assert set(t.key_dict()) == {"target", "config"}
    assert t.key() != RunSpec("custom", {"x": 2}, target="m:f").key()
    assert t.key() != RunSpec("custom", {"x": 1}, target="m:g").key()


def test_a_comma_list_with_an_empty_item_is_refused_not_shortened(capsys):
    with pytest.raises(ValueError, match="`names` to be a comma list without empty items, "
                                         "got 'a,,b'"):
        Demo(names="a,,b")
    assert Demo(names="").names == () and Demo(names=" a , b ").names == ("a", "b")
    p = ArgumentParser(prog="demo")
    Demo.add_arguments(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--names", "a,b,"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'a,b,'" in err and "`names`" in err


def test_a_toml_file_named_by_its_argument(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("x = [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Expected `--config` to be valid TOML, got '.*bad"):
        read_toml(bad, name="--config")
    with pytest.raises(FileNotFoundError, match="Expected `--config` to be a TOML file, got "
                                                "no file at"):
        read_toml(tmp_path / "none.toml", name="--config")
    with pytest.raises(ValueError, match="Expected valid TOML in"):  # unnamed: as before
        read_toml(bad)


@dataclass(frozen=True)
class Switches(Options):
    """the command's own switches"""

    resume: str | None = option(None, "continue DIR", const=True, metavar="DIR",
                                result=False, default_text="off")
    json: bool = option(False, "print JSON", switch=True, result=False, default_text="tables")


def test_a_flag_with_an_optional_value_a_switch_and_a_shown_default():
    from cl_nscl_align.cli import command

    p = command("demo", "Demo.", Switches)
    assert vars(p.parse_args([])) == {"resume": None, "json": None}  # not given
    assert vars(p.parse_args(["--resume"])) == {"resume": True, "json": None}
    assert p.parse_args(["--resume", "run"]).resume == "run"
    assert p.parse_args(["--json"]).json is True
    with pytest.raises(SystemExit):
        p.parse_args(["--no-json"])  # a switch has no --no- form
    text = " ".join(p.format_help().split())
    assert "--resume [DIR] continue DIR (default: off)" in text
    assert "--json print JSON (default: tables)" in text and "the command's own switches:" in text
    assert Switches().key_dict() == {}  # execution knobs only


def test_words_field_takes_whole_words_after_one_flag():
    @dataclass(frozen=True)
    class Grid(Options):
        grid: tuple[str, ...] = option((), "axes", words=True)
        n: int = option(1, "a count")

    p = ArgumentParser(prog="demo")
    Grid.add_arguments(p)
    args = p.parse_args(["--grid", "tau=0.1,0.5", "C=10", "--n", "2"])
    assert Grid.from_dict(Grid.given(args)).grid == ("tau=0.1,0.5", "C=10")

    @dataclass(frozen=True)
    class Bad(Options):
        n: int = option(1, "a count", words=True)

    with pytest.raises(TypeError, match="tuple\\[str, ...\\] field for words=True"):
        Bad.add_arguments(ArgumentParser(prog="demo"))
