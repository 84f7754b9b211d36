"""A comparison as a table, JSON or CSV, and its files (written whole or not at all).

- ``table``: the measures with their intervals, range, direction and basis, then the
  labels, [P1], weights and [P2] sections, each saying "n/a: ..." when it does not apply;
- ``json``: the whole result (:func:`empirics.compare.comparison.compare`); the measures
  by name under ``metrics``; non-finite numbers as ``null``;
- ``csv``: one row per number, columns :data:`CSV_COLUMNS`.

``--out DIR`` writes ``compare.json``, ``compare.csv`` and, with ``--layers``,
``layers.csv``, ``layers.png`` and ``layers.pdf``. Everything is computed before the first
byte is written. A ``DIR`` that does not exist yet is built as a hidden sibling folder and
renamed into place (it appears complete or not at all); into an existing folder every file
is written atomically (:mod:`cl_nscl_align.atomic`), ``compare.json`` last.

>>> print(render_csv({"metrics": {"cka": 0.5}}).splitlines()[1])
measure,cka,0.5,,,
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cl_nscl_align.atomic import atomic_path, atomic_write_json, atomic_write_text, json_safe
from empirics.compare.layers import columns as layer_columns
from empirics.compare.layers import figure_layers
from empirics.runs.tables import render_rows

__all__ = ["CSV_COLUMNS", "check_out", "render", "render_csv", "render_json",
           "render_table", "write_out"]

CSV_COLUMNS = ["section", "name", "value", "ci_low", "ci_high", "note"]


def _f(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "nan" if math.isnan(x) else format(x, spec)


def _range(r) -> str:
    lo, hi = r
    return f"[{_f(lo, 'g')}, {'inf' if math.isinf(hi) else _f(hi, '.4g')}]"


def render_table(res: dict[str, Any]) -> str:
    """The human-readable report."""
    rows = res["rows"]
    feats = f", features {rows['features']}" if rows.get("features") else ""
    lines = [f"A: {res['A']['what']}", f"B: {res['B']['what']}",
             f"rows: {rows['n']}, {rows['what']}{feats}", ""]
    iv = res.get("intervals")
    level = res.get("bootstrap", {}).get("level")
    head = f"{int(round(100 * level))}% {res['bootstrap']['interval']}" if iv else ""
    lines.append(f"  {'measure':<12}{'value':>11}  {head:<22}{'range':<15}{'aligned':<9}"
                 f"{'basis':<9}label")
    for m in res["measures"]:
        v = res["metrics"][m["name"]]
        ci = ""
        if iv:
            i = iv[m["name"]]
            ci = f"[{_f(i['low'])}, {_f(i['high'])}]"
        label = m["label"]
        if m["basis"] == "rows":  # its options, and the bounded rows it ran on
            label += "".join(f", {k}={v}" for k, v in m.get("options", {}).items())
            label += f" on {res['mutual_knn']['rows']} rows"
        lines.append(f"  {m['name']:<12}{_f(v, '.6g'):>11}  {ci:<22}{_range(m['range']):<15}"
                     f"{m['direction']:<9}{m['basis']:<9}{label}")
    if res.get("nan_reasons"):
        for k, why in res["nan_reasons"].items():
            lines.append(f"  {k} is NaN: {why}")
    if iv:
        b = res["bootstrap"]
        lines.append(f"  ({b['replicates']} bootstrap replicates, unit: {b['unit']}, "
                     f"{b['interval']} interval, seed {b['seed']})")
    lines += ["", *_labels(res["labels"]), *_p1(res["p1"]), *_weights(res["weights"]),
              *_p2(res["p2"])]
    if "layers" in res:
        lay = res["layers"]
        lines.append(f"layers: {len(lay['names_a'])} x {len(lay['names_b'])} pairs of layers "
                     f"(layers.csv and layers.png/.pdf with --out)")
    return "\n".join(lines)


def _labels(lab: dict) -> list[str]:
    if not lab.get("available"):
        return [f"NCC accuracy: {lab['why']}"]
    acc, how = lab["ncc_accuracy"], lab["method"]
    return [f"NCC accuracy (labels from {lab['source']}): A {_f(acc['A'], '.4f')} "
            f"({how['A']}), B {_f(acc['B'], '.4f')} ({how['B']})"]


def _p1(p1: dict) -> list[str]:
    if not p1.get("available"):
        return [f"[P1] loss gap: {p1['why']}"]
    lines = ["[P1] 0 <= L_CL - L_NSCL <= log(1 + e^(2/tau) n_max' / (b - n_max)) on each loss "
             "batch (means over the batches):"]
    for name in ("A", "B"):
        s = p1[name]
        if not s.get("available"):
            lines.append(f"  {name}: {s['why']}")
            continue
        lines.append(f"  {name}: loss_cl {_f(s['loss_cl'])}, loss_nscl {_f(s['loss_nscl'])}, "
                     f"gap {_f(s['loss_gap'])} (min {_f(s['loss_gap_min'])}) <= bound "
                     f"{_f(s['loss_gap_bound'])} ({s['loss_gap_bound_form']}, tau "
                     f"{_f(s['tau'], 'g')}, {s['n_batches']} batches of {s['batch_size']}): "
                     f"held on every batch: {_f(s['p1_holds'])}")
    return lines


def _weights(w: dict) -> list[str]:
    if not w.get("available"):
        return [f"weights: {w['why']}"]
    return [f"weights: weight_gap {_f(w['weight_gap'])} (toolkit's: mean over tensors of "
            f"||W_A - W_B|| / ||W_B||), weight_gap_official {_f(w['weight_gap_official'])} "
            f"([P2] code), weight_angle {_f(w['weight_angle'])} degrees"]


def _p2(p2: dict) -> list[str]:
    if not p2.get("available"):
        return [f"[P2] bounds: {p2['why']}"]
    s = p2["setting"]
    lines = [f"[P2] bounds at C={s['C']}, tau={_f(s['tau'], 'g')}, B={s['B']}, T={s['T']}, "
             f"lr={_f(s['lr'], 'g')} (sum_eta {_f(s['sum_eta'])}, eps {_f(s['eps'])}, Delta "
             f"{_f(s['Delta'])}), on the {s['N_ref']} compared rows, beside the measurement:"]
    for r in p2["rows"]:
        rel = "<=" if r["kind"] == "upper" else ">="
        verdict = "VACUOUS (says nothing here)" if r["vacuous"] else (
            "holds" if r["holds"] else "does NOT hold" if r["holds"] is False else "n/a")
        log10 = f" (log10 {_f(r['log10'], '.2f')})" if r.get("log10") is not None else ""
        lines.append(f"  {r['quantity']:<8} measured {_f(r['measured'])} {rel} {r['bound']} "
                     f"{_f(r['value'])}{log10}: {verdict}")
    lines.append(f"  [P1] balanced loss-gap bound at C: {_f(s['loss_gap_balanced'])}")
    lines.append("  (the [P2] bounds are about a CL and a NSCL model trained from one "
                 "initialisation on shared batches and views at this setting, A as CL; "
                 "Theorem 1 is proved for the similarity-descent surrogate)")
    return lines


def render_json(res: dict[str, Any]) -> str:
    return json.dumps(json_safe(res), indent=2, allow_nan=False)


def csv_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per number of the result (:data:`CSV_COLUMNS`)."""
    out = []
    iv = res.get("intervals") or {}
    for name, v in res["metrics"].items():
        i = iv.get(name, {})
        out.append({"section": "measure", "name": name, "value": v, "ci_low": i.get("low"),
                    "ci_high": i.get("high")})
    lab = res.get("labels", {})
    for side, v in (lab.get("ncc_accuracy") or {}).items():
        out.append({"section": "labels", "name": f"ncc_accuracy_{side}", "value": v,
                    "note": lab["method"][side]})
    p1 = res.get("p1", {})
    for side in ("A", "B"):
        s = p1.get(side) or {}
        for key in ("loss_cl", "loss_nscl", "loss_gap", "loss_gap_min", "loss_gap_bound",
                    "p1_holds"):
            if key in s:
                out.append({"section": "p1", "name": f"{key}_{side}", "value": s[key],
                            "note": s.get("loss_gap_bound_form")})
    w = res.get("weights", {})
    for key in ("weight_gap", "weight_gap_official", "weight_angle"):
        if key in w:
            out.append({"section": "weights", "name": key, "value": w[key]})
    for r in (res.get("p2") or {}).get("rows", []):
        note = "vacuous" if r["vacuous"] else ("holds" if r["holds"] else "fails")
        out.append({"section": "p2", "name": r["bound"], "value": r["value"],
                    "note": f"measured {r['quantity']} {r['measured']!r}: {note}"})
    return out


