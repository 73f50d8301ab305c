"""``python -m numbarnn.bench`` (same as ``python -m numbarnn bench``)."""

import sys

from .cli import main

sys.exit(main())
