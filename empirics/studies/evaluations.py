"""Evaluations of finished runs, launched and cached by the runs layer like any other run.

An *evaluation* measures the final weights of one finished lockstep run (the *source*):
its accuracy, few-shot and [P1] Proposition 1 numbers (:mod:`empirics.studies.accuracy`) or
its weight-merging path (:mod:`empirics.studies.merging`). It is a user-target run of
:mod:`empirics.runs` (``RunSpec(kind, config, target="module:function")``) whose
configuration names the study, the source run, a fingerprint of the source
(``config.json`` and ``summary.json``) and the study's options, so

- the runs layer launches it (serial, local pool or Ray), reuses it when done (the same
  source and options give the same cache key) and records a failure in ``error.txt``;
- it is a run directory in the one format (``config.json`` of kind ``custom``,
  ``metrics.csv`` with its main rows, ``summary.json`` last), read torch-free by
  :func:`empirics.runs.read_run`; extra tables (``fewshot.csv``) sit beside them.

The source is stored relative to the evaluation's folder when it is a sibling (the
figures' run cache) and as an absolute path otherwise.

Nothing here imports torch.

>>> spec = evaluation_spec("accuracy", "/r/train-0123", {"shots": (1, 5)}, fingerprint="f")
>>> spec.target, spec.config["shots"], spec.config["source"]
('empirics.studies.accuracy:evaluate_into', [1, 5], '/r/train-0123')
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empirics.objectives import THEOREM_PAIR
from empirics.runs import RunSpec, find_runs, is_run_dir, read_run
from empirics.runs.layout import RunDir
from empirics.runs.tables import RunFileError

__all__ = [
    "EVALUATION_VERSION",
    "SETTING_SKIP",
    "STUDIES",
    "Source",
    "check_source",
    "evaluation_name",
    "evaluation_spec",
    "fingerprint",
    "find_sources",
    "is_evaluation",
    "launch_evaluations",
    "setting_key",
    "setting_of",
    "source_dir",
]

#: The version of what an evaluation measures, part of its cache key: 2 added the logistic
#: probe (accuracy) and the held-out choice of the merging point (merging), so evaluations
#: made before are measured again rather than reused without them.
EVALUATION_VERSION = 2
#: study -> the target that evaluates one source run.
STUDIES = {"accuracy": "empirics.studies.accuracy:evaluate_into",
           "merging": "empirics.studies.merging:evaluate_into"}

#: Configuration fields that do not define a *setting* (seeds are repetitions of one).
SETTING_SKIP = ("seed", "out", "device", "threads", "backend", "eval_every",
                "checkpoint_every", "deterministic")


@dataclass
class Source:
    """A finished training run to evaluate, with the labels its study gave it."""

    path: Path
    labels: dict[str, Any] = field(default_factory=dict)  # e.g. claim, setting


def fingerprint(run_dir: str | os.PathLike) -> str:
    """16 hex digits of the SHA-256 of the run's ``config.json`` and ``summary.json``.

    A run trained again with another configuration gets another fingerprint, so its
    evaluations are not reused.
    """
    run = RunDir(run_dir)
    h = hashlib.sha256()
    for p in (run.config, run.summary):
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"-")
    return h.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def evaluation_spec(study: str, source: str | os.PathLike, options: Mapping[str, Any], *,
                    fingerprint: str | None = None) -> RunSpec:
    """The run spec of one evaluation (``source`` as it will be stored: a name relative to
    the evaluation root, or an absolute path).

    Raises:
        ValueError: an unknown ``study``.
    """
    if study not in STUDIES:
        raise ValueError(f"Expected `study` among {', '.join(STUDIES)}, got {study!r}")
    fp = fingerprint if fingerprint is not None else _fingerprint_of(source)
    config = {"study": study, "version": EVALUATION_VERSION, "source": str(source),
              "fingerprint": fp, **_jsonable(dict(options))}
    return RunSpec("train", config, target=STUDIES[study])


def _fingerprint_of(source: str | os.PathLike) -> str:
    return fingerprint(source) if Path(source).is_absolute() else "-"


def evaluation_name(study: str, spec: RunSpec) -> str:
    """Directory name of an evaluation: ``eval-<study>-<key>``."""
    return f"eval-{study}-{spec.key()}"


def source_dir(config: Mapping[str, Any], run_dir: str | os.PathLike) -> Path:
    """The source run of an evaluation (a relative source is a sibling of ``run_dir``)."""
    src = Path(str(config["source"]))
    return src if src.is_absolute() else Path(run_dir).parent / src


def is_evaluation(run, study: str | None = None) -> bool:
    """Whether a read run (:class:`empirics.runs.Run`) is an evaluation (of ``study``)."""
    if run.kind != "custom":
        return False
    target = run.cfg("target")
    return target in STUDIES.values() if study is None else target == STUDIES.get(study)


def check_source(path: str | os.PathLike, need: Iterable[str] = THEOREM_PAIR[:1]) -> Path:
    """``path`` as a finished lockstep run with a final checkpoint and the objectives
    ``need``, or a ``ValueError`` in one sentence naming it.

    Raises:
        ValueError: not a run directory, not a training run, not finished, no checkpoint,
            or an objective of ``need`` missing.
        RunFileError: an unreadable file of the run (names it).
    """
    p = Path(path)
    if not is_run_dir(p):
        raise ValueError(f"Expected a run directory (config.json and metrics.csv), got "
                         f"{str(p)!r}")
    run = read_run(p)
    if run.kind != "train":
        raise ValueError(f"Expected a training run, got a {run.kind} run in {str(p)!r}")
    if not run.done:
        raise ValueError(f"Expected a finished run (summary.json), got an unfinished one "
                         f"in {str(p)!r}")
    if not RunDir(p).last.is_file():
        raise ValueError(f"Expected the final weights in {str(RunDir(p).last)!r}, got no "
                         "checkpoint")
    have = list(run.cfg("objectives") or [])
    missing = [o for o in need if o not in have]
    if missing:
        raise ValueError(f"Expected objectives {list(need)} in {str(p)!r}, got {have} "
                         f"(missing {missing})")
    return p


def _from_table(table: Path, column: str) -> list[Source]:
    from empirics.runs import read_table

    df = read_table(table)
    if column not in df.columns:
        raise RunFileError(table, f"expected a {column!r} column naming each run, got "
                                  f"columns {list(df.columns)!r}")
    out: dict[Path, Source] = {}
    for i, row in df.iterrows():
        if "status" in df.columns and str(row["status"]) != "ok":
            continue
        rd = Path(str(row[column]))
        p = rd if rd.is_absolute() else table.parent / rd
        if not is_run_dir(p):
            raise RunFileError(table, f"expected a run directory at {str(rd)!r}, got none",
                               line=int(i) + 2)
        labels = {k: row[k] for k in ("claim", "setting") if k in df.columns}
        src = out.setdefault(p.resolve(), Source(p.resolve(), {}))
        for k, v in labels.items():
            src.labels.setdefault(k, [])
            if v not in src.labels[k]:
                src.labels[k].append(v)
    return list(out.values())


def find_sources(path: str | os.PathLike) -> list[Source]:
    """The training runs under ``path``: a claims-study folder (its ``runs.csv``), a sweep
    folder (its ``results.csv``), or any folder of run directories (evaluations and
    surrogate runs are skipped).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RunFileError: a ``runs.csv`` / ``results.csv`` without ``run_dir`` or naming a run
            that is not there (the file and the line).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"Expected `--runs` to be a folder of runs, got {str(p)!r} "
                                "(no such file or folder)")
    for name in ("runs.csv", "results.csv"):
        if p.is_dir() and (p / name).is_file():
            return _from_table(p / name, "run_dir")
    out = []
    for d in find_runs(p):
        cfg = _read_kind(d)
        if cfg == "train":
            out.append(Source(d.resolve()))
    return out


