"""One run spec and one cache key for every kind of run.

A :class:`RunSpec` is a kind (``"train"`` or ``"surrogate"``) and the configuration
fields that differ from that kind's defaults. Resolved through the kind's declared
configuration (:mod:`cl_nscl_align.options`), it has one cache key: the first 16 hex digits of
the SHA-256 of the kind and every result-deciding field (execution knobs such as the
device or the output folder are left out). Two clients that need the same run, a figure
and a claim say, find the same directory and train it once.

The kinds are named here by import path only, so this module imports neither torch nor
the trainer: ``figures`` can plan, find and read runs without them.

>>> s = RunSpec("surrogate", {"C": 4, "N": 32, "B": 8, "steps": 5})
>>> s.key() == RunSpec("surrogate", {"N": 32, "C": 4, "B": 8, "steps": 5}).key()
True
>>> s.key() == RunSpec("surrogate", {"C": 4, "N": 32, "B": 8, "steps": 6}).key()
False
>>> len(s.key())
16
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Kind", "RunSpec", "label", "resolve"]


@dataclass(frozen=True)
class Kind:
    """A kind of run: its declared configuration and its runner, by import path.

    The runner is ``run(config, out, *, resume, progress) -> Path``: it writes the run
    directory ``out`` (:mod:`empirics.runs.writer`), continuing it when ``resume``.
    """

    name: str
    options: str  # "module:Class", a cl_nscl_align.options.Options subclass
    runner: str  # "module:function"

    def options_class(self):
        return resolve(self.options)

    def run_function(self) -> Callable[..., Any]:
        return resolve(self.runner)


KINDS: dict[str, Kind] = {
    "train": Kind("train", "empirics.training.config:TrainConfig",
                  "empirics.training.trainer:run_into"),
    "surrogate": Kind("surrogate", "empirics.surrogate.config:SurrogateConfig",
                      "empirics.surrogate.run:run_into"),
}


def resolve(target: str) -> Any:
    """The object at ``"module:attribute"``.

    Raises:
        ValueError: not of the form ``module:attribute``, or nothing is found there.
    """
    module, _, attr = str(target).partition(":")
    if not module or not attr:
        raise ValueError(f"Expected a target as 'module:function', got {target!r}")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"Expected an importable target, got {target!r} ({exc})") from None
    return obj


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class RunSpec:
    """One run: a kind and its configuration overrides (or a user runner ``target``).

    Args:
        kind: a key of :data:`KINDS`; ignored when ``target`` is given.
        config: fields that differ from the kind's defaults.
        target: ``"module:function"``, a user runner ``fn(config: dict, run_dir: Path)``
            returning a mapping of results or a directory holding ``summary.json``.
    """

    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None

    def __post_init__(self) -> None:
        if self.target is None and self.kind not in KINDS:
            raise ValueError(f"Expected `kind` among {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"Expected `config` to be a mapping, got {self.config!r}")
        object.__setattr__(self, "config", dict(self.config))

    def options(self):
        """The validated configuration object (raises the kind's validation errors)."""
        if self.target is not None:
            raise ValueError(f"Expected a kind of run, got the user target {self.target!r}")
        return KINDS[self.kind].options_class().from_dict(self.config)

    def resolved(self) -> dict[str, Any]:
        """Every field after the defaults (the user target's config as given)."""
        return dict(self.config) if self.target is not None else self.options().to_dict()

    def key_dict(self) -> dict[str, Any]:
        """What the cache key covers."""
        if self.target is not None:
            return {"target": self.target, "config": dict(self.config)}
        return {"kind": self.kind, "config": self.options().key_dict()}

    def key(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`key_dict`."""
        return hashlib.sha256(_canonical(self.key_dict()).encode()).hexdigest()[:16]

    def dirname(self, readable: str = "") -> str:
        """The run's directory name: ``<readable>__<key>`` (or ``<kind>-<key>``)."""
        stem = readable or (self.kind if self.target is None else "custom")
        return f"{stem}__{self.key()}" if readable else f"{stem}-{self.key()}"


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_fmt(v) for v in value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def label(point: Mapping[str, Any], max_len: int = 80) -> str:
    """A readable, file-name-safe label of a few fields: ``C=2__tau=0.5`` (whole items,
    at most ``max_len`` characters).

    >>> label({"classes": 2, "objectives": ["cl", "nscl"]})
    'classes=2__objectives=cl+nscl'
    """
    out = ""
    for k, v in point.items():
        item = re.sub(r"[^A-Za-z0-9_.=+-]", "-", f"{k}={_fmt(v)}")
        if len(out) + len(item) + 2 > max_len:
            break
        out = f"{out}__{item}" if out else item
    return out
