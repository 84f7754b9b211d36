"""The rows a comparison embeds: a run's own test reference set, or a split of a data set.

- **Two members of one run, no data given**: the run's test reference set, exactly as the
  trainer built it (the rebuilt :class:`~empirics.training.lockstep.LockstepTrainer`'s
  ``references``); the NCC centres come from its train reference set and the [P1] losses
  from its fixed evaluation views and batches (``evaluator.splits["test"]``). The numbers
  are then the run's own last evaluation (``metrics.csv``, ``losses.csv``).
- **``--dataset``**: the ``--split`` (default test) of the data set, a seeded
  ``--classes``-way subset when given, a seeded class-stratified ``--n``-row subset when
  given (:func:`empirics.data.reference_set`; ``synthetic`` generates ``--n // C`` rows per
  class instead); the NCC centres come from as many rows of the other split; the [P1]
  losses from batches of ``--batch-size`` rows in a shuffled order
  (``torch_generator(seed, "eval_order", split)``; a last partial batch is left out, as the
  evaluator does), each with two views by the trainer's augmentation (``vector`` or
  ``image`` from the data kind) drawn from ``torch_generator(seed, "eval_views", split, j)``.

Labels come with the rows; ``--labels FILE`` replaces them.

>>> from empirics.compare.options import CompareOptions
>>> ref = from_dataset(CompareOptions(dataset="digits", classes=3, n=30), "cpu")
>>> len(ref.y), ref.kind, ref.train_y is not None
(30, 'image', True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from empirics.compare.sources import CompareError, RunContext

__all__ = ["Reference", "from_dataset", "from_run", "read_labels"]

Batches = Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]


@dataclass
class Reference:
    """Inputs and labels of the compared rows, and what the [P1] losses and NCC need."""

    what: str
    x: torch.Tensor | None  # inputs (N, ...) on the models' device
    y: torch.Tensor | None  # labels (N,), int64 on the CPU
    kind: str | None = None  # "vector" | "image"
    train_x: torch.Tensor | None = None  # rows that fit the NCC class centres
    train_y: torch.Tensor | None = None
    loss_batches: Batches | None = None  # () -> iter of (views (K, b, ...), labels (b,))
    settings: dict = field(default_factory=dict)  # tau, pairs, positive_in_denominator, form

    @property
    def n(self) -> int | None:
        return None if self.x is None else int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return None if self.x is None else tuple(int(s) for s in self.x.shape[1:])


def from_run(ctx: RunContext) -> Reference:
    """The test reference set of a rebuilt trainer run (see the module docstring)."""
    trainer, cfg = ctx.trainer, ctx.config
    test, train = trainer.references["test"], trainer.references["train"]
    split = trainer.evaluator.splits["test"]

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for j in range(split.n_batches):
            cut = slice(j * split.batch, (j + 1) * split.batch)
            yield split.views[:, cut], split.y_views[cut].cpu()

    settings = {"tau": cfg.tau, "pairs": cfg.pairs, "loss_gap_form": cfg.loss_gap_form,
                "positive_in_denominator": cfg.positive_in_denominator, "source": "run"}
    return Reference(
        what=f"the test reference set of run {ctx.path.name} ({len(test)} rows, step "
             f"{ctx.step})",
        x=test.x, y=test.y.cpu(), kind=test.kind, train_x=train.x, train_y=train.y.cpu(),
        loss_batches=batches, settings=settings)


def from_dataset(opts, device: str) -> Reference:
    """The ``--split`` of ``--dataset`` (see the module docstring)."""
    from empirics.augment import make_augmenter, make_views
    from empirics.data import load_dataset, reference_set
    from empirics.seeds import torch_generator

    sizes = {}
    if opts.dataset == "synthetic" and opts.n is not None:  # generated, not subset
        sizes = {f"{opts.split}_size": opts.n}
    try:
        train, test = load_dataset(opts.dataset, classes=opts.classes, seed=opts.seed,
                                   root=opts.data_root, **sizes)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise CompareError(f"Expected `--dataset` {opts.dataset!r} to load, got "
                           f"{' '.join(str(exc).split())}") from None
    ds, other = (test, train) if opts.split == "test" else (train, test)
    if opts.n is not None and not sizes:
        if opts.n > len(ds):
            raise CompareError(f"Expected `--n` <= the {len(ds)} rows of the {opts.split} split "
                               f"of {opts.dataset!r}, got {opts.n}")
        ds = reference_set(ds, opts.n, opts.seed, opts.split)
    other_split = "train" if opts.split == "test" else "test"
    other = reference_set(other, min(len(other), len(ds)), opts.seed, other_split)
    x = ds.x.to(device)
    augmenter = make_augmenter("vector" if ds.kind == "vector" else "image")
    N, B = len(ds), opts.batch_size

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        b = min(B, N)
        order = torch.randperm(N, generator=torch_generator(opts.seed, "eval_order",
                                                            opts.split))
        for j in range(max(1, N // b)):
            idx = order[j * b:(j + 1) * b]
            gen = torch_generator(opts.seed, "eval_views", opts.split, j, device=device)
            yield make_views(x[idx.to(device)], augmenter, gen, K=2), ds.y[idx]

    subset = f", {opts.classes}-way subset" if opts.classes else ""
    return Reference(
        what=f"{opts.dataset} {opts.split} split ({N} rows{subset}, seed {opts.seed})",
        x=x, y=ds.y.cpu(), kind=ds.kind, train_x=other.x.to(device), train_y=other.y.cpu(),
        loss_batches=batches, settings={"source": "dataset"})


def read_labels(path: str, n: int) -> torch.Tensor:
    """Integer labels ``(n,)`` from ``.npy``, ``.npz`` (its only array, or ``labels`` / ``y``)
    or a text file of integers (one per line or whitespace-separated).

    Raises:
        CompareError: a missing or unreadable file, non-integer or negative labels, or a
            count other than ``n`` (naming ``--labels``).
    """
    p = Path(path)
    if not p.is_file():
        raise CompareError(f"Expected `--labels` to be a file, got {path!r} (no such file)")
    try:
        if p.suffix.lower() in (".npy", ".npz"):
            data = np.load(p, allow_pickle=False)
            if not isinstance(data, np.ndarray):
                with data:
                    names = list(data.files)
                    pick = next((k for k in ("labels", "y") if k in names), None)
                    if pick is None and len(names) != 1:
                        raise CompareError(f"Expected `--labels` {path!r} to hold one array "
                                           f"(or 'labels' / 'y'), got {', '.join(names)}")
                    data = data[pick or names[0]]
        else:
            data = np.loadtxt(p, ndmin=1)
    except CompareError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise CompareError(f"Expected `--labels` {path!r} to hold integer labels, got an "
                           f"unreadable file ({str(exc).splitlines()[0][:120]})") from None
    a = np.asarray(data)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu" or a.ndim != 1:
        raise CompareError(f"Expected `--labels` {path!r} to be integers of shape (N,), got "
                           f"dtype {a.dtype} and shape {a.shape}")
    if a.shape[0] != n:
        raise CompareError(f"Expected `--labels` with one label per compared row ({n}), got "
                           f"{a.shape[0]} in {path!r}")
    if a.size and a.min() < 0:
        raise CompareError(f"Expected `--labels` >= 0, got {int(a.min())} in {path!r}")
    return torch.from_numpy(a.astype(np.int64))