def render_csv(res: dict[str, Any]) -> str:
    full = {"metrics": {}, **res}
    return render_rows(_finite(csv_rows(full)), CSV_COLUMNS, header=True)


def _finite(rows: list[dict]) -> list[dict]:
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in r.items()} for r in rows]


def render(res: dict[str, Any], fmt: str) -> str:
    return {"table": render_table, "json": render_json, "csv": render_csv}[fmt](res)


def check_out(path: str) -> Path:
    """``--out`` as a folder that can be written (not created yet), or ``ValueError``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"Expected `--out` to be a folder, got the file {path!r}")
    parent = p if p.exists() else next((q for q in p.parents if q.exists()), Path("."))
    if not parent.is_dir():
        raise ValueError(f"Expected `--out` to be a folder, got {path!r} under a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"Expected `--out` to be a folder this user can write, got {path!r} "
                         "(permission denied)")
    return p


def _write_files(folder: Path, res: dict[str, Any]) -> list[str]:
    names = []
    if "layers" in res:
        lay = res["layers"]
        atomic_write_text(folder / "layers.csv",
                          render_rows(_finite(lay["rows"]), layer_columns(), header=True))
        types = (lay["types_a"], lay["types_b"]) if "types_a" in lay else None
        fig = figure_layers(lay["rows"], (lay["names_a"], lay["names_b"]),
                            labels=tuple(lay["labels"]), n=lay["n"], types=types)
        try:
            for fmt in ("png", "pdf"):
                with atomic_path(folder / f"layers.{fmt}") as tmp:
                    fig.savefig(tmp, format=fmt, dpi=130)
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
        names += ["layers.csv", "layers.png", "layers.pdf"]
    atomic_write_text(folder / "compare.csv", render_csv(res))
    atomic_write_json(folder / "compare.json", res)  # last: the comparison is complete
    return names + ["compare.csv", "compare.json"]


def write_out(path: str, res: dict[str, Any]) -> list[str]:
    """Write the result's files into ``path`` (module docstring); returns their names."""
    p = check_out(path)
    if p.exists():
        return _write_files(p, res)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent))
    try:
        names = _write_files(tmp, res)
        os.chmod(tmp, 0o777 & ~_umask())
        os.rename(tmp, p)  # the folder appears complete, or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return names


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
