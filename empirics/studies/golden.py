"""Golden runs: a small pinned trainer run and a pinned surrogate run, and their key numbers.

``tests/regression/test_golden.py`` recomputes these numbers and compares them with
``tests/regression/golden.json`` within :data:`TOLERANCES`, so a code change that silently
shifts alignment numbers fails there. Both runs are run specs launched through
:func:`empirics.runs.launch`; their numbers are read from the run directories'
``summary.json``. Regenerating the golden file is an explicit command, to be run (and the
diff reviewed) only when a change of the numbers is intended:

    python -m empirics.studies.golden            # recompute and print the differences
    python -m empirics.studies.golden --write    # recompute and store the parts that moved

``--write`` rewrites a part (trainer, surrogate) only when its numbers moved beyond the
tolerance or its configuration changed; a part that reproduces keeps its stored numbers
byte for byte, so the diff to review shows only what changed.

**What is pinned** is the golden file's own declaration: the keys of its ``trainer`` and
``surrogate`` parts (:func:`pinned`). The pinned runs report every registered measure and
more; a measure added to the registry later is not pinned until the golden file is
rewritten from scratch (``--write`` with no file pins every number of both runs), so
adding a measure never moves the golden file.

**Tolerances.**

- Surrogate: float64 numpy with a fixed operation order; the last bits still depend on
  the BLAS build (the stored ``certificate_global`` and ``lipschitz_measured`` differ from
  this machine's by one unit in the last place), so ``rtol = 1e-7``, ``atol = 1e-12``.
- Trainer: ``rtol = 1e-4``, ``atol = 1e-9``. The run is deterministic float32 torch on one
  CPU thread, so on one machine it repeats exactly (observed difference 0), and the
  earlier ``rtol = 2e-3`` was far looser than needed. It cannot be float32's ``1e-6``,
  though: another BLAS build sums in another order, and 24 SGD steps amplify those
  roundings. Measured by running the pinned run under every kernel path of this machine
  (torch 2.13, MKL 2024.2, AVX-512 CPU; ``MKL_ENABLE_INSTRUCTIONS=AVX2`` and ``SSE4_2``,
  ``MKL_CBWR=COMPATIBLE``, ``ATEN_CPU_CAPABILITY=default``, and all of them at once: each a
  different summation order, as on another machine), the golden numbers moved by at most
  1.3e-5 relative (``z_r``, ``z_rho``, ``z_sim_gap``: differences of two similar matrices;
  the losses by at most 3e-7). ``rtol = 1e-4`` leaves a factor of 7 for BLAS libraries
  further apart than MKL's own paths and is 20 times tighter than before; a changed
  formula or seed stream moves these numbers by far more. ``atol`` only matters for a
  number near 0 (none here). At the earlier ``lr = 2.0`` the same kernels moved the
  numbers by up to 9e-5: the smaller step below is also better conditioned.

**The trainer configuration** :data:`TRAIN_KW` is also the regression fixture of
``tests/regression`` (trained once, observed at every evaluation). Its ``lr = 0.25`` (with
the default cosine schedule, ``sum_eta = 3.125``) replaces the earlier 2.0: with the seed
streams of :mod:`empirics.seeds`, the large constant step drives the CL and NSCL models of
seed 0 so far apart within 24 steps that ``r > 1`` at most evaluations and ``rho``
reaches 0.99 (1.88 and 2.50 under an intermediate version of the streams), and then [P2]'s
corollaries (``CKA >= (1 - rho)/(1 + rho)``, ``RSA >= (1 - r)/(1 + r)``) say nothing, so the
corollary test would check nothing. At ``lr = 0.25`` seed 0 has ``rho <= 0.69`` and
``r <= 0.78`` at every evaluation (``z`` and ``h``, train and test), so both corollaries
bite everywhere, and the test asserts that they do. At this tiny scale whether they bite
depends on the seed (seeds 2 and 3 give ``rho`` or ``r`` >= 1), which is why the seed is
pinned with the rest. The other fields keep the fixture small (24 steps, 4 classes, 128
samples: about a second) with the evaluation steps the tests rely on (0, 8, 16, 24).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_nscl_align.cli import command, one_line_warnings
from cl_nscl_align.options import Options, option, path_text
from empirics.objectives import THEOREM_PAIR, pair_name
from empirics.runs import RunSpec, read_run, read_table
from empirics.studies.plan import launch_study, run_folder

__all__ = [
    "GOLDEN_PATH",
    "PARTS",
    "SURROGATE_KW",
    "TOLERANCES",
    "TRAIN_KW",
    "GoldenOptions",
    "compare",
    "compute",
    "golden_specs",
    "main",
    "merge",
    "pinned",
    "surrogate_numbers",
    "trainer_numbers",
]

GOLDEN_PATH = Path(__file__).resolve().parents[2] / "tests" / "regression" / "golden.json"

#: The pinned surrogate: a cosine schedule with warm-up whose peak step expands the
#: row-wise certificate (``kappa = max(1, eta L_box - 1)`` reaches 3 on 12 of the 24 steps),
#: so the golden numbers pin the ``kappa > 1`` branch of the certificate too.
SURROGATE_KW = dict(C=4, N=32, B=8, tau=0.5, steps=24, lr=32.0, schedule="cosine",
                    warmup_steps=4, seed=0)
TRAIN_KW = dict(
    dataset="synthetic", classes=4, train_size=128, test_size=64, reference_size=48,
    objectives=THEOREM_PAIR, batch_size=32, steps=24, eval_every=8, checkpoint_every=24,
    warmup_steps=0, device="cpu", feature_dim=32, proj_dim=16, lr=0.25, lr_rule="constant",
    tau=0.5, seed=0,
)
TOLERANCES = {"surrogate": {"rtol": 1e-7, "atol": 1e-12},
              "trainer": {"rtol": 1e-4, "atol": 1e-9}}
PARTS = ("surrogate", "trainer")


def golden_specs() -> dict[str, RunSpec]:
    """The two pinned runs.

    >>> sorted(golden_specs())
    ['surrogate', 'trainer']
    """
    return {"surrogate": RunSpec("surrogate", SURROGATE_KW), "trainer": RunSpec("train", TRAIN_KW)}


def _configs() -> dict[str, dict[str, Any]]:
    """The pinned configurations as stored in the golden file (lists, not tuples)."""
    return {"surrogate_config": dict(SURROGATE_KW),
            "train_config": {**TRAIN_KW, "objectives": list(TRAIN_KW["objectives"])}}


def pinned(path: str | os.PathLike = GOLDEN_PATH) -> dict[str, tuple[str, ...] | None]:
    """The numbers each part of the golden file at ``path`` pins: the keys of that part
    (``None``: every number, for a part or a file that does not exist yet)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    return {p: tuple(doc[p]) if isinstance(doc.get(p), dict) else None for p in PARTS}


