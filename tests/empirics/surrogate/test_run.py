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
from empirics.runs.spec import RunSpec
from empirics.runs.tables import render_rows
from empirics.runs.writer import KEY_FIELD, ROWS_FIELD, load_checkpoint
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
    key = RunSpec("surrogate", SMALL).key()
    rows = {"metrics": 10, "losses": 0, "bounds": 6, "linearization": 0}
    assert run.summary == {**json.loads(json.dumps(res.final())), KEY_FIELD: key,
                           ROWS_FIELD: rows}  # the runs layer's records: the done rule's
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["step"] == 9 and last[KEY_FIELD] == key and last[ROWS_FIELD] == rows


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


# -- strangers are refused on resume -------------------------------------------------------
#: A run stopped after step 7 of 9 (its checkpoint: step 6), and a finished run of another
#: tau (whose last.pt is a stranger).
@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    root = tmp_path_factory.mktemp("surrogate-strangers")

    def kill(t, sim):
        if t == 7:
            raise _Killed

    with pytest.raises(_Killed):
        run_into(SurrogateConfig(**SMALL), root / "stopped", callback=kill)
    run_into(SurrogateConfig(**{**SMALL, "tau": 0.25}), root / "other")
    return root


def _copy(stopped, tmp_path, name="stopped"):
    import shutil

    shutil.copytree(stopped / name, tmp_path / name)
    return tmp_path / name


def _refused(out, capsys):
    """``--resume`` answers exit 2 and one line naming last.pt, before any file is touched."""
    from empirics.surrogate import main

    before = {name: (out / name).read_bytes() for name in ("metrics.csv", "bounds.csv")}
    code = main(["--out", str(out), "--resume", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and "last.pt" in err
    for name, text in before.items():
        assert (out / name).read_bytes() == text, name
    assert not (out / "summary.json").exists()
    return err


def test_a_config_json_edited_to_another_tau_is_refused(stopped, tmp_path, capsys):
    out = _copy(stopped, tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "tau": 0.25}))
    err = _refused(out, capsys)
    assert "configuration" in err and "key" in err


def test_a_checkpoint_copied_from_another_run_is_refused(stopped, tmp_path, capsys):
    import shutil

    out = _copy(stopped, tmp_path)
    shutil.copy(stopped / "other" / "checkpoints" / "last.pt", out / "checkpoints" / "last.pt")
    assert "another" in _refused(out, capsys)


@pytest.mark.parametrize("step", [999, 3, 9, -1, True])
def test_a_checkpoint_whose_step_was_changed_is_refused(stopped, tmp_path, capsys, step,
                                                        edit_checkpoint):
    out = _copy(stopped, tmp_path)
    edit_checkpoint(out, step=step)
    err = _refused(out, capsys)
    assert "step" in err and str(step) in err


def test_a_checkpoint_whose_tables_contradict_its_step_is_refused(stopped, tmp_path, capsys,
                                                                  edit_checkpoint):
    # tables and row counts of step 3 under a checkpoint of step 6: the writer's row counts
    # agree, the step does not
    from empirics.runs.writer import count_rows

    out = _copy(stopped, tmp_path)
    state = edit_checkpoint(out)
    metrics = "".join(state["tables"]["metrics"].splitlines(keepends=True)[:5])
    tables = {**state["tables"], "metrics": metrics}
    edit_checkpoint(out, tables=tables,
                     **{ROWS_FIELD: {**state[ROWS_FIELD], "metrics": count_rows(metrics)}})
    err = _refused(out, capsys)
    assert "step 6" in err and "metrics rows" in err and "up to step 3" in err


def test_a_checkpoint_whose_row_counts_disagree_is_refused(stopped, tmp_path, capsys,
                                                           edit_checkpoint):
    out = _copy(stopped, tmp_path)
    state = edit_checkpoint(out)
    edit_checkpoint(out, **{ROWS_FIELD: {**state[ROWS_FIELD], "metrics": 3}})
    assert "row counts" in _refused(out, capsys)


def test_a_checkpoint_before_the_records_still_resumes(stopped, references, tmp_path,
                                                       edit_checkpoint):
    out = _copy(stopped, tmp_path)
    state = edit_checkpoint(out, **{KEY_FIELD: None, ROWS_FIELD: None})
    assert KEY_FIELD not in state
    run_into(SurrogateConfig(**SMALL), out, resume=True)
    _same_files(out, references["small"])


def test_the_api_raises_the_same_refusals(stopped, tmp_path, edit_checkpoint):
    from empirics.runs.tables import RunFileError

    out = _copy(stopped, tmp_path)
    edit_checkpoint(out, step=999)
    with pytest.raises(RunFileError, match=r"last\.pt: .*step in \[0, 9\].*999"):
        run_into(SurrogateConfig(**SMALL), out, resume=True)


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
