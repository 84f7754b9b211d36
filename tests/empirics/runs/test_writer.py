"""The write protocol: fresh start, resume to byte-identical tables, safe checkpoint loads."""

import os
import pickle

import pytest
import torch

from empirics.runs.tables import RunFileError
from empirics.runs.writer import RunWriter, load_checkpoint, save_checkpoint

COLUMNS = {"metrics": ["step", "x"], "bounds": None}


def _writer(path, log=None):
    return RunWriter(path, kind="train", columns=COLUMNS, log=log)


def _run(path, steps, *, start=0, state=None, log=None, resume=False, kill_after=None):
    """A toy run: evaluates every step, checkpoints every 2 steps."""
    w = _writer(path, log)
    state = w.open({"a": 1}, resume=resume)
    t0 = 0 if state is None else state["step"]
    if state is None:
        w.append("metrics", [{"step": 0, "x": 0.0}])
        w.checkpoint({"step": 0})
    for t in range(t0 + 1, steps + 1):
        w.append("metrics", [{"step": t, "x": t / 3}])
        w.append("bounds", [{"step": t, "b": t * 1.5}])
        if t % 2 == 0:
            w.checkpoint({"step": t})
        if kill_after is not None and t == kill_after:
            return w
    w.finish({"steps": steps})
    return w


def test_fresh_run_refuses_an_occupied_folder(tmp_path):
    _run(tmp_path / "r", 3)
    with pytest.raises(ValueError, match="holding a run"):
        _writer(tmp_path / "r").open({"a": 1}, resume=False)


def test_resume_of_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Expected a run to resume"):
        _writer(tmp_path / "r").open({"a": 1}, resume=True)


def test_resume_with_a_changed_config_is_refused(tmp_path):
    _run(tmp_path / "r", 3)
    with pytest.raises(ValueError, match=r"changed \['a'\]"):
        _writer(tmp_path / "r").open({"a": 2}, resume=True)
    assert _writer(tmp_path / "r").open({"a": 1, "device": "x"}, resume=True,
                                        may_differ=["device"]) is not None


@pytest.mark.parametrize("kill_after", [1, 2, 3, 4, 5])
def test_killed_then_resumed_equals_uninterrupted(tmp_path, kill_after):
    ref = _run(tmp_path / "ref", 6)
    w = _run(tmp_path / "r", 6, kill_after=kill_after)
    _run(tmp_path / "r", 6, resume=True)
    for name in ("metrics", "bounds"):
        assert w.table(name).read_bytes() == ref.table(name).read_bytes()
    assert w.summary.exists()


@pytest.mark.parametrize("damage", ["cut", "garbage", "delete", "append"])
def test_damaged_tables_are_restored_from_the_checkpoint(tmp_path, damage):
    ref = _run(tmp_path / "ref", 6)
    w = _run(tmp_path / "r", 6, kill_after=5)
    m = w.table("metrics")
    if damage == "cut":
        m.write_bytes(m.read_bytes()[:-30])  # into the checkpointed rows
    elif damage == "garbage":
        m.write_bytes(b"\x00\xffgarbage")
    elif damage == "delete":
        m.unlink()
    else:
        m.write_text(m.read_text() + "99,half")
    lines = []
    _run(tmp_path / "r", 6, resume=True, log=lines.append)
    assert m.read_bytes() == ref.table("metrics").read_bytes()
    if damage != "append":
        assert len(lines) == 1 and "metrics.csv" in lines[0] and "restored" in lines[0]


def test_killed_before_the_first_checkpoint_restarts(tmp_path):
    ref = _run(tmp_path / "ref", 4)
    w = _writer(tmp_path / "r")
    w.open({"a": 1}, resume=False)
    w.append("metrics", [{"step": 0, "x": 0.0}])  # killed before checkpoint(0)
    _run(tmp_path / "r", 4, resume=True)
    assert w.table("metrics").read_bytes() == ref.table("metrics").read_bytes()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_planted_checkpoint_does_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "last.pt"
    torch.save({"x": _Payload()}, p)  # a pickle that would run a command when loaded
    with pytest.raises(RunFileError, match=r"last.pt.*refused unread"):
        load_checkpoint(p)
    assert not (tmp_path / "PWNED").exists()
    p.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(RunFileError, match="last.pt"):
        load_checkpoint(p)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"random bytes", None])
def test_unreadable_checkpoints_are_named(tmp_path, content):
    p = tmp_path / "last.pt"
    if content is None:
        save_checkpoint({"a": torch.ones(3)}, p)
        p.write_bytes(p.read_bytes()[:40])  # truncated
    else:
        p.write_bytes(content)
    with pytest.raises(RunFileError, match="last.pt"):
        load_checkpoint(p)


def test_checkpoint_round_trip(tmp_path):
    p = tmp_path / "c" / "last.pt"
    save_checkpoint({"a": torch.arange(3), "b": {"c": 1.5, "d": "x", "e": [1, None]}}, p)
    got = load_checkpoint(p)
    assert torch.equal(got["a"], torch.arange(3)) and got["b"] == {"c": 1.5, "d": "x",
                                                                   "e": [1, None]}