def _numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The numbers (and booleans) of a mapping, keys prefixed."""
    return {f"{prefix}{k}": v for k, v in values.items()
            if isinstance(v, (bool, int, float)) or v is None}


def _select(numbers: Mapping[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    """``numbers`` restricted to the pinned ``keys`` (all when ``None``); a pinned key the
    run does not give is left out, for :func:`compare` to report."""
    if keys is None:
        return dict(numbers)
    return {k: numbers[k] for k in keys if k in numbers}


#: The default ``keys`` of :func:`surrogate_numbers` and :func:`trainer_numbers`: those the
#: golden file pins (``None`` is every number, as :func:`pinned` says of a new file).
PINNED: Any = object()


def surrogate_numbers(run_dir: str | os.PathLike,
                      keys: Sequence[str] | None = PINNED) -> dict[str, Any]:
    """The final numbers of a pinned surrogate run directory (its ``summary.json``, plus
    ``log10_recurrence`` and the step factor ``kappa``'s largest value and the number of
    steps above 1), restricted to ``keys`` (default: those the golden file pins; ``None``:
    every number)."""
    f = read_run(run_dir).summary
    out = _numbers(f)
    out["log10_recurrence"] = math.log10(f["recurrence"])
    kappa = read_table(Path(run_dir) / "metrics.csv")["kappa"].dropna()
    out["kappa_max"] = float(kappa.max())
    out["kappa_steps_above_one"] = int((kappa > 1).sum())
    return _select(out, pinned()["surrogate"] if keys is PINNED else keys)


def trainer_numbers(run_dir: str | os.PathLike,
                    keys: Sequence[str] | None = PINNED) -> dict[str, Any]:
    """The final numbers of a pinned trainer run directory: the CL-NSCL alignment on the
    train reference set (``z_<measure>``, ``h_<measure>``), each model's numbers
    (``<model>_loss_cl``, ...) and ``sum_eta``, restricted to ``keys`` (default: those the
    golden file pins; ``None``: every number)."""
    s = read_run(run_dir).summary
    out: dict[str, Any] = {}
    for kind, values in s["alignment"][pair_name(*THEOREM_PAIR)]["train"].items():
        out.update(_numbers(values, f"{kind}_"))
    for model in THEOREM_PAIR:
        out.update(_numbers(s["models"][model], f"{model}_"))
    out["sum_eta"] = s["sum_eta"]
    return _select(out, pinned()["trainer"] if keys is PINNED else keys)


_NUMBERS = {"surrogate": surrogate_numbers, "trainer": trainer_numbers}


def compute(out: str | os.PathLike | None = None, *, parts=PARTS,
            pins: Mapping[str, Sequence[str] | None] | None = None) -> dict[str, dict]:
    """Launch the pinned runs (into ``out/runs``, or a temporary folder) and read their
    golden numbers: ``{"surrogate": {...}, "trainer": {...}}``; ``pins``: the keys of each
    part (default :func:`pinned`, the golden file's)."""
    specs = golden_specs()
    pins = pinned() if pins is None else pins
    with run_folder(out) as root:
        results = launch_study([specs[p] for p in parts], root, desc="golden")
        return {p: _NUMBERS[p](r.path, pins.get(p)) for p, r in
                zip(parts, results, strict=True)}


def compare(new: Mapping[str, Any], golden: Mapping[str, Any], *,
            parts=PARTS) -> list[str]:
    """Human-readable mismatches of ``new`` against ``golden`` under :data:`TOLERANCES`.

    >>> compare({"trainer": {"x": 1.0}}, {"trainer": {"x": 1.0 + 1e-9}}, parts=["trainer"])
    []
    >>> compare({"trainer": {"x": 1.0}}, {"trainer": {"x": 1.001}}, parts=["trainer"])
    ['trainer.x: 1.0 != golden 1.001 (rtol 0.0001, atol 1e-09)']
    """
    problems = []
    for part in parts:
        tol = TOLERANCES[part]
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


def merge(new: Mapping[str, Any], stored: Mapping[str, Any] | None) -> tuple[dict, list[str]]:
    """The golden file to write and the parts rewritten: a part keeps its stored numbers
    when they reproduce within tolerance under an unchanged configuration."""
    stored = dict(stored or {})
    configs = _configs()
    key = {"surrogate": "surrogate_config", "trainer": "train_config"}
    doc: dict[str, Any] = {"tolerances": TOLERANCES, **configs}
    rewritten = []
    for part in PARTS:
        same_config = stored.get(key[part]) == configs[key[part]]
        if part in stored and same_config and not compare(new, stored, parts=[part]):
            doc[part] = stored[part]
        else:
            doc[part] = new[part]
            rewritten.append(part)
    return doc, rewritten


@dataclass(frozen=True)
class GoldenOptions(Options):
    """the golden file"""

    write: bool = option(False, "store the recomputed numbers of every part that moved "
                         "beyond its tolerance or whose configuration changed", switch=True,
                         default_text="compare only", result=False)
    path: str = option(str(GOLDEN_PATH), "the golden file", check=path_text, metavar="FILE",
                       result=False)


def main(argv=None) -> int:
    """``python -m empirics.studies.golden [--write] [--path FILE]``; 0 when the numbers
    reproduce (or were written), 1 otherwise."""
    from cl_nscl_align.cli import options_of

    prog = "python -m empirics.studies.golden"
    one_line_warnings(prog)
    p = command(prog, "Recompute the golden numbers of the pinned trainer and surrogate runs "
                "and compare them with the golden file; --write stores the parts that moved.",
                GoldenOptions)
    (a,) = options_of(p, p.parse_args(argv), GoldenOptions)
    path = Path(a.path)
    stored = None
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            p.error(f"Expected a JSON golden file at `--path` {str(path)!r}, got "
                    f"{' '.join(str(exc).split())}")
        if not isinstance(stored, dict):
            p.error(f"Expected a JSON object in the golden file `--path` {str(path)!r}, got "
                    f"{type(stored).__name__}")
        bad = [k for k in PARTS if k in stored and not isinstance(stored[k], dict)]
        if bad:
            p.error(f"Expected each part of the golden file `--path` {str(path)!r} to be a "
                    f"JSON object, got {bad[0]!r} as {type(stored[bad[0]]).__name__}")
    elif not a.write:
        p.error(f"Expected a golden file at `--path`, got no file at {str(path)!r} (run with "
                "--write to create it)")
    folder = path.parent if str(path.parent) else Path(".")
    if a.write and not (folder.is_dir() and os.access(folder, os.W_OK)):
        p.error(f"Expected `--path` {str(path)!r} in a folder this user can write, got "
                f"{str(folder)!r}")
    new = compute(pins=pinned(path))
    if a.write:
        from cl_nscl_align.atomic import atomic_write_json

        doc, rewritten = merge(new, stored)
        atomic_write_json(path, doc)
        kept = [part for part in PARTS if part not in rewritten]
        print(f"wrote {path}: rewrote {', '.join(rewritten) or 'nothing'}"
              + (f"; kept {', '.join(kept)} (reproduced within tolerance)" if kept else ""))
        return 0
    problems = compare(new, stored)
    print("\n".join(problems) if problems else "golden numbers reproduced")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
