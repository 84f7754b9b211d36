"""Plumbing shared by every package of the toolkit, standard library only.

- :mod:`cl_nscl_align.cli` -- the command-line conventions of every entry point: a usage
  error is one stderr line naming the argument and the value, exit status 2;
- :mod:`cl_nscl_align.options` -- a configuration declared once (fields, help, checks);
  its flags, TOML loading, validation and cache key follow from the declaration;
- :mod:`cl_nscl_align.atomic` -- atomic, umask-honouring result files.

``bounds``, ``empirics`` and ``figures`` import from here; nothing here imports them.
"""
