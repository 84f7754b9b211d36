"""Bounds: every bound of [P1] and [P2], symbolic (sympy) and numeric (numpy, log space).

- :mod:`bounds.registry` -- one registry entry per bound: sympy expression, parameters,
  source, provenance tag, caveats (sympy is imported only when an expression is needed)
- :mod:`bounds.numeric` -- vectorised log-space twins, checked against the registry; the one
  place where each formula is written
- :mod:`bounds.schedules` -- learning-rate rules, schedules, ``T`` and exact ``sum_eta``
- :mod:`bounds.growth` -- the recurrence's growth ``sum_t log(1 + eta_t L)`` in closed form
  for every schedule (O(1) in ``T``)
- :mod:`bounds.normalisers` -- ``||K||_F`` and ``sigma_a`` (ETF optimum or features)
- :mod:`bounds.grid` -- :func:`evaluate_bounds`, all bounds for a grid of settings, composed
  from the numeric twins in named steps
- :mod:`bounds.analysis` -- LaTeX, partial derivatives and their signs, limits
- ``python -m bounds.evaluate`` -- the command-line calculator (:mod:`bounds.evaluate`)
- ``python -m bounds.docs`` -- ``docs/bounds.md``, generated from the registry

Never imports torch or :mod:`empirics`.
"""

from . import schedules
from .grid import OUTPUT_KEYS, evaluate_bounds
from .normalisers import etf_K_norm, etf_sigma_a, features_normalisers
from .numeric import (
    Delta,
    L_const,
    cka_lower,
    class_saturation,
    eps,
    log_Delta,
    log_eps,
    log_product_form,
    log_theorem1,
    log_theorem2,
    loss_gap_bound,
    product_form,
    r_bound,
    recurrence_drive,
    recurrence_path,
    rho_bound,
    rsa_lower,
    theorem1,
    theorem1_exponent,
    theorem2,
)
from .schedules import lr_from_rule, schedule, steps_from_epochs, sum_eta

__all__ = [
    "OUTPUT_KEYS",
    "Delta",
    "L_const",
    "cka_lower",
    "class_saturation",
    "eps",
    "etf_K_norm",
    "etf_sigma_a",
    "evaluate_bounds",
    "features_normalisers",
    "log_Delta",
    "log_eps",
    "log_product_form",
    "log_theorem1",
    "log_theorem2",
    "loss_gap_bound",
    "lr_from_rule",
    "product_form",
    "r_bound",
    "recurrence_drive",
    "recurrence_path",
    "rho_bound",
    "rsa_lower",
    "schedule",
    "schedules",
    "steps_from_epochs",
    "sum_eta",
    "theorem1",
    "theorem1_exponent",
    "theorem2",
]
