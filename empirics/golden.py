"""Golden runs: a small pinned trainer run and a pinned surrogate run, and their key numbers.

``tests/regression/test_golden.py`` recomputes these numbers and compares them with
``tests/regression/golden.json`` within the stated tolerances, so a code change that
silently shifts alignment numbers fails there. Regenerating the golden file is an explicit
command, to be run (and the diff reviewed) only when a change of the numbers is intended:

    python -m empirics.golden --write            # recompute and overwrite golden.json
    python -m empirics.golden                    # recompute and print the diff only

Tolerances (stated in the file and used by the test): the surrogate is float64 numpy with a
fixed operation order, so ``rtol = 1e-7``; the trainer is deterministic torch on CPU, but
BLAS builds differ across machines and 24 SGD steps amplify round-off, so ``rtol = 2e-3``,
``atol = 1e-5``.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

from cl_nscl_align.cli import ArgumentParser

__all__ = [
    "GOLDEN_PATH",
    "SURROGATE_KW",
    "TRAIN_KW",
    "TOLERANCES",
    "surrogate_config",
    "train_config",
    "surrogate_numbers",
    "trainer_numbers",
    "run_trainer",
    "compute",
    "compare",
    "main",
]

GOLDEN_PATH = Path(__file__).resolve().parents[1] / "tests" / "regression" / "golden.json"

SURROGATE_KW = dict(C=10, N=128, B=32, tau=1.0, steps=100, lr=64.0, seed=0)
TRAIN_KW = dict(
    dataset="synthetic", classes=4, train_size=128, test_size=64, reference_size=48,
    objectives=("cl", "nscl"), batch_size=32, steps=24, eval_every=8, checkpoint_every=24,
    warmup_steps=0, device="cpu", feature_dim=32, proj_dim=16, lr=2.0, lr_rule="constant",
    tau=0.5, seed=0,
)
TOLERANCES = {"surrogate": {"rtol": 1e-7, "atol": 1e-12},
              "trainer": {"rtol": 2e-3, "atol": 1e-5}}


def surrogate_config():
    from empirics.surrogate import SurrogateConfig

    return SurrogateConfig(**SURROGATE_KW)


def train_config(out: str):
    from empirics.config import TrainConfig

    return TrainConfig(**TRAIN_KW, out=str(out))


def surrogate_numbers() -> dict:
    """Key final numbers of the pinned surrogate run."""
    from empirics.surrogate import simulate

    f = simulate(surrogate_config()).final()
    keys = ("measured", "certificate", "certificate_global", "log10_theorem1", "cka", "rho",
            "q_max", "eps", "Delta", "lipschitz_measured")
    out = {k: f[k] for k in keys}
    out["log10_recurrence"] = math.log10(f["recurrence"])
    out["event_held"] = f["event_held"]
    return out


def run_trainer(out, callback=None) -> Path:
    """Run the pinned trainer configuration into ``out`` (a fresh directory)."""
    from empirics.trainer import train

    return train(train_config(out), progress=False, callback=callback)


def trainer_numbers(run_dir) -> dict:
    """Key final numbers of a pinned trainer run directory (CL-NSCL, train split, ``z``)."""
    s = json.loads((Path(run_dir) / "summary.json").read_text())
    z = s["alignment"]["cl-nscl"]["train"]["z"]
    h = s["alignment"]["cl-nscl"]["train"]["h"]
    out = {f"z_{k}": z[k] for k in ("cka", "cka_linear", "rsa", "sim_gap", "rho", "r",
                                    "weight_gap", "repr_angle")}
    out.update({f"h_{k}": h[k] for k in ("cka", "sim_gap")})
    for model in ("cl", "nscl"):
        m = s["models"][model]
        out[f"{model}_loss_cl"] = m["loss_cl"]
        out[f"{model}_loss_nscl"] = m["loss_nscl"]
    out["sum_eta"] = s["sum_eta"]
    return out


def compute(run_dir=None) -> dict:
    """All golden numbers; trains into a temporary directory unless ``run_dir`` is given."""
    if run_dir is None:
        with tempfile.TemporaryDirectory() as d:
            trainer = trainer_numbers(run_trainer(Path(d) / "run"))
    else:
        trainer = trainer_numbers(run_dir)
    return {"surrogate": surrogate_numbers(), "trainer": trainer}


def compare(new: dict, golden: dict) -> list[str]:
    """Human-readable mismatches of ``new`` against ``golden`` under :data:`TOLERANCES`."""
    problems = []
    for part, tol in TOLERANCES.items():
        ref, got = golden.get(part, {}), new.get(part, {})
        for k in sorted(set(ref) | set(got)):
            if k not in ref or k not in got:
                problems.append(f"{part}.{k}: missing ({'golden' if k not in ref else 'new'})")
                continue
            a, b = got[k], ref[k]
            if isinstance(b, bool) or b is None or a is None:
                if a != b:
                    problems.append(f"{part}.{k}: {a!r} != golden {b!r}")
            elif not math.isclose(a, b, rel_tol=tol["rtol"], abs_tol=tol["atol"]):
                problems.append(f"{part}.{k}: {a!r} != golden {b!r} "
                                f"(rtol {tol['rtol']}, atol {tol['atol']})")
    return problems


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m empirics.golden",
                                description="Recompute the golden numbers; --write stores them.")
    p.add_argument("--write", action="store_true", help="overwrite the golden file")
    p.add_argument("--path", default=str(GOLDEN_PATH), help="golden file")
    a = p.parse_args(argv)
    path = Path(a.path)
    if not a.write and not path.exists():
        print(f"no golden file at {path}; run with --write", file=sys.stderr)
        return 1
    new = compute()
    if a.write:
        from empirics.io import atomic_write_json

        atomic_write_json(path, {"tolerances": TOLERANCES, "surrogate_config": SURROGATE_KW,
                                 "train_config": {**TRAIN_KW,
                                                  "objectives": list(TRAIN_KW["objectives"])},
                                 **new})
        print(f"wrote {path}")
        return 0
    problems = compare(new, json.loads(path.read_text()))
    print("\n".join(problems) if problems else "golden numbers reproduced")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
