"""Plumbing shared by every package of the toolkit, standard library only.

- :mod:`cl_nscl_align.cli` -- the command-line conventions of every entry point: a usage
  error is one stderr line naming the argument and the value, exit status 2.

``bounds``, ``empirics`` and ``figures`` import from here; nothing here imports them.
"""