def _read_kind(d: Path) -> str:
    try:
        data = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return "?"
    return str(data.get("kind", "train")) if isinstance(data, dict) else "?"


def setting_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The setting of a run: its configuration without the fields of :data:`SETTING_SKIP`
    (so the seeds of one setting share it)."""
    return {k: v for k, v in sorted(config.items()) if k not in SETTING_SKIP}


def setting_key(setting: Mapping[str, Any], drop: Sequence[str] = ()) -> str:
    """A canonical string of ``setting`` without ``drop`` (for grouping)."""
    return json.dumps({k: v for k, v in setting.items() if k not in drop}, sort_keys=True,
                      default=str)


def launch_evaluations(study: str, sources: Sequence[str | os.PathLike],
                       root: str | os.PathLike, options: Mapping[str, Any], *,
                       executor: str = "serial", workers: int | None = None,
                       progress: bool | None = None) -> list[Path]:
    """Evaluate every source (finished evaluations are reused); one folder per source.

    Raises:
        RuntimeError: an evaluation failed (names it and its ``error.txt``).
    """
    from empirics.studies.plan import launch_study

    root = Path(root)
    specs, names = [], []
    for s in sources:
        s = Path(s).resolve()
        stored = s.name if s.parent == root.resolve() else str(s)
        spec = evaluation_spec(study, stored, options, fingerprint=fingerprint(s))
        specs.append(spec)
        names.append(evaluation_name(study, spec))
    results = launch_study(specs, root, names=names, executor=executor, workers=workers,
                           progress=progress, desc=f"{study} evaluations",
                           what=f"{study} evaluation")
    return [Path(r.path) for r in results]
