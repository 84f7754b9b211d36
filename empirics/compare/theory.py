"""What the papers say beside a measured alignment: labels, losses, weights and bounds.

- **NCC accuracy** of each encoder (needs labels): the toolkit's nearest class centre in
  cosine geometry (:func:`empirics.training.probe.ncc_accuracy`). With rows of another split
  (models on ``--dataset``, run members) the class centres are fitted there and the compared
  rows scored; with feature files alone every row is scored leave-one-out (its own class
  centre without it), so no row scores itself.
- **[P1] loss gap** of each encoder (needs labels and views): on each loss batch,
  ``L_CL - L_NSCL`` of the encoder's embeddings ``z`` and the bound
  ``log(1 + e^{2/tau} (n_max - 1) / (b - n_max))`` (``tight``; ``paper``: ``n_max``),
  ``bounds.loss_gap_bound`` with the batch's own ``n_max`` ([P1], THEORY.md s3: it holds per
  batch, for any encoder). Reported as the means over the batches, the smallest gap, and
  whether every batch held ``0 <= gap <= bound`` -- the evaluator's ``losses.csv`` columns.
  Views: a run's fixed evaluation views, the trainer's augmentation of ``--dataset`` rows,
  or the ``K`` views of a ``(K, N, d)`` feature file; without them the gap is "n/a: needs
  views".
- **Weight gap** (same architecture): :func:`empirics.training.weights.weight_gap` (the
  toolkit's, ``B`` the reference) and :func:`~empirics.training.weights.
  weight_gap_official` ([P2]'s code), and the weight angle (THEORY.md s8, s13).
- **[P2] bounds** at ``--classes --tau --batch-size --steps --lr`` (the trainer's schedule:
  linear rule, cosine with ``min(20, T // 10)`` warm-up steps), through
  :func:`bounds.evaluate_bounds`, with ``A``'s measured normalisers ``||K_A||_F`` and
  ``sigma_a`` on the ``N`` compared rows; each bound beside its measured quantity, a vacuous
  one marked as such.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

__all__ = ["loss_gap", "ncc_centres", "ncc_leave_one_out", "ncc_score", "p2_bounds",
           "trainer_eta", "weights"]


# ----------------------------------------------------------------------------- NCC
def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.double(), dim=1)


def ncc_centres(chunks: Iterator[tuple[torch.Tensor, torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit class centres and class counts from chunks ``(x, y)``, streamed: the centres of
    :func:`empirics.training.probe.ncc_accuracy` (mean unit row per class, normalised)."""
    sums, counts = None, torch.zeros(0, dtype=torch.float64)
    for x, y in chunks:
        u = _unit(x)
        C = max(int(y.max()) + 1, counts.shape[0])
        if sums is None or C > sums.shape[0]:
            grow = C - (0 if sums is None else sums.shape[0])
            pad = torch.zeros(grow, u.shape[1], dtype=torch.float64, device=u.device)
            sums = pad if sums is None else torch.cat([sums, pad])
            counts = torch.cat([counts, torch.zeros(grow, dtype=torch.float64)])
        sums.index_add_(0, y.to(u.device), u)
        counts += torch.bincount(y.cpu(), minlength=C).double()
    return _unit(sums / counts.clamp_min(1).to(sums.device)[:, None]), counts


def ncc_score(x: torch.Tensor, y: torch.Tensor, centres: torch.Tensor,
              counts: torch.Tensor) -> int:
    """How many rows of ``x`` the nearest (cosine) class centre labels ``y``; a class absent
    from the centres is never predicted.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> ncc_score(x, y, *ncc_centres(iter([(x[:2], y[:2]), (x[2:], y[2:])])))
        4
    """
    scores = _unit(x) @ centres.T
    scores[:, (counts == 0).to(scores.device)] = -math.inf
    return int((scores.argmax(1).cpu() == y.cpu()).sum())


