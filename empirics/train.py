"""``python -m empirics.train``: the entry point of :mod:`empirics.training.cli`."""

import sys

from empirics.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
