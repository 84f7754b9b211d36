"""Bad values on every flag of the studies' command lines (python -m empirics.claims,
empirics.sweep, empirics.studies, empirics.studies.golden): exit status 2, ONE stderr
line naming the argument (and the value, where it has one), no traceback, nothing run.

In process (``main(argv)`` with capsys); each case either fails on parsing or before any
run starts, so the table runs in seconds."""

from __future__ import annotations

import re

import pytest

from empirics.studies.claims.cli import main as claims_main
from empirics.studies.cli import main as studies_main
from empirics.studies.golden import main as golden_main
from empirics.studies.sweep import main as sweep_main

MAINS = {"claims": claims_main, "sweep": sweep_main, "studies": studies_main,
         "golden": golden_main}
CLAIMS = ("--size", "tiny", "--executor", "serial")
SWEEP = ("--executor", "serial", "--no-progress")
STUDY = ("--size", "tiny", "--executor", "serial", "--datasets", "synthetic", "--seeds", "0")
HUGE = "1000000000"

# (entry, id, argv, argument named, value named or None)
CASES = [
    # ------------------------------------------------------------ python -m empirics.claims
    ("claims", "seeds-negative", [*CLAIMS, "--seeds", "-1"], "--seeds", "-1"),
    ("claims", "seeds-zero", [*CLAIMS, "--seeds", "0"], "--seeds", "0"),
    ("claims", "seeds-three", [*CLAIMS, "--seeds", "3"], "--seeds", "3"),
    ("claims", "seeds-huge", [*CLAIMS, "--seeds", HUGE], "--seeds", HUGE),
    ("claims", "seeds-nan", [*CLAIMS, "--seeds", "nan"], "--seeds", "nan"),
    ("claims", "seeds-empty", [*CLAIMS, "--seeds", ""], "--seeds", None),
    ("claims", "workers-zero", [*CLAIMS, "--workers", "0"], "--workers", "0"),
    ("claims", "workers-huge", [*CLAIMS, "--workers", HUGE], "--workers", HUGE),
    ("claims", "workers-text", [*CLAIMS, "--workers", "two"], "--workers", "two"),
    ("claims", "only-unknown", [*CLAIMS, "--only", "C9"], "--only", "C9"),
    ("claims", "only-empty", [*CLAIMS, "--only", ""], "--only", None),
    ("claims", "only-empty-item", [*CLAIMS, "--only", "C1,,C3"], "--only", "C1,,C3"),
    ("claims", "size-unknown", ["--size", "huge"], "--size", "huge"),
    ("claims", "executor-unknown", [*CLAIMS, "--executor", "slurm"], "--executor", "slurm"),
    ("claims", "device-unknown", [*CLAIMS, "--device", "tpu"], "--device", "tpu"),
    ("claims", "size-and-protocol", ["--size", "quick", "--protocol", "{toml}"],
     "--protocol", None),
    ("claims", "protocol-empty-text", ["--protocol", ""], "--protocol", None),
    ("claims", "protocol-missing", ["--protocol", "{missing}"], "--protocol", "no-such"),
    ("claims", "protocol-empty-file", ["--protocol", "{empty}"], "--protocol", "empty.toml"),
    ("claims", "protocol-garbage", ["--protocol", "{garbage}"], "--protocol", "garbage.toml"),
    ("claims", "protocol-unknown-key", ["--protocol", "{unknown}"], "--protocol",
     "unknown.toml"),
    ("claims", "data-root-missing", [*CLAIMS, "--data-root", "{missing}"], "--data-root",
     "no-such"),
    ("claims", "data-root-file", [*CLAIMS, "--data-root", "{file}"], "--data-root",
     "file.txt"),
    ("claims", "data-root-empty", [*CLAIMS, "--data-root", ""], "--data-root", None),
    ("claims", "data-root-unused", [*CLAIMS, "--data-root", "{dir}"], "--data-root", "dir"),
    ("claims", "data-root-not-cifar", ["--size", "full", "--data-root", "{dir}"],
     "--data-root", "dir"),
    ("claims", "out-empty", [*CLAIMS, "--out", ""], "--out", None),
    ("claims", "out-file", [*CLAIMS, "--out", "{file}"], "--out", "file.txt"),
    # ------------------------------------------------------------ python -m empirics.sweep
    ("sweep", "workers-zero", [*SWEEP, "--grid", "classes=2", "--workers", "0"],
     "--workers", "0"),
    ("sweep", "workers-huge", [*SWEEP, "--grid", "classes=2", "--workers", HUGE],
     "--workers", HUGE),
    ("sweep", "cpus-nan", [*SWEEP, "--grid", "classes=2", "--cpus-per-run", "nan"],
     "--cpus-per-run", "nan"),
    ("sweep", "cpus-inf", [*SWEEP, "--grid", "classes=2", "--cpus-per-run", "inf"],
     "--cpus-per-run", "inf"),
    ("sweep", "gpus-negative", [*SWEEP, "--grid", "classes=2", "--gpus-per-run", "-1"],
     "--gpus-per-run", "-1"),
    ("sweep", "gpus-text", [*SWEEP, "--grid", "classes=2", "--gpus-per-run", "one"],
     "--gpus-per-run", "one"),
    ("sweep", "grid-tau-nan", [*SWEEP, "--grid", "tau=nan"], "tau", "nan"),
    ("sweep", "grid-tau-inf", [*SWEEP, "--grid", "tau=inf"], "tau", "inf"),
    ("sweep", "grid-tau-negative", [*SWEEP, "--grid", "tau=-1"], "tau", "-1"),
    ("sweep", "grid-steps-huge", [*SWEEP, "--grid", "steps=1000000000000"], "steps",
     "1000000000000"),
    ("sweep", "grid-empty", [*SWEEP, "--grid", ""], "--grid", None),
    ("sweep", "kind-unknown", [*SWEEP, "--grid", "C=2", "--kind", "bogus"], "--kind",
     "bogus"),
    ("sweep", "base-missing", [*SWEEP, "--grid", "classes=2", "--base", "{missing}"],
     "--base", "no-such"),
    ("sweep", "base-garbage", [*SWEEP, "--grid", "classes=2", "--base", "{garbage}"],
     "--base", "garbage.toml"),
    ("sweep", "out-empty", [*SWEEP, "--grid", "classes=2", "--out", ""], "--out", None),
    ("sweep", "grid-missing", [*SWEEP], "--grid", None),
    ("sweep", "device-unknown", [*SWEEP, "--grid", "classes=2", "--device", "tpu"],
     "--device", "tpu"),
    # ------------------------------------------------------------ python -m empirics.studies
    ("studies", "study-unknown", ["bogus"], "study", "bogus"),
    ("studies", "tightness-steps-zero", ["tightness", "--steps", "0"], "--steps", "0"),
    ("studies", "tightness-steps-huge", ["tightness", "--steps", HUGE], "--steps", HUGE),
    ("studies", "tightness-steps-text", ["tightness", "--steps", "many"], "--steps", "many"),
    ("studies", "trends-seeds-negative", ["surrogate-trends", "--seeds", "-1"], "--seeds",
     "-1"),
    ("studies", "trends-seeds-text", ["surrogate-trends", "--seeds", "a,b"], "--seeds",
     "a,b"),
    ("studies", "trainer-workers-zero", ["trainer", "--workers", "0"], "--workers", "0"),
    ("studies", "trainer-out-empty", ["trainer", "--out", ""], "--out", None),
    ("studies", "accuracy-shots-zero", ["accuracy", *STUDY, "--shots", "0"], "--shots", "0"),
    ("studies", "accuracy-shots-empty", ["accuracy", *STUDY, "--shots", ""], "--shots", None),
    ("studies", "accuracy-shots-huge", ["accuracy", *STUDY, "--shots", HUGE], "--shots",
     HUGE),
    ("studies", "accuracy-repeats-zero", ["accuracy", *STUDY, "--repeats", "0"],
     "--repeats", "0"),
    ("studies", "accuracy-repeats-huge", ["accuracy", *STUDY, "--repeats", HUGE],
     "--repeats", HUGE),
    ("studies", "accuracy-taus-nan", ["accuracy", *STUDY, "--taus", "nan"], "--taus", "nan"),
    ("studies", "accuracy-taus-inf", ["accuracy", *STUDY, "--taus", "inf"], "--taus", "inf"),
    ("studies", "accuracy-taus-zero", ["accuracy", *STUDY, "--taus", "0"], "--taus", "0"),
    ("studies", "accuracy-seeds-negative", ["accuracy", *STUDY, "--seeds", "-1"], "--seeds",
     "-1"),
    ("studies", "accuracy-seeds-empty", ["accuracy", *STUDY, "--seeds", ""], "--seeds", None),
    ("studies", "accuracy-datasets-unknown", ["accuracy", *STUDY, "--datasets", "imagenet"],
     "--datasets", "imagenet"),
    ("studies", "accuracy-datasets-empty", ["accuracy", *STUDY, "--datasets", ""],
     "--datasets", None),
    ("studies", "accuracy-size-unknown", ["accuracy", "--size", "huge"], "--size", "huge"),
    ("studies", "accuracy-workers-huge", ["accuracy", *STUDY, "--workers", HUGE],
     "--workers", HUGE),
    ("studies", "accuracy-runs-missing", ["accuracy", "--runs", "{missing}"], "--runs",
     "no-such"),
    ("studies", "accuracy-runs-file", ["accuracy", "--runs", "{file}"], "--runs", "file.txt"),
    ("studies", "accuracy-runs-empty-dir", ["accuracy", "--runs", "{dir}"], "--runs", "dir"),
    ("studies", "accuracy-runs-and-size", ["accuracy", "--runs", "{dir}", "--size", "quick"],
     "--runs", None),
    ("studies", "fewshot-vs-unknown", ["fewshot", *STUDY, "--vs", "bogus"], "--vs", "bogus"),
    ("studies", "merging-points-one", ["merging", *STUDY, "--points", "1"], "--points", "1"),
    ("studies", "merging-points-huge", ["merging", *STUDY, "--points", HUGE], "--points",
     HUGE),
    ("studies", "merging-partners-empty", ["merging", *STUDY, "--partners", ""],
     "--partners", None),
    ("studies", "merging-bn-unknown", ["merging", *STUDY, "--bn", "keep"], "--bn", "keep"),
    ("studies", "fig12-bootstrap-zero", ["alignment-accuracy", *STUDY, "--bootstrap", "0"],
     "--bootstrap", "0"),
    ("studies", "fig12-bootstrap-huge", ["alignment-accuracy", *STUDY, "--bootstrap", HUGE],
     "--bootstrap", HUGE),
    ("studies", "fig12-bootstrap-seed-negative",
     ["alignment-accuracy", *STUDY, "--bootstrap-seed", "-1"], "--bootstrap-seed", "-1"),
    ("studies", "fig12-classes-one", ["alignment-accuracy", *STUDY, "--classes", "1"],
     "--classes", "1"),
    ("studies", "fig12-features-unknown", ["alignment-accuracy", *STUDY, "--features", "q"],
     "--features", "q"),
    ("studies", "docs-target-unknown", ["docs", "bogus"], "target", "bogus"),
    ("studies", "docs-write-and-readme", ["docs", "claims", "--write", "--readme"],
     "--readme", None),
    ("studies", "docs-accuracy-readme", ["docs", "accuracy", "--readme"], "--readme", None),
    ("studies", "docs-claims-folder-missing", ["docs", "claims", "--claims", "{missing}"],
     "--claims", "no-such"),
    ("studies", "trainer-device-unknown", ["trainer", "--device", "tpu"], "--device", "tpu"),
    ("studies", "merging-validation-one", ["merging", *STUDY, "--validation", "1"],
     "--validation", "1"),
    # ------------------------------------------------------------ golden
    ("golden", "path-empty", ["--path", ""], "--path", None),
    ("golden", "path-missing", ["--path", "{missing}"], "--path", "no-such"),
    ("golden", "path-folder", ["--path", "{dir}"], "--path", "dir"),
    ("golden", "path-garbage", ["--path", "{garbage}"], "--path", "garbage.toml"),
    ("golden", "path-json-array", ["--path", "{array}"], "--path", "array.json"),
    ("golden", "write-into-missing-folder", ["--write", "--path", "{missing}/g.json"],
     "--path", "no-such"),
]


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "garbage.toml").write_text("seeds = = 3\n")
    (tmp_path / "unknown.toml").write_text('name = "u"\nno_such_field = 1\n')
    (tmp_path / "array.json").write_text("[]")
    (tmp_path / "p.toml").write_text('name = "p"\n')
    return {"missing": str(tmp_path / "no-such"), "dir": str(tmp_path / "dir"),
            "file": str(tmp_path / "file.txt"), "empty": str(tmp_path / "empty.toml"),
            "garbage": str(tmp_path / "garbage.toml"),
            "unknown": str(tmp_path / "unknown.toml"), "array": str(tmp_path / "array.json"),
            "toml": str(tmp_path / "p.toml"), "out": str(tmp_path / "out")}


