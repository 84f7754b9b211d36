"""One tiny claims study for the end-to-end tests: the GPU script at the tiny size on CPU.

``benchmarks/gpu_claims_full.sh`` with ``SIZE=tiny EXECUTOR=serial DEVICE=cpu`` runs the
whole study (every claim, 4 seeds, 48 tiny runs and 4 long-run tasks) and then draws the
summary figure (a separate step of the script), in a subprocess, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "benchmarks" / "gpu_claims_full.sh"


def run_script(out: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    """The GPU script at the tiny size on CPU (serial executor)."""
    full_env = {**os.environ, "SIZE": "tiny", "EXECUTOR": "serial", "DEVICE": "cpu",
                "WORKERS": "1", "LIMIT": "240", "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), str(out), *extra], capture_output=True,
                          text=True, env=full_env, timeout=300, check=False)


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A finished tiny claims study (every claim), with its summary figure."""
    out = tmp_path_factory.mktemp("claims") / "study"
    proc = run_script(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out
