"""``python -m empirics.claims``: the entry point of :mod:`empirics.studies.claims`.

A verdict (holds, reversed or inconclusive, by an interval over seeds) on every empirical
claim of THEORY.md s13; see :mod:`empirics.studies.claims.cli` and docs/claims.md.
"""

import sys

from empirics.studies.claims.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
