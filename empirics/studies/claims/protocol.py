"""The protocol of the claims study: every setting, declared once, fixed before any result.

A protocol is a committed TOML file (``protocols/{tiny,quick,medium,full}.toml`` beside this
module, or any file given with ``--protocol``) with three parts:

- the **study's own fields** (:class:`StudyOptions`, one declaration each: type, default,
  help, check): seeds, claims, level, the grids of C2-C5; a key ``k`` of a table ``[t]`` is
  the field ``t_k`` (``[c3] taus = [0.1, 0.5, 1.0]`` is ``c3_taus``);
- ``[train]``: the **base run**, any :class:`~empirics.training.config.TrainConfig` fields
  (data, model, optimiser, ``tau``, ``B``, ``T``, ...), validated by TrainConfig itself,
  so the study declares none of them again; the study sets ``objectives``, ``seed`` and
  the fields its claims vary;
- ``[synthetic]``: TrainConfig fields changed for C2's synthetic runs (``dataset`` is
  ``synthetic``; ``train_size`` / ``test_size`` follow from the samples per class).

The primaries, their directions and ``delta`` are not protocol fields: they are declared
once in :mod:`empirics.studies.claims.catalog`, and every protocol reads them there.

>>> p = load_protocol("quick")
>>> p.name, p.seeds >= 4, p.train["dataset"]
('quick', True, 'digits')
>>> p.floats("c3_taus")
(0.1, 0.5, 1.0)
>>> Protocol.from_dict({"c3_taus": [0.1, -1]})
Traceback (most recent call last):
...
ValueError: Expected every value of `c3_taus` > 0, got '-1.0'
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bounds.schedules import LR_RULES
from cl_nscl_align.options import Options, at_least, in_open_unit, load_toml, option
from empirics.data.catalog import DATASET_CLASSES, DATASETS, NEEDS_ROOT
from empirics.measures import MEASURES
from empirics.studies.claims import catalog
from empirics.studies.plan import CLAIMS_SIZES

__all__ = [
    "BUDGETS",
    "CLAIMS",
    "COMMITTED_SHA256",
    "GRIDS",
    "PROTOCOL_DIR",
    "SIZES",
    "Protocol",
    "StudyOptions",
    "file_sha256",
    "load_protocol",
    "protocol_path",
    "protocol_state",
    "read_protocol_file",
]

#: The claims of THEORY.md s13 this study tests.
CLAIMS = tuple(catalog.CLAIMS)  # the claims of THEORY.md s13, declared in the catalog
#: The committed protocols, by ``--size`` (the one planner's claims sizes).
SIZES = CLAIMS_SIZES
PROTOCOL_DIR = Path(__file__).resolve().parent / "protocols"
#: SHA-256 of each committed protocol file, as committed. A test checks these against the
#: files, so a protocol is changed only together with this table (a deliberate act, in
#: the same commit); claims.md records whether the file a study used is the committed one.
COMMITTED_SHA256 = {
    "tiny": "634a4d33a37b43d82a985e3e1645a62b4293cdaae3b4a9df7931a4b158189e27",
    "quick": "e1e8e44dad461e32cd169d1fba5cf14b805642f3597e8d7670376ef71f7a198f",
    "medium": "45b8f7c59751bf7ee5ef9b90343fb0fde36e27406d83fe77cb4dfb312dc6ceae",
    "full": "484465938ed716f3e837d5e3bc0bf461ee9a5e05c141fbf31aaf088ca0710609",
}
#: How a C4 run at batch size B is as long as the base run: the same number of steps, or
#: the same number of samples seen (epochs): steps * B0 / B.
BUDGETS = ("steps", "epochs")
#: Tables of TrainConfig fields (not study fields).
TRAIN_TABLES = ("train", "synthetic")
#: TrainConfig fields the study sets itself (not in [train] or [synthetic]).
STUDY_SET = ("objectives", "seed", "out", "device", "checkpoint_every")


def _grid_check(kind: type, low: float, *, empty: bool = False):
    """A check that every entry of a grid parses as ``kind``, exceeds ``low``, is distinct,
    and that the grid is not empty (unless ``empty``)."""

    def check(name: str, value: tuple[str, ...]) -> None:
        if not value and not empty:
            raise ValueError(f"Expected at least one value in `{name}`, got none")
        for text in value:
            try:
                x = kind(text)
                if kind is int and str(x) != text.strip():
                    raise ValueError
            except ValueError:
                raise ValueError(f"Expected every value of `{name}` to be "
                                 f"{'an int' if kind is int else 'a number'}, got {text!r}"
                                 ) from None
            if not math.isfinite(x) or x <= low:
                raise ValueError(f"Expected every value of `{name}` > {low:g}, got {text!r}")
        if len(set(kind(t) for t in value)) != len(value):
            raise ValueError(f"Expected distinct values in `{name}`, got {list(value)!r}")

    check.__name__ = f"grid_{kind.__name__}"
    return check


#: Grid fields and the type of their entries.
GRIDS: dict[str, type] = {
    "c2_real_classes": int,
    "c2_synthetic_classes": int,
    "c3_taus": float,
    "c4_batch_sizes": int,
}


def _number_text(value: Any, kind: type) -> Any:
    """A grid entry as the text the grid holds: ints plain, numbers of a float grid by
    ``repr(float)`` (so ``1``, ``1.0`` and ``"1"`` are one value); anything else as given,
    for the grid's check to name."""
    if isinstance(value, bool):
        return value
    if kind is float:
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


