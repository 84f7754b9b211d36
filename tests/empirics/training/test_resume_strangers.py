"""``--resume`` refuses strangers, in one line naming the file, exit status 2 (issue 20).

A checkpoint names the run's cache key, the rows of every table it carries and the CPU
thread count; a resume compares them with the run before touching any file. Each
stranger below is built from a real tiny run stopped at step 4 of 8:

- ``config.json`` edited to another ``tau`` (the run would mix two configurations);
- ``last.pt`` copied from a run of another configuration;
- a checkpoint whose ``step`` was changed (999, beyond ``T``; 2, before its rows);
- a checkpoint whose row counts do not match the tables it carries;
- another ``--threads`` than the checkpoint's.

A checkpoint written before the records (no key, no row counts, no thread count) still
resumes, its key derived from the configuration it holds; one without the tables' text
(format 1) is refused as written by an older version.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from empirics.runs.tables import RunFileError
from empirics.runs.writer import KEY_FIELD, ROWS_FIELD
from empirics.training.cli import main
from empirics.training.config import TrainConfig
from empirics.training.trainer import train

TINY = [
    "--classes", "3", "--train-size", "48", "--test-size", "24", "--reference-size", "12",
    "--batch-size", "12", "--steps", "8", "--warmup-steps", "0", "--eval-every", "2",
    "--checkpoint-every", "2", "--feature-dim", "8", "--proj-dim", "4",
    "--objectives", "cl,nscl", "--device", "cpu", "--no-progress",
]  # fmt: skip
TABLES = ("metrics.csv", "losses.csv", "bounds.csv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run stopped after step 4 of 8, the same run finished, and a finished run of
    another tau (whose last.pt is the stranger of case b)."""
    root = tmp_path_factory.mktemp("strangers")
    assert main([*TINY, "--out", str(root / "stopped"), "--stop-after", "4"]) == 3
    assert main([*TINY, "--out", str(root / "full")]) == 0
    assert main([*TINY, "--tau", "0.25", "--out", str(root / "other")]) == 0
    return root


def _copy(runs, tmp_path, name="stopped", dst="copy"):
    shutil.copytree(runs / name, tmp_path / dst)
    return tmp_path / dst


def _refused(out, capsys, *extra):
    before = {name: (out / name).read_bytes() for name in TABLES}
    code = main(["--out", str(out), "--resume", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    for name in TABLES:  # refused before any file was touched
        assert (out / name).read_bytes() == before[name], name
    assert not (out / "summary.json").exists()
    return err


def test_a_config_json_edited_to_another_tau_is_refused(runs, tmp_path, capsys):
    out = _copy(runs, tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "tau": 0.25}))
    err = _refused(out, capsys)
    assert "last.pt" in err and "configuration" in err and "key" in err


def test_a_checkpoint_copied_from_another_run_is_refused(runs, tmp_path, capsys):
    out = _copy(runs, tmp_path)
    shutil.copy(runs / "other" / "checkpoints" / "last.pt", out / "checkpoints" / "last.pt")
    err = _refused(out, capsys)
    assert "last.pt" in err and "another" in err


@pytest.mark.parametrize("step", [999, 2, 3, -1])
def test_a_checkpoint_whose_step_was_changed_is_refused(runs, tmp_path, capsys, step,
                                                        edit_checkpoint):
    out = _copy(runs, tmp_path)
    edit_checkpoint(out, step=step)
    err = _refused(out, capsys)
    assert "last.pt" in err and "step" in err and str(step) in err


def test_a_checkpoint_whose_row_counts_disagree_is_refused(runs, tmp_path, capsys, edit_checkpoint):
    out = _copy(runs, tmp_path)
    state = edit_checkpoint(out)
    edit_checkpoint(out, **{ROWS_FIELD: {**state[ROWS_FIELD], "metrics": 3}})
    err = _refused(out, capsys)
    assert "last.pt" in err and "row counts" in err


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for --threads 2")
def test_a_resume_with_another_thread_count_is_refused(runs, tmp_path, capsys):
    out = _copy(runs, tmp_path)
    err = _refused(out, capsys, "--threads", "2")
    assert "`threads` = 1" in err and "got 2" in err and "last.pt" in err
    assert main(["--out", str(out), "--resume", "--no-progress", "--threads", "1"]) == 0


