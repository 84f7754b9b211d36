"""Every objective alone, and pairs of them, train, resume and read back (issue 20).

A run without a pair of models has no pair rows: ``metrics.csv`` is its header alone,
``summary.json``'s ``alignment`` is ``{}``, and the command prints one line saying so.
Nothing downstream (summary, reader, launcher's done rule, evaluator, run bounds,
linearization, the vmap backend) assumes pair rows exist.
"""

from __future__ import annotations

import pytest

from empirics.objectives import OBJECTIVES, canonical_objectives
from empirics.runs import RunSpec, is_done, launch, read_run
from empirics.training.cli import main
from empirics.training.evaluator import metrics_columns, model_pairs

TINY = [
    "--classes", "3", "--train-size", "48", "--test-size", "24", "--reference-size", "12",
    "--batch-size", "12", "--steps", "4", "--warmup-steps", "0", "--eval-every", "2",
    "--checkpoint-every", "2", "--feature-dim", "8", "--proj-dim", "4", "--device", "cpu",
    "--no-progress",
]  # fmt: skip
EVAL_STEPS = (0, 2, 4)
TABLES = ("metrics.csv", "losses.csv", "bounds.csv")
CASES = [*OBJECTIVES.builtin_names(), "cl,nscl", "nscl,ce", "ntxent,scl"]


@pytest.mark.parametrize("objectives", CASES)
def test_objectives_alone_or_paired_train_resume_and_read_back(objectives, tmp_path, capsys):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main([*TINY, "--objectives", objectives, "--out", str(full)]) == 0
    printed = capsys.readouterr().out
    assert main([*TINY, "--objectives", objectives, "--out", str(cut), "--stop-after", "3"]) == 3
    assert main(["--out", str(cut), "--resume", "--no-progress"]) == 0
    capsys.readouterr()
    for name in TABLES:  # resumed = uninterrupted, byte for byte
        assert (cut / name).read_bytes() == (full / name).read_bytes(), name

    names = list(canonical_objectives(objectives))
    pairs = [f"{a}-{b}" for a, b in model_pairs(names)]
    run = read_run(cut)
    assert run.done and run.summary["objectives"] == names
    assert list(run.metrics.columns) == metrics_columns()  # the header, even without rows
    assert len(run.metrics) == len(EVAL_STEPS) * len(pairs) * 2 * 2  # splits x features
    assert sorted(set(run.metrics["pair"])) == sorted(pairs)
    assert sorted(run.summary["alignment"]) == sorted(pairs)
    assert len(run.losses) == len(EVAL_STEPS) * len(names) * 2
    assert sorted(set(run.losses["model"])) == sorted(names)
    assert set(run.summary["models"]) == set(names)
    assert run.bounds["step"].tolist() == [2, 4]
    has_gap = {"cl", "nscl"} <= set(names)
    assert ("measured_sim_gap" in run.bounds.columns) == has_gap
    if pairs:
        assert pairs[0] in printed and "alignment: none" not in printed
    else:
        assert "alignment: none (one model; a pair needs two objectives)" in printed
    if not has_gap:
        assert "not measured (the run has no cl-nscl pair)" in printed


def test_a_single_objective_under_the_vmap_backend_and_linearization(tmp_path, capsys):
    out = tmp_path / "v"
    argv = [*TINY, "--objectives", "cl", "--backend", "vmap", "--linearization-every", "2",
            "--linearization-size", "6", "--out", str(out)]
    assert main(argv) == 0
    run = read_run(out)
    assert run.metrics.empty and list(run.metrics.columns) == metrics_columns()
    assert run.linearization["model"].tolist() == ["cl", "cl"]  # steps 0 and 2 (< T)
    assert run.summary["alignment"] == {}


def test_the_launcher_runs_and_then_finds_a_single_objective_run_done(tmp_path):
    spec = RunSpec("train", dict(classes=3, train_size=48, test_size=24, reference_size=12,
                                 batch_size=12, steps=4, warmup_steps=0, eval_every=2,
                                 feature_dim=8, proj_dim=4, objectives=["scl"], device="cpu"))
    (first,) = launch([spec], tmp_path)
    assert first.status == "ok" and first.summary["alignment"] == {}
    assert is_done(spec, first.path)
    (again,) = launch([spec], tmp_path)
    assert again.status == "done"
