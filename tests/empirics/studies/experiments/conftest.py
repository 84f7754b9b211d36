"""Tiny finished lockstep runs (four objectives, one initialisation) for the experiment
studies, launched once per session through the runs layer."""

from __future__ import annotations

import pytest

#: A tiny lockstep setting: 4 synthetic classes, an MLP, a few AdamW steps on CPU.
TINY = dict(dataset="synthetic", classes=4, train_size=96, test_size=48, reference_size=16,
            batch_size=16, steps=6, warmup_steps=1, eval_every=6, checkpoint_every=6,
            feature_dim=16, proj_dim=8, arch="mlp", optimizer="adamw", lr=3e-3,
            lr_rule="constant", objectives=["cl", "nscl", "scl", "ce"], device="cpu")


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """A folder of three finished runs: seeds 0 and 1 at tau = 0.5, seed 0 at tau = 1."""
    from empirics.runs import RunSpec, launch

    root = tmp_path_factory.mktemp("experiment-runs")
    specs = [RunSpec("train", {**TINY, "seed": 0, "tau": 0.5}),
             RunSpec("train", {**TINY, "seed": 1, "tau": 0.5}),
             RunSpec("train", {**TINY, "seed": 0, "tau": 1.0})]
    results = launch(specs, root)
    assert all(r.ok for r in results), [r.error for r in results]
    return root


@pytest.fixture(scope="session")
def run0(tiny_runs):
    """The seed-0, tau-0.5 run directory."""
    import json

    for p in sorted(tiny_runs.iterdir()):
        cfg = json.loads((p / "config.json").read_text())
        if cfg["seed"] == 0 and cfg["tau"] == 0.5:
            return p
    raise AssertionError("no seed-0 run")
