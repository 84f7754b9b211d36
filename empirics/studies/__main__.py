"""``python -m empirics.studies tightness|surrogate-trends|trainer``."""

import sys

from empirics.studies.cli import main

if __name__ == "__main__":
    sys.exit(main())
