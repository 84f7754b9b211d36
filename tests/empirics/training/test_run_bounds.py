"""bounds.csv (empirics.training.run_bounds): Corollary 3's batch-composition event in the
trainer, per-step q_max against the surrogate's masks, the bounds.csv columns, and resume
(carried and replayed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bounds
from empirics.runs.layout import RunDir
from empirics.runs.reader import read_table
from empirics.runs.writer import load_checkpoint, save_checkpoint
from empirics.surrogate.dynamics import batch_masks
from empirics.training.lockstep import LockstepTrainer
from empirics.training.run_bounds import BatchEvent, batch_q_max
from empirics.training.trainer import RunInterrupted, train


def test_batch_q_max_is_the_surrogates_q_maximised():
    gen = np.random.default_rng(0)
    for _ in range(20):
        labels = gen.integers(0, 4, size=30)
        batch = gen.choice(30, size=12, replace=False)
        q = batch_masks(batch, labels)["q"]
        assert batch_q_max(torch.as_tensor(labels[batch])) == float(q.max())


def test_batch_event_windows_and_state():
    ev = BatchEvent(pi_max=0.2, eps=0.1)
    assert ev.close_window() == {"q_max": None, "q_bound": pytest.approx(0.3),
                                 "event_held": True}
    ev.update(0.25)
    ev.update(0.1)
    state = ev.state_dict()
    assert ev.close_window()["q_max"] == 0.25
    ev.update(0.5)
    row = ev.close_window()
    assert row["q_max"] == 0.5 and row["event_held"] is False and ev.run_max == 0.5
    ev.update(0.0)
    assert ev.close_window()["event_held"] is False  # once broken, for the rest of the run
    other = BatchEvent(pi_max=0.2, eps=0.1)
    other.load_state_dict(state)
    assert other.close_window()["q_max"] == 0.25
    with pytest.raises(ValueError, match="q_bound"):
        BatchEvent(pi_max=0.5, eps=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="B >= 2"):
        batch_q_max(torch.tensor([1]))


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny):
    cfg = tiny(tmp_path_factory.mktemp("event"), "run", eval_every=3, checkpoint_every=4,
               objectives="cl,nscl")
    return cfg, RunDir(train(cfg, progress=False))


def test_bounds_csv_has_the_event(run):
    cfg, rd = run
    tr = LockstepTrainer(cfg)  # the same batch order (a pure function of the step)
    labels = tr.train_set.y.cpu()
    q = [batch_q_max(labels[tr.batch_indices_cpu(t)]) for t in range(tr.T)]
    bound = tr.pi_max + float(bounds.eps(cfg.batch_size, cfg.delta, tr.T))
    df = read_table(rd.bounds)
    assert list(df["step"]) == [3, 6, 9, 12]
    for _, r in df.iterrows():
        t = int(r["step"])
        assert r["q_max"] == max(q[t - 3:t])  # the largest since the previous evaluation
        assert r["q_bound"] == pytest.approx(bound, rel=1e-15)
        assert bool(r["event_held"]) == all(v <= bound for v in q[:t])
    import json

    s = json.loads(rd.summary.read_text())
    assert s["q_max"] == max(q) and s["event_held"] == all(v <= bound for v in q)


def test_a_broken_event_reaches_bounds_csv(tiny):
    # pi_max + eps is 0.94 here, so the event holds by a wide margin: lower the bound by hand
    tr = LockstepTrainer(tiny(batch_size=8, objectives="cl"))
    tr.batch_event.q_bound = 0.0  # every batch with a same-class pair breaks it
    tr.train_step(0)
    row = tr.evaluate(1)["bounds"][0]
    assert row["event_held"] is False and row["q_max"] > 0


def _tables(rd: RunDir) -> dict[str, bytes]:
    return {n: rd.table(n).read_bytes() for n in ("metrics", "losses", "bounds")}


def test_resume_carries_the_event(run, tmp_path):
    cfg, ref = run
    out = cfg.replace(out=str(tmp_path / "stopped"))
    with pytest.raises(RunInterrupted):
        train(out, progress=False, stop_after=5)  # checkpoint at 4, inside a window (3, 6]
    state = load_checkpoint(RunDir(out.out).last)
    assert state["step"] == 4 and state["batch_event"]["window"] is not None
    train(out, progress=False, resume=True)
    assert _tables(RunDir(out.out)) == _tables(ref)


def test_resume_from_a_checkpoint_without_the_event_replays_it(run, tmp_path):
    cfg, ref = run
    out = cfg.replace(out=str(tmp_path / "old"))
    with pytest.raises(RunInterrupted):
        train(out, progress=False, stop_after=5)
    last = RunDir(out.out).last
    state = load_checkpoint(last)
    del state["batch_event"]  # as written before the record existed
    save_checkpoint(state, last)
    train(out, progress=False, resume=True)
    assert _tables(RunDir(out.out)) == _tables(ref)