@dataclass(frozen=True)
class StudyOptions(Options):
    """The study's own fields of a protocol (see the module docstring, docs/claims.md)."""

    name: str = option("custom", "name of the protocol (quick, medium, full, or yours)")
    seeds: int = option(4, "root seeds 0..seeds-1 of every claim without its own count; "
                        "even seeds discover, odd seeds replicate (at least 2 each)",
                        check=at_least(4))
    c1_seeds: int | None = option(None, "C1's seeds (none: `seeds`)", check=at_least(4))
    c2_seeds: int | None = option(None, "C2's (and C7's) seeds (none: `seeds`)",
                                  check=at_least(4))
    c3_seeds: int | None = option(None, "C3's seeds (none: `seeds`)", check=at_least(4))
    c4_seeds: int | None = option(None, "C4's seeds (none: `seeds`)", check=at_least(4))
    c5_seeds: int | None = option(None, "C5's seeds (none: `seeds`)", check=at_least(4))
    c6_seeds: int | None = option(None, "C6's seeds (none: `seeds`)", check=at_least(4))
    claims: tuple[str, ...] = option(CLAIMS, "claims tested", choices=CLAIMS)
    level: float = option(0.95, "two-sided level of every interval; the tests' alpha is "
                          "1 - level", check=in_open_unit)
    trend_features: tuple[str, ...] = option(("h", "z"), "features of the secondary trend "
                                             "statistics", choices=("h", "z"))
    metric: str = option("cka", "alignment measure of the secondary trend statistics "
                         "beside the primaries' linear CKA: cka (cosine Gram, the "
                         "theory's), rsa, or any registered measure (a distance is signed "
                         "so that + is the paper's direction)",
                         choices=lambda: MEASURES.names())
    root_dataset: str | None = option(None, "the data set --data-root switches the base "
                                      "run to (none: the protocol reads no local data)",
                                      choices=DATASETS)
    final_only: bool = option(True, "evaluate the C2, C3 and C4 runs only at their start "
                              "and end (their statistics read the final values)")

    c2_real_classes: tuple[str, ...] = option((), "C2 (secondary): C of the seeded C-way "
                                              "subsets of the base data set (none: skip)",
                                              check=_grid_check(int, 1, empty=True))
    c2_synthetic_classes: tuple[str, ...] = option(("10", "1000"), "C2: C of the "
                                                   "synthetic runs",
                                                   check=_grid_check(int, 1))
    c2_train_per_class: int = option(64, "C2: synthetic training samples per class (fixed "
                                     "as C grows)", check=at_least(1))
    c2_test_per_class: int = option(32, "C2: synthetic test samples per class",
                                    check=at_least(1))
    c3_taus: tuple[str, ...] = option(("0.1", "0.5", "1.0"), "C3: temperatures",
                                      check=_grid_check(float, 0.0))
    c4_batch_sizes: tuple[str, ...] = option(("128", "256", "512"), "C4: batch sizes (the "
                                             "base run serves the base B)",
                                             check=_grid_check(int, 1))
    c4_rules: tuple[str, ...] = option(("linear",), "C4: learning-rate rules (linear is "
                                       "the primary's and the contrasts' reference)",
                                       choices=LR_RULES)
    c4_match_lr: bool = option(True, "C4: scale each rule's lr so that every rule gives the "
                               "base run's rate at the base B (false: the rules as written)")
    c4_budgets: tuple[str, ...] = option(("epochs",), "C4: equal samples seen (epochs, the "
                                         "paper's and the primary's) and/or equal steps",
                                         choices=BUDGETS)
    c5_steps: int = option(4000, "C5, C6: steps of the long run", check=at_least(2))
    c5_eval_every: int = option(200, "C5, C6: evaluation interval of the long run",
                                check=at_least(1))
    c5_power_iters: int = option(20, "C5: power iterations of beta (Hessian) and G",
                                 check=at_least(1))
    c5_batches: int = option(2, "C5: training batches the curvature is averaged over",
                             check=at_least(1))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudyOptions:
        """Build from a mapping; grids may be lists of numbers (as in the TOML files)."""
        if isinstance(d, Mapping):
            d = dict(d)
            for k, kind in GRIDS.items():
                val = d.get(k)
                if isinstance(val, str):
                    val = [v.strip() for v in val.split(",") if v.strip()]
                if isinstance(val, (list, tuple)):
                    d[k] = tuple(_number_text(v, kind) for v in val)
        return super().from_dict(d)

    def seeds_of(self, claim: str) -> int:
        """The seeds of ``claim`` (C7 shares C2's runs, hence its seeds).

        >>> StudyOptions(seeds=6, c4_seeds=40).seeds_of("C4"), StudyOptions(seeds=6).seeds_of("C7")
        (40, 6)
        """
        own = getattr(self, f"{'c2' if claim == 'C7' else claim.lower()}_seeds")
        return self.seeds if own is None else own

    def ints(self, name: str) -> tuple[int, ...]:
        """An int grid (``c2_real_classes``, ``c4_batch_sizes``, ...) as ints."""
        return tuple(int(v) for v in getattr(self, name))

    def floats(self, name: str) -> tuple[float, ...]:
        """A number grid as floats."""
        return tuple(float(v) for v in getattr(self, name))


