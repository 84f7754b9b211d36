"""Stand-in runners for the sweep tests (importable by pool and Ray workers via PYTHONPATH).

A runner is ``fn(config: dict, run_dir: Path)``; these write ``summary.json`` the way a
training run does, and log every call so the tests can count what ran.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def quadratic(config: dict, run_dir: Path):
    """``loss = (x - 1)^2``; fails for ``fail=True``; waits while ``$SWEEP_TEST_HOLD`` exists."""
    log = os.environ.get("SWEEP_TEST_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{config['x']}\n")
    hold = os.environ.get("SWEEP_TEST_HOLD")
    if hold and config["x"] > 0:
        while os.path.exists(hold):
            time.sleep(0.05)
    if config.get("crash"):
        os._exit(3)  # the worker process dies (as when killed for memory)
    if config.get("fail"):
        raise ValueError(f"Expected `x` != {config['x']} for this stand-in, got {config['x']}")
    x = config["x"]
    summary = {"loss": (x - 1) ** 2, "detail": {"x2": x * x, "tag": config.get("tag")},
               "history": [x, x + 1]}
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return None


def metrics_only(config: dict, run_dir: Path) -> dict:
    """Returns the metrics mapping directly instead of writing summary.json."""
    return {"double": 2 * config["x"]}
