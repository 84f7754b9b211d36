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
