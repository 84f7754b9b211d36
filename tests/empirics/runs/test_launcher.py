"""The one launcher: the done rule, resume, failures as results, executors agree."""

import json

import pytest

from empirics.runs.launcher import is_done, launch, pending
from empirics.runs.spec import RunSpec

TINY = dict(classes=3, train_size=48, test_size=24, reference_size=12, batch_size=12, steps=4,
            warmup_steps=0, eval_every=2, checkpoint_every=2, feature_dim=8, proj_dim=4,
            objectives=["cl", "nscl"], device="cpu")


def test_serial_runs_then_skips_done_runs(tmp_path):
    specs = [RunSpec("train", {**TINY, "seed": s}) for s in (0, 1)]
    first = launch(specs, tmp_path)
    assert [r.status for r in first] == ["ok", "ok"]
    assert all(is_done(s, r.path) for s, r in zip(specs, first, strict=True))
    assert first[0].summary["steps"] == 4
    again = launch(specs + specs[:1], tmp_path)  # a repeat is launched once
    assert [r.status for r in again] == ["done", "done", "done"]
    assert pending(specs, tmp_path) == []


def test_done_rule_checks_the_saved_config(tmp_path):
    spec = RunSpec("train", TINY)
    (res,) = launch([spec], tmp_path)
    cfg = json.loads((res.path / "config.json").read_text())
    (res.path / "config.json").write_text(json.dumps({**cfg, "tau": 0.25}))
    assert not is_done(spec, res.path)
    (res.path / "config.json").write_text(json.dumps(cfg))
    (res.path / "summary.json").unlink()
    assert not is_done(spec, res.path)


def test_an_interrupted_run_is_resumed_not_restarted(tmp_path):
    from empirics.training.trainer import RunInterrupted, train

    spec = RunSpec("train", TINY)
    path = tmp_path / spec.dirname()
    with pytest.raises(RunInterrupted):
        train(spec.options().replace(out=str(path)), progress=False, stop_after=2)
    (res,) = launch([spec], tmp_path)
    assert res.status == "ok"
    ref = launch([spec], tmp_path / "ref")[0].path
    for name in ("metrics.csv", "losses.csv", "bounds.csv"):
        assert (res.path / name).read_bytes() == (ref / name).read_bytes()


def test_a_failing_run_is_a_result_and_the_others_go_on(tmp_path):
    bad = RunSpec("train", {**TINY, "lr": 1e30, "lr_rule": "constant", "schedule": "constant"})
    good = RunSpec("train", TINY)
    res = launch([bad, good], tmp_path)
    assert [r.status for r in res] == ["failed", "ok"]
    assert "training diverged" in res[0].error and "\n" not in res[0].error
    assert "Traceback" in (res[0].path / "error.txt").read_text()


def test_user_targets(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1]))
    specs = [RunSpec("custom", {"x": 2}, target="_sweep_targets:metrics_only"),
             RunSpec("custom", {"x": 3}, target="_sweep_targets:quadratic")]
    res = launch(specs, tmp_path)
    assert [r.summary.get("double", r.summary.get("loss")) for r in res] == [4, 4]
    assert [r.status for r in launch(specs, tmp_path)] == ["done", "done"]


@pytest.mark.slow
def test_local_pool_equals_serial(tmp_path):
    specs = [RunSpec("train", {**TINY, "seed": s}) for s in (0, 1)]
    a = launch(specs, tmp_path / "a", executor="local", workers=2)
    b = launch(specs, tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        assert (x.path / "metrics.csv").read_bytes() == (y.path / "metrics.csv").read_bytes()


def test_bad_arguments_are_named(tmp_path):
    spec = RunSpec("train", TINY)
    with pytest.raises(ValueError, match="`executor` among"):
        launch([spec], tmp_path, executor="dask")
    with pytest.raises(ValueError, match="`workers` >= 1"):
        launch([spec], tmp_path, workers=0)
    with pytest.raises(ValueError, match="distinct directory names"):
        launch([spec, RunSpec("train", {**TINY, "seed": 3})], tmp_path, names=["a", "a"])
    with pytest.raises(ValueError, match="`tau` > 0"):
        launch([RunSpec("train", {**TINY, "tau": -1.0})], tmp_path)


# -- the done rule checks the files it relies on (issue 20) ---------------------------------
TABLE_FILES = ("metrics.csv", "losses.csv", "bounds.csv")


def _cut_last_rows(path, n=2):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-n]))


def _cut_mid_row(path):
    text = path.read_text()
    path.write_text(text[: len(text) - 7])


