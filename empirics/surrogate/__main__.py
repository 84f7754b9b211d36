"""``python -m empirics.surrogate``: the entry point of :func:`empirics.surrogate.run.main`."""

import sys

from empirics.surrogate.run import main

if __name__ == "__main__":
    sys.exit(main())