def test_a_checkpoint_before_the_records_still_resumes(runs, tmp_path, capsys, edit_checkpoint):
    out = _copy(runs, tmp_path)
    state = edit_checkpoint(out, **{KEY_FIELD: None, ROWS_FIELD: None, "threads": None})
    assert KEY_FIELD not in state and "config" in state
    assert main(["--out", str(out), "--resume", "--no-progress"]) == 0
    capsys.readouterr()
    for name in TABLES:
        assert (out / name).read_bytes() == (runs / "full" / name).read_bytes(), name
    # and its configuration still names it: an edited config.json is refused
    old = _copy(runs, tmp_path, dst="old")
    edit_checkpoint(old, **{KEY_FIELD: None, ROWS_FIELD: None, "threads": None})
    cfg = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**cfg, "tau": 0.25}))
    assert "last.pt" in _refused(old, capsys)


def test_a_checkpoint_without_the_tables_text_is_refused(runs, tmp_path, capsys, edit_checkpoint):
    out = _copy(runs, tmp_path)
    edit_checkpoint(out, tables=None)
    err = _refused(out, capsys)
    assert "last.pt" in err and "older version" in err


def test_the_api_raises_the_same_refusals(runs, tmp_path):
    out = _copy(runs, tmp_path)
    saved = json.loads((out / "config.json").read_text())
    saved.pop("kind")
    cfg = TrainConfig.from_dict({**saved, "tau": 0.25, "out": str(out)})
    (out / "config.json").write_text(json.dumps({"kind": "train", **cfg.to_dict()}))
    with pytest.raises(RunFileError, match="last.pt"):
        train(cfg, progress=False, resume=True)
    with pytest.raises(ValueError, match="Expected `out` to be a path, got ''"):
        cfg.replace(out="")


def _without(text: str, gone: tuple[str, ...]) -> str:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, c in enumerate(rows[0]) if c not in gone]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return out.getvalue()


def test_a_run_of_an_older_version_resumes_and_reads_with_its_own_columns(
        runs, tmp_path, capsys, edit_checkpoint):
    """A run started before procrustes, mutual_knn and weight_distance existed: the resume
    keeps its columns (one log line), the reader gives the missing measures as NaN and the
    summary as null; every other number is the uninterrupted run's."""
    from empirics.runs.reader import read_run

    gone = ("procrustes", "mutual_knn", "weight_distance")
    out = _copy(runs, tmp_path)
    (out / "metrics.csv").write_text(_without((out / "metrics.csv").read_text(), gone))
    state = edit_checkpoint(out)
    tables = {**state["tables"], "metrics": _without(state["tables"]["metrics"], gone)}
    edit_checkpoint(out, tables=tables)
    assert main(["--out", str(out), "--resume", "--no-progress"]) == 0
    said = capsys.readouterr()
    assert "started with other columns" in said.out + said.err
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert not set(gone) & set(header)
    old, new = read_run(out), read_run(runs / "full")
    for c in ("procrustes", "mutual_knn"):  # a registered measure the run lacks: NaN
        assert c in old.metrics.columns and old.metrics[c].isna().all()
    for c in header:  # the kept columns hold the uninterrupted run's numbers
        assert old.metrics[c].astype(str).tolist() == new.metrics[c].astype(str).tolist(), c
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["alignment"]["cl-nscl"]["train"]["z"]
    assert entry["procrustes"] is None and entry["weight_distance"] is None
    assert entry["cka"] == json.loads((runs / "full" / "summary.json").read_text())[
        "alignment"]["cl-nscl"]["train"]["z"]["cka"]
