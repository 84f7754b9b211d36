"""figures.selection: a figure averages over seeds only; --select; runs without pairs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from figures import io, selection
from figures.selection import FigureInputError


def run(name: str, kind: str = "train", metrics: pd.DataFrame | None = None, **config):
    return io.Run(Path(name), kind, dict(config), metrics if metrics is not None else
                  pd.DataFrame(), pd.DataFrame(), pd.DataFrame())


def sweep(classes=(2, 10), taus=(0.5,), seeds=(0, 1), **common):
    return [run(f"C{c}-t{t}-s{s}", classes=c, tau=t, seed=s, **common)
            for c in classes for t in taus for s in seeds]


# --------------------------------------------------------------------------- pooling
def test_seeds_alone_are_averaged():
    selection.check_not_pooled(sweep(), ("classes",))  # no error


def test_a_hidden_axis_is_refused_naming_it_and_its_values():
    runs = sweep(taus=(0.1, 0.5, 1.0))
    with pytest.raises(FigureInputError) as e:
        selection.check_not_pooled(runs, ("classes",))
    msg = str(e.value)
    assert "classes = 2" in msg and "tau (0.1, 0.5, 1.0)" in msg
    assert "--select tau=VALUE" in msg and "\n" not in msg


def test_each_hidden_axis_is_named():
    runs = [run("a", classes=2, tau=0.5, batch_size=32, seed=0),
            run("b", classes=2, tau=0.1, batch_size=64, seed=0)]
    with pytest.raises(FigureInputError, match=r"batch_size \(32, 64\); tau \(0.1, 0.5\)"):
        selection.check_not_pooled(runs, ("classes",))


def test_execution_knobs_are_not_settings():
    runs = [run("a", classes=2, seed=0, device="cpu", threads=1, out="/x"),
            run("b", classes=2, seed=1, device="cuda", threads=4, out="/y")]
    selection.check_not_pooled(runs, ("classes",))
    assert {"device", "threads", "out"} <= selection.ignored_fields("train")
    assert "tau" not in selection.ignored_fields("train")
    assert "seed" not in selection.ignored_fields("train")  # a setting, averaged by name


def test_a_field_one_run_lacks_is_a_difference():
    runs = [run("a", classes=2, seed=0), run("b", classes=2, seed=1, delta=0.1)]
    with pytest.raises(FigureInputError, match=r"delta \(0.1, none\)"):
        selection.check_not_pooled(runs, ("classes",))


def test_a_setting_fixed_by_the_point_is_not_pooled():
    # [P2]'s C = 10 point of a claims study is the base run (4 objectives), the others pairs
    runs = sweep(classes=(2,), objectives=["cl", "nscl"]) + \
        sweep(classes=(10,), objectives=["cl", "nscl", "scl", "ce"])
    selection.check_not_pooled(runs, ("classes",))


def test_cells_given_by_the_figure():
    runs = [run("a", lr_rule="linear", batch_size=64, seed=0),
            run("b", lr_rule="linear", batch_size=64, seed=1)]
    # the base run stands for every rule at B = 64: each is its own point
    selection.check_not_pooled(runs, cells=[("sqrt", 64), ("linear", 64)])
    with pytest.raises(ValueError, match="one cell per run"):
        selection.pooled_fields(runs, [("sqrt", 64)])


def test_seed_note():
    assert io.seed_note(sweep(seeds=(0,))) == "1 seed"
    assert io.seed_note(sweep(seeds=(0, 1, 2)), "mean ± sd") == "mean ± sd over 3 seeds"


# --------------------------------------------------------------------------- --select
def test_select_keeps_the_matching_runs():
    runs = sweep(taus=(0.1, 0.5))
    kept = selection.select_runs(runs, {"tau": "0.50"})
    assert {r.config["tau"] for r in kept} == {0.5} and len(kept) == 4
    selection.check_not_pooled(kept, ("classes",))


def test_select_lists_and_surrogate_names():
    runs = [run("a", objectives=["cl"], classes=2), run("b", objectives=["cl", "nscl"],
                                                        classes=2),
            run("s", kind="surrogate", C=2)]
    assert [r.name for r in selection.select_runs(runs, {"objectives": "cl+nscl"})] == ["b"]
    assert [r.name for r in selection.select_runs(runs, {"classes": "2"})] == ["a", "b", "s"]


@pytest.mark.parametrize("selected,msg", [
    ({"tua": "0.5"}, "'tua' (no run has it)"),
    ({"tau": "0.3"}, "tau = 0.3 for `--select`, got none (the runs hold 0.1, 0.5)"),
    ({"tau": "x"}, "tau = x"),
])
def test_select_refusals(selected, msg):
    with pytest.raises(FigureInputError) as e:
        selection.select_runs(sweep(taus=(0.1, 0.5)), selected)
    assert msg in str(e.value)


@pytest.mark.parametrize("items,msg", [(["tau"], "KEY=VALUE, got 'tau'"),
                                       (["=1"], "KEY=VALUE"),
                                       (["tau=1", "tau=2"], "tau once")])
def test_parse_selection_refusals(items, msg):
    with pytest.raises(FigureInputError, match=msg):
        selection.parse_selection(items)


# --------------------------------------------------------------------------- pairs
def metrics(*pairs):
    return pd.DataFrame({"step": [0] * len(pairs), "pair": list(pairs)})


def test_require_pair_names_the_run_and_what_is_missing():
    r = run("runs/one", metrics=pd.DataFrame(columns=["step", "pair"]), objectives=["cl"])
    with pytest.raises(FigureInputError) as e:
        selection.require_pair(r, "cl-nscl")
    assert str(Path("runs/one/metrics.csv")) in str(e.value)
    assert "cl-nscl" in str(e.value) and "cl alone" in str(e.value)
    selection.require_pair(run("x", metrics=metrics("cl-nscl")), "cl-nscl")


def test_require_cl_pairs():
    assert selection.require_cl_pairs(run("x", metrics=metrics("cl-scl"))) == ["cl-scl"]
    r = run("y", metrics=metrics("nscl-scl"), objectives=["nscl", "scl"])
    with pytest.raises(FigureInputError, match=r"pairs of CL .* trained nscl\+scl"):
        selection.require_cl_pairs(r)
    with pytest.raises(FigureInputError, match="cl alone"):  # no metrics.csv columns at all
        selection.require_cl_pairs(run("z", objectives=["cl"]))
