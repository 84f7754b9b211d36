"""A run killed at any instant resumes to byte-identical tables (issue: reliability).

Two complementary checks:

- every write boundary, in process: the k-th atomic rename of a run raises (before it, the
  new file is complete on disk but not in place; after it, it is in place and nothing
  later happened), for every k of the run, then ``--resume`` semantics finish the run;
- 20+ real ``kill -9`` of ``python -m empirics.train`` at seeded random instants, each
  followed by ``--resume`` (or a fresh start when the kill came before the run existed).

Either way the finished metrics.csv, losses.csv, bounds.csv (with the batch-composition
event carried in the checkpoint) and linearization.csv (Appendix D at steps 0 and 3) equal
an uninterrupted run's byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from empirics.training.config import TrainConfig
from empirics.training.trainer import train

FLAGS = dict(classes=3, train_size=48, test_size=24, reference_size=12, batch_size=12,
             steps=6, warmup_steps=0, eval_every=1, checkpoint_every=2, feature_dim=8,
             proj_dim=4, objectives="cl,nscl,ce", device="cpu", linearization_every=3,
             linearization_size=6)
TABLES = ("metrics.csv", "losses.csv", "bounds.csv", "linearization.csv")


def _argv(out: Path) -> list[str]:
    argv = [sys.executable, "-m", "empirics.train", "--no-progress", "--out", str(out)]
    for k, v in FLAGS.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill") / "reference"
    train(TrainConfig(**FLAGS, out=str(out)), progress=False)
    return out


def _same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        x, y = (a / name).read_bytes(), (b / name).read_bytes()
        if x != y:
            lines = list(zip(x.decode().splitlines(), y.decode().splitlines(), strict=False))
            first = next(((i, u, v) for i, (u, v) in enumerate(lines) if u != v), None)
            raise AssertionError(f"{a / name} differs from {b / name}: first different line "
                                 f"{first}, {len(x)} vs {len(y)} bytes")
    assert (a / "summary.json").exists()


def test_killed_at_every_write_boundary(reference, tmp_path, kill_at_every_write):
    def run(out, resume):
        train(TrainConfig(**FLAGS, out=str(out)), progress=False, resume=resume)

    n, outs = kill_at_every_write(run, tmp_path)
    assert n > 20  # config, tables and checkpoints of 6 evaluated steps
    for out in outs:
        _same_tables(out, reference)


def _kill_then_resume(argv_out: tuple[Path, float]) -> Path:
    out, delay = argv_out
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(_argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    argv = _argv(out) + (["--resume"] if (out / "config.json").exists() else [])
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_kill_9_at_random_instants(reference, tmp_path):
    t0 = time.perf_counter()
    ok = subprocess.run(_argv(tmp_path / "timed"), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    duration = time.perf_counter() - t0
    _same_tables(tmp_path / "timed", reference)
    # 20 instants, seeded; the later part of a run is where the files are written
    delays = np.random.default_rng(2026).uniform(0.3 * duration, duration, size=20)
    jobs = [(tmp_path / f"kill{i}", float(d)) for i, d in enumerate(delays)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for out in pool.map(_kill_then_resume, jobs):
            _same_tables(out, reference)