def _train_table(name: str, table: Any) -> dict[str, Any]:
    """A ``[train]`` / ``[synthetic]`` table, its keys checked against TrainConfig."""
    from empirics.training.config import TrainConfig

    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise TypeError(f"Expected `[{name}]` to be a table of TrainConfig fields, got "
                        f"{table!r}")
    unknown = sorted(set(table) - set(TrainConfig.field_names()))
    if unknown:
        raise ValueError(f"Expected TrainConfig fields in `[{name}]`, got unknown key(s) "
                         f"{unknown!r}")
    own = sorted(set(table) & set(STUDY_SET))
    if own:
        raise ValueError(f"Expected no {own!r} in `[{name}]` (the study sets them), got "
                         f"{own!r}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in table.items()}


@dataclass(frozen=True)
class Protocol:
    """A protocol: the study's fields, the base run's TrainConfig fields (``train``) and
    the synthetic runs' changes (``synthetic``). Study fields read as attributes
    (``p.seeds``); the base run as ``p.train["tau"]`` or :meth:`base`."""

    options: StudyOptions = field(default_factory=StudyOptions)
    train: Mapping[str, Any] = field(default_factory=dict)
    synthetic: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", _train_table("train", self.train))
        object.__setattr__(self, "synthetic", _train_table("synthetic", self.synthetic))
        self.check()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("options", "train", "synthetic"):
            raise AttributeError(name)
        return getattr(self.options, name)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Protocol:
        """Build from a flat mapping of study fields plus ``train`` / ``synthetic`` tables."""
        if not isinstance(d, Mapping):
            raise TypeError(f"Expected a dict of protocol keys, got {type(d).__name__}")
        d = dict(d)
        tables = {k: d.pop(k) for k in TRAIN_TABLES if k in d}
        return cls(StudyOptions.from_dict(d), tables.get("train") or {},
                   tables.get("synthetic") or {})

    def replace(self, **changes: Any) -> Protocol:
        """A copy with study fields, or ``train`` / ``synthetic`` tables, changed."""
        tables = {k: changes.pop(k) for k in TRAIN_TABLES if k in changes}
        options = self.options.replace(**changes) if changes else self.options
        return Protocol(options, tables.get("train", self.train),
                        tables.get("synthetic", self.synthetic))

    def with_data_root(self, root: str | None) -> Protocol:
        """The protocol with ``--data-root``: the base run reads ``root`` (switched to
        ``root_dataset`` when the protocol names one).

        Raises:
            ValueError: a root for a protocol that reads no local data.
        """
        if root is None:
            return self
        train = dict(self.train)
        if self.root_dataset is not None:
            for key in ("train_size", "test_size", "image_size", "prototypes", "difficulty"):
                train.pop(key, None)  # synthetic-only, or the size of the synthetic set
            train["dataset"] = self.root_dataset
        elif train.get("dataset") not in NEEDS_ROOT:
            raise ValueError(f"Expected no `--data-root` for protocol {self.name!r} (its "
                             f"data set {train.get('dataset', 'synthetic')!r} ships with the "
                             f"toolkit), got {root!r}")
        train["data_root"] = str(root)
        return Protocol(self.options, train, self.synthetic)

    # -- reading -----------------------------------------------------------------------
    def base(self, key: str) -> Any:
        """A base-run field: the ``[train]`` value, else TrainConfig's default."""
        from empirics.training.config import TrainConfig

        return self.train[key] if key in self.train else TrainConfig.defaults()[key]

    def check(self) -> None:
        """Rules between fields, each one sentence naming them."""
        o = self.options
        dataset = self.base("dataset")
        if dataset in NEEDS_ROOT and not self.train.get("data_root"):
            raise ValueError(f"Expected `data_root` (--data-root) for dataset {dataset!r}, "
                             "got None")
        limit = DATASET_CLASSES.get(dataset)
        classes = self.base("classes")
        if limit is not None:
            for C in ((classes,) if classes else ()) + o.ints("c2_real_classes"):
                if C > limit:
                    raise ValueError(f"Expected `classes` and `c2_real_classes` <= {limit} "
                                     f"(the classes of {dataset!r}), got {C}")
        if o.c5_steps <= int(self.base("steps") or 0):
            raise ValueError(f"Expected `c5_steps` > `steps` ({self.base('steps')}: the long "
                             f"run is longer), got {o.c5_steps}")
        if o.c5_steps % 2 or (o.c5_steps // 2) % o.c5_eval_every:
            raise ValueError(f"Expected `c5_steps` / 2 to be a multiple of `c5_eval_every` "
                             f"({o.c5_eval_every}; C6 reads the long run at T/2), got "
                             f"{o.c5_steps}")
        if "C4" in o.claims:
            if "linear" not in o.c4_rules or "epochs" not in o.c4_budgets:
                raise ValueError(f"Expected 'linear' among `c4_rules` and 'epochs' among "
                                 f"`c4_budgets` (the C4 primary), got {list(o.c4_rules)!r} "
                                 f"and {list(o.c4_budgets)!r}")
        for name in ("c2_synthetic_classes", "c3_taus", "c4_batch_sizes"):
            if len(getattr(o, name)) < 2:
                raise ValueError(f"Expected at least two values in `{name}` (a slope), got "
                                 f"{list(getattr(o, name))!r}")
        if len(o.c2_real_classes) == 1:
            raise ValueError(f"Expected none or at least two values in `c2_real_classes` (a "
                             f"slope), got {list(o.c2_real_classes)!r}")

    def to_file_dict(self) -> dict[str, Any]:
        """Every study field (grids as numbers) and both tables (``protocol.json``)."""
        out = self.options.to_dict()
        for name, kind in GRIDS.items():
            out[name] = [kind(v) for v in out[name]]
        out["train"] = dict(self.train)
        out["synthetic"] = dict(self.synthetic)
        return out


def read_protocol_file(path: str | os.PathLike) -> dict[str, Any]:
    """The keys of a protocol TOML file: study tables flattened (``[c3] taus`` ->
    ``c3_taus``), ``[train]`` and ``[synthetic]`` kept as tables.

    Raises:
        FileNotFoundError: no such file. ValueError: not TOML, empty, or a nested table.
    """
    data = load_toml(path, what="a protocol file")
    if not data:
        raise ValueError(f"Expected a protocol in {str(path)!r}, got an empty file (an empty "
                         "protocol is almost surely a mistake; copy a committed one)")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in TRAIN_TABLES:
            flat[key] = value
        elif isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    raise ValueError(f"Expected one level of tables in {str(path)!r}, got "
                                     f"[{key}.{sub}]")
                flat[f"{key}_{sub}"] = v
        else:
            flat[key] = value
    return flat


def protocol_path(size: str) -> Path:
    """The committed protocol file of ``size``.

    Raises:
        ValueError: an unknown size.
    """
    if size not in SIZES:
        raise ValueError(f"Expected `size` among {', '.join(SIZES)}, got {size!r}")
    return PROTOCOL_DIR / f"{size}.toml"


def load_protocol(size: str | None = "quick", *, file: str | os.PathLike | None = None,
                  data_root: str | None = None, **changes: Any) -> Protocol:
    """The protocol of a size (or of ``file``), with study-field ``changes`` applied
    (``None`` values ignored) and ``data_root`` (``--data-root``). A change of ``seeds``
    replaces every claim's own seed count too.

    Raises:
        ValueError / TypeError: an unknown size, a bad or empty file, an unknown key or a
            value the protocol rejects (one sentence naming it).
        FileNotFoundError: ``file`` does not exist.
    """
    path = Path(file) if file is not None else protocol_path(size or "quick")
    data = read_protocol_file(path)
    changes = {k: v for k, v in changes.items() if v is not None}
    if "seeds" in changes:
        for claim in CLAIMS[:6]:
            data.pop(f"{claim.lower()}_seeds", None)
    data.update(changes)
    protocol = Protocol.from_dict(data)
    return protocol.with_data_root(data_root)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a protocol file's bytes (recorded in claims.md)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def protocol_state(path: str | os.PathLike) -> str:
    """What claims.md says of a protocol file, by its hash against :data:`COMMITTED_SHA256`
    (no git): ``the committed <size> protocol``, ``edited: not the committed <size>
    protocol`` (a packaged file whose bytes differ), or ``a protocol of the user``."""
    digest = file_sha256(path)
    for size, committed in COMMITTED_SHA256.items():
        if digest == committed:
            return f"the committed {size} protocol"
    p = Path(path).resolve()
    if p.parent == PROTOCOL_DIR.resolve() and p.stem in SIZES:
        return f"edited: not the committed {p.stem} protocol"
    return "a protocol of the user"