CORRUPTIONS = {
    "metrics-rows-cut": lambda p: _cut_last_rows(p / "metrics.csv"),
    "losses-rows-cut": lambda p: _cut_last_rows(p / "losses.csv", 1),
    "bounds-row-cut-in-half": lambda p: _cut_mid_row(p / "bounds.csv"),
    "metrics-missing": lambda p: (p / "metrics.csv").unlink(),
    "summary-garbage": lambda p: (p / "summary.json").write_text("{not json"),
    "summary-a-list": lambda p: (p / "summary.json").write_text("[1, 2]"),
    "summary-of-another-run": lambda p: (p / "summary.json").write_text(json.dumps(
        {**json.loads((p / "summary.json").read_text()), "run_key": "0123456789abcdef"})),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    spec = RunSpec("train", TINY)
    (res,) = launch([spec], tmp_path_factory.mktemp("done"))
    assert res.status == "ok"
    return spec, res.path


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_corrupted_finished_run_is_not_done_and_is_run_again(finished, tmp_path, how):
    import shutil

    spec, ref = finished
    path = tmp_path / ref.name
    shutil.copytree(ref, path)
    assert is_done(spec, path)
    CORRUPTIONS[how](path)
    assert not is_done(spec, path)
    assert pending([spec], tmp_path) == [spec]
    (res,) = launch([spec], tmp_path)
    assert res.status == "ok"  # resumed from its checkpoint, not counted as done
    assert is_done(spec, path)
    for name in TABLE_FILES:
        assert (path / name).read_bytes() == (ref / name).read_bytes(), name
    summary = json.loads((path / "summary.json").read_text())
    assert summary["run_key"] == spec.key()
    assert summary["table_rows"]["losses"] == len((ref / "losses.csv").read_text()
                                                  .splitlines()) - 1


def test_a_summary_records_the_key_and_the_rows(finished):
    spec, path = finished
    summary = json.loads((path / "summary.json").read_text())
    assert summary["run_key"] == spec.key() and path.name.endswith(spec.key())
    for name in ("metrics", "losses", "bounds"):
        lines = (path / f"{name}.csv").read_text().splitlines()
        assert summary["table_rows"][name] == len(lines) - 1
    assert summary["table_rows"]["linearization"] == 0


def test_a_run_written_before_the_records_is_still_checked(finished, tmp_path):
    """A summary without run_key/table_rows: the tables must parse and end at its step."""
    import shutil

    spec, ref = finished
    path = tmp_path / ref.name
    shutil.copytree(ref, path)
    summary = json.loads((path / "summary.json").read_text())
    del summary["run_key"], summary["table_rows"]
    (path / "summary.json").write_text(json.dumps(summary))
    assert is_done(spec, path)
    _cut_last_rows(path / "bounds.csv", 1)  # the row of the last step
    assert not is_done(spec, path)


def test_a_sweep_rerun_repairs_a_corrupted_point(tmp_path, capsys):
    """Through ``python -m empirics.sweep`` (its ``main``, in process): a truncated
    metrics.csv and a garbage summary.json are run again (resumed), not counted as done."""
    from empirics.sweep import main

    base = tmp_path / "base.toml"
    base.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in TINY.items()),
                    encoding="utf-8")
    argv = ["--grid", "seed=0,1", "--base", str(base), "--executor", "serial", "--out",
            str(tmp_path / "sw")]
    assert main(argv) == 0
    capsys.readouterr()
    runs = sorted((tmp_path / "sw" / "runs").iterdir())
    saved = {p.name: {n: (p / n).read_bytes() for n in TABLE_FILES} for p in runs}
    _cut_last_rows(runs[0] / "metrics.csv")
    (runs[1] / "summary.json").write_text("garbage")
    assert main(argv) == 0
    printed = "".join(capsys.readouterr())
    assert "(0 already done, 2 run now, 0 failed)" in printed, printed
    for p in runs:
        for n in TABLE_FILES:
            assert (p / n).read_bytes() == saved[p.name][n], (p.name, n)
    assert main(argv) == 0
    assert "(2 already done, 0 run now" in "".join(capsys.readouterr())


def test_launch_kwargs_leave_auto_to_each_run():
    from empirics.runs.launcher import LaunchOptions

    assert LaunchOptions().launch_kwargs() == {"executor": "local", "workers": None,
                                               "device": None}
    assert LaunchOptions(device="cpu", executor="serial").launch_kwargs()["device"] == "cpu"
