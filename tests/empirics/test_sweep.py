"""Sweeps: grid parsing, local / Ray executors, failing points, resume after an interruption.

The runs are stand-ins from ``_sweep_targets.py`` (tests only), plus one real surrogate
grid; pool and Ray workers import the stand-ins through ``PYTHONPATH``.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from empirics.sweep import (
    MARKER,
    expand_grid,
    load_results,
    main,
    parse_grid,
    parse_value,
    point_name,
    run_sweep,
)

HERE = Path(__file__).resolve().parent
TARGET = "_sweep_targets:quadratic"


@pytest.fixture
def importable(monkeypatch):
    """Workers (spawned or Ray) find the stand-in runners via PYTHONPATH."""
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.syspath_prepend(str(HERE))


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------ grid
def test_parse_grid_values_and_order():
    grid = parse_grid(["b=1,2.5,1e-3", "a=true,none,cosine", "obj=[cl,nscl],[ce]", "e=[]"])
    assert grid == {"b": [1, 2.5, 0.001], "a": [True, None, "cosine"],
                    "obj": [["cl", "nscl"], ["ce"]], "e": [[]]}
    assert list(grid) == ["b", "a", "obj", "e"]
    assert parse_value(" 7 ") == 7 and isinstance(parse_value("7"), int)
    assert parse_value("[1,[2,3]]") == [1, [2, 3]]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tau", "grid spec `key=v1,v2,...`, got 'tau'"),
        ("1x=2", "identifier, got '1x'"),
        ("tau=0.1,,0.5", "non-empty values for grid key 'tau'"),
        ("o=[cl,nscl", "balanced brackets"),
        ("o=cl]", "balanced brackets"),
    ],
)
def test_parse_grid_rejects(spec, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_grid([spec])


def test_parse_grid_rejects_repeated_key():
    with pytest.raises(ValueError, match="each grid key once, got 'a' twice"):
        parse_grid(["a=1", "a=2"])


def test_expand_grid_is_the_product_in_order():
    points = expand_grid({"C": [2, 10], "tau": [0.1, 0.5, 1.0]})
    assert len(points) == 6
    assert points[0] == {"C": 2, "tau": 0.1} and points[-1] == {"C": 10, "tau": 1.0}
    assert points[1] == {"C": 2, "tau": 0.5}  # the last key varies fastest
    with pytest.raises(ValueError, match="non-empty list of values for 'C'"):
        expand_grid({"C": []})
    with pytest.raises(ValueError, match="non-empty list of values for 'C'"):
        expand_grid({"C": "2,3"})


def test_point_name_is_stable_readable_and_depends_on_everything():
    p = {"classes": 10, "tau": 0.5, "objectives": ["cl", "nscl"]}
    name = point_name(p)
    assert name.startswith("classes=10__tau=0.5__objectives=cl+nscl__")
    assert name == point_name(dict(p))  # stable
    assert len(name.rsplit("__", 1)[1]) == 8
    assert name != point_name(p, base={"steps": 10})
    assert name != point_name(p, kind="surrogate")
    assert name != point_name({**p, "tau": 0.25})
    long = point_name({f"key{i}": 123456 for i in range(20)})
    label, digest = long.rsplit("__", 1)
    assert len(label) <= 80 and label.endswith("=123456")  # cut at whole items


# ------------------------------------------------------------------ executors
def _check_quadratic_rows(rows, xs):
    assert [r["name"] for r in rows] == [point_name({"x": x}, target=TARGET) for x in xs]
    for r, x in zip(rows, xs, strict=True):
        assert r["status"] == "ok" and r["error"] in ("", None)
        assert float(r["loss"]) == (x - 1) ** 2
        assert float(r["detail.x2"]) == x * x  # nested summary keys flattened with '.'
        assert json.loads(r["history"]) == [x, x + 1]
        assert r["run_dir"] == f"runs/{r['name']}"


def test_local_executor_runs_every_point(tmp_path, importable):
    res = run_sweep({"x": [0, 1, 2, 3]}, out=tmp_path, target=TARGET, executor="local",
                    workers=2, progress=False)
    assert res.ok and res.ran == 4 and res.skipped == 0
    _check_quadratic_rows(_rows(tmp_path), [0, 1, 2, 3])
    for row in res.rows:
        assert (tmp_path / row["run_dir"] / MARKER).exists()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["grid"] == {"x": [0, 1, 2, 3]} and len(sweep["points"]) == 4
    frame = load_results(tmp_path)
    assert list(frame["x"]) == [0, 1, 2, 3] and list(frame["loss"]) == [1, 0, 1, 4]


def test_runner_may_return_metrics(tmp_path, importable):
    res = run_sweep({"x": [3]}, out=tmp_path, target="_sweep_targets:metrics_only",
                    executor="serial", progress=False)
    assert res.rows[0]["double"] == 6


def test_failing_point_is_reported_and_others_continue(tmp_path, importable, capsys):
    args = ["--grid", "x=0,1,2", "fail=false,true", "--target", TARGET, "--executor", "local",
            "--workers", "2", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "6 point(s)" in err and "3 failed" in err
    rows = _rows(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "failed"] * 3
    for r in rows:
        run_dir = tmp_path / r["run_dir"]
        if r["status"] == "failed":
            assert r["error"].startswith("ValueError: Expected `x` !=")
            assert "Traceback" in (run_dir / "sweep_error.txt").read_text()
            assert not (run_dir / MARKER).exists()
            assert f"failed {r['name']}: ValueError" in err
        else:
            assert float(r["loss"]) == (int(r["x"]) - 1) ** 2
    # a rerun retries only the failed points (which fail again), and skips the others
    res = run_sweep(parse_grid(["x=0,1,2", "fail=false,true"]), out=tmp_path, target=TARGET,
                    executor="serial", progress=False)
    assert res.skipped == 3 and res.ran == 3 and len(res.failed) == 3


def test_dead_worker_is_a_failed_point(tmp_path, importable):
    res = run_sweep({"x": [1], "crash": [True]}, out=tmp_path, target=TARGET, executor="local",
                    workers=1, progress=False)
    assert [r["status"] for r in res.rows] == ["failed"]
    assert res.rows[0]["error"].startswith("worker process died")
    assert not (tmp_path / res.rows[0]["run_dir"] / MARKER).exists()


def test_resume_after_interruption(tmp_path, importable):
    """A sweep stopped mid-way (SIGTERM, as a scheduler sends; Ctrl+C takes the same path),
    then the same command: finished points are not redone."""
    log, hold = tmp_path / "calls.log", tmp_path / "hold"
    hold.touch()
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "empirics.sweep", "--grid", "x=0,1,2", "--target", TARGET,
           "--executor", "local", "--workers", "1", "--out", str(out), "--no-progress"]
    env = {**os.environ, "SWEEP_TEST_LOG": str(log), "SWEEP_TEST_HOLD": str(hold)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    first = out / "runs" / point_name({"x": 0}, target=TARGET) / MARKER
    deadline = time.monotonic() + 60
    while not (first.exists() and log.exists() and log.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; rerun the same command to resume" in err
    rows = _rows(out)
    assert [r["x"] for r in rows] == ["0"]  # only the finished point has a row
    hold.unlink()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "(1 already done, 2 run now, 0 failed)" in done.stderr
    calls = log.read_text().split()
    assert calls.count("0") == 1  # x=0 never ran again
    assert calls.count("2") == 1 and calls.count("1") in (1, 2)
    _check_quadratic_rows(_rows(out), [0, 1, 2])


@pytest.mark.ray
def test_ray_executor_matches_local(tmp_path, importable):
    ray = pytest.importorskip("ray")
    grid = {"x": [0, 1, 2], "fail": [False, True]}
    local = run_sweep(grid, out=tmp_path / "local", target=TARGET, executor="serial",
                      progress=False)
    # one local Ray instance for both sweeps (run_sweep starts one itself when none is up)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = run_sweep(grid, out=tmp_path / "ray", target=TARGET, executor="ray",
                        progress=False)
        again = run_sweep(grid, out=tmp_path / "ray", target=TARGET, executor="ray",
                          progress=False)
        assert ray.is_initialized()  # a session the sweep did not start is left running
    finally:
        ray.shutdown()
    assert res.ran == 6 and len(res.failed) == 3 and not res.interrupted

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(res.rows) == strip(local.rows)
    assert again.skipped == 3 and again.ran == 3


def test_ray_missing_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"cl-nscl-align\[distributed\]"):
        run_sweep({"x": [1]}, out=tmp_path, target=TARGET, executor="ray")
    assert not (tmp_path / "results.csv").exists()  # failed before any work


# ------------------------------------------------------------------ real kinds
def test_surrogate_grid(tmp_path):
    res = run_sweep({"C": [2, 4], "tau": [1.0]}, base={"N": 16, "B": 4, "steps": 5},
                    out=tmp_path, kind="surrogate", executor="serial", progress=False)
    assert res.ok and len(res.rows) == 2
    for row, C in zip(res.rows, (2, 4), strict=True):
        assert row["C"] == C and row["T"] == 5  # the run's summary.json, merged
        assert row["measured"] >= 0 and "theorem1" in row and "event_held" in row
        assert (tmp_path / row["run_dir"] / "summary.json").exists()


@pytest.mark.slow
def test_train_grid_with_the_real_trainer(tmp_path):
    base = {"classes": 3, "train_size": 48, "test_size": 24, "reference_size": 24, "steps": 2,
            "batch_size": 12, "eval_every": 2, "warmup_steps": 0, "device": "cpu",
            "objectives": ["cl", "nscl"]}
    res = run_sweep({"tau": [0.25]}, base=base, out=tmp_path, kind="train",
                    executor="serial", progress=False)
    assert res.ok and [r["tau"] for r in res.rows] == [0.25]
    for row in res.rows:
        cka = row["alignment.cl-nscl.test.z.cka"]  # summary.json, flattened
        assert 0.0 <= cka <= 1.0 + 1e-9
        assert row["steps"] == 2 and row["C"] == 3
        saved = json.loads((tmp_path / row["run_dir"] / "config.json").read_text())
        assert saved["tau"] == row["tau"] and saved["out"].endswith(row["name"])
    assert run_sweep({"tau": [0.25]}, base=base, out=tmp_path, kind="train",
                     executor="serial", progress=False).skipped == 1


def test_cli_with_base_toml(tmp_path, capsys):
    base = tmp_path / "base.toml"
    base.write_text("[surrogate]\nN = 16\nB = 4\nsteps = 3\n", encoding="utf-8")
    out = tmp_path / "sweep"
    args = ["--grid", "C=2,3", "--kind", "surrogate", "--base", str(base), "--executor",
            "serial", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    rows = _rows(out)
    assert [r["C"] for r in rows] == ["2", "3"] and {r["T"] for r in rows} == {"3"}
    assert json.loads((out / "sweep.json").read_text())["base"] == {"N": 16, "B": 4, "steps": 3}
    assert main(args) == 0  # everything done: nothing runs again
    assert "(2 already done, 0 run now, 0 failed)" in capsys.readouterr().err


def test_unknown_config_key_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"surrogate configuration keys, got unknown \['Cx'\]"):
        run_sweep({"Cx": [2]}, out=tmp_path, kind="surrogate", executor="serial")
    with pytest.raises(ValueError, match=r"train configuration keys, got unknown \['taus'\]"):
        run_sweep({"taus": [2]}, out=tmp_path, kind="train", executor="serial")
    with pytest.raises(SystemExit) as exc:
        main(["--grid", "Cx=2", "--kind", "surrogate", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "got unknown ['Cx']" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"executor": "dask"}, "`executor` among local, ray, serial, got 'dask'"),
        ({"kind": "eval"}, "`kind` among train, surrogate, got 'eval'"),
        ({"workers": 0}, "`workers` >= 1, got 0"),
        ({"gpus_per_run": -1}, "`gpus_per_run` >= 0, got -1"),
    ],
)
def test_run_sweep_validates(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_sweep({"x": [1]}, out=tmp_path, target=None if "kind" in kwargs else TARGET,
                  **kwargs)


def test_repeated_points_and_bad_target(tmp_path, capsys):
    with pytest.raises(ValueError, match="distinct grid points"):
        run_sweep({"x": [1, 1]}, out=tmp_path, target=TARGET, executor="serial")
    with pytest.raises(SystemExit) as exc:
        main(["--grid", "x=1", "--target", "no_colon", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "'module:function', got 'no_colon'" in capsys.readouterr().err
