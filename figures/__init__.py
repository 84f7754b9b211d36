"""Figures: the paper's figures and the bound-vs-measured views, drawn from saved runs.

- :mod:`figures.style` -- one colour-blind-safe palette, fixed method and pair colours
- :mod:`figures.io` -- what a plot reads from a run (:func:`empirics.runs.read_run`)
- :mod:`figures.training` -- [P2] Fig. 1, 2, 6 analogues (one lockstep run)
- :mod:`figures.sweeps` -- [P2] Fig. 3, 4, 5 analogues (runs over C, tau, B)
- :mod:`figures.landscapes` -- Theorem 1 and corollary bounds vs C, tau, B, epochs
- :mod:`figures.measured` -- measured gaps against the bounds; [P1] loss gap vs C
- ``python -m figures`` -- regenerate every figure (PNG and PDF)

Every ``plot_*`` function draws on a Matplotlib ``Axes`` it is given and reads saved
results; only ``python -m figures`` launches runs: it asks the one planner
(:mod:`empirics.studies.plan`) for the gallery's runs and the runs layer launches them.
Nothing here imports torch or the trainer.
"""
