"""The gallery plan as run specs, and ensure() as a thin client of the launcher."""

import pytest

import empirics.runs
from empirics.runs import RunResult
from empirics.studies import plan as runs


def test_specs_are_the_runs_layers():
    """One run spec, one cache key and one directory name: the runs layer's."""
    plan = runs.gallery_plan("tiny")
    assert all(type(s) is empirics.runs.RunSpec for s in plan.all_specs())
    spec = plan.base
    assert runs.run_path("/c", spec) == empirics.runs.run_dir_of("/c", spec)
    assert runs.run_path("/c", spec).name == f"train-{spec.key()}"


def test_make_plan_rejects_size():
    with pytest.raises(ValueError, match="`size` among tiny, quick, full, got 'huge'"):
        runs.gallery_plan("huge")


@pytest.mark.parametrize("size", ["tiny", "quick", "full"])
def test_plans_validate_and_share_runs(size):
    plan = runs.gallery_plan(size)
    specs = plan.all_specs()
    keys = [s.key() for s in specs]  # every configuration validates
    assert len(keys) == len(set(keys))
    n_listed = sum(len(v) for v in plan.groups().values())
    if size != "tiny":  # tau = 0.5 at C = 10 is also a classes run: trained once
        assert len(specs) < n_listed
    assert {"linear", "sqrt"} <= {s.config["lr_rule"] for s in plan.batch}
    assert plan.surrogate.kind == "surrogate" and plan.base.kind == "train"


def test_plan_digits_caps_classes():
    plan = runs.gallery_plan("quick", dataset="digits")
    assert max(s.config["classes"] for s in plan.classes) <= 10


def test_ensure_reuses_the_cache_without_launching(fixture_cache, tiny_plan, monkeypatch):
    monkeypatch.setattr(runs, "launch", lambda *a, **k: pytest.fail("launched a done run"))
    paths = runs.ensure(fixture_cache, tiny_plan.all_specs(), log=lambda m: None)
    assert set(paths) == {s.key() for s in tiny_plan.all_specs()}
    assert all((p / "summary.json").is_file() for p in paths.values())


def test_ensure_no_run_names_the_missing_run(tmp_path, tiny_plan, monkeypatch):
    monkeypatch.setattr(runs, "launch", lambda *a, **k: pytest.fail("launched with --no-run"))
    with pytest.raises(runs.MissingRunError) as exc:
        runs.ensure(tmp_path, [tiny_plan.base, *tiny_plan.tau], allow_run=False)
    msg = str(exc.value)
    assert "\n" not in msg and str(runs.run_path(tmp_path, tiny_plan.base)) in msg
    assert "3 of 3 runs missing" in msg and "classes=10" in msg


def test_ensure_launches_only_the_missing_runs(fixture_cache, tiny_plan, tmp_path,
                                               monkeypatch):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(fixture_cache, cache)
    gone = tiny_plan.tau[0]
    shutil.rmtree(runs.run_path(cache, gone))
    calls = []

    def fake_launch(specs, root, **kw):
        calls.append((specs, kw))
        return [RunResult(s.dirname(), runs.run_path(root, s), "ok", seconds=0.0)
                for s in specs]

    monkeypatch.setattr(runs, "launch", fake_launch)
    logs = []
    runs.ensure(cache, tiny_plan.all_specs(), workers=2, device="cpu", log=logs.append)
    ((specs, kw),) = calls
    assert [s.key() for s in specs] == [gone.key()]
    assert kw["executor"] == "local" and kw["workers"] == 2 and kw["device"] == "cpu"
    assert any("1 run(s) to launch" in m for m in logs)


def test_ensure_reports_a_failed_run_in_one_line(tmp_path, tiny_plan, monkeypatch):
    def failing(specs, root, *, on_result, **kw):
        res = [RunResult(s.dirname(), runs.run_path(root, s), "failed",
                         "TrainingDiverged: boom", 1.0) for s in specs]
        for r in res:
            on_result(r)
        return res

    monkeypatch.setattr(runs, "launch", failing)
    logs = []
    with pytest.raises(runs.RunFailedError) as exc:
        runs.ensure(tmp_path, [tiny_plan.base], log=logs.append)
    msg = str(exc.value)
    assert "\n" not in msg and "1 of 1 run(s) failed" in msg and "boom" in msg
    assert "error.txt" in msg and any("failed" in m for m in logs)


def test_ensure_launches_real_runs_once(tmp_path, monkeypatch):
    """A real tiny training run and surrogate run through the launcher, then reuse."""
    from figures import io

    train = empirics.runs.RunSpec("train", {
        "classes": 3, "objectives": ["cl", "nscl", "ce"], "train_size": 64, "test_size": 32,
        "reference_size": 16, "batch_size": 16, "steps": 4, "warmup_steps": 1,
        "eval_every": 2, "checkpoint_every": 10**6})
    sur = empirics.runs.RunSpec("surrogate", {"C": 3, "N": 16, "B": 4, "steps": 5})
    logs = []
    paths = runs.ensure(tmp_path, [train, sur, train], device="cpu", log=logs.append)
    base = io.load_run(paths[train.key()])
    assert base.cfg("steps") == 4 and base.metrics["step"].max() == 4
    assert io.pairs_in(base) == ["cl-nscl", "cl-ce"]
    trace = io.surrogate_trace(io.load_run(paths[sur.key()]))
    assert trace["step"].tolist() == list(range(6))
    assert any("2 run(s) to launch" in m for m in logs)
    monkeypatch.setattr(runs, "launch", lambda *a, **k: pytest.fail("re-ran a done run"))
    assert runs.ensure(tmp_path, [train, sur], log=logs.append) == paths
