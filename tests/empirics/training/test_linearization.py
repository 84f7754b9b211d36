"""[P2] Appendix D on a run (``linearization_every``): the rows, their values against the
curvature tools on saved weights, and the rest of the run unchanged when it is on or off."""

from __future__ import annotations

import json

import pytest
import torch

from empirics.runs.layout import TABLES, RunDir
from empirics.runs.reader import read_table
from empirics.runs.tables import read_rows
from empirics.training.curvature import jacobian_norm, parameters, sgd_remainder
from empirics.training.linearization import LINEARIZATION_COLUMNS, POWER_ITERS, POWER_TOL
from empirics.training.lockstep import LockstepTrainer
from empirics.training.trainer import RunInterrupted, train

KW = dict(objectives="cl,nscl,ce", eval_every=2, checkpoint_every=4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("lin")
    off = RunDir(train(tiny(root, "off", **KW), progress=False))
    on_cfg = tiny(root, "on", linearization_every=4, linearization_size=16, **KW)
    on = RunDir(train(on_cfg, progress=False))
    return on_cfg, on, off


def test_table_is_registered():
    assert "linearization" in TABLES


def test_rows_of_the_measured_steps(pair):
    _, on, off = pair
    header, _ = read_rows(on.table("linearization"))
    assert header == LINEARIZATION_COLUMNS
    df = read_table(on.table("linearization"))
    assert list(zip(df["step"], df["model"], strict=True)) == [
        (0, "cl"), (0, "nscl"), (4, "cl"), (4, "nscl"), (8, "cl"), (8, "nscl")]
    assert (df["n"] == 16).all() and (df["update"] == "optimizer").all()
    assert (df["jacobian_norm"] > 0).all() and (df["power_iterations"] <= POWER_ITERS).all()
    assert (df["power_rel_change"] < POWER_TOL).all()
    assert ((df["relative_remainder"] >= 0) & (df["relative_remainder"] < 1)).all()
    assert not off.table("linearization").exists()


def test_the_rest_of_the_run_is_unchanged(pair):
    _, on, off = pair
    for name in ("metrics", "losses", "bounds"):
        assert on.table(name).read_bytes() == off.table(name).read_bytes(), name
    a, b = (json.loads(r.summary.read_text()) for r in (on, off))
    for k in ("run_dir", "wall_seconds", "steps_per_second"):
        a.pop(k), b.pop(k)
    # the records of the run directory itself: another key, and linearization.csv's rows
    assert a.pop("run_key") != b.pop("run_key")
    rows_on, rows_off = a.pop("table_rows"), b.pop("table_rows")
    assert rows_on.pop("linearization") == 6 and rows_off.pop("linearization") == 0
    assert rows_on == rows_off
    assert a == b


def test_values_match_the_curvature_tools(pair):
    """Step 0 from the shared initialisation; step 4 from a rerun's weights before and after."""
    cfg, on, _ = pair
    df = read_table(on.table("linearization"))
    tr = LockstepTrainer(cfg)
    x = tr.references["train"].x[:16]
    for t in range(5):
        if t in (0, 4):
            w0 = {m.name: parameters(m.module) for m in tr.members}
        tr.train_step(t)
        if t not in (0, 4):
            continue
        for m in tr.members[:2]:
            row = df[(df["step"] == t) & (df["model"] == m.name)].iloc[0]
            assert row["eta"] == tr.eta[t]
            assert row["jacobian_norm"] == pytest.approx(
                jacobian_norm(m.module, x, params=w0[m.name], seed=cfg.seed), rel=1e-12)
            rem = sgd_remainder(m.module, w0[m.name], parameters(m.module), x)
            for k, v in rem.items():
                assert row[k] == pytest.approx(v, rel=1e-12), k


def test_resume_writes_the_same_rows(pair, tmp_path):
    cfg, on, _ = pair
    cfg = cfg.replace(out=str(tmp_path / "stopped"))
    with pytest.raises(RunInterrupted):
        train(cfg, progress=False, stop_after=6)  # checkpoint at 4; rows of 4 written after
    train(cfg, progress=False, resume=True)
    for name in TABLES:
        assert RunDir(cfg.out).table(name).read_bytes() == on.table(name).read_bytes(), name


def test_vmap_backend_measures_the_same(pair, tmp_path, tiny):
    _, on, _ = pair
    cfg = tiny(tmp_path, "vmap", linearization_every=4, linearization_size=16,
               backend="vmap", **KW)
    df = read_table(RunDir(train(cfg, progress=False)).table("linearization"))
    ref = read_table(on.table("linearization"))
    for k in ("jacobian_norm", "sim_change", "step_norm", "relative_remainder"):
        torch.testing.assert_close(torch.tensor(df[k].to_numpy()),
                                   torch.tensor(ref[k].to_numpy()), rtol=1e-4, atol=1e-9)