def _fill(argv, files):
    return [a.format(**files) if "{" in a else a for a in argv]


def _word(name: str) -> str:
    body = "[-_ ]".join(re.escape(p) for p in re.split(r"[-_]", name.lstrip("-")))
    return rf"(?<![\w-])(?:--)?{body}(?!\w)"


@pytest.mark.parametrize("entry,label,argv,arg,value", CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_bad_value_is_one_line_exit_2(entry, label, argv, arg, value, files, capsys,
                                      monkeypatch, tmp_path):
    if label == "device-cuda-absent":  # pragma: no cover - not in the table
        pytest.skip()
    monkeypatch.chdir(tmp_path)
    argv = _fill(argv, files)
    if entry in ("claims", "sweep") and "--out" not in argv:
        argv = [*argv, "--out", files["out"]]
    try:
        code = MAINS[entry](argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error" in lines[0]
    assert re.search(_word(arg), lines[0]), (arg, lines[0])
    if value is not None:
        assert value.lower() in lines[0].lower(), (value, lines[0])
    assert not (tmp_path / "out" / "runs").exists()  # nothing was run


def test_device_cuda_without_cuda_is_refused_once(files, capsys):
    import torch

    if torch.cuda.is_available():  # pragma: no cover - a machine with a GPU
        pytest.skip("CUDA present")
    with pytest.raises(SystemExit) as exc:
        claims_main([*CLAIMS, "--device", "cuda", "--out", files["out"]])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "`--device`" in err
    assert "cuda" in err
