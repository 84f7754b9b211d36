"""Sweeps: grid parsing, points as run specs, executors, failures, resume, kill safety.

The runs are stand-ins from ``_sweep_targets.py`` (tests only), tiny surrogate grids and
tiny training runs; pool and Ray workers import the stand-ins through ``PYTHONPATH``.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from empirics.runs import RunSpec, label
from empirics.runs.launcher import ERROR_FILE
from empirics.studies.sweep import _parser
from empirics.sweep import (
    expand_grid,
    load_results,
    main,
    parse_grid,
    parse_value,
    point_name,
    run_sweep,
    sweep_specs,
)

HERE = Path(__file__).resolve().parent
TARGET = "_sweep_targets:quadratic"
TABLES = ("metrics.csv", "losses.csv", "bounds.csv")


@pytest.fixture
def importable(monkeypatch):
    """Workers (spawned or Ray) find the stand-in runners via PYTHONPATH."""
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.syspath_prepend(str(HERE))


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _name(point: dict, target: str | None = TARGET, base: dict | None = None,
          kind: str = "train") -> str:
    spec = RunSpec("custom" if target else kind, {**(base or {}), **point}, target=target)
    return point_name(point, spec)


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


def test_point_name_is_the_label_and_the_run_key():
    p = {"classes": 10, "tau": 0.5, "objectives": ["cl", "nscl"]}
    spec = RunSpec("train", p)
    name = point_name(p, spec)
    assert name == f"{label(p)}__{spec.key()}"
    assert name.startswith("classes=10__tau=0.5__objectives=cl+nscl__")
    assert len(name.rsplit("__", 1)[1]) == 16
    # the key covers the base (a different base never reuses a result) and the kind
    assert name != _name(p, None, base={"steps": 10})
    assert _name({"C": 4}, None, kind="surrogate") != _name({"C": 4}, TARGET)
    # a field equal to its default is the same run: the same directory
    assert _name({"tau": 0.5}, None) == _name({"tau": 0.5}, None, base={"steps": 400})
    long = _name({f"key{i}": 123456 for i in range(20)})
    readable = long.rsplit("__", 1)[0]
    assert len(readable) <= 80 and readable.endswith("=123456")  # cut at whole items


# ------------------------------------------------------------------ executors
def _check_quadratic_rows(rows, xs):
    assert [r["name"] for r in rows] == [_name({"x": x}) for x in xs]
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
        assert (tmp_path / row["run_dir"] / "summary.json").exists()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["grid"] == {"x": [0, 1, 2, 3]} and len(sweep["points"]) == 4
    frame = load_results(tmp_path)
    assert list(frame["x"]) == [0, 1, 2, 3] and list(frame["loss"]) == [1, 0, 1, 4]


def test_rerun_skips_done_points_and_keeps_their_row(tmp_path, importable):
    first = run_sweep({"x": [0, 1]}, out=tmp_path, target=TARGET, executor="serial",
                      progress=False)
    text = (tmp_path / "results.csv").read_text()
    again = run_sweep({"x": [0, 1]}, out=tmp_path, target=TARGET, executor="serial",
                      progress=False)
    assert again.skipped == 2 and again.ran == 0
    assert (tmp_path / "results.csv").read_text() == text  # seconds kept from the run
    assert [r["seconds"] for r in again.rows] == [r["seconds"] for r in first.rows]


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
            assert "Traceback" in (run_dir / ERROR_FILE).read_text()
            assert not (run_dir / "summary.json").exists()
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
    assert not (tmp_path / res.rows[0]["run_dir"] / "summary.json").exists()


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
    first = out / "runs" / _name({"x": 0}) / "summary.json"
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
        assert row["name"] == _name({"C": C, "tau": 1.0}, None, kind="surrogate",
                                    base={"N": 16, "B": 4, "steps": 5})


TINY = {"dataset": "synthetic", "classes": 2, "train_size": 32, "test_size": 16,
        "reference_size": 8, "batch_size": 8, "steps": 6, "eval_every": 1,
        "checkpoint_every": 2, "warmup_steps": 0, "feature_dim": 8, "proj_dim": 4,
        "objectives": ["cl", "nscl"], "device": "cpu"}


@pytest.mark.slow
def test_train_grid_with_the_real_trainer(tmp_path):
    res = run_sweep({"tau": [0.25]}, base=TINY, out=tmp_path, kind="train",
                    executor="serial", progress=False)
    assert res.ok and [r["tau"] for r in res.rows] == [0.25]
    for row in res.rows:
        cka = row["alignment.cl-nscl.test.z.cka"]  # summary.json, flattened
        assert 0.0 <= cka <= 1.0 + 1e-9
        assert row["steps"] == 6 and row["C"] == 2
        saved = json.loads((tmp_path / row["run_dir"] / "config.json").read_text())
        assert saved["tau"] == row["tau"] and saved["out"].endswith(row["name"])
    assert run_sweep({"tau": [0.25]}, base=TINY, out=tmp_path, kind="train",
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


def _usage_error(capsys, args) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m empirics.sweep: error: ")
    return err


def test_unknown_config_key_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"surrogate configuration keys, got unknown \['Cx'\]"):
        run_sweep({"Cx": [2]}, out=tmp_path, kind="surrogate", executor="serial")
    with pytest.raises(ValueError, match=r"train configuration keys, got unknown \['taus'\]"):
        run_sweep({"taus": [2]}, out=tmp_path, kind="train", executor="serial")
    err = _usage_error(capsys, ["--grid", "Cx=2", "--kind", "surrogate", "--out",
                                str(tmp_path)])
    assert "got unknown ['Cx'] (in `grid`)" in err


def test_base_toml_is_validated_before_any_run(tmp_path, capsys):
    """Unknown keys and bad values of the base: one line, exit 2, nothing written."""
    out = tmp_path / "sweep"
    base = tmp_path / "base.toml"
    base.write_text("steps = 3\nlearning_rate = 0.1\n", encoding="utf-8")
    err = _usage_error(capsys, ["--grid", "tau=0.5", "--base", str(base), "--out", str(out)])
    assert "train configuration keys, got unknown ['learning_rate'] (in `base`)" in err
    base.write_text("[train]\nsteps = 3\ntau = -1.0\n", encoding="utf-8")
    err = _usage_error(capsys, ["--grid", "seed=0", "--base", str(base), "--out", str(out)])
    assert "Expected `tau` > 0, got -1.0" in err
    err = _usage_error(capsys, ["--grid", "seed=0", "--base", str(tmp_path / "no.toml"),
                                "--out", str(out)])
    assert "no.toml" in err
    base.write_text("steps = [", encoding="utf-8")
    assert str(base) in _usage_error(capsys, ["--grid", "seed=0", "--base", str(base),
                                              "--out", str(out)])
    assert not out.exists()


def test_out_that_is_a_file_or_not_writable(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    for out in (afile, afile / "below"):
        err = _usage_error(capsys, ["--grid", "C=2", "--kind", "surrogate", "--out", str(out)])
        assert str(afile) in err
    with pytest.raises(ValueError, match="Expected `out` to be a folder"):
        run_sweep({"C": [2]}, out=afile, kind="surrogate", executor="serial")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        err = _usage_error(capsys, ["--grid", "C=2", "--kind", "surrogate", "--out",
                                    str(locked)])
        assert "permission denied" in err


def test_every_flag_has_a_description_and_its_default():
    for action in _parser()._actions:
        if action.dest == "help":
            continue
        assert action.help, action.dest
        assert "default" in action.help or "required" in action.help, action.dest
    helptext = " ".join(subprocess.run([sys.executable, "-m", "empirics.sweep", "--help"],
                                       capture_output=True, text=True, timeout=60).stdout.split())
    assert "--executor {serial,local,ray}" in helptext and "(default: local)" in helptext


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"executor": "dask"}, "`executor` among serial, local, ray, got 'dask'"),
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
        sweep_specs({"x": [1, 1]}, target=TARGET)
    err = _usage_error(capsys, ["--grid", "x=1", "--target", "no_colon", "--out",
                                str(tmp_path)])
    assert "'module:function', got 'no_colon'" in err


# ------------------------------------------------------------------ kill safety
#: What a run imports on first use (the trainer's torch.use_deterministic_algorithms
#: imports torch._inductor, 2 s; bounds imports sympy): imported before the kill clock
#: starts, so the random instants fall on the sweep's own work.
FIRST_USE = ("torch._inductor.config", "bounds", "pandas", "empirics.training.trainer")
CHILD = (f"import sys, {', '.join(FIRST_USE)}\n"
         "from empirics.sweep import main\n"
         "print('ready', flush=True)\n"
         "sys.exit(main(sys.argv[1:]))\n")
WALL = ("seconds", "wall_seconds", "steps_per_second")  # wall times, not results


def _comparable(out: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in WALL} for r in _rows(out)]


@pytest.mark.slow
def test_sweep_killed_at_random_instants_ends_as_uninterrupted(tmp_path):
    """kill -9 (and Ctrl+C) of a sweep at seeded random instants, each time rerun on the
    same folder, then run to the end: the same results.csv up to wall times, and every
    run's tables byte-identical to an uninterrupted sweep's."""
    base = tmp_path / "base.toml"
    base.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in TINY.items()),
                    encoding="utf-8")
    grid = ["seed=0,1,2"]
    for module in FIRST_USE:  # time the work, not the imports
        importlib.import_module(module)

    t0 = time.perf_counter()
    ref = run_sweep(parse_grid(grid), base=TINY, out=tmp_path / "ref", executor="serial",
                    progress=False)
    work = time.perf_counter() - t0
    assert ref.ok and len(ref.rows) == 3

    out = tmp_path / "killed"
    argv = [sys.executable, "-c", CHILD, "--grid", *grid, "--base", str(base), "--executor",
            "serial", "--out", str(out), "--no-progress"]
    rng = np.random.default_rng(2027)
    kills = mid_run = 0  # signals sent; of them, inside a run (a run left unfinished)
    for sig in (signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGKILL):
        left = sum(not (out / "runs" / r["name"] / "summary.json").exists() for r in ref.rows)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        # a random instant of the work left (runs are resumed, so less is left each time)
        time.sleep(float(rng.uniform(0.0, work * max(left, 1) / len(ref.rows))))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:  # finished before the signal: nothing left to kill
            break
        kills += 1
        mid_run += any((d / "config.json").exists() and not (d / "summary.json").exists()
                       for d in (out / "runs").glob("*"))
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL, err
        else:  # 130 (-2 when it came as the process exited); a Ctrl+C inside a lazy import
            # can surface as failed runs instead (1), which the rerun runs again
            assert proc.returncode in (130, -signal.SIGINT, 1), err
    assert kills >= 3 and mid_run >= 1
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _comparable(out) == _comparable(tmp_path / "ref")
    assert (out / "results.csv").read_text().count("\n") == 4
    for row in ref.rows:
        for table in TABLES:
            a = (tmp_path / "ref" / row["run_dir"] / table).read_bytes()
            assert (out / row["run_dir"] / table).read_bytes() == a, (row["name"], table)
