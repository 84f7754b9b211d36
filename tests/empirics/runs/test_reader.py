"""The torch-free reader: every kind, earlier formats, bad files named."""

import json
import subprocess
import sys

import pytest

from empirics.runs.reader import find_runs, read_run, read_table
from empirics.runs.tables import RunFileError


def _write(d, config, metrics="step,x\n0,1.5\n", **files):
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    (d / "metrics.csv").write_text(metrics)
    for name, text in files.items():
        (d / name.replace("_", ".")).write_text(text)
    return d


def test_current_and_earlier_formats(tmp_path):
    a = read_run(_write(tmp_path / "a", {"kind": "surrogate", "C": 4},
                        bounds_csv="step,sim_gap\n3,2.0\n", summary_json='{"m": 1}'))
    assert a.kind == "surrogate" and a.config == {"C": 4} and a.done
    assert a.bounds["sim_gap"].tolist() == [2.0]
    old_train = read_run(_write(tmp_path / "b", {"tau": 0.5}))
    assert old_train.kind == "train" and not old_train.done and old_train.losses.empty
    old_sur = read_run(_write(tmp_path / "c", {"kind": "surrogate"},
                              bounds_json='{"T": 9, "theorem1": 3.5}'))
    assert old_sur.bounds.loc[0, "step"] == 9 and old_sur.bounds.loc[0, "theorem1"] == 3.5
    assert [p.name for p in find_runs(tmp_path)] == ["a", "b", "c"]


def test_types(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("step,ok,v,s\n0,true,,a\n1,false,2.5,b\n")
    df = read_table(p)
    assert df["step"].dtype.kind == "i" and df["ok"].tolist() == [True, False]
    assert df["v"].isna().tolist() == [True, False] and df["s"].tolist() == ["a", "b"]


@pytest.mark.parametrize("metrics, match", [
    ("step,x\n0,1\n1,2,3\n", "line 3"),
    ("step,x\nzero,1\n", "line 2: expected an integer step"),
    ("step,x\n0,1\n1,", "line 3: expected a complete last row"),
])
def test_bad_tables_name_the_file_and_line(tmp_path, metrics, match):
    d = _write(tmp_path / "r", {"kind": "train"}, metrics=metrics)
    with pytest.raises(RunFileError, match=f"metrics.csv, {match}"):
        read_run(d)


def test_bad_config_is_named(tmp_path):
    d = _write(tmp_path / "r", {})
    (d / "config.json").write_text("{not json")
    with pytest.raises(RunFileError, match="config.json: expected JSON"):
        read_run(d)


def test_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory"):
        read_run(tmp_path)


def test_reader_imports_no_torch():
    code = "import sys, empirics.runs; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_floats_round_trip_exactly(tmp_path):
    import numpy as np

    g = np.random.default_rng(0)
    x = g.standard_normal(5000) * 10.0 ** g.integers(-300, 300, 5000)
    p = tmp_path / "t.csv"
    p.write_text("step,v\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(x)))
    assert np.array_equal(read_table(p)["v"].to_numpy(), x)
