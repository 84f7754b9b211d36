"""``python -m empirics.compare``: feature files equal empirics.metrics, formats, bad input."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from empirics.metrics import (
    cka,
    mutual_knn,
    procrustes_distance,
    r,
    rho,
    rsa,
    similarity_gap,
)

PROG = "python -m empirics.compare"


def _json(cli, *argv):
    rc, out, err = cli(*argv, "--format", "json")
    assert rc == 0, err
    return json.loads(out), err


def test_feature_files_equal_the_metrics_functions(cli, features):
    X, Y = np.load(features / "a.npy"), np.load(features / "b.npy")
    res, err = _json(cli, features / "a.npy", features / "b.npy")
    assert err == ""
    want = {"cka": cka(X, Y), "cka_linear": cka(X, Y, "linear"), "rsa": rsa(X, Y),
            "sim_gap": similarity_gap(X, Y), "rho": rho(X, Y), "r": r(X, Y),
            "procrustes": procrustes_distance(X, Y), "mutual_knn": mutual_knn(X, Y, k=10)}
    assert set(res["metrics"]) == set(want)
    for k, v in want.items():
        assert res["metrics"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert res["rows"]["n"] == 120
    assert [m["name"] for m in res["measures"]] == list(res["metrics"])


def test_options_reach_the_measures(cli, features):
    X, Y = np.load(features / "a.npy"), np.load(features / "b.npy")
    res, _ = _json(cli, features / "ab.npz", features / "ab.npz", "--key", "x,y", "--k", "5",
                   "--knn-metric", "euclidean", "--knn-rows", "60", "--seed", "3")
    from empirics.compare.measures import bounded_rows

    rows = bounded_rows(120, 60, 3)
    assert len(rows) == 60 and res["mutual_knn"] == {"k": 5, "metric": "euclidean", "rows": 60}
    assert res["metrics"]["mutual_knn"] == mutual_knn(X[rows], Y[rows], k=5, metric="euclidean")
    assert res["metrics"]["cka"] == pytest.approx(cka(X, Y), rel=1e-12)


def test_pt_tensor_and_views_files(cli, features):
    X = np.load(features / "a.npy")
    res, _ = _json(cli, features / "a.pt", features / "views.npy", "--labels",
                   features / "labels.npy", "--batch-size", "40")
    assert res["metrics"]["cka"] == pytest.approx(cka(X, X), abs=1e-12)  # view 0 is X
    assert res["p1"]["A"] == {"available": False, "why": "n/a: needs views"}
    b = res["p1"]["B"]
    assert b["available"] and b["n_batches"] == 3 and b["batch_size"] == 40
    assert 0.0 <= b["loss_gap_min"] <= b["loss_gap"] <= b["loss_gap_bound"] and b["p1_holds"]
    assert set(res["labels"]["ncc_accuracy"]) == {"A", "B"}
    assert res["weights"]["available"] is False


def test_table_and_csv_hold_every_measure(cli, features):
    rc, table, _ = cli(features / "a.npy", features / "b.npy", "--bootstrap", "5")
    assert rc == 0
    for name in ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r", "procrustes",
                 "mutual_knn"):
        assert f"\n  {name} " in table
    assert "95% basic" in table and "NCC accuracy: n/a: needs labels" in table
    assert "[P2] bounds: n/a: give --classes" in table
    rc, text, _ = cli(features / "a.npy", features / "b.npy", "--bootstrap", "5", "--format",
                      "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    measures = {row["name"]: row for row in rows if row["section"] == "measure"}
    assert len(measures) == 8
    assert all(float(m["ci_low"]) <= float(m["ci_high"]) for m in measures.values())


def test_p2_bounds_are_printed_beside_the_measurement(cli, features):
    from bounds import evaluate_bounds
    from empirics.compare.theory import trainer_eta

    res, _ = _json(cli, features / "a.npy", features / "b.npy", "--classes", "3", "--tau",
                   "0.7", "--batch-size", "32", "--steps", "50", "--lr", "0.2")
    p2 = res["p2"]
    want = evaluate_bounds(3, 0.7, 32, eta=trainer_eta(32, 50, 0.2), N_ref=120,
                           K_norm=res["normalisers"]["k_norm"],
                           sigma_a=res["normalisers"]["sigma_a"])
    by = {row["bound"]: row for row in p2["rows"]}
    assert by["sim_gap"]["value"] == pytest.approx(float(want["sim_gap"]), rel=1e-12)
    assert by["cka_lower"]["vacuous"] == bool(want["vacuous_cka"])
    assert by["sim_gap"]["measured"] == res["metrics"]["sim_gap"]
    rc, table, _ = cli(features / "a.npy", features / "b.npy", "--classes", "3")
    assert "VACUOUS" in table or "holds" in table


def test_out_writes_every_file_atomically(cli, features, tmp_path):
    out = tmp_path / "cmp"
    rc, text, _ = cli(features / "a.npy", features / "b.npy", "--format", "json", "--out", out)
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.json"]
    assert json.loads((out / "compare.json").read_text()) == json.loads(text)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    rc, _, _ = cli(features / "a.npy", features / "b.npy", "--out", out)  # an existing folder
    assert rc == 0


def test_a_failure_while_writing_leaves_no_folder(cli, features, tmp_path, monkeypatch):
    import empirics.compare.report as report

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(report, "atomic_write_json", boom)
    out = tmp_path / "cmp"
    rc, stdout, err = cli(features / "a.npy", features / "b.npy", "--out", out)
    assert rc == 1 and stdout == "" and err.count("\n") == 1 and "disk full" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _nan_file(d):
    a = np.load(d / "a.npy")
    a[3, 1] = np.nan
    np.save(d / "nan.npy", a)
    return d / "nan.npy"


def _garbage(d):
    (d / "garbage.npy").write_bytes(b"not an array at all")
    return d / "garbage.npy"


def _pickled(d):
    np.save(d / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return d / "objects.npy"


def _npz_objects(d):
    np.savez(d / "mixed.npz", x=np.load(d / "a.npy"), meta=np.array([{"a": 1}], dtype=object))
    return d / "mixed.npz"


def _text(d):
    (d / "notes.txt").write_text("1 2 3\n")
    return d / "notes.txt"


def _short(d):
    np.save(d / "short.npy", np.load(d / "a.npy")[:100])
    return d / "short.npy"


def _labels100(d):
    np.save(d / "labels100.npy", np.arange(100) % 3)
    return d / "labels100.npy"


def _cnn(d):
    from empirics.models import build_model

    torch.save(build_model("cnn", (1, 8, 8), width=4, feature_dim=4, proj_dim=3).state_dict(),
               d / "cnn.pt")
    return d / "cnn.pt"


def _state(d):
    from empirics.models import build_model

    torch.save(build_model("mlp", (6,), hidden=8, feature_dim=4, proj_dim=3).state_dict(),
               d / "state.pt")
    return d / "state.pt"


# (name, argv builder (features folder, run folder) -> argv, words the one line must hold)
BAD = [
    ("rows differ", lambda f, r: [f / "a.npy", _short(f)], ["`A` and `B`", "100"]),
    ("missing file", lambda f, r: [f / "nope.npy", f / "b.npy"], ["`A`", "nope.npy"]),
    ("not an array", lambda f, r: [f / "a.npy", _garbage(f)], ["`B`", "garbage.npy"]),
    ("pickled objects", lambda f, r: [_pickled(f), f / "b.npy"], ["`A`", "Python objects"]),
    ("unknown suffix", lambda f, r: [_text(f), f / "b.npy"], ["`A`", "notes.txt"]),
    ("unknown member", lambda f, r: [f"{r}:cl", f"{r}:scl"], ["`B`", "'scl'", "cl, nscl"]),
    ("member missing", lambda f, r: [str(r), f"{r}:cl"], ["`A`", "folder"]),
    ("arch mismatch", lambda f, r: [_state(f), _state(f), "--arch", "cnn", "--dataset",
                                    "synthetic", "--classes", "3", "--n", "30"],
     ["--arch", "'cnn'"]),
    ("no arch", lambda f, r: [_state(f), f / "b.npy"], ["`--arch`", "`A`"]),
    ("no data", lambda f, r: [_state(f), _state(f), "--arch", "mlp"], ["`--dataset`"]),
    ("torchvision", lambda f, r: [_state(f), _state(f), "--arch", "torchvision.resnet18",
                                  "--dataset", "digits", "--n", "20"],
     ["torchvision", "pip install torchvision"]),
    ("k too large", lambda f, r: [f / "a.npy", f / "b.npy", "--k", "119"], ["`--k`", "119"]),
    ("k too large subset", lambda f, r: [f / "a.npy", f / "b.npy", "--knn-rows", "8", "--k",
                                         "7"], ["`--k`", "N - 1 = 7"]),
    ("bad format", lambda f, r: [f / "a.npy", f / "b.npy", "--format", "xml"],
     ["format", "'xml'"]),
    ("bootstrap 0 is off, -1 bad", lambda f, r: [f / "a.npy", f / "b.npy", "--bootstrap",
                                                 "-1"], ["`bootstrap`", "-1"]),
    ("k zero", lambda f, r: [f / "a.npy", f / "b.npy", "--k", "0"], ["`k`", "0"]),
    ("level", lambda f, r: [f / "a.npy", f / "b.npy", "--level", "1.5"], ["`level`", "1.5"]),
    ("out is a file", lambda f, r: [f / "a.npy", f / "b.npy", "--out", f / "a.npy"],
     ["`--out`", "a.npy"]),
    ("npz key unknown", lambda f, r: [f / "ab.npz", f / "ab.npz", "--key", "z"],
     ["`--key`", "'z'", "x, y"]),
    ("npz key needed", lambda f, r: [f / "ab.npz", f / "b.npy"], ["`--key`", "x, y"]),
    ("npz key unreadable", lambda f, r: [_npz_objects(f), _npz_objects(f), "--key", "meta"],
     ["`--key`", "'meta'", "unreadable"]),
    ("npz key pair", lambda f, r: [f / "ab.npz", f / "ab.npz", "--key", "x,y,z"],
     ["`--key`", "x,y,z"]),
    ("nan features", lambda f, r: [_nan_file(f), f / "b.npy"], ["`A`", "NaN", "(3, 1)"]),
    ("layers of files", lambda f, r: [f / "a.npy", f / "b.npy", "--layers", "all"],
     ["`--layers`", "`A`"]),
    ("unknown layer", lambda f, r: [f"{r}:cl", f"{r}:nscl", "--layers", "encoder.nope"],
     ["`--layers`", "'encoder.nope'"]),
    ("labels count", lambda f, r: [f / "a.npy", f / "b.npy", "--labels", _labels100(f)],
     ["`--labels`", "120"]),
    ("labels missing", lambda f, r: [f / "a.npy", f / "b.npy", "--labels", f / "no.npy"],
     ["`--labels`", "no.npy"]),
    ("n without dataset", lambda f, r: [f / "a.npy", f / "b.npy", "--n", "10"],
     ["`dataset`", "`n`"]),
    ("n too large", lambda f, r: [_state(f), _state(f), "--arch", "mlp", "--dataset",
                                  "digits", "--n", "100000"], ["`--n`", "100000"]),
    ("unknown dataset", lambda f, r: [f / "a.npy", f / "b.npy", "--dataset", "imagenet"],
     ["dataset", "'imagenet'"]),
    ("flatten too wide", lambda f, r: [_cnn(f), _cnn(f), "--arch", "cnn", "--dataset",
                                       "digits", "--n", "20", "--layers", "encoder.net.0",
                                       "--pool", "flatten", "--max-width", "100"],
     ["`--max-width` 100", "256", "encoder.net.0"]),
]  # fmt: skip


@pytest.mark.parametrize("name, build, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_naming_the_argument(name, build, words, cli, tmp_path,
                                                   features, tiny_run):
    import shutil

    f = tmp_path / "f"
    shutil.copytree(features, f)
    out = tmp_path / "out"
    argv = [str(a) for a in build(f, tiny_run)]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    rc, stdout, err = cli(*argv)
    assert rc == 2, (name, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), err
    for w in words:
        assert w in lines[0], (name, w, lines[0])
    assert stdout == "" and not out.exists()  # nothing is written in half


@pytest.mark.slow
def test_the_module_runs_as_a_command(features):
    done = subprocess.run([sys.executable, "-m", "empirics.compare", str(features / "a.npy"),
                           str(features / "b.npy"), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert math.isfinite(json.loads(done.stdout)["metrics"]["cka"])


def test_undefined_measures_are_nan_with_one_line_warnings(cli, tmp_path):
    g = np.random.default_rng(5)
    np.save(tmp_path / "const.npy", np.ones((30, 3)))
    np.save(tmp_path / "rand.npy", g.normal(size=(30, 3)))
    rc, out, err = cli(tmp_path / "const.npy", tmp_path / "rand.npy", "--format", "json")
    assert rc == 0
    res = json.loads(out)
    assert res["metrics"]["cka"] is None and res["metrics"]["procrustes"] is None  # NaN
    lines = err.strip().split("\n")
    assert lines and all(line.startswith(f"{PROG}: warning: ") for line in lines)
    assert any("procrustes" in line and "all equal" in line for line in lines)
