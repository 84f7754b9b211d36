"""``python -m empirics.studies tightness|surrogate-trends|trainer|accuracy|...|docs``."""

import sys

from empirics.studies.cli import main

if __name__ == "__main__":
    sys.exit(main())
