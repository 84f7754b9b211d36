"""Studies behind docs/surrogate.md: tightness, trends, real networks vs the surrogate bound.

    python -m empirics.studies tightness         [--out DIR] [--steps 200] [--quick]
    python -m empirics.studies surrogate-trends  [--out DIR] [--seeds 0,1,2] [--quick]
    python -m empirics.studies trainer           [--out DIR] [--seeds 0,1,2] [--quick]

Each prints Markdown tables (the ones in docs/surrogate.md) and, with ``--out``, writes the
raw rows as CSV. ``trainer`` trains CL and NSCL in lockstep on synthetic data (one factor
of ``C``, ``tau``, ``B`` varied at a time around a base setting) and, for the same trained
pairs, measures ``||Sigma^CL - Sigma^NSCL||_F`` on reference sets of growing ``N`` against
the run's own Theorem 1 ([P2], THEORY.md s6): the "real networks" table.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cl_nscl_align.cli import ArgumentParser

__all__ = [
    "TIGHTNESS_GRID",
    "tightness_rows",
    "surrogate_trend_rows",
    "trainer_rows",
    "markdown_table",
    "main",
]

TIGHTNESS_GRID = {"C": (5, 10, 50), "tau": (0.2, 0.5, 1.0, 2.0), "B": (16, 32, 128),
                  "lr": (16.0, 128.0)}
SURROGATE_BASE = dict(C=10, N=256, B=32, tau=1.0, steps=200, lr=64.0)
SURROGATE_AXES = {"C": (2, 5, 10, 20, 50), "tau": (0.2, 0.5, 1.0, 2.0), "B": (16, 32, 64, 128)}
TRAIN_BASE = dict(
    dataset="synthetic", classes=10, train_size=1024, test_size=128, reference_size=256,
    objectives=("cl", "nscl"), batch_size=64, steps=120, eval_every=120,
    checkpoint_every=120, warmup_steps=10, lr=1.2, lr_rule="linear", schedule="cosine",
    tau=0.5, device="cpu", feature_dim=64, proj_dim=32,
)
TRAIN_AXES = {"classes": (2, 5, 10, 20), "tau": (0.2, 0.5, 1.0), "batch_size": (32, 64, 128)}
REALNET_N = (32, 64, 128, 256, 512, 1024)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def markdown_table(rows: list[dict], cols: list[str], fmt: dict | None = None) -> str:
    """A Markdown table of ``rows`` restricted to ``cols`` (``fmt``: column -> format spec)."""
    fmt = fmt or {}

    def cell(v, c):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            if not math.isfinite(v):
                return "inf" if v > 0 else str(v)
            return format(v, fmt.get(c, ".3g"))
        return str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(cell(r.get(c), c) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def _write_csv(rows: list[dict], path: Path) -> None:
    from empirics.io import append_csv_rows

    path.unlink(missing_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    append_csv_rows(path, rows, fieldnames=cols)


# ------------------------------------------------------------------------------ tightness


def tightness_rows(grid: dict | None = None, *, N: int = 256, steps: int = 200,
                   seed: int = 0) -> list[dict]:
    """Final-step ratios measured/bound on a grid of ``C, tau, B, lr`` (surrogate)."""
    from empirics.surrogate import SurrogateConfig, simulate

    grid = grid or TIGHTNESS_GRID
    rows = []
    for C in grid["C"]:
        for tau in grid["tau"]:
            for B in grid["B"]:
                for lr in grid["lr"]:
                    res = simulate(SurrogateConfig(C=C, N=N, B=B, tau=tau, steps=steps, lr=lr,
                                                   seed=seed))
                    f = res.final()
                    m = f["measured"]
                    th = res.theorem1[-1]
                    log10_ratio_th = (math.log10(m) - f["log10_theorem1"]
                                      if f["log10_theorem1"] is not None and m > 0 else None)
                    rows.append({
                        "C": C, "tau": tau, "B": B, "lr": lr, "measured": m,
                        "certificate": f["certificate"],
                        "ratio_cert": f["ratio_certificate"],
                        "ratio_cert_global": f["ratio_certificate_global"],
                        "ratio_cert_lipschitz": f["ratio_certificate_lipschitz"],
                        "ratio_recurrence": f["ratio_recurrence"],
                        "ratio_theorem1": m / th if math.isfinite(th) and th > 0 else None,
                        "log10_ratio_theorem1": log10_ratio_th,
                        "max_kappa": float(res.kappa.max()),
                        "drive_over_bound": float(res.drive.max() / res.drive_bound)
                        if math.isfinite(res.drive_bound) else None,
                        "event_held": f["event_held"], "cka": f["cka"],
                    })
                    _progress(f"tightness C={C} tau={tau} B={B} lr={lr}: "
                              f"ratio_cert={rows[-1]['ratio_cert']:.3g}")
    return rows


# ------------------------------------------------------------------------------ trends


def surrogate_trend_rows(seeds=(0, 1, 2), axes: dict | None = None,
                         base: dict | None = None) -> list[dict]:
    """Final sim_gap and CKA of the surrogate, one factor varied at a time, over seeds.

    ``B`` is swept twice: at the base ``lr`` and with ``lr`` proportional to ``B``
    (``lr = 2 B``, the linear rule in state units).
    """
    from empirics.surrogate import SurrogateConfig, simulate

    base = dict(base or SURROGATE_BASE)
    axes = axes or SURROGATE_AXES
    rows = []
    sweeps = [(k, v, {}) for k, vals in axes.items() for v in vals]
    sweeps += [("B(lr=2B)", B, {"lr": 2.0 * B}) for B in axes["B"]]
    for factor, value, extra in sweeps:
        key = "B" if factor.startswith("B") else factor
        for seed in seeds:
            kw = {**base, key: value, "seed": seed, **extra}
            f = simulate(SurrogateConfig(**kw)).final()
            rows.append({"factor": factor, "value": value, "seed": seed,
                         "sim_gap": f["measured"], "cka": f["cka"], "rho": f["rho"],
                         "certificate": f["certificate"]})
        _progress(f"surrogate trend {factor}={value} done")
    return rows


def _aggregate(rows: list[dict], keys=("sim_gap", "cka")) -> list[dict]:
    """Mean and standard deviation over seeds per (factor, value)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["factor"], r["value"]), []).append(r)
    out = []
    for (factor, value), rs in groups.items():
        row = {"factor": factor, "value": value, "seeds": len(rs)}
        for k in keys:
            vals = np.array([r[k] for r in rs if r.get(k) is not None], dtype=float)
            row[f"{k}_mean"] = float(vals.mean()) if vals.size else None
            row[f"{k}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else None
        out.append(row)
    return out


# ------------------------------------------------------------------------------ trainer


def trainer_rows(seeds=(0, 1, 2), axes: dict | None = None, base: dict | None = None,
                 realnet_N=REALNET_N, workdir=None) -> tuple[list[dict], list[dict]]:
    """Train CL/NSCL pairs (one factor at a time) and measure trends and the real gap vs N.

    Returns ``(trend_rows, realnet_rows)``. Trend rows: final CL-NSCL ``sim_gap`` and cosine
    CKA of ``z`` on the train reference set (from the run's summary). Real-network rows: for
    the same trained pair, ``||Sigma^CL - Sigma^NSCL||_F`` of ``z`` on class-stratified train
    subsets of growing ``N`` against the run's Theorem 1 (``bounds.csv``, last row: the run's
    ``C, tau, B``, realised ``pi_max`` and exact ``sum_eta``).
    """
    import json

    import torch

    from empirics.config import TrainConfig
    from empirics.data import reference_set
    from empirics.io import read_csv_rows
    from empirics.metrics import cka, similarity_gap
    from empirics.trainer import train

    base = dict(base or TRAIN_BASE)
    axes = axes or TRAIN_AXES
    trend, realnet = [], []
    done_keys: dict = {}
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(workdir if workdir is not None else tmp.name)
    for factor, vals in axes.items():
        for value in vals:
            for seed in seeds:
                kw = {**base, factor: value, "seed": seed}
                key = tuple(sorted((k, str(v)) for k, v in kw.items()))
                if key in done_keys:  # the base setting appears on every axis: train once
                    t_row, r_rows = done_keys[key]
                    trend.append({**t_row, "factor": factor, "value": value})
                    continue
                out = root / f"{factor}-{value}-s{seed}"
                gaps: list[dict] = []

                def callback(done, trainer, gaps=gaps):
                    if done != trainer.T:
                        return
                    members = {m.name: m for m in trainer.members}
                    for n in realnet_N:
                        if n > trainer.N:
                            continue
                        ref = reference_set(trainer.train_set, n, 12345)
                        zs = {}
                        for name in ("cl", "nscl"):
                            net = members[name].net
                            was = net.training
                            net.eval()
                            with torch.no_grad():
                                zs[name] = net(ref.x)[1].double().cpu().numpy()
                            net.train(was)
                        gaps.append({"N": n, "sim_gap": similarity_gap(zs["cl"], zs["nscl"]),
                                     "cka": cka(zs["cl"], zs["nscl"])})

                t0 = time.perf_counter()
                run = train(TrainConfig(**kw, out=str(out)), progress=False, callback=callback)
                wall = time.perf_counter() - t0
                s = json.loads((run / "summary.json").read_text())
                z = s["alignment"]["cl-nscl"]["train"]["z"]
                last = read_csv_rows(run / "bounds.csv")[1][-1]
                th = float(last["sim_gap"]) if last["sim_gap"] not in ("", "None") else math.inf
                t_row = {"factor": factor, "value": value, "seed": seed,
                         "sim_gap": z["sim_gap"], "cka": z["cka"], "rho": z["rho"],
                         "N_ref": kw["reference_size"],
                         "sum_eta": s["sum_eta"], "theorem1": th,
                         "log10_theorem1": float(last["log10_sim_gap"]), "wall_s": wall}
                r_rows = []
                for g in gaps:
                    r_rows.append({"C": kw["classes"], "tau": kw["tau"], "B": kw["batch_size"],
                                   "seed": seed, "sum_eta": s["sum_eta"], "N": g["N"],
                                   "sim_gap": g["sim_gap"], "rms_entry": g["sim_gap"] / g["N"],
                                   "cka": g["cka"], "theorem1": th,
                                   "covered": bool(g["sim_gap"] <= th)})
                realnet += r_rows
                done_keys[key] = (t_row, r_rows)
                trend.append(t_row)
                _progress(f"trainer {factor}={value} seed={seed}: sim_gap={z['sim_gap']:.3g} "
                          f"cka={z['cka']:.3f} theorem1={th:.3g} ({wall:.0f}s)")
    if tmp is not None:
        tmp.cleanup()
    return trend, realnet


# ------------------------------------------------------------------------------ CLI


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m empirics.studies", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("tightness", "surrogate-trends", "trainer"))
    p.add_argument("--out", default=None, help="directory for the raw CSV rows")
    p.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    p.add_argument("--steps", type=int, default=200, help="surrogate steps (tightness)")
    p.add_argument("--quick", action="store_true", help="a much smaller grid (smoke test)")
    a = p.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in a.seeds.split(",") if s.strip())
    except ValueError:
        p.error(f"Expected `--seeds` as a comma list of integers, got {a.seeds!r}")
    if not seeds:
        p.error(f"Expected at least one seed in `--seeds`, got {a.seeds!r}")
    out = Path(a.out) if a.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    if a.study == "tightness":
        grid = ({"C": (10,), "tau": (1.0,), "B": (32,), "lr": (16.0,)} if a.quick
                else TIGHTNESS_GRID)
        rows = tightness_rows(grid, steps=a.steps if not a.quick else 20)
        cols = ["C", "tau", "B", "lr", "measured", "ratio_cert", "ratio_cert_global",
                "ratio_cert_lipschitz", "ratio_recurrence", "log10_ratio_theorem1", "max_kappa",
                "drive_over_bound", "event_held", "cka"]
        print(markdown_table(rows, cols, {"cka": ".4f"}))
        if out:
            _write_csv(rows, out / "tightness.csv")
    elif a.study == "surrogate-trends":
        axes = {"C": (2, 10), "tau": (0.5, 1.0), "B": (16, 32)} if a.quick else None
        base = {**SURROGATE_BASE, "steps": 20, "N": 64} if a.quick else None
        rows = surrogate_trend_rows(seeds, axes, base)
        agg = _aggregate(rows)
        print(markdown_table(agg, ["factor", "value", "seeds", "sim_gap_mean", "sim_gap_std",
                                   "cka_mean", "cka_std"], {"cka_mean": ".5f", "cka_std": ".1e"}))
        if out:
            _write_csv(rows, out / "surrogate_trends.csv")
    else:
        axes = {"classes": (2, 4)} if a.quick else None
        base = ({**TRAIN_BASE, "train_size": 128, "reference_size": 32, "steps": 4,
                 "eval_every": 4, "checkpoint_every": 4, "warmup_steps": 0, "batch_size": 32}
                if a.quick else None)
        trend, realnet = trainer_rows(seeds, axes, base,
                                      realnet_N=(32, 64) if a.quick else REALNET_N)
        agg = _aggregate(trend, keys=("sim_gap", "cka", "log10_theorem1"))
        print(markdown_table(agg, ["factor", "value", "seeds", "sim_gap_mean", "sim_gap_std",
                                   "cka_mean", "cka_std", "log10_theorem1_mean"],
                             {"cka_mean": ".3f", "cka_std": ".3f"}))
        print()
        print(markdown_table(realnet, ["C", "tau", "B", "seed", "sum_eta", "N", "sim_gap",
                                       "rms_entry", "theorem1", "covered"]))
        if out:
            _write_csv(trend, out / "trainer_trends.csv")
            _write_csv(realnet, out / "realnet.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