def ncc_leave_one_out(x: torch.Tensor, y: torch.Tensor) -> float:
    """Nearest-class-centre accuracy with each row left out of its own class centre.

    ``score_ic = u_i . mu_c / |mu_c|`` with ``mu_c`` the mean unit row of class ``c``, and
    for ``c = y_i`` the mean without ``u_i``; a class with no other row cannot be predicted.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> ncc_leave_one_out(x, torch.tensor([0, 0, 1, 1]))
        1.0
    """
    u = _unit(x)
    y = y.to(u.device).long()
    C = int(y.max()) + 1
    sums = torch.zeros(C, u.shape[1], dtype=torch.float64, device=u.device).index_add_(0, y, u)
    counts = torch.bincount(y, minlength=C).double()
    scores = u @ _unit(sums / counts.clamp_min(1)[:, None]).T
    scores[:, counts == 0] = -math.inf
    own = sums[y] - u  # (N, d): the own class without the row
    n_own = counts[y] - 1
    own_score = (u * own).sum(1) / torch.linalg.vector_norm(own, dim=1).clamp_min(1e-300)
    scores[torch.arange(len(y)), y] = torch.where(n_own > 0, own_score, -math.inf)
    return float((scores.argmax(1) == y).double().mean())


# ----------------------------------------------------------------------------- [P1]
def loss_gap(batches: Iterator[tuple[torch.Tensor, torch.Tensor]], *, tau: float,
             pairs: str = "distinct", positive_in_denominator: bool = False,
             form: str = "tight") -> dict[str, Any]:
    """[P1] ``L_CL - L_NSCL`` and its bound over batches of embeddings ``(K, b, d)``.

    ``L_CL`` is NT-Xent when ``positive_in_denominator`` (as the trainer's ``loss_cl``); the
    bound of each batch uses its own ``n_max`` and ``b`` (THEORY.md s3). Returns the means
    of the losses, gaps and bounds over the batches, ``loss_gap_min`` and ``p1_holds``
    (every batch within ``[0, bound]``).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z, y = torch.randn(2, 8, 4, generator=g), torch.tensor([0, 1, 2, 3] * 2)
        >>> out = loss_gap(iter([(z, y)]), tau=0.5)
        >>> out["p1_holds"], 0 <= out["loss_gap"] <= out["loss_gap_bound"]
        (True, True)
    """
    from bounds import loss_gap_bound
    from empirics.losses import cl_loss, nscl_loss, ntxent_loss

    lcl, lnscl, gaps, bnds, sizes = [], [], [], [], []
    holds = True
    for z, y in batches:
        z = z.double()
        y = y.to(z.device)
        a = float((ntxent_loss if positive_in_denominator else cl_loss)(z, tau=tau,
                                                                        pairs=pairs))
        b = float(nscl_loss(z, y, tau=tau, positive_in_denominator=positive_in_denominator,
                            pairs=pairs))
        n_max, size = int(torch.bincount(y).max()), int(y.numel())
        try:
            bound = float(loss_gap_bound(tau, n_max=n_max, N=size, form=form))
        except ValueError:  # a one-class batch: NSCL has no negatives, no bound
            bound = math.nan
        lcl.append(a)
        lnscl.append(b)
        gaps.append(a - b)
        bnds.append(bound)
        sizes.append(size)
        holds = holds and (0.0 <= a - b <= bound)
    if not gaps:
        return {"available": False, "why": "no loss batch"}
    return {"available": True, "loss_cl": float(np.mean(lcl)), "loss_nscl": float(np.mean(lnscl)),
            "loss_gap": float(np.mean(gaps)), "loss_gap_min": float(np.min(gaps)),
            "loss_gap_bound": float(np.mean(bnds)), "loss_gap_bound_form": form,
            "p1_holds": bool(holds), "n_batches": len(gaps), "batch_size": max(sizes),
            "tau": float(tau)}


