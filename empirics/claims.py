"""``python -m empirics.claims``: the entry point of :mod:`empirics.studies.claims`.

One pre-registered primary statistic per claim of THEORY.md s13 (C1-C6), Holm over the
primaries, equivalence within a smallest effect of interest, replication on two disjoint
seed sets, and the theorems' deterministic checks; see :mod:`empirics.studies.claims.cli`
and docs/claims.md.
"""

import sys

from empirics.studies.claims.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
