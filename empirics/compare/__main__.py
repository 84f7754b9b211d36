"""``python -m empirics.compare A B``: the entry point of :mod:`empirics.compare.cli`."""

import sys

from empirics.compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