# ----------------------------------------------------------------------------- weights
def weights(model_a, model_b) -> dict[str, Any]:
    """Weight gap (toolkit's and official) and angle, or why they do not apply."""
    from empirics.training.weights import weight_gap, weight_gap_official

    if model_a is None or model_b is None:
        return {"available": False, "why": "n/a: needs two models (feature files have no "
                                           "weights)"}
    try:
        ours = weight_gap(model_a, model_b)
    except ValueError as exc:
        return {"available": False, "why": f"n/a: different architectures ({exc})"}
    out = {"available": True, "weight_gap": ours["weight_gap_mean"],
           "weight_gap_sum": ours["weight_gap_sum"], "weight_angle": ours["weight_angle"],
           "n_tensors": ours["n_tensors"]}
    try:
        out["weight_gap_official"] = weight_gap_official(model_a, model_b)["weight_gap_official"]
    except ValueError:
        out["weight_gap_official"] = math.nan
    return out


# ----------------------------------------------------------------------------- [P2]
def trainer_eta(batch_size: int, steps: int, lr: float) -> np.ndarray:
    """The trainer's learning rates for ``B``, ``T`` and base ``lr`` (its defaults
    otherwise): :func:`empirics.training.lockstep.run_schedule`."""
    from empirics.training.config import TrainConfig
    from empirics.training.lockstep import run_schedule

    fields = {**TrainConfig.defaults(), "batch_size": batch_size, "steps": steps, "lr": lr,
              "epochs": None}
    return run_schedule(SimpleNamespace(**fields), batch_size).eta


def p2_bounds(*, C: int, tau: float, B: int, T: int, lr: float, delta: float, N: int,
              measured: dict[str, float]) -> dict[str, Any]:
    """The [P2] bounds at one setting beside the measured values (module docstring).

    Example:
        >>> out = p2_bounds(C=10, tau=1.0, B=64, T=5, lr=0.1, delta=0.05, N=100,
        ...                 measured={"sim_gap": 0.01, "cka": 0.9, "rsa": 0.9, "k_norm": 30.0,
        ...                           "sigma_a": 0.3})
        >>> [(r["bound"], r["holds"], r["vacuous"]) for r in out["rows"]][::2]
        [('sim_gap', True, False), ('cka_lower', False, False)]
    """
    from bounds import evaluate_bounds

    eta = trainer_eta(B, T, lr)
    kw: dict[str, Any] = {}
    for key in ("k_norm", "sigma_a"):
        v = measured.get(key, math.nan)
        if v is not None and math.isfinite(v) and v > 0:
            kw["K_norm" if key == "k_norm" else "sigma_a"] = v
    out = evaluate_bounds(C, tau, B, eta=eta, N_ref=N, delta=delta, **kw)
    val = {k: (v.item() if hasattr(v, "item") else v) for k, v in out.items()}
    rows = []
    for quantity, bound, vacuous, kind in (
        ("sim_gap", "sim_gap", "vacuous_sim_gap", "upper"),
        ("sim_gap", "sim_gap_product", "vacuous_sim_gap", "upper"),
        ("cka", "cka_lower", "vacuous_cka", "lower"),
        ("rsa", "rsa_lower", "vacuous_rsa", "lower"),
    ):
        m, b = measured.get(quantity, math.nan), float(val[bound])
        ok = None
        if m is not None and math.isfinite(m) and not math.isnan(b):
            ok = bool(m <= b) if kind == "upper" else bool(m >= b)
        trivial = bool(val.get(f"trivial_{bound}", False))
        rows.append({"quantity": quantity, "bound": bound, "kind": kind, "value": b,
                     "log10": val.get(f"log10_{bound}"), "measured": m,
                     "vacuous": bool(val[vacuous]) or trivial, "holds": ok})
    setting = {"C": C, "tau": tau, "B": B, "T": T, "lr": lr, "delta": delta, "N_ref": N,
               "sum_eta": float(val["sum_eta"]), "eps": float(val["eps"]),
               "Delta": float(val["Delta"]), "loss_gap_balanced": float(val["loss_gap"])}
    return {"available": True, "setting": setting, "rows": rows}
