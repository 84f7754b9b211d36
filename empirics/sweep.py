"""``python -m empirics.sweep``: the entry point of :mod:`empirics.studies.sweep`.

One run per point of a grid, launched through :mod:`empirics.runs`, and ``DIR/results.csv``
(see :mod:`empirics.studies.sweep` for the layout, resume and kill safety).
"""

import sys

from empirics.studies.sweep import (
    EXECUTORS,
    FIXED_COLUMNS,
    KINDS,
    SweepResult,
    expand_grid,
    load_results,
    main,
    parse_grid,
    parse_value,
    point_name,
    run_sweep,
    sweep_specs,
)

__all__ = ["EXECUTORS", "FIXED_COLUMNS", "KINDS", "SweepResult", "expand_grid", "load_results",
           "main", "parse_grid", "parse_value", "point_name", "run_sweep", "sweep_specs"]

if __name__ == "__main__":
    sys.exit(main())
