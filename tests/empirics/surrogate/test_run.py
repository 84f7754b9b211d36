"""Tests for empirics.surrogate.run: the run directory, and a resume that gives the same bytes.

A run killed at any instant and resumed must write metrics.csv, bounds.csv and summary.json
byte for byte as an uninterrupted run does. Three ways to kill it:

- a callback that raises after every step k (in process);
- every write boundary: the k-th atomic rename raises, before or after it lands;
- real ``kill -9`` of ``python -m empirics.surrogate`` at seeded random instants.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from empirics.runs.reader import read_run
from empirics.runs.tables import render_rows
from empirics.runs.writer import load_checkpoint
from empirics.surrogate import SurrogateConfig, run_into, simulate, write_run
from empirics.surrogate.run import BOUNDS_COLUMNS, METRIC_COLUMNS, metrics_rows

FILES = ("metrics.csv", "bounds.csv", "summary.json")
#: Evaluations at 2, 4, 6, 8, 9 and checkpoints at 3, 6, 9: rows are appended at both.
SMALL = dict(C=4, N=16, B=4, tau=0.5, steps=9, lr=8.0, eval_every=2, checkpoint_every=3)
#: Every step evaluated (a resume that kept one row too many would show here).
EVERY = {**SMALL, "eval_every": 1, "checkpoint_every": 2}
#: The same, shorter: every write boundary of it is a kill point.
SHORT = {**EVERY, "steps": 5}


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler in the code catches it."""


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    root = tmp_path_factory.mktemp("surrogate-ref")
    return {name: run_into(SurrogateConfig(**kw), root / name)
            for name, kw in (("small", SMALL), ("every", EVERY), ("short", SHORT))}


def _same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_run_directory_holds_the_common_format(references):
    out = references["small"]
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.csv", "bounds.csv",
                                                "summary.json", "checkpoints"}
    assert (out / "checkpoints" / "last.pt").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config.pop("kind") == "surrogate"
    assert SurrogateConfig.from_dict(config) == SurrogateConfig(**SMALL)
    run = read_run(out)
    assert run.kind == "surrogate" and run.done
    assert list(run.metrics.columns) == list(METRIC_COLUMNS)
    assert list(run.bounds.columns) == list(BOUNDS_COLUMNS)
    assert run.metrics["step"].tolist() == list(range(10))
    assert run.bounds["step"].tolist() == [0, 2, 4, 6, 8, 9]
    # the rows are the in-memory run's, and summary.json its final record
    res = simulate(SurrogateConfig(**SMALL))
    np.testing.assert_array_equal(run.metrics["sim_gap"], res.measured)
    np.testing.assert_array_equal(run.metrics["certificate_lipschitz"],
                                  res.certificate_lipschitz)
    np.testing.assert_array_equal(run.bounds["theorem1"], res.theorem1[[0, 2, 4, 6, 8, 9]])
    assert run.summary == json.loads(json.dumps(res.final()))
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 9


@pytest.mark.parametrize("name", ["small", "every"])
def test_killed_after_every_step_then_resumed_gives_the_same_bytes(references, tmp_path, name):
    kw = SMALL if name == "small" else EVERY
    for k in range(1, kw["steps"]):
        out = tmp_path / f"k{k}"

        def kill(t, sim, k=k):
            if t == k:
                raise _Killed

        with pytest.raises(_Killed):
            run_into(SurrogateConfig(**kw), out, callback=kill)
        assert not (out / "summary.json").exists()
        run_into(SurrogateConfig(**kw), out, resume=True)
        _same_files(out, references[name])


def test_killed_at_every_write_boundary(references, tmp_path, kill_at_every_write):
    def run(out, resume):
        run_into(SurrogateConfig(**SHORT), out, resume=resume)

    n, outs = kill_at_every_write(run, tmp_path)
    assert n == 18  # config, two tables per step, four checkpoints, summary
    for out in outs:
        _same_files(out, references["short"])


