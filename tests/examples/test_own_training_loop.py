"""examples/own_training_loop.py runs as written, prints the alignment, writes a run."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from empirics.runs import read_run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_training_loop.py"


def _example():
    spec = importlib.util.spec_from_file_location("own_training_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_example_prints_the_alignment_and_writes_a_readable_run(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        rc = _example().main(["--steps", "4", "--every", "2", "--batch-size", "32", "--out",
                              str(tmp_path / "run")])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert rc == 0
    assert "CL-NSCL alignment after 4 steps on 360 held-out digits" in out
    printed = float(re.search(r"projection z +CKA ([0-9.]+)", out).group(1))
    run = read_run(tmp_path / "run")
    assert run.done and sorted(set(run.metrics["step"])) == [0, 2, 4]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert printed == pytest.approx(summary["alignment"]["cl-nscl"]["test"]["z"]["cka"],
                                    abs=5e-4)
    assert f"python -m empirics.compare {tmp_path / 'run'}:cl" in out
    z = summary["alignment"]["cl-nscl"]["test"]["z"]
    assert f"mutual 10-NN {z['mutual_knn']:.3f}" in out and "weight distance" in out
