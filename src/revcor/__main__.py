"""``python -m revcor``: the command line."""

import sys

from revcor.cli import main

sys.exit(main())
