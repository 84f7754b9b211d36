"""Tests for empirics.compare.measures: compare reports the registry's measures, plugins
included, in its output and in layers.csv; a row measure's options come from the command
line where its function takes them; a failing plugin is one NaN with its reason."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from empirics.compare import measures
from empirics.measures import MEASURES

#: A package installed beside the toolkit: two row measures (group cl_nscl_align.metrics),
#: one that works and one that fails on every call.
PLUGIN = '''
import numpy as np


def mean_cosine(X, Y):
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    v = Y[:, : X.shape[1]] / np.linalg.norm(Y[:, : X.shape[1]], axis=1, keepdims=True)
    return float((u * v).sum(axis=1).mean()) if X.shape[1] <= Y.shape[1] else float("nan")


def row_count(X, Y):
    return float(X.shape[0])


def fails(X, Y):
    raise RuntimeError("this plugin always fails")


def _label_sum(X, Y, labels):
    return float(np.sum(labels))


LABEL_SUM = {"function": _label_sum, "needs_labels": True}
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """What ``pip install`` of that package leaves in ``site-packages``: the module and a
    ``*.dist-info`` declaring its entry points; the registry reloaded before and after."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "compare_plugin_demo.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "compare_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: compare-plugin-demo\n"
                                   "Version: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[cl_nscl_align.metrics]\nmean_cosine = compare_plugin_demo:mean_cosine\n"
        "row_count = compare_plugin_demo:row_count\nfails = compare_plugin_demo:fails\n"
        "label_sum = compare_plugin_demo:LABEL_SUM\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    MEASURES.reload()
    yield site
    monkeypatch.undo()
    MEASURES.reload()


def test_every_registered_measure_is_reported_in_its_order():
    assert [m.name for m in measures.reported()] == list(MEASURES.names())
    text = measures.measures_markdown()
    for m in MEASURES:
        assert f"| `{m.name}` |" in text


def test_a_row_measure_gets_the_options_its_function_takes():
    knn = MEASURES["mutual_knn"]
    assert knn.options_for(k=3, metric="euclidean") == {"k": 3, "metric": "euclidean"}
    assert measures.metadata(knn, k=3, metric="euclidean")["options"] == {"k": 3}
    assert "options" not in measures.metadata(MEASURES["cka"])


def test_a_plugin_row_measure_is_in_the_output(plugins, features, cli):
    rc, out, err = cli(features / "a.npy", features / "b.npy", "--format", "json",
                       "--knn-rows", "50", "--no-progress")
    assert rc == 0, err
    assert err == ("python -m empirics.compare: warning: fails: RuntimeError: this plugin "
                   "always fails; returning NaN\n"  # one line, naming it and why
                   "python -m empirics.compare: warning: label_sum: needs labels, and none "
                   "were given; returning NaN\n")
    res = json.loads(out)
    names = [m["name"] for m in res["measures"]]
    assert names == list(MEASURES.names()) and {"mean_cosine", "fails"} <= set(names)
    rows = measures.bounded_rows(120, 50, 0)
    X, Y = np.load(features / "a.npy")[rows], np.load(features / "b.npy")[rows]
    u = X[:, :4] / np.linalg.norm(X[:, :4], axis=1, keepdims=True)
    assert res["metrics"]["row_count"] == 50.0  # the bounded rows, as numpy arrays
    assert res["metrics"]["mean_cosine"] is None  # nan: X is wider than Y
    assert res["metrics"]["fails"] is None
    assert "RuntimeError: this plugin always fails" in res["nan_reasons"]["fails"]
    assert res["metrics"]["label_sum"] is None
    rc, out, err = cli(features / "a.npy", features / "b.npy", "--format", "json",
                       "--knn-rows", "50", "--no-progress", "--labels",
                       features / "labels.npy")
    assert rc == 0, err  # the labels of the bounded rows, in their order
    labels = np.load(features / "labels.npy")
    assert json.loads(out)["metrics"]["label_sum"] == float(labels[rows].sum())
    rc, out, _ = cli(features / "b.npy", features / "a.npy", "--format", "json",
                     "--knn-rows", "50", "--no-progress")
    v = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    assert json.loads(out)["metrics"]["mean_cosine"] == pytest.approx(
        float((v * u).sum(axis=1).mean()), rel=1e-12)


def test_a_plugin_row_measure_is_in_layers_csv(plugins, tiny_run, cli, tmp_path):
    out = tmp_path / "cmp"
    rc, _, err = cli(f"{tiny_run}:cl", f"{tiny_run}:nscl", "--layers", "all",
                     "--layer-rows", "20", "--out", out, "--no-progress")
    assert rc == 0, err
    lines = err.splitlines()  # the failing plugin: one line for every pair it failed on
    assert len(lines) == 2 and all("this plugin always fails" in line for line in lines)
    with open(out / "layers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["layer_a", "layer_b", "width_a", "width_b", "n",
                             *MEASURES.names()]
    assert {r["row_count"] for r in rows} == {"20.0"} and {r["fails"] for r in rows} == {""}
    assert all(0.0 <= float(r["mutual_knn"]) <= 1.0 for r in rows)
    same = [r for r in rows if r["layer_a"] == r["layer_b"]]
    assert same and all(math.isfinite(float(r["mean_cosine"])) for r in same)
    # the run's labels reach the layers' row measures: those of the 20 bounded rows
    sums = {float(r["label_sum"]) for r in rows}
    assert len(sums) == 1 and math.isfinite(sums.pop())


def test_layer_rows_zero_leaves_the_row_measures_out(tiny_run, cli, tmp_path):
    out = tmp_path / "cmp0"
    rc, _, err = cli(f"{tiny_run}:cl", f"{tiny_run}:nscl", "--layers", "encoder.net.1",
                     "--layer-rows", "0", "--out", out, "--no-progress")
    assert rc == 0, err
    with open(out / "layers.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["mutual_knn"] == "" and float(row["cka"]) > 0  # NaN, written as empty


def test_every_nan_moment_measure_keeps_its_reason():
    """alignment() gives ``cka`` as its cosine kind; the reason follows it."""
    import torch

    from empirics.measures import moment_measures

    stream = measures.PairMoments()
    X = torch.ones(10, 3, dtype=torch.float64)  # every row equal: the cosine measures are NaN
    stream.update(X, torch.randn(10, 3, dtype=torch.float64,
                                 generator=torch.Generator().manual_seed(0)))
    values, reasons = stream.values()
    nan = {m.name for m in moment_measures() if math.isnan(values[m.name])}
    assert "cka" in nan and set(reasons) == nan
