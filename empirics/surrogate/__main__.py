"""``python -m empirics.surrogate``: the entry point of :mod:`empirics.surrogate.cli`."""

import sys

from empirics.surrogate.cli import main

if __name__ == "__main__":
    sys.exit(main())
