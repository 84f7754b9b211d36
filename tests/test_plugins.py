"""Plugins through Python entry points, end to end (issue 18; docs/extending.md).

A package installed beside the toolkit declares a similarity measure (group
``cl_nscl_align.metrics``, a plain ``f(X, Y) -> float``) and an objective (group
``cl_nscl_align.objectives``, a plain ``loss(views, labels, tau)``). Here "installed" is a
temporary ``*.dist-info`` (``METADATA`` and ``entry_points.txt``) and the plugin's module in
a folder on ``sys.path``, which is what ``pip install`` leaves in ``site-packages``. The
real trainer then trains the objective in lockstep with the built-ins and writes the
measure's column; a broken plugin is left out with one warning.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from empirics.measures import MEASURES
from empirics.objectives import OBJECTIVES

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"

#: The plugin of the end-to-end test: ``cl_twin`` is the decoupled CL of THEORY.md s2
#: written from scratch (so its model must track the built-in ``cl`` model: same
#: initialisation, batches and views), ``mean_cosine`` the mean cosine of paired rows.
PLUGIN = '''
import numpy as np
import torch


def mean_cosine(X, Y):
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    v = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return float((u * v).sum(axis=1).mean())


def cl_twin(views, labels, tau):
    K, B, _ = views.shape
    z = torch.nn.functional.normalize(views.reshape(K * B, -1), dim=1)
    sim = z @ z.T / tau
    sample = torch.arange(K * B, device=z.device) % B
    same = sample[:, None] == sample[None, :]
    positive = same & ~torch.eye(K * B, dtype=torch.bool, device=z.device)
    denominator = torch.logsumexp(sim.masked_fill(same, float("-inf")), dim=1)
    return (-(sim * positive).sum(1) / positive.sum(1) + denominator).mean()


NOT_CALLABLE = 3
'''

TINY = ["--classes", "3", "--train-size", "48", "--test-size", "24", "--reference-size", "16",
        "--batch-size", "12", "--steps", "4", "--warmup-steps", "0", "--eval-every", "2",
        "--checkpoint-every", "2", "--feature-dim", "8", "--proj-dim", "4", "--device", "cpu",
        "--no-progress"]  # fmt: skip


def install(site: Path, dist: str, modules: dict[str, str],
            entry_points: dict[str, dict[str, str]]) -> None:
    """What ``pip install`` leaves in ``site``: the modules and ``<dist>-0.1.dist-info``."""
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()) + "\n"
        for group, table in entry_points.items()), encoding="utf-8")


@pytest.fixture
def site(tmp_path):
    """A folder on ``sys.path`` whose plugins the registries see; removed afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    before = set(sys.modules)
    sys.path.insert(0, str(folder))

    def reload() -> None:
        importlib.invalidate_caches()
        OBJECTIVES.reload()
        MEASURES.reload()

    yield folder, reload
    sys.path.remove(str(folder))
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and \
                str(folder) in str(sys.modules[name].__file__):
            del sys.modules[name]
    reload()


def _reference_features(run: Path) -> dict:
    """Every model's float64 features of both reference sets, from the run's last
    checkpoint (what the evaluator measured at the last step)."""
    from empirics.runs.layout import RunDir
    from empirics.runs.writer import load_checkpoint, read_config
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import LockstepTrainer

    trainer = LockstepTrainer(TrainConfig.from_dict(read_config(RunDir(run))))
    trainer.load_state_dict(load_checkpoint(run / "checkpoints" / "last.pt"))
    out = {}
    with torch.no_grad():
        for m in trainer.members:
            m.module.eval()
            out[m.name] = {}
            for split, ref in trainer.references.items():
                h, z = m.module(ref.x)
                out[m.name][split] = {"h": h.flatten(1).double().numpy(),
                                      "z": z.double().numpy()}
    return out