def test_a_table_cut_mid_row_is_restored_on_resume(references, tmp_path):
    out = tmp_path / "cut"

    def kill(t, sim):
        if t == 5:
            raise _Killed

    with pytest.raises(_Killed):
        run_into(SurrogateConfig(**EVERY), out, callback=kill)
    text = (out / "metrics.csv").read_bytes()
    (out / "metrics.csv").write_bytes(text[:-37])  # a row cut in half
    run_into(SurrogateConfig(**EVERY), out, resume=True)
    _same_files(out, references["every"])


def test_resume_of_a_finished_run_rewrites_the_same_files(references, tmp_path):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(references["small"], out)
    run_into(SurrogateConfig(**SMALL), out, resume=True)
    _same_files(out, references["small"])


def test_resume_may_change_where_and_how_often_it_writes_not_what(references, tmp_path):
    out = tmp_path / "changed"

    def kill(t, sim):
        if t == 4:
            raise _Killed

    with pytest.raises(_Killed):
        run_into(SurrogateConfig(**SMALL), out, callback=kill)
    with pytest.raises(ValueError, match=r"changed \['tau'\]"):
        run_into(SurrogateConfig(**{**SMALL, "tau": 0.7}), out, resume=True)
    run_into(SurrogateConfig(**{**SMALL, "checkpoint_every": 1}), out, resume=True)
    for name in ("metrics.csv", "bounds.csv", "summary.json"):
        assert (out / name).read_bytes() == (references["small"] / name).read_bytes()


def test_fresh_run_refuses_an_occupied_folder_and_resume_needs_a_run(references, tmp_path):
    with pytest.raises(ValueError, match="--resume"):
        run_into(SurrogateConfig(**SMALL), references["small"])
    with pytest.raises(ValueError, match="no config.json"):
        run_into(SurrogateConfig(**SMALL), tmp_path / "empty", resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="`out` to be a folder"):
        run_into(SurrogateConfig(**SMALL), tmp_path / "file")


def test_write_run_writes_the_same_tables_as_run_into(references, tmp_path):
    out = write_run(simulate(SurrogateConfig(**SMALL)), tmp_path / "w")
    _same_files(out, references["small"])
    write_run(simulate(SurrogateConfig(**SMALL)), out)  # a surrogate run there: replaced
    _same_files(out, references["small"])
    other = tmp_path / "train"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "train"}))
    with pytest.raises(ValueError, match="'train' run"):
        write_run(simulate(SurrogateConfig(**SMALL)), other)


def test_metrics_rows_of_a_partial_record_continue_the_whole(references):
    from empirics.surrogate import Simulation

    sim = Simulation(SurrogateConfig(**SMALL))
    sim.start()
    rows = metrics_rows(sim.result(states=False))
    while sim.t < sim.T:
        sim.advance()
        rows += metrics_rows(sim.result(states=False), sim.t)
    whole = metrics_rows(simulate(SurrogateConfig(**SMALL)))
    assert render_rows(rows, METRIC_COLUMNS, header=True) == render_rows(
        whole, METRIC_COLUMNS, header=True)


# -- real kill -9 ---------------------------------------------------------------------------
KILL = dict(C=4, N=32, B=8, tau=0.5, steps=60, lr=8.0, eval_every=1, checkpoint_every=4)


def _argv(out: Path) -> list[str]:
    argv = [sys.executable, "-m", "empirics.surrogate", "--no-progress", "--format", "json",
            "--out", str(out)]
    for k, v in KILL.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


def _kill_then_resume(job: tuple[Path, float]) -> Path:
    out, delay = job
    proc = subprocess.Popen(_argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    argv = _argv(out) + (["--resume"] if (out / "config.json").exists() else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_kill_9_at_random_instants_then_resume(tmp_path):
    reference = run_into(SurrogateConfig(**KILL), tmp_path / "reference")
    t0 = time.perf_counter()
    ok = subprocess.run(_argv(tmp_path / "timed"), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    duration = time.perf_counter() - t0
    _same_files(tmp_path / "timed", reference)  # the command line writes the same bytes
    delays = np.random.default_rng(2026).uniform(0.3 * duration, duration, size=5)
    jobs = [(tmp_path / f"kill{i}", float(d)) for i, d in enumerate(delays)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for out in pool.map(_kill_then_resume, jobs):
            _same_files(out, reference)
    assert os.path.getsize(reference / "metrics.csv") > 0
