"""The contrastive training objective of each model (THEORY.md s2).

CE trains a linear head on ``h`` (:func:`empirics.losses.ce_loss`) and is not here.
"""

from __future__ import annotations

import torch

from empirics.losses import cl_loss, nscl_loss, ntxent_loss, scl_loss

__all__ = ["CONTRASTIVE", "objective_loss"]

CONTRASTIVE = ("cl", "ntxent", "nscl", "scl")


def objective_loss(objective: str, views: torch.Tensor, labels: torch.Tensor, config
                   ) -> torch.Tensor:
    """The training loss of ``objective`` on ``views`` ``(K, B, d)`` with ``labels`` ``(B,)``.

    ``config`` supplies ``tau``, ``pairs`` and ``positive_in_denominator``. With
    ``positive_in_denominator`` CL is the official code's NT-Xent-style CL and NSCL keeps the
    positive in its denominator too ([P2] code; the [P1] bound holds for both, THEORY.md s2-3).

    Raises:
        ValueError: ``objective`` is not a contrastive objective.
    """
    tau, pairs = config.tau, config.pairs
    if objective == "cl":
        if config.positive_in_denominator:
            return ntxent_loss(views, tau=tau, pairs=pairs)
        return cl_loss(views, tau=tau, pairs=pairs)
    if objective == "ntxent":
        return ntxent_loss(views, tau=tau, pairs=pairs)
    if objective == "nscl":
        return nscl_loss(views, labels, tau=tau, pairs=pairs,
                         positive_in_denominator=config.positive_in_denominator)
    if objective == "scl":
        return scl_loss(views, labels, tau=tau)
    raise ValueError(f"Expected a contrastive objective among {', '.join(CONTRASTIVE)}, got "
                     f"{objective!r}")
