"""The whole study at the tiny size (the GPU script on CPU): outputs, the verdict rule as
stated and re-derived from claims_seeds.csv, the theorem checks, resume, the manifest, and
the long-run task's replay."""

from __future__ import annotations

import json
import math

import pytest

from empirics.claims import main
from empirics.studies.claims.checks import CHECK_COLUMNS
from empirics.studies.claims.docs import rederive
from empirics.studies.claims.plan import plan_runs, unique_runs
from empirics.studies.claims.protocol import load_protocol
from empirics.studies.claims.report import read_csv
from empirics.studies.claims.verdicts import CSV_COLUMNS, VERDICT_RULE

pytestmark = pytest.mark.slow


def _float(x: str) -> float:
    return float(x) if x not in ("", "nan") else math.nan


def test_outputs_of_the_gpu_script_at_the_tiny_size(tiny_study):
    for name in ("claims.csv", "claims.md", "claims_seeds.csv", "theorem_checks.csv",
                 "stalled.csv", "runs.csv", "protocol.json", "study.json", "claims.png",
                 "claims.pdf", "gpu_run.json"):
        assert (tiny_study / name).stat().st_size > 0, name
    run = json.loads((tiny_study / "gpu_run.json").read_text())
    assert run["exit_status"] == 0 and run["size"] == "tiny" and not run["stopped_at_limit"]
    info = json.loads((tiny_study / "study.json").read_text())
    for key in ("cpu", "numpy_blas", "torch", "cores"):
        assert key in info["environment_detail"], key


def test_claims_csv_follows_from_claims_seeds_csv(tiny_study):
    rows = read_csv(tiny_study / "claims.csv")
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert {r["claim"] for r in rows} == {f"C{i}" for i in range(1, 8)}
    assert len({(r["claim"], r["setting"]) for r in rows}) == len(rows)
    assert sorted(r["claim"] for r in rows if r["role"] == "primary") == \
        ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert rederive(tiny_study) == []
    seeds = read_csv(tiny_study / "claims_seeds.csv")
    assert len(seeds) == 4 * len(rows)


def test_theorem_checks_are_counts(tiny_study):
    checks = read_csv(tiny_study / "theorem_checks.csv")
    assert list(checks[0]) == list(CHECK_COLUMNS)
    by = {c["check"]: c for c in checks}
    assert set(by) == {"p1_bound", "batch_composition", "theorem2"}
    assert int(by["p1_bound"]["rows"]) > 100 and by["p1_bound"]["violations"] == "0"
    assert int(by["theorem2"]["rows"]) == 4 and float(by["theorem2"]["worst_ratio"]) < 0


def test_stalled_csv_names_exactly_the_models_whose_test_loss_did_not_move(tiny_study):
    from empirics.runs import read_run
    from empirics.studies.claims.checks import STALL_COLUMNS, STALL_TOLERANCE

    text = (tiny_study / "stalled.csv").read_text().splitlines()
    assert text[0] == ",".join(STALL_COLUMNS)
    named = {(r["run"], r["model"]) for r in read_csv(tiny_study / "stalled.csv")}
    want = set()
    for d in sorted((tiny_study / "runs").iterdir()):
        if not (d / "losses.csv").is_file():
            continue
        lg = read_run(d).losses
        for model, sub in lg[lg["split"] == "test"].groupby("model"):
            y = sub.sort_values("step")["loss_own"].astype(float).to_numpy()
            if len(y) > 1 and abs(y[-1] - y[0]) < STALL_TOLERANCE * abs(y[0]):
                want.add((d.name, model))
    assert named == want
    info = json.loads((tiny_study / "study.json").read_text())
    assert info["n_stalled"] == len(named)


def test_claims_md_states_the_rule_and_every_row(tiny_study):
    text = (tiny_study / "claims.md").read_text()
    assert VERDICT_RULE in text and "Bitwise numbers differ between machines" in text
    for r in read_csv(tiny_study / "claims.csv"):
        assert f"`{r['setting']}`" in text


def test_manifest_names_every_run(tiny_study):
    rows = read_csv(tiny_study / "runs.csv")
    for col in ("claim", "setting", "point", "seed", "run_dir", "key", "status", "dataset",
                "classes", "tau", "batch_size", "lr_rule", "steps", "objectives",
                "prototypes"):
        assert col in rows[0], col
    dirs = {r["run_dir"] for r in rows}
    assert all((tiny_study / d / "summary.json").is_file() for d in dirs)
    assert {r["status"] for r in rows} == {"ok"}
    planned = plan_runs(load_protocol("tiny"))
    assert len(dirs) == len(unique_runs(planned)) < len(rows)  # shared between claims


def test_the_long_run_task_measures_each_long_run(tiny_study):
    """The task reads d_w from the run's metrics.csv (``weight_distance``): the trainer
    records it, so no run is replayed (the replay of an older run: test_longrun.py)."""
    tasks = sorted((tiny_study / "runs").glob("curvature__*/summary.json"))
    assert len(tasks) == 4
    for f in tasks:
        s = json.loads(f.read_text())
        assert s["distances_from"] == "metrics.csv"
        assert s["replay_max_rel_diff"] == 0.0  # bitwise on the CPU (0 when read)
        steps = [d["step"] for d in s["distances"]]
        assert steps == list(range(0, 25, 6)) and s["distances"][0]["weight_distance"] == 0
        assert s["weight_distance"] == s["distances"][-1]["weight_distance"] > 0


def test_a_second_call_reruns_nothing(tiny_study, capsys):
    before = (tiny_study / "claims.csv").read_bytes()
    assert main(["--out", str(tiny_study), "--size", "tiny", "--executor", "serial"]) == 0
    info = json.loads((tiny_study / "study.json").read_text())
    n = len(unique_runs(plan_runs(load_protocol("tiny"))))
    assert info["n_ran"] == 0 and info["n_done"] == n + 4 and info["n_failed"] == 0
    assert (tiny_study / "claims.csv").read_bytes() == before
    out = capsys.readouterr().out
    assert "C1 base/test/h/cka_linear" in out and "check p1_bound" in out