@pytest.mark.slow
def test_a_plugin_measure_and_objective_train_in_lockstep(site, tmp_path, capsys):
    from empirics.runs import read_run
    from empirics.training.cli import build_parser, main

    folder, reload = site
    install(folder, "demo_plugin", {"demo_plugin": PLUGIN},
            {"cl_nscl_align.metrics": {"mean_cosine": "demo_plugin:mean_cosine"},
             "cl_nscl_align.objectives": {"cl_twin": "demo_plugin:cl_twin"}})
    reload()
    assert "cl_twin" in OBJECTIVES.names() and OBJECTIVES["cl_twin"].plugin
    assert "mean_cosine" in MEASURES.names() and MEASURES["mean_cosine"].basis == "rows"
    assert "cl_twin" in build_parser().format_help()  # a --objectives choice

    out = tmp_path / "run"
    assert main([*TINY, "--objectives", "cl,cl_twin,nscl", "--out", str(out)]) == 0
    capsys.readouterr()
    run = read_run(out)
    assert set(run.losses["model"]) == {"cl", "nscl", "cl_twin"}
    assert {"cl-cl_twin", "cl-nscl", "nscl-cl_twin"} == set(run.metrics["pair"])
    assert "mean_cosine" in run.metrics.columns and "cl_twin" in run.summary["models"]
    assert "mean_cosine" in run.summary["alignment"]["cl-cl_twin"]["test"]["z"]

    # lockstep: one initialisation, the same batches and views; the plugin's loss is CL's
    first = run.losses[run.losses["step"] == 0].set_index(["model", "split"])
    for split in ("train", "test"):
        assert first.loc[("cl_twin", split), "loss_own"] == pytest.approx(
            first.loc[("cl", split), "loss_own"], rel=1e-12)
    twin = run.metrics[run.metrics["pair"] == "cl-cl_twin"]
    assert (twin["cka"] > 1 - 1e-9).all() and (twin["sim_gap"] < 1e-5).all()
    assert (run.metrics[run.metrics["pair"] == "cl-nscl"]["cka"] < 1 - 1e-6).any()

    # the measure's value is the plugin function on the reference features
    plugin = importlib.import_module("demo_plugin")
    feats = _reference_features(out)
    last = run.metrics[run.metrics["step"] == run.metrics["step"].max()]
    for row in last.to_dict("records"):
        a, b = row["pair"].split("-")
        want = plugin.mean_cosine(feats[a][row["split"]][row["features"]],
                                  feats[b][row["split"]][row["features"]])
        assert row["mean_cosine"] == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert len(last) == 3 * 2 * 2 and last["mean_cosine"].notna().all()


def test_broken_plugins_are_left_out_with_one_warning_each(site):
    folder, reload = site
    install(folder, "broken_plugin", {"broken_plugin": PLUGIN},
            {"cl_nscl_align.metrics": {"no_module": "no_such_module_xyz:f",
                                       "cka": "broken_plugin:mean_cosine",
                                       "not_callable": "broken_plugin:NOT_CALLABLE",
                                       "fine": "broken_plugin:mean_cosine"},
             "cl_nscl_align.objectives": {"cl": "broken_plugin:cl_twin",
                                          "no_attr": "broken_plugin:missing"}})
    reload()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        measures, objectives = MEASURES.names(), OBJECTIVES.names()
    said = sorted(str(w.message) for w in caught)
    assert len(said) == 5, said
    for name, why in (("no_module", "ModuleNotFoundError"), ("cka", "the name is taken"),
                      ("not_callable", "TypeError"), ("cl", "the name is taken"),
                      ("no_attr", "AttributeError")):
        assert sum(f"plugin {name!r}" in s and why in s for s in said) == 1, (name, said)
    assert measures == (*MEASURES.builtin_names(), "fine")
    assert objectives == OBJECTIVES.builtin_names()
    assert MEASURES["cka"].plugin is False and OBJECTIVES["cl"].plugin is False

    from empirics.measures import row_values
    from empirics.training.config import TrainConfig

    X = np.random.default_rng(0).normal(size=(20, 4))
    assert row_values(X, X) == {"mutual_knn": 1.0, "fine": pytest.approx(1.0)}
    assert TrainConfig().objectives == ("cl", "nscl", "scl", "ce")  # built-ins untouched


