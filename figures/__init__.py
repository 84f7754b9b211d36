"""Figures: the paper's figures and the bound-vs-measured views, drawn from saved runs.

- :mod:`figures.style` -- one colour-blind-safe palette; objective colours and labels, measure
  labels, ranges and directions, all read from their registries
- :mod:`figures.io` -- what a plot reads from a run (:func:`empirics.runs.read_run`)
- :mod:`figures.selection` -- which runs a figure may draw, and what it may average over
- :mod:`figures.training` -- [P2] Fig. 1, 2, 6 analogues (one setting: a run or its seeds)
- :mod:`figures.sweeps` -- [P2] Fig. 3, 4, 5 analogues (runs over C, tau, B)
- :mod:`figures.landscapes` -- Theorem 1 and corollary bounds vs C, tau, B, epochs
- :mod:`figures.measured` -- measured gaps against the bounds; [P1] loss gap vs C
- :mod:`figures.accuracy` -- Table 1 / 2, few-shot, Fig. 12 and Fig. 17, from evaluations
- :mod:`figures.linearization` -- [P2] Appendix D on real runs
- :mod:`figures.claims` -- the claims study's summary; its runs handed to the same builders
- ``python -m figures`` -- regenerate every figure (PNG and PDF)

Every ``plot_*`` function draws on a Matplotlib ``Axes`` it is given and reads saved
results; each paper figure has one ``figure_*`` builder, used by the gallery and by the
claims study alike. Only ``python -m figures`` launches runs: it asks the one planner
(:mod:`empirics.studies.plan`) for the gallery's runs and the runs layer launches them.
Nothing here imports torch or the trainer.
"""
