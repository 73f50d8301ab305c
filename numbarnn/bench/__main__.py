"""``python -m numbarnn.bench`` (same as ``python -m numbarnn bench``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