def test_a_plugin_name_that_is_not_an_identifier_is_left_out(site):
    folder, reload = site
    install(folder, "dash_plugin", {"dash_plugin": PLUGIN},
            {"cl_nscl_align.objectives": {"cl-twin": "dash_plugin:cl_twin"}})
    reload()
    with pytest.warns(RuntimeWarning, match="letters, digits and underscores"):
        assert "cl-twin" not in OBJECTIVES.names()


def test_a_row_measure_that_fails_is_nan_with_one_warning(site):
    from empirics.measures import row_values

    folder, reload = site
    install(folder, "fail_plugin", {"fail_plugin": "def bad(X, Y):\n    raise KeyError(7)\n"},
            {"cl_nscl_align.metrics": {"bad": "fail_plugin:bad"}})
    reload()
    X = np.random.default_rng(0).normal(size=(8, 3))  # too few rows for mutual_knn's k = 10
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = row_values(X, X)
    assert math.isnan(values["bad"]) and math.isnan(values["mutual_knn"])
    said = [str(w.message) for w in caught]
    assert len(said) == 2 and "bad is NaN: KeyError: 7" in said
    assert any(s.startswith("mutual_knn is NaN: ValueError: Expected `k` < N - 1") for s in said)


# ----------------------------------------------------------------------------- the doc
def doc_files() -> dict[str, str]:
    """The files docs/extending.md shows, by the path in their block's ``title``."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r'^```\w+ title="([^"]+)"\n(.*?)^```$', text, re.M | re.S)
    return {path: textwrap.dedent(body) for path, body in blocks}


def install_doc_packages(folder: Path) -> dict[str, dict]:
    """Every package of the doc, installed as pip would from its ``pyproject.toml``."""
    files = doc_files()
    packages = {}
    for path, text in files.items():
        if not path.endswith("pyproject.toml"):
            continue
        root = path.rsplit("/", 1)[0]
        project = tomllib.loads(text)["project"]
        modules = {p.rsplit("/", 1)[1][:-3]: body for p, body in files.items()
                   if p.startswith(root + "/") and p.endswith(".py")}
        install(folder, project["name"].replace("-", "_"), modules, project["entry-points"])
        packages[project["name"]] = project
    return packages


def test_the_doc_shows_one_file_and_one_pyproject_per_package():
    files = doc_files()
    roots = {p.rsplit("/", 1)[0] for p in files}
    assert len(roots) == 2
    for root in roots:
        mine = sorted(p.rsplit("/", 1)[1] for p in files if p.startswith(root + "/"))
        assert len(mine) == 2 and mine[1] == "pyproject.toml" and mine[0].endswith(".py")


@pytest.mark.slow
def test_the_docs_examples_work_when_installed(site, tmp_path, capsys):
    from empirics.runs import read_run
    from empirics.training.cli import main

    folder, reload = site
    packages = install_doc_packages(folder)
    reload()
    groups = {g: t for p in packages.values() for g, t in p["entry-points"].items()}
    (measure,) = groups["cl_nscl_align.metrics"]
    (objective,) = groups["cl_nscl_align.objectives"]
    entry = MEASURES[measure]
    assert entry.plugin and entry.basis == "rows" and entry.label != measure  # declared
    assert entry.direction in ("higher", "lower") and entry.source != "plugin"
    assert OBJECTIVES[objective].plugin and OBJECTIVES[objective].label != objective

    out = tmp_path / "run"  # the vmap backend: the plugin's loss on its slice of z
    assert main([*TINY, "--objectives", f"cl,nscl,{objective}", "--backend", "vmap",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    run = read_run(out)
    assert objective in set(run.losses["model"])
    assert f"cl-{objective}" in set(run.metrics["pair"])
    values = run.metrics[measure]
    assert values.notna().all() and values.between(*entry.range).all()
    assert run.losses["loss_own"].notna().all()
