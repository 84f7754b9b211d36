"""figures.runs: plans, cache keys, reuse of cached runs, and a real tiny launch."""

import pytest

from figures import runs


def test_key_is_stable_and_ignores_execution_knobs():
    a = runs.RunSpec("train", {"classes": 5, "steps": 10, "warmup_steps": 1})
    b = runs.RunSpec("train", {"steps": 10, "classes": 5, "warmup_steps": 1,
                               "device": "cpu", "out": "elsewhere", "threads": 2})
    assert a.key() == b.key() and len(a.key()) == 16
    # Defaults are resolved: spelling out a default value gives the same run.
    c = runs.RunSpec("train", {"classes": 5, "steps": 10, "warmup_steps": 1, "tau": 0.5})
    assert c.key() == a.key()
    d = runs.RunSpec("train", {"classes": 6, "steps": 10, "warmup_steps": 1})
    assert d.key() != a.key()
    assert runs.RunSpec("surrogate", {"C": 4}).key() != runs.RunSpec("surrogate",
                                                                     {"C": 5}).key()


def test_runspec_rejects_kind():
    with pytest.raises(ValueError, match="'sweep'"):
        runs.RunSpec("sweep", {})


def test_make_plan_rejects_size():
    with pytest.raises(ValueError, match="'huge'"):
        runs.make_plan("huge")


@pytest.mark.parametrize("size", ["tiny", "quick", "full"])
def test_plans_resolve_and_share_runs(size):
    plan = runs.make_plan(size)
    specs = plan.all_specs()
    keys = [s.key() for s in specs]  # every config validates
    assert len(keys) == len(set(keys))
    n_listed = sum(len(v) for v in plan.groups().values())
    if size != "tiny":  # tau = 0.5 at C = 10 is also a classes run: trained once
        assert len(specs) < n_listed
    rules = {s.config["lr_rule"] for s in plan.batch}
    assert {"linear", "sqrt"} <= rules


def test_plan_digits_caps_classes():
    plan = runs.make_plan("quick", dataset="digits")
    assert max(s.config["classes"] for s in plan.classes) <= 10


def test_ensure_reuses_cache_without_running(fixture_cache, tiny_plan, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a cached run was launched again")

    monkeypatch.setattr(runs, "execute", boom)
    paths = runs.ensure(fixture_cache, tiny_plan.all_specs(), log=lambda m: None)
    assert all(runs.is_complete(p) for p in paths.values())


def test_ensure_no_run_raises_on_missing(tmp_path, tiny_plan):
    with pytest.raises(FileNotFoundError, match="cached run"):
        runs.ensure(tmp_path, [tiny_plan.base], allow_run=False, log=lambda m: None)


def test_ensure_reports_failure(tmp_path, monkeypatch):
    bad = runs.RunSpec("surrogate", {"C": 4, "N": 16, "B": 4, "steps": 3})

    def fail(spec, out, **kw):
        raise ValueError("boom")

    monkeypatch.setattr(runs, "execute", fail)
    with pytest.raises(RuntimeError, match="1 run.*boom"):
        runs.ensure(tmp_path, [bad], log=lambda m: None)


def test_ensure_launches_real_runs_once(tmp_path, monkeypatch):
    """Integration with the real trainer and surrogate APIs (tiny sizes)."""
    train = runs.RunSpec("train", {"classes": 3, "objectives": ["cl", "nscl", "ce"],
                                   "train_size": 64, "test_size": 32, "reference_size": 16,
                                   "batch_size": 16, "steps": 4, "warmup_steps": 1,
                                   "eval_every": 2, "checkpoint_every": 10**6})
    sur = runs.RunSpec("surrogate", {"C": 3, "N": 16, "B": 4, "steps": 5})
    specs = [train, sur]
    logs = []
    paths = runs.ensure(tmp_path, specs, device="cpu", log=logs.append)
    from figures import io

    base = io.load_run(paths[train.key()])
    assert base.cfg("steps") == 4 and base.metrics["step"].max() == 4
    assert io.pairs_in(base) == ["cl-nscl", "cl-ce"]
    assert len(io.surrogate_trace(io.load_run(paths[sur.key()]))) == 6
    assert any("2 run(s) to launch" in m for m in logs)
    monkeypatch.setattr(runs, "execute", lambda *a, **k: pytest.fail("re-ran a cached run"))
    runs.ensure(tmp_path, specs, log=logs.append)


def test_execute_restarts_an_incomplete_cached_run(tmp_path):
    """A run dir left by an interrupted call (config.json, no summary) is redone."""
    spec = runs.RunSpec("train", {"classes": 2, "objectives": ["cl", "nscl"],
                                  "train_size": 32, "test_size": 16, "reference_size": 8,
                                  "batch_size": 8, "steps": 2, "warmup_steps": 0,
                                  "eval_every": 1, "checkpoint_every": 10**6})
    out = runs.run_path(tmp_path, spec)
    out.mkdir(parents=True)
    (out / "config.json").write_text('{"classes": 3}')  # a different, unfinished run
    runs.ensure(tmp_path, [spec], device="cpu", log=lambda m: None)
    assert runs.is_complete(out)
    import json

    assert json.loads((out / "config.json").read_text())["classes"] == 2
