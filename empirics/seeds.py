"""The one seed splitter: ``derive_seed(root, purpose, *keys)``.

Every random choice of the toolkit draws from a stream derived from one root seed, one
named purpose and optional keys (an epoch, a step, a split), never from global random
state (STYLE.md rule 7). The stream is ``numpy.random.SeedSequence(entropy=root,
spawn_key=(purpose id, *keys))``: independent across purposes and keys, identical on every
machine, and a pure function of its arguments, so a resumed run draws exactly the batches
and views an uninterrupted one would.

Purposes (the ids are fixed forever; a new purpose takes a new id):

====================  ==  ===========================================================
purpose               id  what it drives
====================  ==  ===========================================================
``labels``             0  the surrogate's reference labels
``init``               1  initial weights (trainer) or initial similarity state (surrogate)
``batch``              2  batch order (trainer: key = epoch; surrogate: the whole run)
``data``               3  data generation (synthetic prototypes, map, samples; key = part)
``split``              4  train/test splits of data sets without an official split
``subset``             5  the seeded ``C``-way class subsets ([P2] Fig. 3)
``reference``          6  the fixed evaluation reference sets (key = split)
``augment``            7  augmentations (key = step)
``head``               8  the CE head's initialisation
``eval_views``         9  the fixed evaluation views (key = split)
``eval_order``        10  the order of the evaluation batches (key = split)
``cap``               11  per-class caps of image folders
``power``             12  start vectors of power iterations (Hessian, Jacobian norms)
``support``           13  few-shot support sets (key = repetition)
``bootstrap``         14  bootstrap resamples of the claims study
====================  ==  ===========================================================

Ids 0-2 make the surrogate's streams those of ``SeedSequence(root).spawn(3)``, which it
used before this module existed, so its published numbers are unchanged.

String keys are mapped to integers by CRC-32 (stable across processes and machines).

>>> derive_seed(0, "batch", 3) == derive_seed(0, "batch", 3)
True
>>> derive_seed(0, "batch", 3) != derive_seed(0, "batch", 4) != derive_seed(0, "augment", 3)
True
>>> import numpy as np
>>> a = rng(7, "init").normal()
>>> b = np.random.default_rng(np.random.SeedSequence(7).spawn(3)[1]).normal()
>>> a == b
True
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["PURPOSES", "derive_seed", "rng", "seed_sequence", "torch_generator"]

PURPOSES: dict[str, int] = {
    "labels": 0,
    "init": 1,
    "batch": 2,
    "data": 3,
    "split": 4,
    "subset": 5,
    "reference": 6,
    "augment": 7,
    "head": 8,
    "eval_views": 9,
    "eval_order": 10,
    "cap": 11,
    "power": 12,
    "support": 13,
    "bootstrap": 14,
}


def _key(k: Any) -> int:
    if isinstance(k, str):
        return zlib.crc32(k.encode("utf-8"))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"Expected seed keys to be ints >= 0 or str, got {k!r}")
    return int(k)


def seed_sequence(root: int, purpose: str, *keys: int | str) -> np.random.SeedSequence:
    """The ``SeedSequence`` of ``purpose`` (and ``keys``) under the root seed ``root``."""
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or root < 0:
        raise ValueError(f"Expected `root` seed to be an int >= 0, got {root!r}")
    if purpose not in PURPOSES:
        raise ValueError(f"Expected `purpose` among {', '.join(PURPOSES)}, got {purpose!r}")
    return np.random.SeedSequence(
        entropy=int(root), spawn_key=(PURPOSES[purpose], *(_key(k) for k in keys))
    )


def derive_seed(root: int, purpose: str, *keys: int | str) -> int:
    """A 63-bit integer seed (for ``torch.Generator.manual_seed`` or a data loader)."""
    state = seed_sequence(root, purpose, *keys).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def rng(root: int, purpose: str, *keys: int | str) -> np.random.Generator:
    """A numpy ``Generator`` on the stream of ``purpose`` (and ``keys``)."""
    return np.random.default_rng(seed_sequence(root, purpose, *keys))


def torch_generator(root: int, purpose: str, *keys: int | str, device: Any = "cpu"):
    """A ``torch.Generator`` on ``device`` seeded with :func:`derive_seed`."""
    import torch

    return torch.Generator(device=device).manual_seed(derive_seed(root, purpose, *keys))
