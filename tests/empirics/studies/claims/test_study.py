"""The whole study at the tiny size (the GPU script on CPU): outputs, the verdict rule as
stated, resume, the manifest, and the command line's one-line errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from empirics.claims import main
from empirics.studies.claims.claims import CSV_COLUMNS
from empirics.studies.claims.plan import plan_runs, unique_runs
from empirics.studies.claims.protocol import load_protocol
from empirics.studies.claims.statistics import VERDICT_RULE, verdict


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _float(x: str) -> float:
    return float(x) if x else math.nan


def test_outputs_of_the_gpu_script_at_the_tiny_size(tiny_study):
    for name in ("claims.csv", "claims.md", "claims_seeds.csv", "runs.csv", "protocol.json",
                 "claims.png", "claims.pdf", "gpu_run.json"):
        assert (tiny_study / name).stat().st_size > 0, name
    run = json.loads((tiny_study / "gpu_run.json").read_text())
    assert run["exit_status"] == 0 and run["size"] == "tiny" and not run["stopped_at_limit"]


def test_claims_csv_structure_and_the_verdict_rule(tiny_study):
    rows = read_csv(tiny_study / "claims.csv")
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert {r["claim"] for r in rows} == {f"C{i}" for i in range(1, 8)}
    keys = [(r["claim"], r["setting"]) for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        assert r["verdict"] in ("holds", "reversed", "inconclusive")
        assert r["direction"] in ("+", "-") and r["paper"]
        lo, hi = _float(r["ci_low"]), _float(r["ci_high"])
        assert r["verdict"] == verdict(lo, hi, r["direction"])
        if r["n_seeds"] == "2":
            assert lo <= _float(r["estimate"]) <= hi
    seeds = read_csv(tiny_study / "claims_seeds.csv")
    assert len(seeds) == 2 * len(rows)


def test_claims_md_states_the_rule_and_every_row(tiny_study):
    text = (tiny_study / "claims.md").read_text()
    assert VERDICT_RULE in text
    assert "| claim | setting |" in text and "paper" in text
    for r in read_csv(tiny_study / "claims.csv"):
        assert f"| {r['claim']} | {r['setting']} |" in text


def test_manifest_names_every_run(tiny_study):
    rows = read_csv(tiny_study / "runs.csv")
    for col in ("claim", "setting", "point", "seed", "run_dir", "key", "status", "dataset",
                "classes", "tau", "batch_size", "lr_rule", "steps", "objectives"):
        assert col in rows[0], col
    dirs = {r["run_dir"] for r in rows}
    assert all((tiny_study / d / "summary.json").is_file() for d in dirs)
    assert {r["status"] for r in rows} == {"ok"}
    planned = plan_runs(load_protocol("tiny"))
    assert len(dirs) == len(unique_runs(planned)) < len(rows)  # shared between claims


def test_a_second_call_reruns_nothing(tiny_study, capsys):
    before = (tiny_study / "claims.csv").read_bytes()
    assert main(["--out", str(tiny_study), "--size", "tiny", "--executor", "serial",
                 "--no-figure"]) == 0
    info = json.loads((tiny_study / "study.json").read_text())
    n = len(unique_runs(plan_runs(load_protocol("tiny"))))
    assert info["n_ran"] == 0 and info["n_done"] == n + 2 and info["n_failed"] == 0
    assert (tiny_study / "claims.csv").read_bytes() == before
    assert "C1 base/test/h/cka" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["--seeds", "1"], "`--seeds` >= 2"),
    (["--only", "C1,C9"], "`--only` among"),
    (["--size", "huge"], "invalid choice"),
    (["--workers", "0"], "`--workers` >= 1"),
    (["--protocol", "/nowhere/p.toml"], "no file"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "o"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def test_a_protocol_that_needs_local_data(tmp_path, capsys):
    f = tmp_path / "cifar.toml"
    f.write_text('name = "c"\ndataset = "cifar10"\narch = "resnet18"\n')
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "o"), "--protocol", str(f)])
    assert exc.value.code == 2 and "`data_root` (--data-root)" in capsys.readouterr().err


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(f), "--size", "tiny"])
    assert exc.value.code == 2 and "`--out`" in capsys.readouterr().err
